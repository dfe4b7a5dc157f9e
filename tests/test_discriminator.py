"""STFTDiscriminator (codecs/discriminator.py): logits and feature maps of a waveform."""

import numpy as np
from keras import ops

from keras_soundstorm.codecs.discriminator import STFTDiscriminator


def numpy(values):
    return [ops.convert_to_numpy(v) for v in values]


def test_logits_and_one_feature_map_per_conv_with_the_stated_channels():
    layer = STFTDiscriminator(channels=2, fft_size=32)
    waveform = np.random.default_rng(0).standard_normal((2, 256)).astype("float32")
    logits, features = layer(waveform)
    assert len(features) == 1 + len(STFTDiscriminator._BLOCKS)
    channels = [2] + [2 * multiplier for _, _, multiplier in STFTDiscriminator._BLOCKS]
    assert [f.shape[-1] for f in features] == channels
    assert logits.shape[0] == 2 and logits.shape[-1] == 1
    # The strided blocks halve the frequency axis four times and time twice.
    assert features[-1].shape[2] == -(-features[0].shape[2] // 16)
    assert features[-1].shape[1] == -(-features[0].shape[1] // 4)


def test_frozen_runs_the_same_net():
    layer = STFTDiscriminator(channels=2, fft_size=32)
    waveform = np.random.default_rng(1).standard_normal((1, 256)).astype("float32")
    logits, features = layer(waveform)
    frozen_logits, frozen_features = layer(waveform, frozen=True)
    np.testing.assert_allclose(numpy([frozen_logits]), numpy([logits]), rtol=1e-5, atol=1e-6)
    for a, b in zip(numpy(frozen_features), numpy(features), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_examples_are_judged_independently():
    layer = STFTDiscriminator(channels=2, fft_size=32)
    rng = np.random.default_rng(2)
    waveform = rng.standard_normal((2, 256)).astype("float32")
    other = waveform.copy()
    other[1] = rng.standard_normal(256)
    a, b = numpy([layer(waveform)[0], layer(other)[0]])
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(a[1], b[1])
