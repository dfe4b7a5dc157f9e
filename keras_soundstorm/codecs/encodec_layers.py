"""EnCodec-style SEANet layers (Defossez et al., 2022), shared by the converted codecs.

SpeechTokenizer (Zhang et al., 2023) uses them non-causally; EnCodec's
streaming models use them with `causal=True`. Convolutions pad by reflection
(non-causal: odd totals put the extra sample on the left; causal: all on the
left), transposed convolutions trim what their kernel overhangs (causal: all
on the right), the encoder ends in a (bidirectional) LSTM with a skip
connection and the decoder starts with one. Every layer works on
channels-last `[B, L, C]` tensors and is written once with `keras.ops`.

The layers are laid out so that a converter (`kss.convert.speechtokenizer`)
can fill them from a PyTorch checkpoint; inference is what they are for (no
training losses). The stacks name their widths `channels` and their strides
in encoder (downsampling) order, as `kss.codecs.SEANetEncoder` does. Their
variables start at zero: every value comes from a checkpoint or a preset, and
random initialisers would compile a kernel per shape on JAX for nothing.
"""

import keras
from keras import layers, ops

from keras_soundstorm.utils.validation import require_int


def reflect_pad(x, left, right):
    """Pads `[B, L, C]` along L by reflection: `[B, left + L + right, C]`.

    As in the SEANet reference, an input no longer than the padding is first
    extended with zeros (to `max(left, right) + 1` samples), then reflected,
    and the zeros beyond `L + right` are dropped again. Works for dynamic `L`.
    """
    if left == 0 and right == 0:
        return x
    widest = max(left, right)
    length = ops.shape(x)[1]
    # Zeros appended once cover the short-input case; indices never reach past them.
    extended = ops.pad(x, [[0, 0], [0, widest + 1], [0, 0]])
    reflected_length = ops.maximum(length, widest + 1)
    position = ops.arange(-left, length + right, dtype="int32")
    index = ops.where(
        position < 0,
        -position,
        ops.where(position < reflected_length, position, 2 * (reflected_length - 1) - position),
    )
    return ops.take(extended, index, axis=1)


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class ReflectConv1D(layers.Layer):
    """A 1D convolution padded by reflection so that `L_out = L / strides`.

    The total padding is `(kernel_size - 1) * dilation_rate - (strides - 1)`,
    split with the odd sample on the left (`causal=True`: all of it on the
    left, so no output sees a later input). `L` must be a multiple of
    `strides` (the codec pads waveforms to a multiple of its hop).

    Call args: `x` float `[B, L, C_in]`. Returns `[B, L / strides, filters]`.
    """

    def __init__(self, filters, kernel_size, strides=1, dilation_rate=1, causal=False, **kwargs):
        super().__init__(**kwargs)
        self.causal = bool(causal)
        self.filters = require_int("filters", filters, 1)
        self.kernel_size = require_int("kernel_size", kernel_size, 1)
        self.strides = require_int("strides", strides, 1)
        self.dilation_rate = require_int("dilation_rate", dilation_rate, 1)
        total = (self.kernel_size - 1) * self.dilation_rate - (self.strides - 1)
        if total < 0:
            raise ValueError(
                f"`kernel_size` {kernel_size} is too small for `strides` {strides}: the "
                "convolution would skip samples."
            )
        self.padding_right = 0 if self.causal else total // 2
        self.padding_left = total - self.padding_right

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.kernel_size, input_shape[-1], self.filters),
            initializer="zeros",
        )
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
        self.built = True

    def call(self, x):
        x = reflect_pad(x, self.padding_left, self.padding_right)
        y = ops.conv(
            x,
            ops.cast(self.kernel, x.dtype),
            strides=self.strides,
            padding="valid",
            dilation_rate=self.dilation_rate,
        )
        return y + ops.cast(self.bias, y.dtype)

    def compute_output_shape(self, input_shape):
        length = input_shape[1]
        length = None if length is None else length // self.strides
        return (input_shape[0], length, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            dilation_rate=self.dilation_rate,
            causal=self.causal,
        )
        return config


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class TrimmedConv1DTranspose(layers.Layer):
    """A transposed 1D convolution trimmed to `L_out = L * strides`.

    The `kernel_size - strides` samples the kernel overhangs are cut, the odd
    one on the left (`causal=True`: all of them on the right). The kernel is
    stored as `ops.conv_transpose` takes it: `[kernel_size, filters, C_in]`.

    Call args: `x` float `[B, L, C_in]`. Returns `[B, L * strides, filters]`.
    """

    def __init__(self, filters, kernel_size, strides, causal=False, **kwargs):
        super().__init__(**kwargs)
        self.causal = bool(causal)
        self.filters = require_int("filters", filters, 1)
        self.kernel_size = require_int("kernel_size", kernel_size, 1)
        self.strides = require_int("strides", strides, 1)
        if self.kernel_size < self.strides:
            raise ValueError(f"`kernel_size` ({kernel_size}) must be >= `strides` ({strides}).")
        total = self.kernel_size - self.strides
        self.trim_right = total if self.causal else total // 2
        self.trim_left = total - self.trim_right

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.kernel_size, self.filters, input_shape[-1]),
            initializer="zeros",
        )
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
        self.built = True

    def call(self, x):
        y = ops.conv_transpose(
            x, ops.cast(self.kernel, x.dtype), strides=self.strides, padding="valid"
        )
        length = ops.shape(x)[1] * self.strides
        y = y[:, self.trim_left : self.trim_left + length]
        return y + ops.cast(self.bias, y.dtype)

    def compute_output_shape(self, input_shape):
        length = input_shape[1]
        length = None if length is None else length * self.strides
        return (input_shape[0], length, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            causal=self.causal,
        )
        return config


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class SkipLSTM(layers.Layer):
    """Stacked LSTMs (optionally bidirectional) plus a skip connection.

    Each layer has `units` = input channels per direction; a bidirectional
    stack outputs the two directions concatenated (forward first) and adds the
    input repeated twice along channels.

    Call args: `x` float `[B, L, units]`. Returns `[B, L, units * (2 if
    bidirectional else 1)]`.
    """

    def __init__(self, units, num_layers, bidirectional=False, **kwargs):
        super().__init__(**kwargs)
        self.units = require_int("units", units, 1)
        self.num_layers = require_int("num_layers", num_layers, 1)
        self.bidirectional = bool(bidirectional)
        self.lstms = []
        for index in range(self.num_layers):
            lstm = layers.LSTM(
                self.units,
                return_sequences=True,
                kernel_initializer="zeros",
                recurrent_initializer="zeros",
                dtype=self.dtype_policy,
                name=f"lstm_{index}",
            )
            if self.bidirectional:
                lstm = layers.Bidirectional(
                    lstm, merge_mode="concat", dtype=self.dtype_policy, name=f"bilstm_{index}"
                )
            self.lstms.append(lstm)

    @property
    def output_dim(self):
        return self.units * (2 if self.bidirectional else 1)

    def build(self, input_shape):
        shape = tuple(input_shape)
        for lstm in self.lstms:
            lstm.build(shape)
            shape = shape[:-1] + (self.output_dim,)
        self.built = True

    def directions(self, index):
        """The LSTM layers of stack layer `index`: `[forward]` or `[forward, backward]`."""
        lstm = self.lstms[index]
        if self.bidirectional:
            return [lstm.forward_layer, lstm.backward_layer]
        return [lstm]

    def call(self, x):
        y = x
        for lstm in self.lstms:
            y = lstm(y)
        skip = ops.concatenate([x, x], axis=-1) if self.bidirectional else x
        return y + skip

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units, num_layers=self.num_layers, bidirectional=self.bidirectional
        )
        return config


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class SEANetResidualBlock(layers.Layer):
    """`shortcut(x) + conv_1(elu(conv_k,dilated(elu(x))))` (causal or not).

    The inner width is `channels // compress`; the shortcut is a 1x1
    convolution.

    Call args: `x` float `[B, L, channels]`. Returns the same shape.
    """

    def __init__(self, channels, kernel_size=3, dilation=1, compress=2, causal=False, **kwargs):
        super().__init__(**kwargs)
        self.causal = bool(causal)
        self.channels = require_int("channels", channels, 1)
        self.kernel_size = require_int("kernel_size", kernel_size, 1)
        self.dilation = require_int("dilation", dilation, 1)
        self.compress = require_int("compress", compress, 1)
        hidden = max(self.channels // self.compress, 1)
        common = dict(causal=self.causal, dtype=self.dtype_policy)
        self.inner_conv = ReflectConv1D(
            hidden, self.kernel_size, dilation_rate=self.dilation, name="inner_conv", **common
        )
        self.outer_conv = ReflectConv1D(self.channels, 1, name="outer_conv", **common)
        self.shortcut = ReflectConv1D(self.channels, 1, name="shortcut", **common)

    def build(self, input_shape):
        self.inner_conv.build(input_shape)
        self.outer_conv.build(self.inner_conv.compute_output_shape(input_shape))
        self.shortcut.build(input_shape)
        self.built = True

    def call(self, x):
        hidden = self.inner_conv(ops.elu(x))
        return self.shortcut(x) + self.outer_conv(ops.elu(hidden))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            channels=self.channels,
            kernel_size=self.kernel_size,
            dilation=self.dilation,
            compress=self.compress,
            causal=self.causal,
        )
        return config


class _EncodecStack(layers.Layer):
    """Configuration shared by the EnCodec-style encoder and decoder.

    `channels`: width of the first encoder stage (doubled per stage, so the
    decoder starts at `channels * 2 ** len(strides)`); `strides`: in encoder
    (downsampling) order, the decoder upsamples in the reverse order.
    """

    def __init__(
        self,
        channels,
        latent_dim,
        strides,
        lstm_layers=2,
        kernel_size=7,
        last_kernel_size=7,
        residual_kernel_size=3,
        num_residual_layers=1,
        dilation_base=2,
        compress=2,
        causal=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.channels = require_int("channels", channels, 1)
        self.latent_dim = require_int("latent_dim", latent_dim, 1)
        self.strides = tuple(require_int("every stride", s, 1) for s in strides)
        self.lstm_layers = require_int("lstm_layers", lstm_layers, 0)
        self.kernel_size = require_int("kernel_size", kernel_size, 1)
        self.last_kernel_size = require_int("last_kernel_size", last_kernel_size, 1)
        self.residual_kernel_size = require_int("residual_kernel_size", residual_kernel_size, 1)
        self.num_residual_layers = require_int("num_residual_layers", num_residual_layers, 0)
        self.dilation_base = require_int("dilation_base", dilation_base, 1)
        self.compress = require_int("compress", compress, 1)
        self.causal = bool(causal)
        self._common = dict(causal=self.causal, dtype=self.dtype_policy)

    def _residual_blocks(self, channels, stage):
        return [
            SEANetResidualBlock(
                channels,
                self.residual_kernel_size,
                dilation=self.dilation_base**index,
                compress=self.compress,
                name=f"stage_{stage}_residual_{index}",
                **self._common,
            )
            for index in range(self.num_residual_layers)
        ]

    def get_config(self):
        config = super().get_config()
        config.update(
            channels=self.channels,
            latent_dim=self.latent_dim,
            strides=self.strides,
            lstm_layers=self.lstm_layers,
            kernel_size=self.kernel_size,
            last_kernel_size=self.last_kernel_size,
            residual_kernel_size=self.residual_kernel_size,
            num_residual_layers=self.num_residual_layers,
            dilation_base=self.dilation_base,
            compress=self.compress,
            causal=self.causal,
        )
        return config


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class EncodecEncoder(_EncodecStack):
    """Waveform `[B, N]` -> latent frames `[B, N / prod(strides), latent_dim]`.

    Per stride (encoder order) residual blocks then a strided convolution
    (kernel `2 * stride`) doubling the channels; then a `SkipLSTM` and a last
    convolution.

    Args: see `_EncodecStack`; `bidirectional` is the LSTM's (a causal
    encoder needs `bidirectional=False`).
    """

    def __init__(self, channels, latent_dim, strides, bidirectional=True, **kwargs):
        super().__init__(channels, latent_dim, strides, **kwargs)
        self.bidirectional = bool(bidirectional)
        if self.causal and self.bidirectional and self.lstm_layers:
            raise ValueError("A causal encoder cannot have a bidirectional LSTM.")
        common = self._common
        self.input_conv = ReflectConv1D(
            self.channels, self.kernel_size, name="input_conv", **common
        )
        self.residual_blocks = []
        self.downsample_convs = []
        channels = self.channels
        for stage, stride in enumerate(self.strides):
            self.residual_blocks.append(self._residual_blocks(channels, stage))
            self.downsample_convs.append(
                ReflectConv1D(
                    channels * 2,
                    2 * stride,
                    strides=stride,
                    name=f"stage_{stage}_downsample",
                    **common,
                )
            )
            channels *= 2
        self.lstm = None
        if self.lstm_layers:
            self.lstm = SkipLSTM(
                channels,
                self.lstm_layers,
                self.bidirectional,
                dtype=self.dtype_policy,
                name="lstm",
            )
            channels = self.lstm.output_dim
        self.output_conv = ReflectConv1D(
            self.latent_dim, self.last_kernel_size, name="output_conv", **common
        )

    def build(self, input_shape):
        shape = (input_shape[0], input_shape[1], 1)
        self.input_conv.build(shape)
        shape = self.input_conv.compute_output_shape(shape)
        for blocks, downsample in zip(self.residual_blocks, self.downsample_convs):
            for block in blocks:
                block.build(shape)
            downsample.build(shape)
            shape = downsample.compute_output_shape(shape)
        if self.lstm is not None:
            self.lstm.build(shape)
            shape = self.lstm.compute_output_shape(shape)
        self.output_conv.build(shape)
        self.built = True

    def call(self, waveform):
        x = self.input_conv(ops.expand_dims(waveform, -1))
        for blocks, downsample in zip(self.residual_blocks, self.downsample_convs):
            for block in blocks:
                x = block(x)
            x = downsample(ops.elu(x))
        if self.lstm is not None:
            x = self.lstm(x)
        return self.output_conv(ops.elu(x))

    def get_config(self):
        config = super().get_config()
        config.update(bidirectional=self.bidirectional)
        return config


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class EncodecDecoder(_EncodecStack):
    """Latent frames `[B, T, latent_dim]` -> waveform `[B, T * prod(strides)]`.

    A convolution, a unidirectional `SkipLSTM`, then per stride (in reverse
    encoder order) a transposed convolution halving the channels and residual
    blocks, and a last convolution to one channel.
    """

    def __init__(self, channels, latent_dim, strides, **kwargs):
        super().__init__(channels, latent_dim, strides, **kwargs)
        common = self._common
        width = self.channels * 2 ** len(self.strides)
        self.input_conv = ReflectConv1D(width, self.kernel_size, name="input_conv", **common)
        self.lstm = None
        if self.lstm_layers:
            self.lstm = SkipLSTM(
                width, self.lstm_layers, False, dtype=self.dtype_policy, name="lstm"
            )
        self.upsample_convs = []
        self.residual_blocks = []
        for stage, stride in enumerate(reversed(self.strides)):
            self.upsample_convs.append(
                TrimmedConv1DTranspose(
                    width // 2, 2 * stride, stride, name=f"stage_{stage}_upsample", **common
                )
            )
            width //= 2
            self.residual_blocks.append(self._residual_blocks(width, stage))
        self.output_conv = ReflectConv1D(1, self.last_kernel_size, name="output_conv", **common)

    def build(self, input_shape):
        self.input_conv.build(input_shape)
        shape = self.input_conv.compute_output_shape(input_shape)
        if self.lstm is not None:
            self.lstm.build(shape)
        for upsample, blocks in zip(self.upsample_convs, self.residual_blocks):
            upsample.build(shape)
            shape = upsample.compute_output_shape(shape)
            for block in blocks:
                block.build(shape)
        self.output_conv.build(shape)
        self.built = True

    def call(self, latents):
        x = self.input_conv(latents)
        if self.lstm is not None:
            x = self.lstm(x)
        for upsample, blocks in zip(self.upsample_convs, self.residual_blocks):
            x = upsample(ops.elu(x))
            for block in blocks:
                x = block(x)
        return ops.squeeze(self.output_conv(ops.elu(x)), -1)
