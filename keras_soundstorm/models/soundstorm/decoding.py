"""SoundStorm's level-wise iterative parallel decoding (MaskGIT-style).

Levels are filled coarse to fine. Level `q` gets `S_q` forward passes; each
pass samples a token for every still-masked position of level `q`, keeps the
most confident ones and re-masks the rest, so that after iteration `i` exactly
`floor(N_q * cos(pi/2 * i / S_q))` tokens of the level stay masked (at least
one fewer than before). Committed tokens are never re-ranked, finer levels stay
MASK until their turn and the last iteration of each level is greedy, as the
SoundStorm paper (Borsos et al., 2023) decodes.

The whole schedule runs as one `ops.fori_loop` over `sum(steps_per_level)`
passes, so a compiled decode holds a single copy of the model.
"""

import math
import numbers

import numpy as np
from keras import ops

from keras_soundstorm import backend
from keras_soundstorm.utils.validation import require_int, require_real

# Logits are divided by the temperature in float32: below this, typical logits
# overflow to inf. For greedy decoding use `top_k=1` instead.
MIN_TEMPERATURE = 1e-6
# Seeds are used as they are (an int32 scalar), never reduced modulo anything.
MAX_SEED = 2**31 - 1


def check_sampling_args(temperature, top_k, choice_temperature, codebook_size):
    """Returns `(temperature, top_k, choice_temperature)` as Python numbers.

    Raises ValueError naming the argument: `temperature` must be a finite
    number >= `MIN_TEMPERATURE`, `top_k` None or an int (Python or numpy, not a
    float, bool or string) in `[1, codebook_size]`, `choice_temperature` a
    finite number >= 0.
    """
    temperature = require_real(
        "temperature",
        temperature,
        minimum=MIN_TEMPERATURE,
        accepted=f"a finite number >= {MIN_TEMPERATURE:g} (smaller ones overflow the float32 "
        "logits; for greedy decoding use top_k=1)",
    )
    if top_k is not None:
        top_k = require_int("top_k", top_k, 1, codebook_size)
    choice_temperature = require_real("choice_temperature", choice_temperature, minimum=0)
    return temperature, top_k, choice_temperature


def check_seed(seed):
    """Returns `seed` as a Python int in `[0, MAX_SEED]` (None: a random one).

    Every seed in the range is its own stream (no two accepted seeds collide);
    anything else raises ValueError.
    """
    if seed is None:
        return int(np.random.randint(0, MAX_SEED + 1, dtype=np.int64))
    return require_int("seed", seed, 0, MAX_SEED)


def default_steps_per_level(num_levels):
    """The paper's schedule: 16 passes for level 1, one for each finer level."""
    return (16,) + (1,) * (num_levels - 1)


def validate_steps_per_level(steps_per_level, num_levels):
    """Returns `steps_per_level` as a tuple of Python ints, or raises ValueError."""
    if steps_per_level is None:
        return default_steps_per_level(num_levels)
    if isinstance(steps_per_level, numbers.Integral):
        raise ValueError(
            "`steps_per_level` must be a sequence of one positive int per level "
            f"({num_levels} levels), e.g. {default_steps_per_level(num_levels)}; "
            f"got the int {steps_per_level}."
        )
    steps = tuple(steps_per_level)
    if len(steps) != num_levels:
        raise ValueError(
            f"`steps_per_level` must have one entry per level ({num_levels}); "
            f"got {len(steps)} entries: {steps}."
        )
    for s in steps:
        if not isinstance(s, numbers.Integral) or isinstance(s, bool) or s < 1:
            raise ValueError(f"Every entry of `steps_per_level` must be an int >= 1; got {steps}.")
    return tuple(int(s) for s in steps)


def decode_schedule(steps_per_level):
    """Per-pass tables of the schedule.

    Returns:
        `(level, masked_fraction, progress, greedy)`, numpy arrays of length
        `sum(steps_per_level)`: the level of each pass, the fraction of the
        level's initially masked tokens that stays masked after it, `i / S_q`
        (anneals the choice noise) and whether it is the level's last pass.
    """
    level, fraction, progress, greedy = [], [], [], []
    for q, num_steps in enumerate(steps_per_level):
        for i in range(1, num_steps + 1):
            level.append(q)
            # cos(pi/2) is 6e-17 in float64, not 0: the last pass must empty the level.
            fraction.append(0.0 if i == num_steps else math.cos(math.pi / 2 * i / num_steps))
            progress.append(i / num_steps)
            greedy.append(i == num_steps)
    return (
        np.array(level, "int32"),
        np.array(fraction, "float32"),
        np.array(progress, "float32"),
        np.array(greedy, "bool"),
    )


def _gumbel(shape, seed, counter):
    """Gumbel noise `[B, T, ...]`, the same on the first frames whatever `T` is.

    Drawn frame-major (`[T, B, ...]`, then transposed): the noise generators
    fill their output as one stream in row-major order, so frame `t`'s noise
    is the same for every `T > t`. A seed then gives the same codes whatever
    padding `bucket_frames` adds, and `generate` the SavedModel's codes.
    """
    shape = tuple(shape)
    frame_major = (shape[1], shape[0]) + shape[2:]
    noise = backend.uniform_noise(frame_major, seed, counter)
    axes = (1, 0) + tuple(range(2, len(shape)))
    return -ops.log(-ops.log(ops.transpose(noise, axes)))


def iterative_decode(
    logits_fn,
    codes,
    padding_mask=None,
    steps_per_level=None,
    temperature=1.0,
    top_k=None,
    choice_temperature=1.0,
    seed=None,
    codebook_size=1024,
    return_finite=False,
):
    """Fills every MASK token of `codes`, level by level.

    Args:
        logits_fn: `logits_fn(codes [B, T, Q], level) -> [B, T, C]` logits of
            level `level` (a scalar int tensor, 0-based).
        codes: int `[B, T, Q]` in `[0, codebook_size]`; `codebook_size`
            (MASK) at every position to generate, given tokens (e.g. a prompt)
            elsewhere. Ids outside that range are a ValueError (checked when
            `codes` is not traced).
        padding_mask: bool `[B, T]`, True on real frames (None: all real).
            Padded frames are left as they are.
        steps_per_level: passes per level (Q ints >= 1); default
            `(16, 1, ..., 1)`.
        temperature: a finite number >= `MIN_TEMPERATURE` (1e-6), divides
            the logits before sampling and scoring.
        top_k: None or an int (Python or numpy) in `[1, C]`: sample only among
            the k most likely.
        choice_temperature: a finite number >= 0, scale of the Gumbel noise
            added to the confidences (annealed to 0 over each level's
            iterations).
        seed: an int in `[0, 2**31 - 1]`, used as it is, or a scalar int
            tensor (None: a random one). Same seed, same result.
        codebook_size: C; MASK is id C.
        return_finite: if True, also return whether every logit that chose a
            token was free of NaN and inf.

    Returns:
        int32 `[B, T, Q]`, no MASK left on real frames; with `return_finite`,
        `(codes, finite)` where `finite` is a scalar bool tensor. NaN or inf
        logits (e.g. NaN weights) cannot raise inside a compiled loop: the
        tokens chosen from them are meaningless (typically id 0) and `finite`
        is False. `SoundStorm.generate` raises a ValueError then.
    """
    values = backend.concrete_value(codes)
    if values is not None:
        if values.dtype == bool or not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"`codes` must hold integers; got dtype {values.dtype}.")
        if values.size and (values.min() < 0 or values.max() > codebook_size):
            raise ValueError(
                f"`codes` holds ids in [{values.min()}, {values.max()}]; accepted: [0, "
                f"{codebook_size}] (codes in [0, {codebook_size}), MASK = {codebook_size})."
            )
    codes = ops.cast(ops.convert_to_tensor(codes), "int32")
    if len(codes.shape) != 3:
        raise ValueError(f"`codes` must have rank 3 [B, T, Q]; got shape {codes.shape}.")
    num_levels = codes.shape[-1]
    steps = validate_steps_per_level(steps_per_level, num_levels)
    sampling = check_sampling_args(temperature, top_k, choice_temperature, codebook_size)
    if seed is None or isinstance(seed, numbers.Number | str):
        seed = check_seed(seed)
    return decode_levels(
        logits_fn, codes, padding_mask, steps, *sampling, seed, codebook_size, return_finite
    )


def decode_levels(
    logits_fn,
    codes,
    padding_mask,
    steps_per_level,
    temperature,
    top_k,
    choice_temperature,
    seed,
    codebook_size,
    return_finite=False,
):
    """`iterative_decode` on settings that are already checked (not re-checked).

    `steps_per_level` a tuple of Python ints, `seed` an int or a scalar int
    tensor, the sampling arguments as `check_sampling_args` returns them;
    `SoundStorm` checks them once (`decoding_settings.checked_decoding`) and
    calls this inside its compiled decode.
    """
    codes = ops.cast(ops.convert_to_tensor(codes), "int32")
    num_levels = codes.shape[-1]
    steps = steps_per_level
    seed = ops.cast(ops.convert_to_tensor(seed), "int32")

    batch_size, num_frames = ops.shape(codes)[0], ops.shape(codes)[1]
    if padding_mask is None:
        padding_mask = ops.ones((batch_size, num_frames), "bool")
    padding_mask = ops.cast(padding_mask, "bool")
    to_fill = ops.logical_and(ops.equal(codes, codebook_size), padding_mask[:, :, None])
    masked_per_level = ops.sum(ops.cast(to_fill, "int32"), axis=1)  # [B, Q]

    level_table, fraction_table, progress_table, greedy_table = (
        ops.convert_to_tensor(t) for t in decode_schedule(steps)
    )
    level_ids = ops.arange(num_levels, dtype="int32")

    def decode_pass(step, state):
        codes, finite = state
        level = ops.take(level_table, step)
        is_level = ops.equal(level_ids, level)  # [Q]
        level_codes = ops.sum(ops.where(is_level, codes, 0), axis=2)  # [B, T]
        masked = ops.logical_and(ops.equal(level_codes, codebook_size), padding_mask)

        logits = logits_fn(codes, level)
        if logits.shape[-1] is not None and logits.shape[-1] != codebook_size:
            raise ValueError(
                f"`logits_fn` returns {logits.shape[-1]} logits per token but "
                f"`codebook_size` is {codebook_size}: they must be equal."
            )
        logits = ops.cast(logits, "float32") / temperature
        if top_k is not None:
            kth_largest = backend.kth_largest(logits, int(top_k))
            logits = ops.where(logits < kth_largest, -np.inf, logits)
        # Gumbel-max sampling; the level's last pass is greedy.
        sampling_noise = _gumbel(ops.shape(logits), seed, 2 * step)
        sample_noise_scale = 1.0 - ops.cast(ops.take(greedy_table, step), "float32")
        sampled = ops.cast(
            ops.argmax(logits + sample_noise_scale * sampling_noise, axis=-1), "int32"
        )
        log_probs = ops.log_softmax(logits, axis=-1)
        confidence = ops.take_along_axis(log_probs, sampled[..., None], axis=-1)[..., 0]
        # NaN or +inf anywhere in a token's logits makes its log-probability NaN.
        finite = ops.logical_and(
            finite, ops.all(ops.logical_or(ops.logical_not(masked), ops.isfinite(confidence)))
        )
        choice_noise_scale = choice_temperature * (1.0 - ops.take(progress_table, step))
        confidence += choice_noise_scale * _gumbel(ops.shape(confidence), seed, 2 * step + 1)
        # Committed tokens and padding are never re-ranked.
        confidence = ops.where(masked, confidence, np.inf)

        level_total = ops.sum(ops.where(is_level, masked_per_level, 0), axis=1)  # [B]
        num_masked = ops.sum(ops.cast(masked, "int32"), axis=1)
        keep_masked = ops.cast(
            ops.floor(ops.cast(level_total, "float32") * ops.take(fraction_table, step)),
            "int32",
        )
        # At least one token is revealed per pass.
        keep_masked = ops.minimum(keep_masked, ops.maximum(num_masked - 1, 0))
        # A rank (double argsort), not a single argsort: rank 0 = least confident.
        rank = ops.argsort(ops.argsort(confidence, axis=-1), axis=-1)
        reveal = ops.logical_and(masked, rank >= keep_masked[:, None])
        update = ops.logical_and(reveal[:, :, None], is_level[None, None, :])
        return ops.where(update, sampled[:, :, None], codes), finite

    codes, finite = ops.fori_loop(
        0, int(sum(steps)), decode_pass, (codes, ops.convert_to_tensor(True))
    )
    return (codes, finite) if return_finite else codes
