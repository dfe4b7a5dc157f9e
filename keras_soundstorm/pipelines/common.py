"""What the pipelines share: checks, mono resampling, SoundStorm over windows, progress bars."""

import math

import numpy as np

from keras_soundstorm import audio


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


def mono_at(waveform, rate_in, rate_out, name):
    """A waveform `[N]` / `[N, channels]` at `rate_in` -> float32 mono `[M]` at `rate_out`."""
    waveform = np.asarray(waveform, "float32")
    if waveform.ndim == 2:
        waveform = waveform.mean(axis=1)
    if waveform.ndim != 1 or not len(waveform):
        raise ValueError(f"The {name} must be a non-empty waveform [N] or [N, channels].")
    if rate_in != rate_out:
        waveform = audio.resample(waveform, rate_in, rate_out).astype("float32")
    return waveform


def frames_of(seconds, frame_rate, name):
    """`seconds` as a whole number of frames (at least one)."""
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
    ):
        raise ValueError(f"`{name}` must be a finite number of seconds; got {seconds!r}.")
    frames = int(round(seconds * frame_rate))
    if frames < 1:
        raise ValueError(f"`{name}` = {seconds!r} must cover at least one frame.")
    return frames


def generate_acoustic(
    model, semantic, context_semantic, context_acoustic, prompt_frames, window_frames, seed,
    on_window=None, **generate_kwargs,
):  # fmt: skip
    """SoundStorm's levels 2.. for `semantic`, in windows that continue each other.

    Args:
        model: a `kss.SoundStorm` conditioned on level-1 tokens.
        semantic: int `[T]` level-1 tokens to generate for.
        context_semantic, context_acoustic: int `[P]` / `[P, Q]`: what window 0
            continues (e.g. the voice prompt's codes).
        prompt_frames: frames of each window's output carried over as the next
            window's prompt.
        window_frames: frames per `generate` call, prompt included.
        seed: seed of window 0; window k uses `seed + k`.
        on_window: called after each window (e.g. a progress bar's update).

    Returns:
        `(generated, windows)`: int32 `[T, Q]` and one dict per window
        (`start`, `end`, `prompt_codes`, `codes`).
    """
    total = len(semantic)
    generated = np.zeros((total, model.backbone.num_levels), "int32")
    windows = []
    start, index = 0, 0
    while start < total:
        end = min(total, start + window_frames - len(context_semantic))
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
        if on_window is not None:
            on_window()
        carried = min(prompt_frames, end)
        context_semantic = semantic[end - carried : end]
        context_acoustic = generated[end - carried : end]
        start, index = end, index + 1
    return generated, windows


def progress_bar(total, enabled, description, unit):
    """A tqdm bar (or a silent stand-in when disabled or tqdm is missing)."""
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: no bar
        enabled = False
    if not enabled:
        return _NoBar()
    return tqdm(total=total, desc=description, unit=unit)


class _NoBar:
    def update(self, n=1):
        pass

    def close(self):
        pass
