"""Shared fixtures. The backend is chosen by KERAS_BACKEND before keras is imported."""

import keras
import numpy as np
import pytest

import keras_soundstorm as kss

TINY = dict(kss.CONFIGS["tiny"])


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)


def make_backbone(**overrides):
    return kss.SoundStormBackbone(**{**TINY, **overrides})


def toy_batch(batch_size=4, num_frames=32, seed=0, config=TINY):
    """Codes that are a deterministic function of the conditioning token."""
    rng = np.random.default_rng(seed)
    r = config["conditioning_rate_ratio"]
    conditioning = rng.integers(
        0, config["conditioning_vocabulary_size"], (batch_size, num_frames // r)
    )
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
