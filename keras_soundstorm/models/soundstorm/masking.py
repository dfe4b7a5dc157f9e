"""SoundStorm's training mask: prompt boundary, level and cosine-masked frames.

Everything is sampled **per example** (a batch mixes levels and prompt lengths),
as in the SoundStorm paper's masking scheme (Borsos et al., 2023).
"""

import math

import keras
from keras import layers, ops, random

from keras_soundstorm import backend


def sample_training_mask(codes, padding_mask=None, seed=None, codebook_size=1024, stream=0):
    """Masks a batch of codec tokens the way SoundStorm trains.

    For each example with `T_real` real frames: a prompt boundary
    `t ~ U{0..T_real-1}` (frames before it are never masked), a level
    `q ~ U{0..Q-1}`, a masking probability `p = cos(u)`, `u ~ U[0, pi/2]`;
    level `q` is masked at each non-prompt frame with probability `p`, every
    finer level `q' > q` is masked at all non-prompt frames, coarser levels stay.

    Args:
        codes: int tensor `[B, T, Q]` of codes in `[0, C)`.
        padding_mask: bool tensor `[B, T]`, True on real frames. None: all real.
        seed: int, `keras.random.SeedGenerator` or None.
        codebook_size: C; the MASK token id is `C`. Default: the paper's 1024.
        stream: int (or scalar int tensor); different streams draw different
            masks from the same seed (used for tf.distribute replicas).

    Returns:
        dict with `"masked_codes"` int32 `[B, T, Q]` (MASK where masked),
        `"loss_mask"` bool `[B, T, Q]` (True only at the masked tokens of the
        sampled level), `"level"` int32 `[B]` (0-based) and `"prompt_length"`
        int32 `[B]`.
    """
    codes = ops.convert_to_tensor(codes)
    if len(codes.shape) != 3:
        raise ValueError(f"`codes` must have rank 3 [B, T, Q]; got shape {codes.shape}.")
    codes = ops.cast(codes, "int32")
    batch_size, num_frames, num_levels = ops.shape(codes)
    if padding_mask is None:
        padding_mask = ops.ones((batch_size, num_frames), "bool")
    padding_mask = ops.cast(padding_mask, "bool")

    # One draw for everything keeps a single seed use (an int seed reused in two
    # draws would give correlated numbers).
    u = random.uniform((batch_size, num_frames + 3), seed=seed)
    # Rotating U[0, 1) by a constant keeps it uniform; the golden ratio keeps
    # streams far apart.
    u = ops.mod(u + ops.cast(stream, u.dtype) * 0.6180339887, 1.0)
    real_length = ops.sum(ops.cast(padding_mask, "int32"), axis=1)  # [B]
    prompt_length = ops.cast(ops.floor(u[:, 0] * ops.cast(real_length, u.dtype)), "int32")
    prompt_length = ops.clip(prompt_length, 0, ops.maximum(real_length - 1, 0))
    level = ops.cast(ops.floor(u[:, 1] * num_levels), "int32")
    level = ops.minimum(level, num_levels - 1)
    mask_probability = ops.cos(u[:, 2] * (math.pi / 2))  # [B]
    frame_is_masked = u[:, 3:] < mask_probability[:, None]  # [B, T]

    positions = ops.arange(num_frames, dtype="int32")[None, :]
    generated = ops.logical_and(padding_mask, positions >= prompt_length[:, None])
    levels = ops.arange(num_levels, dtype="int32")[None, None, :]
    sampled_level = level[:, None, None]
    loss_mask = ops.logical_and(
        ops.logical_and(generated, frame_is_masked)[:, :, None],
        levels == sampled_level,
    )
    finer_masked = ops.logical_and(generated[:, :, None], levels > sampled_level)
    token_is_masked = ops.logical_or(loss_mask, finer_masked)
    masked_codes = ops.where(token_is_masked, codebook_size, codes)
    return {
        "masked_codes": masked_codes,
        "loss_mask": loss_mask,
        "level": level,
        "prompt_length": prompt_length,
    }


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class TrainingMasker(layers.Layer):
    """Applies `sample_training_mask` with a layer-owned seed.

    Owning the `SeedGenerator` lets the masking run inside a compiled training
    step on every backend (its state travels as a non-trainable variable).

    Call args: `codes` int `[B, T, Q]`, `padding_mask` bool `[B, T]`.
    Returns: dict `masked_codes` `[B, T, Q]`, `level` `[B]`, `targets` `[B, T]`
    (the true codes of the sampled level) and `loss_mask` bool `[B, T]`.
    """

    def __init__(self, codebook_size, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.codebook_size = codebook_size
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, codes, padding_mask):
        # Under tf.distribute the seed state is mirrored: a per-replica stream
        # keeps replicas from drawing the same masks for their batch slices.
        sample = sample_training_mask(
            codes,
            padding_mask,
            seed=self.seed_generator,
            codebook_size=self.codebook_size,
            stream=backend.replica_id(),
        )
        level = sample["level"]
        targets = ops.take_along_axis(ops.cast(codes, "int32"), level[:, None, None], axis=2)
        return {
            "masked_codes": sample["masked_codes"],
            "level": level,
            "targets": targets[:, :, 0],
            "loss_mask": ops.any(sample["loss_mask"], axis=2),
        }

    def compute_output_spec(self, codes, padding_mask):
        batch, frames = codes.shape[0], codes.shape[1]
        spec = keras.KerasTensor
        return {
            "masked_codes": spec(codes.shape, "int32"),
            "level": spec((batch,), "int32"),
            "targets": spec((batch, frames), "int32"),
            "loss_mask": spec((batch, frames), "bool"),
        }

    def get_config(self):
        config = super().get_config()
        config.update(codebook_size=self.codebook_size, seed=self.seed)
        return config
