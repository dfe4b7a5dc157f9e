"""A synthetic task for quick starts and tests: codes determined by the conditioning."""

import numpy as np


def toy_batch(batch_size, num_frames, config, seed=0):
    """Random conditioning and codes that are a fixed function of it.

    Level `q` of a frame whose conditioning token is `k` holds
    `(k * (2q + 3) + 5q) mod C`, so a model that learned the task reproduces
    the codes exactly from the conditioning.

    Args:
        batch_size, num_frames: output size; `num_frames` must be a multiple
            of `config["conditioning_rate_ratio"]`.
        config: a backbone config dict (e.g. `kss.CONFIGS["tiny"]`).

    Returns:
        dict `codes` int32 `[B, T, Q]`, `conditioning` int32 `[B, T/r]`,
        `padding_mask` bool `[B, T]` (all True).
    """
    r = config["conditioning_rate_ratio"]
    if num_frames % r:
        raise ValueError(f"`num_frames` ({num_frames}) must be a multiple of r = {r}.")
    rng = np.random.default_rng(seed)
    vocabulary = max(config["conditioning_vocabulary_size"] or 0, 1)
    conditioning = rng.integers(0, vocabulary, (batch_size, num_frames // r))
    per_frame = np.repeat(conditioning, r, axis=1)
    codes = np.stack(
        [
            (per_frame * (2 * q + 3) + 5 * q) % config["codebook_size"]
            for q in range(config["num_levels"])
        ],
        axis=-1,
    )
    return {
        "codes": codes.astype("int32"),
        "conditioning": conditioning.astype("int32"),
        "padding_mask": np.ones((batch_size, num_frames), bool),
    }
