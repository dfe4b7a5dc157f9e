"""ConformerBlock and chunked attention (layers/conformer.py); long inputs (issue 15, item 8).

Attention runs in query chunks past `attention_chunk_size` frames, so memory
grows linearly with T (measured by `examples/benchmark.py --memory-sweep`);
here: chunked attention equals one-shot attention, also compiled with an
unknown length. (Sizes that cannot fit: tests/test_soundstorm_backbone.py.)
"""

import numpy as np
import pytest
from keras import ops

from keras_soundstorm import backend
from keras_soundstorm.layers import ConformerBlock
from keras_soundstorm.layers.conformer import (
    attention_key_mask,
    chunked_attention,
)


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


# --- ConformerBlock -----------------------------------------------------------


def random_block(**kwargs):
    block = ConformerBlock(16, 4, 32, conv_kernel_size=3, attention_chunk_size=None, **kwargs)
    block.build((None, None, 16))
    rng = np.random.default_rng(0)
    block.set_weights([w + 0.1 * rng.standard_normal(w.shape) for w in block.get_weights()])
    return block


def test_conformer_block_keeps_the_shape_and_ignores_padded_frames():
    block = random_block()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 9, 16)).astype("float32")
    padding_mask = np.ones((2, 9), bool)
    padding_mask[1, 5:] = False
    other = x.copy()
    other[1, 5:] = rng.standard_normal((4, 16))  # only padded frames change
    a = ops.convert_to_numpy(block(x, padding_mask=padding_mask))
    b = ops.convert_to_numpy(block(other, padding_mask=padding_mask))
    assert a.shape == x.shape == block.compute_output_shape(x.shape)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(a[1, :5], b[1, :5], rtol=1e-5, atol=1e-5)


def test_conformer_block_sees_every_real_frame_in_both_directions():
    block = random_block()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 9, 16)).astype("float32")
    mask = np.ones((1, 9), bool)
    for frame in (0, 8):  # a change at either end reaches the other end (bidirectional)
        other = x.copy()
        other[0, frame] = rng.standard_normal(16)
        a = ops.convert_to_numpy(block(x, padding_mask=mask))
        b = ops.convert_to_numpy(block(other, padding_mask=mask))
        assert not np.allclose(a[0, 8 - frame], b[0, 8 - frame])


def test_conformer_block_batch_examples_are_independent():
    block = random_block()
    x = np.random.default_rng(3).standard_normal((3, 7, 16)).astype("float32")
    mask = np.ones((3, 7), bool)
    together = ops.convert_to_numpy(block(x, padding_mask=mask))
    alone = ops.convert_to_numpy(block(x[1:2], padding_mask=mask[1:2]))
    np.testing.assert_allclose(together[1:2], alone, rtol=1e-5, atol=1e-5)
