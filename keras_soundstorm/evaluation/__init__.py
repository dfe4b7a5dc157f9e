"""Evaluation metrics: speaker similarity, mel-cepstral distortion, codebook usage, WER.

Importing this module needs only numpy. Speaker similarity imports PyTorch
and `resemblyzer`, and speech recognition imports `pocketsphinx`, when first
used; install them with `pip install keras-soundstorm[evaluation]`.
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
from keras_soundstorm.evaluation.speaker import (
    cosine_similarity,
    speaker_embedding,
    speaker_embeddings,
    speaker_similarity,
)

__all__ = [
    "GroupedSpeechRecognizer",
    "SpeechRecognizer",
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
