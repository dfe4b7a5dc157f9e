"""SoundStormBackbone (models/soundstorm/soundstorm_backbone.py) at large sizes (issue 15, item 8):
the attention chunk size option, the parameter count, and sizes that cannot fit failing at once
with a clear error."""

import time

import numpy as np
import pytest
from conftest import TINY, make_backbone
from keras import ops

import keras_soundstorm as kss
from keras_soundstorm.layers.conformer import DEFAULT_ATTENTION_CHUNK_SIZE
from keras_soundstorm.models.soundstorm import soundstorm_backbone


def test_backbone_default_chunk_size_and_old_configs_load():
    backbone = make_backbone()
    assert backbone.attention_chunk_size == DEFAULT_ATTENTION_CHUNK_SIZE
    assert all(
        layer.attention_chunk_size == DEFAULT_ATTENTION_CHUNK_SIZE
        for layer in backbone.conformer_layers
    )
    config = backbone.get_config()
    assert config["attention_chunk_size"] == DEFAULT_ATTENTION_CHUNK_SIZE
    # A config saved before the option existed loads with the default.
    del config["attention_chunk_size"]
    restored = kss.SoundStormBackbone.from_config(config)
    assert restored.attention_chunk_size == DEFAULT_ATTENTION_CHUNK_SIZE
    one_shot = make_backbone(attention_chunk_size=None)
    assert one_shot.get_config()["attention_chunk_size"] is None


def test_backbone_chunked_equals_one_shot_on_padded_inputs():
    one_shot = make_backbone(attention_chunk_size=None)
    chunked = make_backbone(attention_chunk_size=8)
    chunked.set_weights(one_shot.get_weights())
    rng = np.random.default_rng(1)
    inputs = {
        "codes": rng.integers(0, TINY["codebook_size"] + 1, (2, 40, TINY["num_levels"])).astype(
            "int32"
        ),
        "conditioning": rng.integers(0, TINY["conditioning_vocabulary_size"], (2, 20)).astype(
            "int32"
        ),
        "padding_mask": np.arange(40)[None, :] < np.array([[40], [23]]),
    }
    expected = ops.convert_to_numpy(one_shot(inputs))
    got = ops.convert_to_numpy(chunked(inputs))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("value", [0, -1, 2.5, True, "512"])
def test_bad_attention_chunk_size_is_an_error(value):
    with pytest.raises(ValueError, match="attention_chunk_size"):
        make_backbone(attention_chunk_size=value)


@pytest.mark.parametrize(
    "name, value",
    [
        ("hidden_dim", 10**9),
        ("num_layers", 10**7),
        ("intermediate_dim", 10**12),
        ("codebook_size", 10**11),
        ("conditioning_vocabulary_size", 10**12),
    ],
)
def test_sizes_that_cannot_fit_fail_fast_naming_the_argument(name, value):
    if soundstorm_backbone.memory_limit_bytes() is None:
        pytest.skip("this platform does not report its memory")
    start = time.perf_counter()
    with pytest.raises(ValueError, match=rf"`{name}` = {value} is too large") as info:
        make_backbone(**{name: value})
    assert time.perf_counter() - start < 5
    assert "GB" in str(info.value) and "parameters" in str(info.value)


def test_parameter_count_is_exact():
    backbone = make_backbone()
    sizes = {
        name: TINY[name]
        for name in (
            "num_levels",
            "codebook_size",
            "conditioning_vocabulary_size",
            "hidden_dim",
            "num_layers",
            "intermediate_dim",
            "conv_kernel_size",
        )
    }
    assert soundstorm_backbone.parameter_count(**sizes) == backbone.count_params()


def test_generate_with_chunked_attention_at_two_lengths():
    """Two lengths share one compiled decode (TensorFlow relaxes T to None):
    the chunked path keeps the decode loop's static batch size."""
    model = kss.SoundStorm(make_backbone(attention_chunk_size=8))
    for frames in (24, 40):
        conditioning = np.zeros((1, frames // TINY["conditioning_rate_ratio"]), "int32")
        codes = model.generate(
            conditioning=conditioning,
            steps_per_level=(1,) * TINY["num_levels"],
            seed=0,
            bucket_frames=8,
        )
        assert codes.shape == (1, frames, TINY["num_levels"])
