"""The Q output heads, of which only the requested level is computed."""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class LevelHeads(layers.Layer):
    """Q dense heads `D -> C`; `call` evaluates one level per example.

    Call args:
        hidden: float `[B, T, D]`.
        level: int, 0-based: a scalar (same level for the batch, as in
            decoding) or `[B]` (one level per example, as in training).

    Returns:
        float32 logits `[B, T, C]`.
    """

    def __init__(self, num_levels, codebook_size, **kwargs):
        super().__init__(**kwargs)
        self.num_levels = num_levels
        self.codebook_size = codebook_size

    def build(self, hidden_shape, level_shape=None):
        hidden_dim = hidden_shape[-1]
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.num_levels, hidden_dim, self.codebook_size),
            initializer="glorot_uniform",
        )
        self.bias = self.add_weight(
            name="bias", shape=(self.num_levels, self.codebook_size), initializer="zeros"
        )
        self.built = True

    def call(self, hidden, level):
        level = ops.cast(level, "int32")
        kernel = ops.cast(ops.take(self.kernel, level, axis=0), self.compute_dtype)
        bias = ops.cast(ops.take(self.bias, level, axis=0), self.compute_dtype)
        if len(level.shape) == 0:
            logits = ops.matmul(hidden, kernel) + bias
        else:
            logits = ops.einsum("btd,bdc->btc", hidden, kernel) + bias[:, None, :]
        return ops.cast(logits, "float32")

    def compute_output_shape(self, hidden_shape, level_shape):
        return tuple(hidden_shape[:2]) + (self.codebook_size,)

    def get_config(self):
        config = super().get_config()
        config.update(num_levels=self.num_levels, codebook_size=self.codebook_size)
        return config
