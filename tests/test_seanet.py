"""SEANetEncoder (codecs/seanet.py): waveform -> frames, causal, one frame per hop."""

import numpy as np
from keras import ops

from keras_soundstorm.codecs.seanet import SEANetEncoder

STRIDES = (2, 4)
HOP = 8


def encoder():
    layer = SEANetEncoder(channels=4, latent_dim=6, strides=STRIDES)
    layer.build((None, None))
    return layer


def encode(layer, waveform):
    return ops.convert_to_numpy(layer(waveform))


def test_one_frame_per_hop_and_the_stated_output_shape():
    layer = encoder()
    waveform = np.random.default_rng(0).standard_normal((2, 12 * HOP)).astype("float32")
    frames = encode(layer, waveform)
    assert frames.shape == (2, 12, 6) == layer.compute_output_shape(waveform.shape)
    assert np.all(np.isfinite(frames)) and np.abs(frames).max() > 0


def test_frames_never_see_later_samples():
    layer = encoder()
    rng = np.random.default_rng(1)
    waveform = rng.standard_normal((1, 16 * HOP)).astype("float32")
    later = waveform.copy()
    later[:, 8 * HOP :] = rng.standard_normal((1, 8 * HOP))
    before, after = encode(layer, waveform), encode(layer, later)
    np.testing.assert_array_equal(before[:, :8], after[:, :8])
    assert not np.allclose(before[:, 8:], after[:, 8:])


def test_examples_of_a_batch_are_encoded_independently():
    layer = encoder()
    waveform = np.random.default_rng(2).standard_normal((2, 4 * HOP)).astype("float32")
    alone = encode(layer, waveform[:1])
    np.testing.assert_allclose(encode(layer, waveform)[:1], alone, rtol=1e-5, atol=1e-6)
