"""SEANet encoder and decoder: causal 1D convolutions, ELU residual units."""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class ResidualUnit(layers.Layer):
    """`x + conv_1(elu(conv_k,dilated(elu(x))))`, causal, length-preserving.

    Call args: `x` float `[B, N, channels]`. Returns the same shape.
    """

    def __init__(self, channels, dilation, kernel_size=7, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.dilation = dilation
        self.kernel_size = kernel_size
        self.dilated_conv = layers.Conv1D(
            channels,
            kernel_size,
            dilation_rate=dilation,
            padding="causal",
            dtype=self.dtype_policy,
            name="dilated_conv",
        )
        self.pointwise_conv = layers.Conv1D(
            channels, 1, dtype=self.dtype_policy, name="pointwise_conv"
        )

    def build(self, input_shape):
        self.dilated_conv.build(input_shape)
        self.pointwise_conv.build(input_shape)
        self.built = True

    def call(self, x):
        hidden = self.dilated_conv(ops.elu(x))
        return x + self.pointwise_conv(ops.elu(hidden))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels, dilation=self.dilation, kernel_size=self.kernel_size)
        return config


def _stage_channels(channels, stage):
    return channels * 2**stage


class _SEANetStack(layers.Layer):
    """Configuration shared by the SEANet encoder and decoder."""

    def __init__(
        self,
        channels,
        latent_dim,
        strides,
        kernel_size=7,
        residual_kernel_size=7,
        dilations=(1, 3, 9),
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.channels = channels
        self.latent_dim = latent_dim
        self.strides = tuple(strides)
        self.kernel_size = kernel_size
        self.residual_kernel_size = residual_kernel_size
        self.dilations = tuple(dilations)

    def _residual_units(self, width, stage):
        """One `ResidualUnit` per dilation, at `width` channels."""
        return [
            ResidualUnit(
                width,
                dilation,
                self.residual_kernel_size,
                dtype=self.dtype_policy,
                name=f"stage_{stage}_unit_{i}",
            )
            for i, dilation in enumerate(self.dilations)
        ]

    def get_config(self):
        config = super().get_config()
        config.update(
            channels=self.channels,
            latent_dim=self.latent_dim,
            strides=self.strides,
            kernel_size=self.kernel_size,
            residual_kernel_size=self.residual_kernel_size,
            dilations=self.dilations,
        )
        return config


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class SEANetEncoder(_SEANetStack):
    """Waveform -> latent frames, one frame per `prod(strides)` samples.

    Stage `i` runs residual units (dilations 1, 3, 9) at `channels * 2**i`
    channels, then a causal strided conv (kernel `2 * stride`) that doubles the
    channels. All convolutions are causal, so the codec can stream.

    Args:
        channels: channels of the first stage.
        latent_dim: channels of the output frames.
        strides: downsampling factor of each stage.
        kernel_size: kernel of the input and output convolutions.
        residual_kernel_size: kernel of the dilated convolutions.
        dilations: dilations of the residual units of a stage.

    Call args: `waveform` float `[B, N]`, `N` a multiple of `prod(strides)`.
    Returns: float `[B, N / prod(strides), latent_dim]`.
    """

    def __init__(self, channels, latent_dim, strides, **kwargs):
        super().__init__(channels, latent_dim, strides, **kwargs)
        dtype = self.dtype_policy

        # === Layers ===
        self.input_conv = layers.Conv1D(
            channels, self.kernel_size, padding="causal", dtype=dtype, name="input_conv"
        )
        self.stages = []
        for stage, stride in enumerate(self.strides):
            width = _stage_channels(channels, stage)
            units = self._residual_units(width, stage)
            downsample = layers.Conv1D(
                2 * width,
                2 * stride,
                strides=stride,
                padding="causal",
                dtype=dtype,
                name=f"stage_{stage}_downsample",
            )
            self.stages.append((units, downsample))
        self.output_conv = layers.Conv1D(
            latent_dim, 3, padding="causal", dtype=dtype, name="output_conv"
        )

    def build(self, input_shape):
        shape = (input_shape[0], None, 1)
        self.input_conv.build(shape)
        shape = self.input_conv.compute_output_shape(shape)
        for units, downsample in self.stages:
            for unit in units:
                unit.build(shape)
            downsample.build(shape)
            shape = downsample.compute_output_shape(shape)
        self.output_conv.build(shape)
        self.built = True

    def call(self, waveform):
        x = self.input_conv(waveform[:, :, None])
        for units, downsample in self.stages:
            for unit in units:
                x = unit(x)
            x = downsample(ops.elu(x))
        return self.output_conv(ops.elu(x))

    def compute_output_shape(self, input_shape):
        frames = input_shape[1]
        if frames is not None:
            for stride in self.strides:
                frames //= stride
        return (input_shape[0], frames, self.latent_dim)


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class SEANetDecoder(_SEANetStack):
    """Latent frames -> waveform, the mirror of `SEANetEncoder`.

    Each stage (in reverse stride order) halves the channels with a transposed
    conv (kernel `2 * stride`; its last `stride` outputs are dropped to keep it
    causal and the length exactly `T * prod(strides)`), then runs residual
    units. The output layer is linear (no tanh), so loud input does not
    saturate.

    Call args: `latents` float `[B, T, latent_dim]`.
    Returns: float `[B, T * prod(strides)]`.
    """

    def __init__(self, channels, latent_dim, strides, **kwargs):
        super().__init__(channels, latent_dim, strides, **kwargs)
        dtype = self.dtype_policy

        # === Layers ===
        self.input_conv = layers.Conv1D(
            _stage_channels(channels, len(self.strides)),
            self.kernel_size,
            padding="causal",
            dtype=dtype,
            name="input_conv",
        )
        self.stages = []
        for stage in reversed(range(len(self.strides))):
            stride = self.strides[stage]
            width = _stage_channels(channels, stage)
            upsample = layers.Conv1DTranspose(
                width,
                2 * stride,
                strides=stride,
                padding="valid",
                dtype=dtype,
                name=f"stage_{stage}_upsample",
            )
            units = self._residual_units(width, stage)
            self.stages.append((stride, upsample, units))
        self.output_conv = layers.Conv1D(
            1, self.kernel_size, padding="causal", dtype=dtype, name="output_conv"
        )

    def build(self, input_shape):
        shape = (input_shape[0], None, self.latent_dim)
        self.input_conv.build(shape)
        shape = self.input_conv.compute_output_shape(shape)
        for _, upsample, units in self.stages:
            upsample.build(shape)
            shape = (shape[0], None, upsample.filters)
            for unit in units:
                unit.build(shape)
        self.output_conv.build(shape)
        self.built = True

    def call(self, latents):
        x = self.input_conv(latents)
        for stride, upsample, units in self.stages:
            x = upsample(ops.elu(x))[:, :-stride]
            for unit in units:
                x = unit(x)
        return self.output_conv(ops.elu(x))[:, :, 0]

    def compute_output_shape(self, input_shape):
        frames = input_shape[1]
        if frames is not None:
            for stride in self.strides:
                frames *= stride
        return (input_shape[0], frames)
