import math

import numpy as np
from keras import ops

from keras_soundstorm.models.soundstorm.masking import sample_training_mask

C = 64


def sample(batch=512, frames=40, levels=4, lengths=None, seed=0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, C, (batch, frames, levels)).astype("int32")
    padding_mask = np.ones((batch, frames), bool)
    if lengths is not None:
        padding_mask = np.arange(frames)[None] < np.asarray(lengths)[:, None]
    out = sample_training_mask(codes, padding_mask, seed=seed, codebook_size=C)
    out = {k: ops.convert_to_numpy(v) for k, v in out.items()}
    return codes, padding_mask, out


def test_shapes_and_dtypes():
    codes, _, out = sample(batch=3, frames=10)
    assert out["masked_codes"].shape == codes.shape
    assert out["loss_mask"].shape == codes.shape and out["loss_mask"].dtype == bool
    assert out["level"].shape == (3,) and out["prompt_length"].shape == (3,)


def test_prompt_never_masked_and_coarser_levels_visible():
    codes, _, out = sample()
    frames = np.arange(codes.shape[1])[None, :, None]
    levels = np.arange(codes.shape[2])[None, None, :]
    in_prompt = frames < out["prompt_length"][:, None, None]
    coarser = levels < out["level"][:, None, None]
    keep = np.broadcast_to(in_prompt | coarser, codes.shape)
    np.testing.assert_array_equal(out["masked_codes"][keep], codes[keep])


def test_finer_levels_fully_masked_after_prompt():
    codes, _, out = sample()
    frames = np.arange(codes.shape[1])[None, :, None]
    levels = np.arange(codes.shape[2])[None, None, :]
    finer = (levels > out["level"][:, None, None]) & (frames >= out["prompt_length"][:, None, None])
    assert finer.any()
    assert (out["masked_codes"][finer] == C).all()


def test_loss_only_on_masked_tokens_of_the_sampled_level():
    codes, _, out = sample()
    levels = np.arange(codes.shape[2])[None, None, :]
    is_masked = out["masked_codes"] == C
    at_level = levels == out["level"][:, None, None]
    np.testing.assert_array_equal(out["loss_mask"], is_masked & at_level)


def test_mean_masked_fraction_is_two_over_pi():
    codes, _, out = sample(batch=4000, frames=64, seed=3)
    fractions = []
    for b in range(codes.shape[0]):
        t, q = out["prompt_length"][b], out["level"][b]
        fractions.append(out["loss_mask"][b, t:, q].mean())
    assert abs(np.mean(fractions) - 2 / math.pi) < 0.015


def test_sampled_per_example_uniformly():
    codes, _, out = sample(batch=4000, frames=20, seed=5)
    counts = np.bincount(out["level"], minlength=4) / 4000
    np.testing.assert_allclose(counts, 0.25, atol=0.03)
    assert out["prompt_length"].min() == 0 and out["prompt_length"].max() == 19
    np.testing.assert_allclose(np.bincount(out["prompt_length"]) / 4000, 1 / 20, atol=0.015)


def test_padding_never_masked_nor_counted():
    lengths = np.random.default_rng(0).integers(1, 41, 512)
    codes, padding_mask, out = sample(lengths=lengths)
    pad = ~padding_mask
    assert not out["loss_mask"][pad].any()
    np.testing.assert_array_equal(out["masked_codes"][pad], codes[pad])
    assert (out["prompt_length"] < lengths).all()


def test_fixed_seed_is_deterministic():
    _, _, a = sample(batch=8, seed=11)
    _, _, b = sample(batch=8, seed=11)
    _, _, c = sample(batch=8, seed=12)
    np.testing.assert_array_equal(a["masked_codes"], b["masked_codes"])
    assert not np.array_equal(a["masked_codes"], c["masked_codes"])
