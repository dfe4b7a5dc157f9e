"""The bidirectional Conformer block of SoundStorm, padding-safe.

Block: `x += FFN(x)/2; x += MHSA(x); x += Conv(x); x += FFN(x)/2; x = LN(x)`
(Gulati et al., 2020), with rotary position embeddings in the attention and a
layer-norm convolution module that zeroes padded frames before the depthwise
convolution, so padding never leaks into real frames.
"""

import keras
from keras import layers, ops
from keras_hub.layers import RotaryEmbedding


def attention_key_mask(padding_mask):
    """`[B, T]` bool -> `[B, 1, 1, T]` key mask for `dot_product_attention`.

    A fully padded example attends everywhere (finite garbage, never counted)
    instead of producing NaN from a row of all-masked keys.
    """
    any_real = ops.any(padding_mask, axis=1, keepdims=True)
    key_mask = ops.logical_or(padding_mask, ops.logical_not(any_real))
    return key_mask[:, None, None, :]


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
        **kwargs,
    ):
        super().__init__(**kwargs)
        if hidden_dim % num_heads:
            raise ValueError(
                f"`hidden_dim` ({hidden_dim}) must be divisible by `num_heads` ({num_heads})."
            )
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.conv_kernel_size = conv_kernel_size
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        head_dim = hidden_dim // num_heads

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
        self.qkv = layers.EinsumDense(
            "btd,dkhf->btkhf",
            output_shape=(None, 3, num_heads, head_dim),
            bias_axes="khf",
            dtype=self.dtype_policy,
            name="attention_qkv",
        )
        self.rotary = RotaryEmbedding(
            sequence_axis=1, feature_axis=-1, dtype=self.dtype_policy, name="rotary"
        )
        self.attention_out = layers.EinsumDense(
            "bthf,hfd->btd",
            output_shape=(None, hidden_dim),
            bias_axes="d",
            dtype=self.dtype_policy,
            name="attention_output",
        )

        self.conv_norm = norm("conv_norm")
        self.conv_pointwise_in = dense(2 * hidden_dim, "conv_pointwise_in")
        self.conv_depthwise = layers.DepthwiseConv1D(
            conv_kernel_size, padding="same", dtype=self.dtype_policy, name="conv_depthwise"
        )
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
        self.qkv.build(input_shape)
        head_dim = d // self.num_heads
        self.attention_out.build(tuple(input_shape[:-1]) + (self.num_heads, head_dim))
        self.conv_pointwise_in.build(input_shape)
        self.conv_depthwise.build(input_shape)
        self.conv_depthwise_norm.build(input_shape)
        self.conv_pointwise_out.build(input_shape)
        self.built = True

    def _feed_forward(self, i, x, training):
        y = self.ffn_in[i](self.ffn_in_norms[i](x))
        y = self.dropout_layer(y, training=training)
        return self.dropout_layer(self.ffn_out[i](y), training=training)

    def _self_attention(self, x, key_mask, training):
        qkv = self.qkv(self.attention_norm(x))  # [B, T, 3, H, F]
        query = self.rotary(qkv[:, :, 0])
        key = self.rotary(qkv[:, :, 1])
        y = ops.dot_product_attention(query, key, qkv[:, :, 2], mask=key_mask)
        return self.dropout_layer(self.attention_out(y), training=training)

    def _convolution(self, x, padding_mask, training):
        y = self.conv_pointwise_in(self.conv_norm(x))
        value, gate = ops.split(y, 2, axis=-1)
        y = value * ops.sigmoid(gate)  # GLU
        # Zero padded frames so the depthwise kernel sees nothing beyond the end.
        y = y * ops.cast(padding_mask[:, :, None], y.dtype)
        y = self.conv_depthwise(y)
        y = ops.silu(self.conv_depthwise_norm(y))
        return self.dropout_layer(self.conv_pointwise_out(y), training=training)

    def call(self, x, padding_mask, training=None):
        key_mask = attention_key_mask(padding_mask)
        x = x + 0.5 * self._feed_forward(0, x, training)
        x = x + self._self_attention(x, key_mask, training)
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
            }
        )
        return config
