"""STFT discriminator with feature maps, trainable in a single `fit` step."""

import keras
from keras import layers, ops

from keras_soundstorm.codecs import losses


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class STFTDiscriminator(layers.Layer):
    """2D conv net on the complex STFT (real and imaginary parts as channels).

    `call(..., frozen=True)` runs the same net with gradient-stopped weights:
    the generator's adversarial and feature-matching losses use it, the
    discriminator's loss uses gradient-stopped fake audio, so one optimizer
    step on the summed losses updates each network only by its own loss.
    This keeps GAN training inside the ordinary `fit` on every backend.

    Args:
        channels: channels of the first conv; later convs use up to 4x.
        fft_size: STFT window (hop = fft_size / 4).

    Call args: `waveform` float `[B, N]`, `frozen` bool.
    Returns: (logits `[B, frames', bins', 1]`, list of feature maps).
    """

    # (time stride, frequency stride, channel multiplier) of the strided convs.
    _BLOCKS = ((1, 2, 1), (2, 2, 2), (1, 2, 4), (2, 2, 4))

    def __init__(self, channels=32, fft_size=1024, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.fft_size = fft_size
        dtype = self.dtype_policy
        self.convs = [
            layers.Conv2D(channels, (7, 7), padding="same", dtype=dtype, name="input_conv")
        ]
        for i, (time_stride, freq_stride, multiplier) in enumerate(self._BLOCKS):
            self.convs.append(
                layers.Conv2D(
                    channels * multiplier,
                    (time_stride + 2, freq_stride + 2),
                    strides=(time_stride, freq_stride),
                    padding="same",
                    dtype=dtype,
                    name=f"block_{i}",
                )
            )
        self.output_conv = layers.Conv2D(1, (3, 3), padding="same", dtype=dtype, name="output_conv")

    def build(self, waveform_shape):
        shape = (waveform_shape[0], None, None, 2)
        for conv in self.convs + [self.output_conv]:
            conv.build(shape)
            shape = (shape[0], None, None, conv.filters)
        self.built = True

    def _conv(self, conv, x, frozen):
        if not frozen:
            return conv(x)
        outputs = ops.conv(
            x, ops.stop_gradient(conv.kernel), strides=conv.strides, padding=conv.padding
        )
        return outputs + ops.stop_gradient(conv.bias)

    def call(self, waveform, frozen=False):
        real, imag = losses.stft(ops.cast(waveform, "float32"), self.fft_size)
        x = ops.stack([real, imag], axis=-1)
        features = []
        for conv in self.convs:
            x = ops.leaky_relu(self._conv(conv, x, frozen), negative_slope=0.2)
            features.append(x)
        return self._conv(self.output_conv, x, frozen), features

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels, fft_size=self.fft_size)
        return config


def adversarial_losses(discriminator, real, fake):
    """Hinge GAN losses and feature matching for one discriminator.

    Returns a dict of float32 scalars: `discriminator_loss` (reaches only the
    discriminator), `generator_loss` and `feature_matching_loss` (reach only
    the generator).
    """
    real_logits, real_features = discriminator(real)
    fake_logits_d, _ = discriminator(ops.stop_gradient(fake))
    fake_logits_g, fake_features = discriminator(fake, frozen=True)
    discriminator_loss = ops.mean(ops.relu(1.0 - real_logits)) + ops.mean(
        ops.relu(1.0 + fake_logits_d)
    )
    generator_loss = ops.mean(ops.relu(1.0 - fake_logits_g))
    feature_matching = 0.0
    for real_map, fake_map in zip(real_features, fake_features):
        real_map = ops.stop_gradient(real_map)
        feature_matching = feature_matching + ops.mean(ops.abs(real_map - fake_map)) / ops.maximum(
            ops.mean(ops.abs(real_map)), 1e-5
        )
    return {
        "discriminator_loss": ops.cast(discriminator_loss, "float32"),
        "generator_loss": ops.cast(generator_loss, "float32"),
        "feature_matching_loss": ops.cast(feature_matching / len(real_features), "float32"),
    }
