"""Token embeddings plus a sinusoidal position table scaled by a learned scalar."""

import math

import keras
import numpy as np
from keras import layers, ops


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class ScaledSinusoidalPosition(layers.Layer):
    """`x + alpha * pe[positions]`: VALL-E's positional encoding.

    `pe[p, 2i] = sin(p / 10000^(2i/D))`, `pe[p, 2i+1] = cos(...)` (sin and cos
    interleaved, not concatenated); `alpha` is one learned scalar, 1 at
    initialisation. The table is computed from the positions on the fly, so
    each example of a batch may start at its own position.

    Call args:
        x: float `[B, T, D]`.
        positions: int `[B, T]` or `[T]`; default `0 .. T-1`.

    Returns:
        float `[B, T, D]` (dropout applied when training).
    """

    def __init__(self, hidden_dim, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if hidden_dim % 2:
            raise ValueError(f"`hidden_dim` must be even for sin/cos pairs; got {hidden_dim}.")
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.dropout_layer = layers.Dropout(dropout, dtype=self.dtype_policy)
        exponent = np.arange(0, hidden_dim, 2, dtype="float32") * -(math.log(10000.0) / hidden_dim)
        # Each frequency twice: even features take its sine, odd ones its cosine.
        self._frequencies = np.repeat(np.exp(exponent).astype("float32"), 2)
        self._is_sine = np.arange(hidden_dim) % 2 == 0

    def build(self, input_shape=None):
        self.alpha = self.add_weight(name="alpha", shape=(1,), initializer="ones")
        self.built = True

    def call(self, x, positions=None, training=None):
        if positions is None:
            positions = ops.arange(ops.shape(x)[1], dtype="int32")
        frequencies = ops.convert_to_tensor(self._frequencies)
        angles = ops.cast(positions, "float32")[..., None] * frequencies
        is_sine = ops.convert_to_tensor(self._is_sine)
        table = ops.cast(ops.where(is_sine, ops.sin(angles), ops.cos(angles)), x.dtype)
        alpha = ops.cast(self.alpha, x.dtype)
        return self.dropout_layer(x + alpha * table, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(hidden_dim=self.hidden_dim, dropout=self.dropout)
        return config
