"""A frame-rate decoder that predicts an STFT and inverts it (Vocos-style).

An alternative to the SEANet decoder, which draws every waveform period with
transposed convolutions up to the sample rate: causal ConvNeXt blocks stay at
the frame rate and predict, for every frame, the log-magnitude and phase of
one STFT frame; an inverse STFT (overlap-add) makes the waveform. A training
step costs about half of a SEANet-decoder step (`examples/train_codec.py`
defaults: 0.58 s against 1.0-1.2 s on 2 CPU cores).

Status: experimental. Trained with the mel loss alone (no discriminator) for
500 steps on the eSpeak corpus it had collapsed to the average spectrum
(speaker cosine 0.35-0.41, worse than the SEANet decoder's 0.47 after 700
steps); the shipped codec uses the SEANet decoder. Vocos trains this kind of
decoder adversarially, which this run did not.
"""

import keras
import numpy as np
from keras import layers, ops


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class ConvNeXtBlock(layers.Layer):
    """`x + pointwise(gelu(pointwise(norm(depthwise_causal(x)))))`.

    Call args: `x` float `[B, T, dim]`. Returns the same shape.
    """

    def __init__(self, dim, kernel_size=7, expansion=3, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.kernel_size, self.expansion = dim, kernel_size, expansion
        dtype = self.dtype_policy
        self.depthwise = layers.DepthwiseConv1D(
            kernel_size, padding="valid", dtype=dtype, name="depthwise"
        )
        self.norm = layers.LayerNormalization(epsilon=1e-6, dtype=dtype, name="norm")
        self.expand = layers.Dense(expansion * dim, dtype=dtype, name="expand")
        self.project = layers.Dense(dim, dtype=dtype, name="project")

    def build(self, input_shape):
        self.depthwise.build(input_shape)
        self.norm.build(input_shape)
        self.expand.build(input_shape)
        self.project.build((*input_shape[:-1], self.expansion * self.dim))
        self.built = True

    def call(self, x):
        causal = ops.pad(x, [[0, 0], [self.kernel_size - 1, 0], [0, 0]])
        hidden = self.expand(self.norm(self.depthwise(causal)))
        return x + self.project(ops.gelu(hidden))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(dim=self.dim, kernel_size=self.kernel_size, expansion=self.expansion)
        return config


def overlap_add(frames, hop):
    """`[B, T, 4 * hop]` windowed frames -> `[B, (T + 3) * hop]` samples, hop apart."""
    batch, num_frames = ops.shape(frames)[0], ops.shape(frames)[1]
    total = None
    for shift in range(4):
        chunk = frames[:, :, shift * hop : (shift + 1) * hop]
        padded = ops.pad(chunk, [[0, 0], [shift, 3 - shift], [0, 0]])
        total = padded if total is None else total + padded
    return ops.reshape(total, (batch, (num_frames + 3) * hop))


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class ISTFTDecoder(layers.Layer):
    """Latent frames -> waveform through a predicted STFT, hop = samples per frame.

    Args:
        latent_dim: channels of the input frames.
        hop_length: samples per frame; the STFT window is `4 * hop_length`
            (Hann, 75% overlap).
        hidden_dim: width of the ConvNeXt blocks.
        num_blocks: ConvNeXt blocks.
        kernel_size: their causal depthwise kernel.

    Call args: `latents` float `[B, T, latent_dim]`.
    Returns: float `[B, T * hop_length]`.
    """

    def __init__(
        self, latent_dim, hop_length, hidden_dim=256, num_blocks=6, kernel_size=7, **kwargs
    ):
        super().__init__(**kwargs)
        self.latent_dim, self.hop_length = latent_dim, hop_length
        self.hidden_dim, self.num_blocks, self.kernel_size = hidden_dim, num_blocks, kernel_size
        self.fft_size = 4 * hop_length
        dtype = self.dtype_policy
        self.input_conv = layers.Conv1D(
            hidden_dim, kernel_size, padding="causal", dtype=dtype, name="input_conv"
        )
        self.blocks = [
            ConvNeXtBlock(hidden_dim, kernel_size, dtype=dtype, name=f"block_{i}")
            for i in range(num_blocks)
        ]
        self.norm = layers.LayerNormalization(epsilon=1e-6, dtype=dtype, name="norm")
        self.spectrum = layers.Dense(2 * (self.fft_size // 2 + 1), dtype=dtype, name="spectrum")

    def build(self, input_shape):
        self.input_conv.build((input_shape[0], None, self.latent_dim))
        shape = (input_shape[0], None, self.hidden_dim)
        for block in self.blocks:
            block.build(shape)
        self.norm.build(shape)
        self.spectrum.build(shape)
        self.built = True

    def call(self, latents):
        x = self.input_conv(latents)
        for block in self.blocks:
            x = block(x)
        log_magnitude, phase = ops.split(ops.cast(self.spectrum(self.norm(x)), "float32"), 2, -1)
        magnitude = ops.exp(ops.minimum(log_magnitude, 10.0))
        real, imag = magnitude * ops.cos(phase), magnitude * ops.sin(phase)
        frames = ops.irfft((real, imag), fft_length=self.fft_size)
        window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(self.fft_size) / self.fft_size)
        # A periodic Hann window squared sums to 1.5 at 75% overlap.
        frames = frames * ops.convert_to_tensor((window / 1.5).astype("float32"))
        audio = overlap_add(frames, self.hop_length)
        # Frame t's window is centred on its own samples [t * hop, (t + 1) * hop).
        start = (self.fft_size - self.hop_length) // 2
        return audio[:, start : start + ops.shape(latents)[1] * self.hop_length]

    def compute_output_shape(self, input_shape):
        frames = input_shape[1]
        return (input_shape[0], None if frames is None else frames * self.hop_length)

    def get_config(self):
        config = super().get_config()
        config.update(
            latent_dim=self.latent_dim,
            hop_length=self.hop_length,
            hidden_dim=self.hidden_dim,
            num_blocks=self.num_blocks,
            kernel_size=self.kernel_size,
        )
        return config
