"""Data: the offline eSpeak speech corpus and TFRecord token datasets."""

from keras_soundstorm.data.espeak_corpus import EspeakCorpus
from keras_soundstorm.data.espeak_engine import Utterance, synthesize
from keras_soundstorm.data.phonemes import PHONEME_INVENTORY, downsample_phonemes
from keras_soundstorm.data.record_metadata import read_token_metadata
from keras_soundstorm.data.record_writer import write_token_records
from keras_soundstorm.data.sentences import SENTENCES, TUNING_SENTENCES
from keras_soundstorm.data.token_pipeline import token_dataset
from keras_soundstorm.data.toy import toy_batch
from keras_soundstorm.data.voices import Voice

__all__ = [
    "PHONEME_INVENTORY",
    "SENTENCES",
    "TUNING_SENTENCES",
    "EspeakCorpus",
    "Utterance",
    "Voice",
    "downsample_phonemes",
    "read_token_metadata",
    "synthesize",
    "token_dataset",
    "toy_batch",
    "write_token_records",
]
