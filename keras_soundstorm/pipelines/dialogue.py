"""A scripted dialogue, each turn in its speaker's voice (the paper's demo).

A script is lines `NAME: text`; every name has a voice prompt (a recording and
its transcript). Each turn is spoken by `speak`'s chain continuing its
speaker's prompt, and the turns are joined in order with `pause_seconds` of
silence between them; the start and end second of every turn are returned
(and written beside the WAV by `dialogue_files`).
"""

import dataclasses
import json
import os

import numpy as np

from keras_soundstorm import audio
from keras_soundstorm.pipelines.common import progress_bar
from keras_soundstorm.pipelines.speech import Speaker, check_text, load_chain
from keras_soundstorm.utils.files import atomic_write_text


@dataclasses.dataclass
class Dialogue:
    """The result of `dialogue`.

    Attributes:
        waveform: float32 `[N]` at `sample_rate` (None from `dialogue_files`).
        sample_rate: the codec's rate (Hz).
        turns: one dict per script line, in order: `speaker`, `text`, `start`
            and `end` (seconds in the waveform).
        num_samples: `N`.
    """

    waveform: np.ndarray
    sample_rate: int
    turns: list
    num_samples: int


def parse_script(script, speakers):
    """Script text (or a list of lines) -> `[(speaker, text)]`.

    Lines are `NAME: text`; blank lines and lines starting with `#` are
    skipped. A line without a known speaker or without text is a ValueError
    naming the line.
    """
    lines = script.splitlines() if isinstance(script, str) else list(script)
    known = ", ".join(sorted(speakers)) or "none"
    turns = []
    for number, line in enumerate(lines, 1):
        if not isinstance(line, str):
            raise ValueError(f"Script line {number} is not a string: {line!r}.")
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, colon, text = line.partition(":")
        name = name.strip()
        if not colon or name not in speakers:
            raise ValueError(
                f"Script line {number} ({line!r}) has no known speaker: lines are "
                f"'NAME: text' with NAME one of {known}."
            )
        if not text.strip():
            raise ValueError(f"Script line {number} ({line!r}) has no text for {name}.")
        turns.append((name, text.strip()))
    if not turns:
        raise ValueError("The script has no lines to speak ('NAME: text').")
    return turns


def dialogue(
    text_to_semantic,
    model,
    codec,
    script_lines,
    speakers,
    pause_seconds=0.2,
    seed=0,
    progress=True,
    **speak_kwargs,
):
    """Speaks a script, each line in its speaker's voice, into one waveform.

    Args:
        text_to_semantic, model, codec: the chain of `speak`.
        script_lines: the script (a string or a list of lines `NAME: text`).
        speakers: `{name: (audio, rate, transcript)}`: each voice's recording
            (float `[N]` or `[N, channels]`, at `rate` Hz) and what it says.
        pause_seconds: silence between turns.
        seed: turn i uses seeds from `seed + 1000 * i`.
        progress: a tqdm bar over the turns.
        **speak_kwargs: `speak`'s options (`prompt_seconds`, `temperature`,
            `steps_per_level`, ...).

    Returns:
        A `Dialogue`: the waveform at the codec's rate and the turns with
        their start / end seconds.
    """
    state = _DialogueRun(text_to_semantic, model, codec, script_lines, speakers, pause_seconds,
                         seed, progress, speak_kwargs)  # fmt: skip
    chunks = list(state.chunks())
    waveform = np.concatenate(chunks) if chunks else np.zeros(0, "float32")
    return Dialogue(waveform, codec.sample_rate, state.turns, len(waveform))


def dialogue_files(
    text_to_semantic_preset, model_preset, codec_preset, script_path, speakers, output_path,
    pause_seconds=0.2, seed=0, progress=True, **speak_kwargs,
):  # fmt: skip
    """`dialogue` from presets and files: writes the WAV `output_path` (streamed) and its JSON.

    `speakers`: `{name: (wav_path, transcript)}`. The JSON (`output_path` with
    `.json` for its extension) holds `{"sample_rate", "turns": [{speaker,
    text, start, end}]}`. Returns the `Dialogue` (without `waveform`).
    """
    if not os.path.isfile(script_path):
        raise ValueError(f"The script {script_path!r} does not exist.")
    with open(script_path, encoding="utf-8") as f:
        script = f.read()
    loaded = {}
    for name, (path, transcript) in speakers.items():
        waveform, rate = audio.load(path)
        loaded[name] = (waveform, rate, transcript)
    parse_script(script, loaded)  # script errors before the models load
    text_to_semantic, model, codec = load_chain(text_to_semantic_preset, model_preset, codec_preset)
    state = _DialogueRun(text_to_semantic, model, codec, script, loaded, pause_seconds, seed,
                         progress, speak_kwargs)  # fmt: skip
    written = 0
    with audio.WavWriter(output_path, codec.sample_rate, clip=True) as writer:
        for chunk in state.chunks():
            writer.write(chunk)
            written += len(chunk)
    record = {"sample_rate": codec.sample_rate, "turns": state.turns}
    atomic_write_text(timing_path(output_path), json.dumps(record, indent=2) + "\n")
    return Dialogue(None, codec.sample_rate, state.turns, written)


def timing_path(output_path):
    """Where `dialogue_files` writes the turn times: `out.wav` -> `out.json`."""
    return os.path.splitext(output_path)[0] + ".json"


class _DialogueRun:
    """Checks everything up front, then yields the dialogue's audio turn by turn."""

    def __init__(self, text_to_semantic, model, codec, script, speakers, pause_seconds, seed,
                 progress, speak_kwargs):  # fmt: skip
        if not isinstance(speakers, dict) or not speakers:
            raise ValueError(
                "`speakers` must be a non-empty dict {name: (audio, rate, transcript)}."
            )
        for name, value in speakers.items():
            if not isinstance(value, tuple | list) or len(value) != 3:
                raise ValueError(
                    f"Speaker {name!r} must be (audio, rate, transcript); got "
                    f"{type(value).__name__}."
                )
        self.lines = parse_script(script, speakers)
        if not isinstance(pause_seconds, int | float) or not 0 <= pause_seconds < float("inf"):
            raise ValueError(f"`pause_seconds` must be a number >= 0; got {pause_seconds!r}.")
        self.speaker = Speaker(text_to_semantic, model, codec, **speak_kwargs)
        used = dict.fromkeys(name for name, _ in self.lines)
        self.voices = {}
        for name in used:
            waveform, rate, transcript = speakers[name]
            if not isinstance(transcript, str) or not transcript.strip():
                raise ValueError(
                    f"Speaker {name!r} has no transcript: give what their recording says."
                )
            self.voices[name] = self.speaker.voice(waveform, transcript, rate, f"voice of {name!r}")
        for _, text in self.lines:
            check_text(text)
        self.rate = codec.sample_rate
        self.pause = np.zeros(int(round(pause_seconds * self.rate)), "float32")
        self.seed, self.progress = seed, progress
        self.turns = []

    def chunks(self):
        bar = progress_bar(len(self.lines), self.progress, "dialogue", "turn")
        position = 0
        for index, (name, text) in enumerate(self.lines):
            if index and len(self.pause):
                yield self.pause
                position += len(self.pause)
            voice = self.voices[name]
            codes, _ = self.speaker.codes(text, voice, self.seed + 1000 * index)
            start = position
            for chunk in self.speaker.chunks(voice, codes):
                yield chunk
                position += len(chunk)
            self.turns.append(
                {
                    "speaker": name,
                    "text": text,
                    "start": start / self.rate,
                    "end": position / self.rate,
                }
            )
            bar.update(1)
        bar.close()


__all__ = ["Dialogue", "dialogue", "dialogue_files", "parse_script", "timing_path"]
