"""The text-to-semantic transformer stack: [text; semantic] under a prefix mask."""

import keras
from keras import layers, ops

from keras_soundstorm.layers.transformer import TransformerBlock


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class PrefixDecoder(layers.Layer):
    """Transformer blocks over the text followed by the semantic tokens.

    Prefix-LM attention: every position sees all (real) text positions; a
    semantic position also sees the semantic positions up to itself. A final
    LayerNorm follows when the blocks are pre-LN.

    Args:
        num_layers, hidden_dim, num_heads, intermediate_dim, dropout,
        layer_norm_epsilon, norm_first, activation: see `TransformerBlock`.

    Call args (training / scoring):
        text: float `[B, Tt, D]`, semantic: float `[B, Ts, D]` (embedded);
        text_padding_mask, semantic_padding_mask: bool `[B, Tt]`, `[B, Ts]`.

    Returns: float `[B, Ts, D]`, the semantic positions' hidden states.
    """

    def __init__(
        self,
        num_layers,
        hidden_dim,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        layer_norm_epsilon=1e-5,
        norm_first=True,
        activation="relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_layers = num_layers
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.norm_first = norm_first
        self.activation = activation
        self.blocks = [
            TransformerBlock(
                hidden_dim,
                num_heads,
                intermediate_dim,
                dropout=dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                norm_first=norm_first,
                activation=activation,
                dtype=self.dtype_policy,
                name=f"block_{i}",
            )  # fmt: skip
            for i in range(num_layers)
        ]
        self.final_norm = None
        if norm_first:
            self.final_norm = layers.LayerNormalization(
                epsilon=layer_norm_epsilon, dtype=self.dtype_policy, name="final_norm"
            )

    def build(self, text_shape, semantic_shape=None, *args, **kwargs):
        shape = (None, None, self.hidden_dim)
        for block in self.blocks:
            block.build(shape)
        if self.final_norm is not None:
            self.final_norm.build(shape)
        self.built = True

    def call(self, text, semantic, text_padding_mask, semantic_padding_mask, training=None):
        x = ops.concatenate([text, ops.cast(semantic, text.dtype)], axis=1)
        padding_mask = ops.concatenate(
            [ops.cast(text_padding_mask, "bool"), ops.cast(semantic_padding_mask, "bool")], axis=1
        )
        text_length = ops.shape(text)[1]
        for block in self.blocks:
            x = block(
                x,
                padding_mask=padding_mask,
                attention_mode="prefix",
                prefix_length=text_length,
                training=training,
            )
        if self.final_norm is not None:
            x = self.final_norm(x)
        return x[:, text_length:]

    def decode(self, x, padding_mask, prefix_length, cache, cache_index):
        """One cached pass: `x` `[B, T, D]` at cache slots `cache_index ..`.

        `padding_mask` bool `[B, S]` over the cache's slots, `prefix_length` the
        text slots, `cache` one `(keys, values)` pair of `[B, H, S, D/H]` per
        block (a tuple). Returns the hidden states `[B, T, D]` and the updated
        tuple: each block writes its T new keys and values into its own
        tensors with `slice_update` (in place inside a compiled loop on JAX /
        TensorFlow); nothing else is copied.
        """
        caches = []
        for block, layer_cache in zip(self.blocks, cache):
            x, layer_cache = block(
                x,
                padding_mask=padding_mask,
                attention_mode="prefix",
                prefix_length=prefix_length,
                cache=layer_cache,
                cache_index=cache_index,
            )
            caches.append(layer_cache)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return x, tuple(caches)

    def compute_output_spec(self, text, semantic, *args, **kwargs):
        return keras.KerasTensor(semantic.shape, dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_layers=self.num_layers,
            hidden_dim=self.hidden_dim,
            num_heads=self.num_heads,
            intermediate_dim=self.intermediate_dim,
            dropout=self.dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
            norm_first=self.norm_first,
            activation=self.activation,
        )
        return config
