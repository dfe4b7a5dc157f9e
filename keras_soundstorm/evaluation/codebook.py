"""Codebook usage of residual-vector-quantized codes, per level."""

import numpy as np


def codebook_usage(codes, codebook_size, mask=None):
    """How evenly each quantizer level uses its codebook.

    Args:
        codes: int `[N, Q]` or `[B, T, Q]`, ids in `[0, codebook_size)`; Q
            levels on the last axis.
        codebook_size: int, codes per level (C).
        mask: optional bool `[N]` or `[B, T]`; only True frames count (e.g.
            SoundStorm's `padding_mask`).

    Returns:
        dict of float64 arrays `[Q]`:
        - `"perplexity"`: exp of the entropy of each level's code histogram,
          in `[1, C]`; C when all codes are equally frequent, 1 when one code
          is used.
        - `"fraction_used"`: share of the C codes that occur at least once.
        - `"entropy_bits"`: the entropy in bits, in `[0, log2 C]`.

    Example:

    ```python
    usage = codebook_usage(codes, codebook_size=1024)  # codes [B, T, Q]
    usage["perplexity"]  # [Q]
    ```
    """
    if (
        isinstance(codebook_size, bool)
        or not isinstance(codebook_size, int | np.integer)
        or codebook_size < 1
    ):
        raise ValueError(f"`codebook_size` must be a positive int; got {codebook_size!r}.")
    codes = np.asarray(codes)
    if codes.dtype.kind not in "iu":
        raise ValueError(f"`codes` must be integer ids; got dtype {codes.dtype}.")
    if codes.ndim not in (2, 3):
        raise ValueError(
            f"`codes` must be [N, Q] or [B, T, Q] (levels last); got shape {codes.shape}."
        )
    num_levels = codes.shape[-1]
    if num_levels == 0:
        raise ValueError("`codes` has no quantizer level (last axis is empty).")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != codes.shape[:-1]:
            raise ValueError(
                f"`mask` must have the shape of `codes` without its level axis, "
                f"{codes.shape[:-1]}; got {mask.shape}."
            )
        codes = codes[mask.astype(bool)]
    codes = codes.reshape(-1, num_levels)
    if codes.shape[0] == 0:
        raise ValueError("`codes` holds no frame (after masking): usage is undefined.")
    if codes.min() < 0 or codes.max() >= codebook_size:
        raise ValueError(
            f"`codes` must lie in [0, {codebook_size}) for codebook_size={codebook_size}; "
            f"got values in [{codes.min()}, {codes.max()}]."
        )
    counts = np.stack(
        [np.bincount(codes[:, level], minlength=codebook_size) for level in range(num_levels)]
    ).astype("float64")
    probabilities = counts / counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(probabilities > 0, probabilities * np.log(probabilities), 0.0)
    entropy = np.maximum(-terms.sum(axis=1), 0.0)
    return {
        "perplexity": np.exp(entropy),
        "fraction_used": (counts > 0).mean(axis=1),
        "entropy_bits": entropy / np.log(2.0),
    }
