"""Voice-prompted resynthesis: a source's words in a prompt's voice.

With a converted SpeechTokenizer-SoundStorm pair (see `kss.convert`), the
conditioning is the codec's RVQ level 1 (semantic tokens: what is said) and
SoundStorm generates levels 2.. (acoustic tokens: who says it and how).
`resynthesize` takes the prompt's level-1 tokens followed by the source's as
the conditioning and the prompt's finer levels as the acoustic prompt, so the
output says the source's words in the prompt's voice. Long sources are
generated in windows, each continuing the end of the previous window's output
as its prompt, and the codec encodes and decodes in windows too
(`kss.codecs.windowed.WindowedCodec`), so memory stays bounded at any length
and there is no seam; `resynthesize_files` streams the output to its WAV file.
"""

import dataclasses

import numpy as np

from keras_soundstorm import audio
from keras_soundstorm.codecs.windowed import WindowedCodec
from keras_soundstorm.pipelines.common import (
    check_pair,
    frames_of,
    generate_acoustic,
    mono_at,
    progress_bar,
)
from keras_soundstorm.utils.validation import check_waveform

# Audio the codec encodes / decodes at once: bounds the codec's memory.
CODEC_WINDOW_SECONDS = 20.0


@dataclasses.dataclass
class Resynthesis:
    """The result of `resynthesize`.

    Attributes:
        waveform: float32 `[N]` at `sample_rate`, as long as the source (None
            from `resynthesize_files`, which streams it to its file).
        sample_rate: the codec's rate (Hz).
        codes: int32 `[T, 1 + Q]`: the source's level-1 tokens and the
            generated levels.
        windows: one dict per window: `start` / `end` (source frames it
            generated), `prompt_codes` int32 `[P, Q]` (its acoustic prompt) and
            `codes` int32 `[end - start, Q]` (what it generated).
        num_samples: the length of the waveform (or of the file written).
    """

    waveform: np.ndarray
    sample_rate: int
    codes: np.ndarray
    windows: list
    num_samples: int = 0


def resynthesize(
    model,
    codec,
    source,
    prompt,
    source_rate=None,
    prompt_rate=None,
    prompt_seconds=3.0,
    window_seconds=20.0,
    seed=0,
    progress=True,
    **generate_kwargs,
):
    """Says `source`'s words in `prompt`'s voice.

    Args:
        model: a `kss.SoundStorm` generating `codec`'s levels 2.. conditioned
            on its level 1 (e.g. from `kss.convert.soundstorm_speechtokenizer`).
        codec: a `kss.codecs.SpeechTokenizer`.
        source, prompt: float waveforms `[N]` or `[N, channels]` (channels
            are averaged), at `source_rate` / `prompt_rate` (ints > 0; default:
            the codec's rate); resampled to the codec's rate. Integer PCM,
            channels-first arrays and a prompt shorter than one codec frame
            are refused (ValueError).
        prompt_seconds: seconds of the prompt used as the voice prompt, and of
            each window's output carried over as the next window's prompt.
        window_seconds: frames generated per `generate` call, prompt included.
        seed: seed of window 0; window k uses `seed + k`.
        progress: show a tqdm bar over the windows.
        **generate_kwargs: passed to `model.generate` (`steps_per_level`,
            `temperature`, ...).

    Returns:
        A `Resynthesis`: `waveform` float32 at the codec's rate, as long as
        the source (resampled), the codes and the windows.
    """
    codes, windows, windowed, num_samples = _resynthesis_codes(
        model, codec, source, prompt, source_rate, prompt_rate, prompt_seconds, window_seconds,
        seed, progress, generate_kwargs,
    )  # fmt: skip
    waveform = windowed.decode(codes)[:num_samples]
    return Resynthesis(waveform, codec.sample_rate, codes, windows, num_samples)


def _resynthesis_codes(
    model, codec, source, prompt, source_rate, prompt_rate, prompt_seconds, window_seconds,
    seed, progress, generate_kwargs,
):  # fmt: skip
    """`(codes [T, 1 + Q], windows, windowed codec, source samples)` of `resynthesize`."""
    check_pair(model, codec)
    rate = codec.sample_rate
    frame_samples = int(np.ceil(rate / codec.frame_rate))
    check_waveform("source", source, "source_rate", source_rate)
    prompt = check_waveform("prompt", prompt, "prompt_rate", prompt_rate, min_samples=0)
    if len(prompt) * rate / (prompt_rate or rate) < frame_samples:
        raise ValueError(
            f"`prompt` is shorter than one codec frame ({frame_samples} samples at {rate} Hz)."
        )
    source = mono_at(source, source_rate or rate, rate, "source")
    prompt = mono_at(prompt, prompt_rate or rate, rate, "prompt")
    prompt_frames = frames_of(prompt_seconds, codec.frame_rate, "prompt_seconds")
    window_frames = frames_of(window_seconds, codec.frame_rate, "window_seconds")
    if window_frames <= prompt_frames:
        raise ValueError(
            f"`window_seconds` ({window_seconds}) must exceed `prompt_seconds` ({prompt_seconds}): "
            "each window generates what is left after its prompt."
        )
    windowed = WindowedCodec(codec, window_seconds=CODEC_WINDOW_SECONDS)
    num_levels = model.backbone.num_levels
    prompt_codes = windowed.encode(prompt, num_levels=num_levels + 1)[:prompt_frames]
    if len(prompt_codes) < 1:
        raise ValueError("The prompt is shorter than one codec frame.")
    semantic = windowed.semantic_tokens(source)
    bar = progress_bar(
        len(range(0, len(semantic), window_frames - prompt_frames)), progress,
        "resynthesis windows", "window",
    )  # fmt: skip
    # Window 0 continues the voice prompt; window k the end of window k - 1's output.
    generated, windows = generate_acoustic(
        model, semantic, prompt_codes[:, 0], prompt_codes[:, 1:], prompt_frames, window_frames,
        seed, on_window=bar.update, **generate_kwargs,
    )  # fmt: skip
    bar.close()
    codes = np.concatenate([semantic[:, None], generated], axis=1)
    return codes, windows, windowed, len(source)


def resynthesize_files(
    model_preset,
    codec_preset,
    source_path,
    prompt_path,
    output_path,
    prompt_seconds=3.0,
    window_seconds=20.0,
    seed=0,
    progress=True,
    **generate_kwargs,
):
    """`resynthesize` from presets and audio files, streaming the output WAV to `output_path`.

    Returns a `Resynthesis` without `waveform` (it is in the file;
    `num_samples` gives its length).
    """
    from keras_soundstorm.codecs import SpeechTokenizer
    from keras_soundstorm.models.soundstorm import SoundStorm

    model = SoundStorm.from_preset(model_preset)
    codec = SpeechTokenizer.from_preset(codec_preset)
    check_pair(model, codec)
    source, _ = audio.load(source_path, sample_rate=codec.sample_rate)
    prompt, _ = audio.load(prompt_path, sample_rate=codec.sample_rate)
    codes, windows, windowed, _ = _resynthesis_codes(
        model, codec, source, prompt, None, None, prompt_seconds, window_seconds, seed,
        progress, generate_kwargs,
    )  # fmt: skip
    num_samples = write_decoded(windowed, codes, output_path, len(source))
    return Resynthesis(None, codec.sample_rate, codes, windows, num_samples)


def write_decoded(windowed, codes, output_path, num_samples=None, skip_samples=0):
    """Decodes `codes` window by window into the WAV `output_path`; returns the samples written.

    `skip_samples` are dropped from the start and the output is cut at
    `num_samples` (default: all).
    """
    written, position = 0, 0
    with audio.WavWriter(output_path, windowed.codec.sample_rate, clip=True) as writer:
        for chunk in windowed.decode_chunks(codes):
            begin = max(0, skip_samples - position)
            position += len(chunk)
            chunk = chunk[begin:]
            if num_samples is not None:
                chunk = chunk[: max(0, num_samples - written)]
            if len(chunk):
                writer.write(chunk)
                written += len(chunk)
    return written


__all__ = ["Resynthesis", "resynthesize", "resynthesize_files", "write_decoded"]
