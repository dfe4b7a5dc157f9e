"""Speaker similarity with Resemblyzer's pretrained voice encoder.

The `resemblyzer` wheel ships the weights of a 3-layer LSTM speaker encoder
(GE2E loss, 256-dim embeddings), so nothing is downloaded. It and PyTorch are
imported on first use only; the encoder is loaded once per process.

Preprocessing follows Resemblyzer's own `preprocess_wav` (the way the encoder
was trained): resample to 16 kHz (here with `keras_soundstorm.audio.resample`),
raise quiet audio to -30 dBFS, and, by default, cut silences longer than about
0.2 s with WebRTC's voice activity detector. Trimming is on by default because
silence carries no voice, and leading/trailing padding differs between a
reference and a generated or codec-reconstructed utterance; it removes that
difference. If the detector finds no speech at all, the untrimmed audio is
embedded instead (so a failed generation gets a low score, not an error).

Example:

```python
from keras_soundstorm.data import synthesize
from keras_soundstorm.evaluation import speaker_similarity

a = synthesize("The sun rose slowly.", "en-us+m3/p50/r180")
b = synthesize("Could you pass the salt?", "en-us+m3/p50/r180")
speaker_similarity(a.waveform, b.waveform, sample_rate=16000)  # ~0.85
```
"""

import threading
import warnings

import numpy as np

from keras_soundstorm import audio
from keras_soundstorm.evaluation._checks import (
    INSTALL_HINT,
    check_sample_rate,
    check_waveform,
    require,
)

ENCODER_SAMPLE_RATE = 16000
EMBEDDING_DIM = 256
_ENCODER_LOCK = threading.Lock()
_encoder = None


def _import_resemblyzer():
    require("torch", "Speaker similarity")
    with warnings.catch_warnings():
        # webrtcvad imports pkg_resources (needs setuptools<81) and resemblyzer
        # imports scipy.ndimage.morphology: both warn on import, harmlessly.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import webrtcvad  # noqa: F401
        except ImportError as error:
            if getattr(error, "name", None) == "pkg_resources":
                raise ImportError(
                    "Speaker similarity needs `webrtcvad` (a `resemblyzer` "
                    "dependency), which imports `pkg_resources`: that module left "
                    "setuptools in version 81. Install `setuptools<81`, e.g. "
                    f"{INSTALL_HINT}"
                ) from None
            # Otherwise `require` below names what is missing and how to get it.
        return require("resemblyzer", "Speaker similarity")


def voice_encoder():
    """The pretrained Resemblyzer `VoiceEncoder` on CPU (loaded once)."""
    global _encoder
    with _ENCODER_LOCK:
        if _encoder is None:
            resemblyzer = _import_resemblyzer()
            _encoder = resemblyzer.VoiceEncoder(device="cpu", verbose=False)
    return _encoder


def preprocess(waveform, sample_rate, trim_silence=True):
    """Resemblyzer's preprocessing: `[N]` at `sample_rate` -> float32 `[M]` at 16 kHz.

    Args:
        waveform: float `[N]`, mono, not all zeros.
        sample_rate: int, Hz.
        trim_silence: cut silences longer than ~0.2 s (voice activity
            detection); falls back to the whole waveform if no speech is found.
    """
    waveform = check_waveform(waveform)
    sample_rate = check_sample_rate(sample_rate)
    resemblyzer = _import_resemblyzer()
    waveform = audio.resample(waveform, sample_rate, ENCODER_SAMPLE_RATE).astype("float64")
    if not np.any(waveform):
        raise ValueError("`waveform` is silent after resampling to 16 kHz.")
    # WebRTC VAD takes 16-bit PCM: keep the volume-normalized audio within it.
    waveform = resemblyzer.normalize_volume(
        waveform, resemblyzer.audio.audio_norm_target_dBFS, increase_only=True
    )
    peak = np.max(np.abs(waveform))
    if peak > 1.0:
        waveform = waveform / peak
    if trim_silence:
        trimmed = resemblyzer.trim_long_silences(waveform)
        if trimmed.size > 0:
            waveform = trimmed
    return waveform.astype("float32")


def speaker_embedding(waveform, sample_rate, trim_silence=True):
    """The utterance's speaker embedding: float32 `[256]`, unit L2 norm.

    Resemblyzer embeds 1.6 s windows (hop ~0.77 s) and averages them, so
    utterances of a few seconds or more give stable embeddings.

    Args:
        waveform: float `[N]`, mono.
        sample_rate: int, Hz (resampled to 16 kHz as needed).
        trim_silence: see `preprocess`.
    """
    waveform = preprocess(waveform, sample_rate, trim_silence=trim_silence)
    encoder = voice_encoder()
    torch = require("torch", "Speaker similarity")
    # A batch of a few 1.6 s windows through a small LSTM: one thread is
    # faster than several, which mostly wait on each other (~5x on 2 cores).
    num_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        embedding = encoder.embed_utterance(waveform)
    finally:
        torch.set_num_threads(num_threads)
    return np.asarray(embedding, dtype="float32")


def speaker_embeddings(waveforms, sample_rate, trim_silence=True):
    """`speaker_embedding` of each waveform in a list: float32 `[B, 256]`."""
    if isinstance(waveforms, np.ndarray) and waveforms.ndim == 1:
        raise ValueError(
            "`waveforms` must be a list of 1-D waveforms or a `[B, N]` array; got one "
            "1-D waveform (use `speaker_embedding`)."
        )
    embeddings = [speaker_embedding(w, sample_rate, trim_silence) for w in waveforms]
    if not embeddings:
        raise ValueError("`waveforms` is empty.")
    return np.stack(embeddings)


def cosine_similarity(embedding_a, embedding_b):
    """Cosine of embeddings `[..., D]` (broadcast): float or array `[...]`."""
    a = np.asarray(embedding_a, dtype="float64")
    b = np.asarray(embedding_b, dtype="float64")
    if a.shape[-1:] != b.shape[-1:] or a.ndim == 0:
        raise ValueError(
            f"Embeddings must share their last (feature) axis; got shapes {a.shape} and {b.shape}."
        )
    norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    if np.any(norms == 0):
        raise ValueError("Cosine similarity of a zero-length embedding is undefined.")
    cosine = np.sum(a * b, axis=-1) / norms
    return float(cosine) if cosine.ndim == 0 else cosine


def speaker_similarity(waveform_a, waveform_b, sample_rate, trim_silence=True):
    """Cosine of the two utterances' speaker embeddings (1.0 = same voice print).

    On eSpeak voices, different sentences by one voice score about 0.85-0.9
    and different voices about 0.7 (see `tests/test_evaluation.py`).

    Args:
        waveform_a, waveform_b: float `[N]` and `[M]`, mono, same rate.
        sample_rate: int, Hz.
        trim_silence: see `preprocess`.
    """
    embedding_a = speaker_embedding(waveform_a, sample_rate, trim_silence)
    embedding_b = speaker_embedding(waveform_b, sample_rate, trim_silence)
    return cosine_similarity(embedding_a, embedding_b)
