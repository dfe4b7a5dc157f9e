"""Long inputs and huge sizes (issue 15, item 8).

Attention runs in query chunks past `attention_chunk_size` frames, so memory
grows linearly with T (measured by `examples/benchmark.py --memory-sweep`);
here: chunked attention equals one-shot attention, also compiled with an
unknown length, and sizes that cannot fit fail at once with a clear error.
"""

import time

import numpy as np
import pytest
from conftest import TINY, make_backbone
from keras import ops

import keras_soundstorm as kss
from keras_soundstorm import backend
from keras_soundstorm.layers import ConformerBlock
from keras_soundstorm.layers.conformer import (
    DEFAULT_ATTENTION_CHUNK_SIZE,
    attention_key_mask,
    chunked_attention,
)
from keras_soundstorm.models.soundstorm import soundstorm_backbone


def _random_attention_inputs(num_frames, seed, batch_size=3, num_heads=4, head_dim=8):
    rng = np.random.default_rng(seed)
    shape = (batch_size, num_frames, num_heads, head_dim)
    query, key, value = (rng.standard_normal(shape).astype("float32") for _ in range(3))
    padding_mask = np.ones((batch_size, num_frames), bool)
    padding_mask[0, num_frames // 3 :] = False  # padded tail
    padding_mask[1, :] = False  # fully padded example
    return query, key, value, padding_mask


def _attend(query, key, value, padding_mask, chunk_size):
    key_mask = attention_key_mask(ops.convert_to_tensor(padding_mask))
    return ops.convert_to_numpy(chunked_attention(query, key, value, key_mask, chunk_size))


@pytest.mark.parametrize("chunk_size", [1, 4, 7, 36, 37, 64])
def test_chunked_attention_equals_one_shot_attention_with_padding(chunk_size):
    query, key, value, padding_mask = _random_attention_inputs(37, seed=chunk_size)
    expected = _attend(query, key, value, padding_mask, None)
    got = _attend(query, key, value, padding_mask, chunk_size)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    if chunk_size >= 37:  # no chunking: the one-shot path, bit for bit
        np.testing.assert_array_equal(got, expected)


def test_chunked_attention_compiles_for_lengths_unknown_at_trace_time():
    """jax.jit / tf.function (relaxed shapes after a second length) / torch."""
    compiled = backend.compiled_inference(
        lambda q, k, v, m: chunked_attention(q, k, v, attention_key_mask(m), 8), []
    )
    for num_frames in (37, 45, 6, 8, 9):  # chunked, chunked, one shot, one shot, chunked
        query, key, value, padding_mask = _random_attention_inputs(num_frames, seed=num_frames)
        expected = _attend(query, key, value, padding_mask, None)
        got = ops.convert_to_numpy(compiled(query, key, value, padding_mask))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_conformer_block_chunked_equals_one_shot_and_round_trips_its_config():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 50, 32)).astype("float32")
    padding_mask = np.ones((2, 50), bool)
    padding_mask[1, 29:] = False
    one_shot = ConformerBlock(32, 4, 64, attention_chunk_size=None)
    chunked = ConformerBlock(32, 4, 64, attention_chunk_size=16)
    one_shot.build(x.shape)
    chunked.build(x.shape)
    chunked.set_weights(one_shot.get_weights())
    expected = ops.convert_to_numpy(one_shot(x, padding_mask=padding_mask))
    got = ops.convert_to_numpy(chunked(x, padding_mask=padding_mask))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert ConformerBlock.from_config(chunked.get_config()).attention_chunk_size == 16


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
