"""EnCodec-style layers (codecs/encodec_layers.py): reflect padding, ReflectConv1D, SkipLSTM."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_soundstorm.codecs.encodec_layers import ReflectConv1D, SkipLSTM, reflect_pad


def reference_reflect_pad(x, left, right):
    """NumPy reflection after the documented zero extension of short inputs."""
    length = x.shape[1]
    extended = np.pad(x, [(0, 0), (0, max(0, max(left, right) + 1 - length)), (0, 0)])
    padded = np.pad(extended, [(0, 0), (left, right), (0, 0)], mode="reflect")
    return padded[:, : left + length + right]


@pytest.mark.parametrize(
    "length, left, right", [(10, 3, 2), (10, 0, 4), (10, 5, 0), (4, 3, 3), (2, 3, 1), (1, 2, 2)]
)
def test_reflect_pad_matches_numpy_reflection(length, left, right):
    x = np.random.default_rng(length).standard_normal((2, length, 3)).astype("float32")
    got = ops.convert_to_numpy(reflect_pad(x, left, right))
    assert got.shape == (2, left + length + right, 3)
    np.testing.assert_array_equal(got, reference_reflect_pad(x, left, right))


def test_reflect_pad_of_nothing_is_the_input():
    x = np.ones((1, 3, 2), "float32")
    assert reflect_pad(x, 0, 0) is x


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("strides, dilation", [(1, 1), (1, 3), (2, 1), (4, 1)])
def test_reflect_conv_output_length_is_length_over_strides(causal, strides, dilation):
    layer = ReflectConv1D(3, 5, strides=strides, dilation_rate=dilation, causal=causal)
    x = np.random.default_rng(0).standard_normal((2, 16, 2)).astype("float32")
    assert ops.convert_to_numpy(layer(x)).shape == (2, 16 // strides, 3)


def test_causal_reflect_conv_never_sees_later_samples():
    layer = ReflectConv1D(3, 5, dilation_rate=2, causal=True)
    layer.build((None, None, 2))
    layer.set_weights([w + 0.1 for w in layer.get_weights()])
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 20, 2)).astype("float32")
    later = x.copy()
    later[:, 12:] = rng.standard_normal((1, 8, 2))
    a, b = ops.convert_to_numpy(layer(x)), ops.convert_to_numpy(layer(later))
    np.testing.assert_array_equal(a[:, :12], b[:, :12])
    assert not np.allclose(a[:, 12:], b[:, 12:])


def random_weights(layer, seed=0):
    rng = np.random.default_rng(seed)
    layer.set_weights(
        [0.5 * rng.standard_normal(w.shape).astype(w.dtype) for w in layer.get_weights()]
    )


def test_skip_lstm_starts_as_the_skip_connection():
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")
    out = ops.convert_to_numpy(SkipLSTM(3, 2, bidirectional=True)(x))
    np.testing.assert_allclose(out, np.concatenate([x, x], -1), atol=1e-6)


def test_skip_lstm_adds_the_input_to_forward_and_backward_lstms():
    units = 3
    layer = SkipLSTM(units, 1, bidirectional=True)
    layer.build((None, None, units))
    random_weights(layer)
    x = np.random.default_rng(1).standard_normal((2, 6, units)).astype("float32")
    out = ops.convert_to_numpy(layer(x))
    assert out.shape == (2, 6, 2 * units) == layer.compute_output_shape(x.shape)
    forward, backward = layer.directions(0)
    one_way = keras.layers.LSTM(units, return_sequences=True)
    one_way.build(x.shape)
    one_way.set_weights(forward.get_weights())
    np.testing.assert_allclose(
        out[..., :units] - x, ops.convert_to_numpy(one_way(x)), rtol=1e-5, atol=1e-5
    )
    one_way.set_weights(backward.get_weights())
    reversed_run = ops.convert_to_numpy(one_way(x[:, ::-1]))[:, ::-1]
    np.testing.assert_allclose(out[..., units:] - x, reversed_run, rtol=1e-5, atol=1e-5)


def test_a_unidirectional_skip_lstm_keeps_the_width_and_is_causal():
    layer = SkipLSTM(3, 2)
    layer.build((None, None, 3))
    random_weights(layer, seed=2)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 8, 3)).astype("float32")
    later = x.copy()
    later[:, 5:] = rng.standard_normal((1, 3, 3))
    a, b = ops.convert_to_numpy(layer(x)), ops.convert_to_numpy(layer(later))
    assert a.shape == (1, 8, 3)
    np.testing.assert_allclose(a[:, :5], b[:, :5], rtol=1e-6, atol=1e-6)
    assert not np.allclose(a[:, 5:], b[:, 5:])
