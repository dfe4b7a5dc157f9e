"""Input checks shared by the codecs' `encode` / `decode` (SoundStream, SpeechTokenizer).

Each returns the checked value as numpy, or raises a ValueError naming what is
wrong and what is accepted.
"""

import numpy as np
from keras import ops


def checked_waveform(waveform, max_amplitude=None):
    """numpy float32 `[B, N]` with B, N >= 1 and finite samples.

    `max_amplitude`: if given, samples with a larger magnitude are refused
    (codecs expect about [-1, 1]; see `ResidualCodec.max_amplitude`).
    """
    if isinstance(waveform, (list, tuple)):
        waveform = np.asarray(waveform)
    array = np.asarray(ops.convert_to_numpy(waveform))
    if array.dtype.kind != "f":
        raise ValueError(
            f"`waveform` must be floating point (samples in about [-1, 1]); got dtype "
            f"{array.dtype}. Convert integer PCM first, e.g. `pcm / 32768`."
        )
    if array.ndim != 2:
        raise ValueError(f"`waveform` must have shape [batch, samples]; got shape {array.shape}.")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"`waveform` must not be empty; got shape {array.shape}.")
    if not np.isfinite(array).all():
        raise ValueError("`waveform` contains NaN or infinite samples.")
    if max_amplitude is not None:
        peak = float(np.max(np.abs(array)))
        if peak > max_amplitude:
            raise ValueError(
                f"`waveform` has samples up to |{peak:.4g}|, above the accepted {max_amplitude:g}: "
                "codecs expect float samples in about [-1, 1]. Is it integer PCM passed as "
                "float? Divide int16 PCM by 32768."
            )
    return array.astype("float32")


def checked_num_levels(num_levels, available, codec_levels):
    """`num_levels` as an int in `[1, available]` (None: `available`).

    `codec_levels`: the codec's own level count, for the message.
    """
    if num_levels is None:
        return available
    if isinstance(num_levels, bool) or not isinstance(num_levels, (int, np.integer)):
        raise ValueError(f"`num_levels` must be an int or None; got {num_levels!r}.")
    if not 1 <= num_levels <= available:
        raise ValueError(
            f"`num_levels` must be in [1, {available}] (this codec has "
            f"{codec_levels} levels); got {num_levels}."
        )
    return int(num_levels)


def checked_codes(codes, num_levels, codebook_size):
    """numpy int32 `[B, T, k]` with at least one example, frame and level,
    `k <= num_levels` and ids in `[0, codebook_size)`."""
    codes = np.asarray(ops.convert_to_numpy(codes))
    if codes.ndim != 3:
        raise ValueError(
            f"`codes` must have shape [batch, frames, levels]; got shape {codes.shape}."
        )
    if codes.dtype.kind not in "iu":
        raise ValueError(f"`codes` must be integers; got dtype {codes.dtype}.")
    if 0 in codes.shape:
        raise ValueError(
            f"`codes` must have at least one example, frame and level; got shape {codes.shape}."
        )
    if codes.shape[2] > num_levels:
        raise ValueError(
            f"`codes` has {codes.shape[2]} levels but this codec has only {num_levels}."
        )
    if codes.min() < 0 or codes.max() >= codebook_size:
        raise ValueError(
            f"`codes` must be in [0, {codebook_size}); got values in "
            f"[{codes.min()}, {codes.max()}]."
        )
    return codes.astype("int32")
