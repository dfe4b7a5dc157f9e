"""Evaluation metrics: WER (Whisper), DNSMOS, speaker similarity, MCD, codebook usage.

Importing this module needs only numpy. Whisper needs `faster-whisper` and the
model wheels, DNSMOS `speechmos`, speaker similarity PyTorch and
`resemblyzer`, the eSpeak Table 1's recognizer `pocketsphinx`; each is
imported when first used: `pip install keras-soundstorm[evaluation]`.
`evaluate_test_set` runs Table 1 of any model / codec pair on a folder of
recordings with transcripts.
"""

from keras_soundstorm.evaluation.asr import (
    GroupedSpeechRecognizer,
    SpeechRecognizer,
    ngram_language_model,
    normalize_words,
    sentence_groups,
    word_error_rate,
    word_errors,
)
from keras_soundstorm.evaluation.codebook import codebook_usage
from keras_soundstorm.evaluation.codec_quality import (
    codec_markdown,
    evaluate_codec,
    plot_codec_rows,
)
from keras_soundstorm.evaluation.mcd import dtw_path, mel_cepstral_distortion, mel_cepstrum
from keras_soundstorm.evaluation.mos import dnsmos, dnsmos_batch
from keras_soundstorm.evaluation.speaker import (
    cosine_similarity,
    speaker_embedding,
    speaker_embeddings,
    speaker_similarity,
)
from keras_soundstorm.evaluation.test_set import (
    TestUtterance,
    check_prompts_available,
    load_test_audio,
    read_test_set,
)
from keras_soundstorm.evaluation.test_set_evaluation import (
    evaluate_test_set,
    evaluate_test_set_presets,
)
from keras_soundstorm.evaluation.text_normalizer import normalize_english
from keras_soundstorm.evaluation.whisper_asr import (
    WhisperRecognizer,
    whisper_word_error_rate,
    whisper_word_errors,
)

__all__ = [
    "GroupedSpeechRecognizer",
    "SpeechRecognizer",
    "TestUtterance",
    "WhisperRecognizer",
    "check_prompts_available",
    "dnsmos",
    "dnsmos_batch",
    "evaluate_test_set",
    "evaluate_test_set_presets",
    "load_test_audio",
    "normalize_english",
    "read_test_set",
    "whisper_word_error_rate",
    "whisper_word_errors",
    "codebook_usage",
    "codec_markdown",
    "evaluate_codec",
    "plot_codec_rows",
    "cosine_similarity",
    "dtw_path",
    "mel_cepstral_distortion",
    "mel_cepstrum",
    "ngram_language_model",
    "normalize_words",
    "sentence_groups",
    "speaker_embedding",
    "speaker_embeddings",
    "speaker_similarity",
    "word_error_rate",
    "word_errors",
]
