"""The bidirectional Conformer block of SoundStorm, padding-safe.

Block: `x += FFN(x)/2; x += MHSA(x); x += Conv(x); x += FFN(x)/2; x = LN(x)`
(Gulati et al., 2020), with rotary position embeddings in the attention and a
layer-norm convolution module that zeroes padded frames before the depthwise
convolution, so padding never leaks into real frames.
"""

import numbers

import keras
from keras import layers, ops

from keras_soundstorm import backend
from keras_soundstorm.layers.attention import (  # noqa: F401 (re-exported for old imports)
    DEFAULT_ATTENTION_CHUNK_SIZE,
    SelfAttention,
    attention_key_mask,
    chunked_attention,
    validate_attention_chunk_size,
)
from keras_soundstorm.layers.norms import ScaleOnlyChannelNorm

CONV_NORMS = ("layer_norm", "channel_norm")
EVEN_KERNEL_PADDINGS = ("right", "left")


def validate_architecture_options(conv_expansion_factor, conv_norm_type, even_kernel_padding):
    """Raises ValueError naming the first bad Conformer architecture option."""
    if (
        isinstance(conv_expansion_factor, bool)
        or not isinstance(conv_expansion_factor, numbers.Integral)
        or conv_expansion_factor < 1
    ):
        raise ValueError(
            f"`conv_expansion_factor` must be an int >= 1; got {conv_expansion_factor!r}."
        )
    if conv_norm_type not in CONV_NORMS:
        raise ValueError(f"`conv_norm_type` must be one of {CONV_NORMS}; got {conv_norm_type!r}.")
    if even_kernel_padding not in EVEN_KERNEL_PADDINGS:
        raise ValueError(
            f"`even_kernel_padding` must be one of {EVEN_KERNEL_PADDINGS}; "
            f"got {even_kernel_padding!r}."
        )


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class ConformerBlock(layers.Layer):
    """One Conformer block.

    Args:
        hidden_dim: model width D.
        num_heads: attention heads H (D must be divisible by H).
        intermediate_dim: feed-forward width.
        conv_kernel_size: depthwise convolution kernel size.
        dropout: dropout rate of every module's output.
        layer_norm_epsilon: epsilon of all layer norms.
        attention_chunk_size: sequences longer than this attend in chunks of
            this many queries (memory linear in T, same result); None attends
            in one shot whatever the length.
        conv_expansion_factor: the convolution module's depthwise width is
            `conv_expansion_factor * hidden_dim` (1: ours; 2: lucidrains').
        conv_norm_type: the convolution module after its depthwise convolution:
            `"layer_norm"` (LayerNorm then SiLU, ours) or `"channel_norm"`
            (SiLU then a scale-only channel norm computed in float32, the
            lucidrains Conformer's).
        attention_bias: whether the query, key and value projections have biases.
        even_kernel_padding: for an even `conv_kernel_size`, where the extra
            frame of padding goes: `"right"` (Keras "same", ours) or `"left"`
            (the PyTorch references': `k / 2` frames left, `k / 2 - 1` right).
            Odd kernels pad `(k - 1) / 2` on each side either way.

    Call args:
        x: float `[B, T, D]`.
        padding_mask: bool `[B, T]`, True on real frames.

    Returns:
        float `[B, T, D]`.
    """

    def __init__(
        self,
        hidden_dim,
        num_heads,
        intermediate_dim,
        conv_kernel_size=5,
        dropout=0.0,
        layer_norm_epsilon=1e-5,
        attention_chunk_size=DEFAULT_ATTENTION_CHUNK_SIZE,
        conv_expansion_factor=1,
        conv_norm_type="layer_norm",
        attention_bias=True,
        even_kernel_padding="right",
        **kwargs,
    ):
        super().__init__(**kwargs)
        validate_architecture_options(conv_expansion_factor, conv_norm_type, even_kernel_padding)
        self.conv_expansion_factor = conv_expansion_factor
        self.conv_norm_type = conv_norm_type
        self.attention_bias = bool(attention_bias)
        self.even_kernel_padding = even_kernel_padding
        conv_dim = conv_expansion_factor * hidden_dim
        if hidden_dim % num_heads:
            raise ValueError(
                f"`hidden_dim` ({hidden_dim}) must be divisible by `num_heads` ({num_heads})."
            )
        validate_attention_chunk_size(attention_chunk_size)
        if attention_chunk_size is not None:
            attention_chunk_size = int(attention_chunk_size)
        self.attention_chunk_size = attention_chunk_size
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.conv_kernel_size = conv_kernel_size
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon

        def norm(name):
            return layers.LayerNormalization(
                epsilon=layer_norm_epsilon, dtype=self.dtype_policy, name=name
            )

        def dense(units, name, activation=None):
            return layers.Dense(units, activation=activation, dtype=self.dtype_policy, name=name)

        self.ffn_in_norms = [norm(f"ffn_{i}_norm") for i in (1, 2)]
        self.ffn_in = [dense(intermediate_dim, f"ffn_{i}_intermediate", "silu") for i in (1, 2)]
        self.ffn_out = [dense(hidden_dim, f"ffn_{i}_output") for i in (1, 2)]

        self.attention_norm = norm("attention_norm")
        self.self_attention = SelfAttention(
            hidden_dim,
            num_heads,
            use_rotary=True,
            qkv_bias=attention_bias,
            chunk_size=attention_chunk_size,
            dropout=dropout,
            dtype=self.dtype_policy,
            name="self_attention",
        )
        # Weight files name a layer by its attribute path: the shipped presets
        # hold these two at `<block>/qkv` and `<block>/attention_out`. Keras
        # saves a layer once, under the first attribute (sorted) that holds it,
        # and these sort before `self_attention`, so the paths stay as they were.
        self.qkv = self.self_attention.qkv
        self.attention_out = self.self_attention.attention_output

        self.conv_norm = norm("conv_norm")
        self.conv_pointwise_in = dense(2 * conv_dim, "conv_pointwise_in")
        # Explicit padding only where it differs from "same" (an even kernel, left).
        self.conv_padding = None
        if conv_kernel_size % 2 == 0 and even_kernel_padding == "left":
            self.conv_padding = (conv_kernel_size // 2, conv_kernel_size // 2 - 1)
        self.conv_depthwise = layers.DepthwiseConv1D(
            conv_kernel_size,
            padding="same" if self.conv_padding is None else "valid",
            dtype=self.dtype_policy,
            name="conv_depthwise",
        )
        if conv_norm_type == "channel_norm":
            self.conv_depthwise_norm = ScaleOnlyChannelNorm(
                dtype=self.dtype_policy, name="conv_depthwise_norm"
            )
        else:
            self.conv_depthwise_norm = norm("conv_depthwise_norm")
        self.conv_pointwise_out = dense(hidden_dim, "conv_pointwise_out")

        self.output_norm = norm("output_norm")
        self.dropout_layer = layers.Dropout(dropout, dtype=self.dtype_policy)

    def build(self, input_shape):
        d = self.hidden_dim
        for norm_layer, ffn_in, ffn_out in zip(self.ffn_in_norms, self.ffn_in, self.ffn_out):
            norm_layer.build(input_shape)
            ffn_in.build(input_shape)
            ffn_out.build(tuple(input_shape[:-1]) + (self.intermediate_dim,))
        for norm_layer in (self.attention_norm, self.conv_norm, self.output_norm):
            norm_layer.build(input_shape)
        self.self_attention.build(input_shape)
        self.conv_pointwise_in.build(input_shape)
        conv_shape = tuple(input_shape[:-1]) + (self.conv_expansion_factor * d,)
        self.conv_depthwise.build(conv_shape)
        self.conv_depthwise_norm.build(conv_shape)
        self.conv_pointwise_out.build(conv_shape)
        self.built = True

    def _feed_forward(self, i, x, training):
        y = self.ffn_in[i](self.ffn_in_norms[i](x))
        y = self.dropout_layer(y, training=training)
        return self.dropout_layer(self.ffn_out[i](y), training=training)

    def _depthwise_convolution(self, y):
        """`self.conv_depthwise(y)` through the backend's fastest depthwise kernel."""
        conv = self.conv_depthwise
        y = backend.depthwise_conv1d(y, conv.kernel, conv.padding)
        return y + ops.cast(conv.bias, y.dtype) if conv.use_bias else y

    def _convolution(self, x, padding_mask, training):
        y = self.conv_pointwise_in(self.conv_norm(x))
        value, gate = ops.split(y, 2, axis=-1)
        y = value * ops.sigmoid(gate)  # GLU
        # Zero padded frames so the depthwise kernel sees nothing beyond the end.
        y = y * ops.cast(padding_mask[:, :, None], y.dtype)
        if self.conv_padding is not None:
            y = ops.pad(y, [[0, 0], list(self.conv_padding), [0, 0]])
        y = self._depthwise_convolution(y)
        if self.conv_norm_type == "channel_norm":
            y = self.conv_depthwise_norm(ops.silu(y))
        else:
            y = ops.silu(self.conv_depthwise_norm(y))
        return self.dropout_layer(self.conv_pointwise_out(y), training=training)

    def call(self, x, padding_mask, training=None):
        x = x + 0.5 * self._feed_forward(0, x, training)
        x = x + self.self_attention(
            self.attention_norm(x), padding_mask=padding_mask, training=training
        )
        x = x + self._convolution(x, padding_mask, training)
        x = x + 0.5 * self._feed_forward(1, x, training)
        return self.output_norm(x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "conv_kernel_size": self.conv_kernel_size,
                "dropout": self.dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "attention_chunk_size": self.attention_chunk_size,
                "conv_expansion_factor": self.conv_expansion_factor,
                "conv_norm_type": self.conv_norm_type,
                "attention_bias": self.attention_bias,
                "even_kernel_padding": self.even_kernel_padding,
            }
        )
        return config
