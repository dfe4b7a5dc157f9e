"""A transformer block: self-attention and a two-layer feed-forward, each residual."""

import keras
from keras import layers

from keras_soundstorm.layers.attention import SelfAttention


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class TransformerBlock(layers.Layer):
    """Self-attention then feed-forward, with LayerNorms before (pre-LN) or after.

    Pre-LN (`norm_first=True`): `x += attn(norm1(x)); x += ffn(norm2(x))`;
    post-LN: `x = norm1(x + attn(x)); x = norm2(x + ffn(x))`. The feed-forward
    is `Dense(intermediate_dim) -> activation -> Dense(hidden_dim)`, as in
    `torch.nn.TransformerEncoderLayer`.

    Args:
        hidden_dim, num_heads, intermediate_dim: sizes.
        dropout: dropout on the attention weights, after the feed-forward's
            activation and on each residual branch (training only).
        layer_norm_epsilon: epsilon of both LayerNorms.
        norm_first: pre-LN if True, post-LN if False.
        activation: the feed-forward's activation (a Keras name).
        use_rotary: rotary positions inside attention (see `SelfAttention`).

    Call args:
        x: float `[B, T, D]`.
        padding_mask, attention_mode, prefix_length, cache, cache_index:
            passed to `SelfAttention` (with a cache, `padding_mask` covers the
            cache's S slots).

    Returns:
        float `[B, T, D]`, or `(y, new_cache)` when a cache `[B, 2, S, H, D/H]`
        is given.
    """

    def __init__(
        self,
        hidden_dim,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        layer_norm_epsilon=1e-5,
        norm_first=True,
        activation="relu",
        use_rotary=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.norm_first = norm_first
        self.activation = activation
        self.use_rotary = use_rotary
        dtype = self.dtype_policy
        self.attention_norm = layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="attention_norm"
        )
        self.attention = SelfAttention(
            hidden_dim, num_heads, use_rotary=use_rotary, dropout=dropout, dtype=dtype,
            name="attention",
        )  # fmt: skip
        self.ffn_norm = layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="ffn_norm"
        )
        self.ffn_in = layers.Dense(
            intermediate_dim, activation=activation, dtype=dtype, name="ffn_in"
        )
        self.ffn_out = layers.Dense(hidden_dim, dtype=dtype, name="ffn_out")
        self.ffn_dropout = layers.Dropout(dropout, dtype=dtype, name="ffn_dropout")
        self.residual_dropout = layers.Dropout(dropout, dtype=dtype, name="residual_dropout")

    def build(self, input_shape):
        self.attention_norm.build(input_shape)
        self.attention.build(input_shape)
        self.ffn_norm.build(input_shape)
        self.ffn_in.build(input_shape)
        self.ffn_out.build(tuple(input_shape[:-1]) + (self.intermediate_dim,))
        self.built = True

    def call(
        self,
        x,
        padding_mask=None,
        attention_mode="bidirectional",
        prefix_length=None,
        cache=None,
        cache_index=None,
        training=None,
    ):
        def attend(inputs):
            return self.attention(
                inputs,
                padding_mask=padding_mask,
                attention_mode=attention_mode,
                prefix_length=prefix_length,
                cache=cache,
                cache_index=cache_index,
                training=training,
            )

        def feed_forward(inputs):
            hidden = self.ffn_dropout(self.ffn_in(inputs), training=training)
            return self.residual_dropout(self.ffn_out(hidden), training=training)

        new_cache = None
        if self.norm_first:
            attended = attend(self.attention_norm(x))
            if cache is not None:
                attended, new_cache = attended
            x = x + self.residual_dropout(attended, training=training)
            x = x + feed_forward(self.ffn_norm(x))
        else:
            attended = attend(x)
            if cache is not None:
                attended, new_cache = attended
            x = self.attention_norm(x + self.residual_dropout(attended, training=training))
            x = self.ffn_norm(x + feed_forward(x))
        return x if cache is None else (x, new_cache)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_dim=self.hidden_dim,
            num_heads=self.num_heads,
            intermediate_dim=self.intermediate_dim,
            dropout=self.dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
            norm_first=self.norm_first,
            activation=self.activation,
            use_rotary=self.use_rotary,
        )
        return config
