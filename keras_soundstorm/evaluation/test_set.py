"""Reading a test set: a folder of audio files with their transcripts.

Two layouts are recognised (searched recursively under the folder):

- LibriSpeech: `SPEAKER/CHAPTER/SPEAKER-CHAPTER.trans.txt`, one line
  `UTTERANCE-ID TEXT` per utterance, beside `UTTERANCE-ID.flac` (or `.wav`);
  the speaker is the utterance id up to its first "-".
- plain: `name.wav` (or `.flac`) beside `name.txt` holding the transcript; the
  speaker is the folder holding the files (files at the top level of the test
  set share one speaker).

Audio is read with `soundfile` (WAV, FLAC, Ogg; any rate, channels averaged).
Problems raise a one-line ValueError naming the file and what is needed.

Example:

```python
utterances = read_test_set("LibriSpeech/test-clean")
waveform = load_test_audio(utterances[0], sample_rate=16000)
```
"""

import collections
import dataclasses
import os

import numpy as np

from keras_soundstorm import audio
from keras_soundstorm.evaluation._checks import require

AUDIO_EXTENSIONS = (".flac", ".wav", ".ogg")
LAYOUT_HELP = (
    "a test set needs LibriSpeech-style `*.trans.txt` files (lines `UTTERANCE-ID TEXT`) beside "
    "`UTTERANCE-ID.flac`, or `name.wav` files each beside a `name.txt` transcript"
)


@dataclasses.dataclass(frozen=True)
class TestUtterance:
    """One utterance of a test set: `utterance_id`, `speaker`, `text`, audio `path`."""

    utterance_id: str
    speaker: str
    text: str
    path: str


def _audio_beside(folder, stem):
    for extension in AUDIO_EXTENSIONS:
        path = os.path.join(folder, stem + extension)
        if os.path.isfile(path):
            return path
    return None


def _librispeech_utterances(folder, transcript_file):
    path = os.path.join(folder, transcript_file)
    utterances = []
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            parts = line.split(maxsplit=1)
            if len(parts) < 2:
                raise ValueError(
                    f"Transcript {path!r} line {number}: expected `UTTERANCE-ID TEXT`; "
                    f"got {line.strip()!r}."
                )
            utterance_id, text = parts[0], parts[1].strip()
            audio_path = _audio_beside(folder, utterance_id)
            if audio_path is None:
                raise ValueError(
                    f"Transcript {path!r} lists {utterance_id!r}, but no {utterance_id}.flac "
                    f"or .wav is beside it."
                )
            speaker = utterance_id.split("-")[0]
            utterances.append(TestUtterance(utterance_id, speaker, text, audio_path))
    return utterances


def _plain_utterance(root, folder, text_file):
    stem = text_file[: -len(".txt")]
    audio_path = _audio_beside(folder, stem)
    if audio_path is None:
        return None  # a text file that is no transcript (e.g. a README)
    path = os.path.join(folder, text_file)
    with open(path, encoding="utf-8") as file:
        text = " ".join(file.read().split())
    if not text:
        raise ValueError(f"Transcript {path!r} is empty: it must hold the words spoken.")
    relative = os.path.relpath(folder, root)
    speaker = "." if relative == "." else relative.replace(os.sep, "/")
    utterance_id = stem if relative == "." else f"{speaker}/{stem}"
    return TestUtterance(utterance_id, speaker, text, audio_path)


def read_test_set(test_set_dir, check_audio=True):
    """The utterances of a test set, sorted by id: a list of `TestUtterance`.

    Args:
        test_set_dir: the folder (see the module docstring for the layouts).
        check_audio: open every audio file's header now, so an unreadable file
            stops the run before hours of evaluation rather than during it.
    """
    test_set_dir = os.fspath(test_set_dir)
    if not os.path.isdir(test_set_dir):
        raise ValueError(f"`test_set_dir` {test_set_dir!r} is not a directory; {LAYOUT_HELP}.")
    utterances = []
    for folder, _, file_names in sorted(os.walk(test_set_dir)):
        for file_name in sorted(file_names):
            if file_name.endswith(".trans.txt"):
                utterances += _librispeech_utterances(folder, file_name)
            elif file_name.endswith(".txt"):
                utterance = _plain_utterance(test_set_dir, folder, file_name)
                if utterance is not None:
                    utterances.append(utterance)
    if not utterances:
        raise ValueError(f"No transcripts found in {test_set_dir!r}: {LAYOUT_HELP}.")
    seen = {}
    for utterance in utterances:
        if utterance.utterance_id in seen:
            raise ValueError(
                f"Utterance id {utterance.utterance_id!r} appears twice ({utterance.path!r} and "
                f"{seen[utterance.utterance_id]!r}); ids must be unique."
            )
        seen[utterance.utterance_id] = utterance.path
    if check_audio:
        soundfile = require("soundfile", "Reading a test set")
        for utterance in utterances:
            try:
                info = soundfile.info(utterance.path)
            except Exception as error:  # soundfile raises its own error types
                raise ValueError(
                    f"Cannot read audio {utterance.path!r}: {_one_line(error)}."
                ) from None
            if info.frames == 0:
                raise ValueError(f"Audio {utterance.path!r} holds no samples.")
    return sorted(utterances, key=lambda u: u.utterance_id)


def check_prompts_available(utterances):
    """Raises ValueError unless every speaker has >= 2 utterances (a prompt needs another)."""
    counts = collections.Counter(utterance.speaker for utterance in utterances)
    for utterance in utterances:
        if counts[utterance.speaker] < 2:
            raise ValueError(
                f"Speaker {utterance.speaker!r} has only one utterance ({utterance.path!r}): the "
                "prompted row takes its prompt from another utterance of the same speaker, so "
                "every speaker needs at least two utterances."
            )


def load_test_audio(utterance, sample_rate):
    """The utterance's audio: float32 `[N]` at `sample_rate`, mono, in [-1, 1]."""
    soundfile = require("soundfile", "Reading a test set")
    try:
        samples, file_rate = soundfile.read(utterance.path, dtype="float32", always_2d=True)
    except Exception as error:  # soundfile raises its own error types
        raise ValueError(f"Cannot read audio {utterance.path!r}: {_one_line(error)}.") from None
    waveform = samples.mean(axis=1)
    if waveform.size == 0 or not np.all(np.isfinite(waveform)):
        raise ValueError(f"Audio {utterance.path!r} is empty or holds NaN / inf samples.")
    if file_rate != sample_rate:
        waveform = audio.resample(waveform, file_rate, sample_rate)
    return np.clip(waveform, -1.0, 1.0).astype("float32")


def _one_line(error):
    return " ".join(str(error).split()) or type(error).__name__
