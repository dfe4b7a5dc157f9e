"""Voice-prompted resynthesis: a source's words in a prompt's voice.

With a converted SpeechTokenizer-SoundStorm pair (see `kss.convert`), the
conditioning is the codec's RVQ level 1 (semantic tokens: what is said) and
SoundStorm generates levels 2.. (acoustic tokens: who says it and how).
`resynthesize` takes the prompt's level-1 tokens followed by the source's as
the conditioning and the prompt's finer levels as the acoustic prompt, so the
output says the source's words in the prompt's voice. Long sources are
generated in windows, each continuing the end of the previous window's output
as its prompt, so memory stays bounded and there is no seam.
"""

import dataclasses

import numpy as np

from keras_soundstorm import audio
from keras_soundstorm.utils.validation import check_waveform


@dataclasses.dataclass
class Resynthesis:
    """The result of `resynthesize`.

    Attributes:
        waveform: float32 `[N]` at `sample_rate`, as long as the source.
        sample_rate: the codec's rate (Hz).
        codes: int32 `[T, 1 + Q]`: the source's level-1 tokens and the
            generated levels.
        windows: one dict per window: `start` / `end` (source frames it
            generated), `prompt_codes` int32 `[P, Q]` (its acoustic prompt) and
            `codes` int32 `[end - start, Q]` (what it generated).
    """

    waveform: np.ndarray
    sample_rate: int
    codes: np.ndarray
    windows: list


def check_pair(model, codec):
    """Raises ValueError unless `model` generates `codec`'s levels 2.. from its level 1."""
    backbone = model.backbone
    problems = []
    if backbone.codebook_size != codec.codebook_size:
        problems.append(
            f"the model's codebook size {backbone.codebook_size} is not the codec's "
            f"{codec.codebook_size}"
        )
    if backbone.num_levels + 1 > codec.num_levels:
        problems.append(
            f"the model generates {backbone.num_levels} levels after level 1, more than the "
            f"codec's {codec.num_levels} levels"
        )
    if backbone.conditioning_vocabulary_size != codec.codebook_size:
        problems.append(
            "the model is not conditioned on the codec's level-1 tokens (conditioning "
            f"vocabulary {backbone.conditioning_vocabulary_size}, codebook {codec.codebook_size})"
        )
    elif backbone.conditioning_rate_ratio != 1:
        problems.append(
            f"the model's conditioning rate ratio is {backbone.conditioning_rate_ratio}, not 1"
        )
    if problems:
        raise ValueError(
            "This SoundStorm cannot resynthesize with this codec: " + "; ".join(problems) + "."
        )


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
    check_pair(model, codec)
    rate = codec.sample_rate
    frame_samples = int(np.ceil(rate / codec.frame_rate))
    check_waveform("source", source, "source_rate", source_rate)
    prompt = check_waveform("prompt", prompt, "prompt_rate", prompt_rate, min_samples=0)
    if len(prompt) * rate / (prompt_rate or rate) < frame_samples:
        raise ValueError(
            f"`prompt` is shorter than one codec frame ({frame_samples} samples at {rate} Hz)."
        )
    source = _mono_at(source, source_rate or rate, rate, "source")
    prompt = _mono_at(prompt, prompt_rate or rate, rate, "prompt")
    frame_rate = codec.frame_rate
    prompt_frames = int(round(prompt_seconds * frame_rate))
    window_frames = int(round(window_seconds * frame_rate))
    if prompt_frames < 1:
        raise ValueError(f"`prompt_seconds` = {prompt_seconds!r} must cover at least one frame.")
    if window_frames <= prompt_frames:
        raise ValueError(
            f"`window_seconds` ({window_seconds}) must exceed `prompt_seconds` ({prompt_seconds}): "
            "each window generates what is left after its prompt."
        )
    num_levels = model.backbone.num_levels
    prompt_codes = codec.encode(prompt[None], num_levels=num_levels + 1)[0]
    prompt_codes = prompt_codes[:prompt_frames]
    if len(prompt_codes) < 1:
        raise ValueError("The prompt is shorter than one codec frame.")
    semantic = codec.semantic_tokens(source[None])[0]
    total = len(semantic)
    generated = np.zeros((total, num_levels), "int32")
    windows = []
    # Window 0 continues the voice prompt; window k the end of window k - 1's output.
    context_semantic, context_acoustic = prompt_codes[:, 0], prompt_codes[:, 1:]
    starts = list(range(0, total, window_frames - prompt_frames)) or [0]
    bar = _progress(len(starts), progress)
    start = 0
    for index in range(len(starts)):
        span = window_frames - len(context_semantic)
        end = min(total, start + span)
        conditioning = np.concatenate([context_semantic, semantic[start:end]])
        codes = model.generate(
            conditioning=conditioning[None].astype("int32"),
            prompt_codes=context_acoustic[None].astype("int32"),
            seed=seed + index,
            **generate_kwargs,
        )
        codes = np.asarray(codes)[0, len(context_semantic) :].astype("int32")
        generated[start:end] = codes
        windows.append(
            {"start": start, "end": end, "prompt_codes": context_acoustic, "codes": codes}
        )
        bar.update(1)
        carried = min(prompt_frames, end)
        context_semantic = semantic[end - carried : end]
        context_acoustic = generated[end - carried : end]
        start = end
        if start >= total:
            break
    bar.close()
    codes = np.concatenate([semantic[:, None], generated], axis=1)
    waveform = codec.decode(codes[None])[0][: len(source)]
    return Resynthesis(waveform=waveform, sample_rate=rate, codes=codes, windows=windows)


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
    """`resynthesize` from presets and audio files; writes `output_path` (WAV) and returns it."""
    from keras_soundstorm.codecs import SpeechTokenizer
    from keras_soundstorm.models.soundstorm import SoundStorm

    model = SoundStorm.from_preset(model_preset)
    codec = SpeechTokenizer.from_preset(codec_preset)
    check_pair(model, codec)
    source, _ = audio.load(source_path, sample_rate=codec.sample_rate)
    prompt, _ = audio.load(prompt_path, sample_rate=codec.sample_rate)
    result = resynthesize(
        model,
        codec,
        source,
        prompt,
        prompt_seconds=prompt_seconds,
        window_seconds=window_seconds,
        seed=seed,
        progress=progress,
        **generate_kwargs,
    )
    audio.save(output_path, result.waveform, result.sample_rate, clip=True)
    return result


def _mono_at(waveform, rate_in, rate_out, name):
    waveform = np.asarray(waveform, "float32")
    if waveform.ndim == 2:
        waveform = waveform.mean(axis=1)
    if waveform.ndim != 1 or not len(waveform):
        raise ValueError(f"The {name} must be a non-empty waveform [N] or [N, channels].")
    if rate_in != rate_out:
        waveform = audio.resample(waveform, rate_in, rate_out).astype("float32")
    return waveform


def _progress(total, enabled):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: no bar
        enabled = False
    if not enabled:
        return _NoBar()
    return tqdm(total=total, desc="resynthesis windows", unit="window")


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


__all__ = ["Resynthesis", "check_pair", "resynthesize", "resynthesize_files"]
