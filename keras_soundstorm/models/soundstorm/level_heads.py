"""The Q output heads, of which only the requested level is computed."""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class LevelHeads(layers.Layer):
    """Q dense heads `D -> C`; `call` evaluates one level per example.

    Args:
        num_levels: Q.
        codebook_size: C.
        projection: if True, each level first projects the hidden state with
            its own `D -> D` dense layer, then a LayerNorm shared by all levels
            (computed in float32) precedes the level's `D -> C` output (the
            lucidrains SoundStorm's heads); False (default): `D -> C` only.
        layer_norm_epsilon: epsilon of that LayerNorm.

    Call args:
        hidden: float `[B, T, D]`.
        level: int, 0-based: a scalar (same level for the batch, as in
            decoding) or `[B]` (one level per example, as in training).

    Returns:
        float32 logits `[B, T, C]`.
    """

    def __init__(
        self, num_levels, codebook_size, projection=False, layer_norm_epsilon=1e-5, **kwargs
    ):
        super().__init__(**kwargs)
        self.num_levels = num_levels
        self.codebook_size = codebook_size
        self.projection = bool(projection)
        self.layer_norm_epsilon = layer_norm_epsilon

    def build(self, hidden_shape, level_shape=None):
        hidden_dim = hidden_shape[-1]
        if self.projection:
            self.projection_kernel = self.add_weight(
                name="projection_kernel",
                shape=(self.num_levels, hidden_dim, hidden_dim),
                initializer="glorot_uniform",
            )
            self.projection_bias = self.add_weight(
                name="projection_bias", shape=(self.num_levels, hidden_dim), initializer="zeros"
            )
            self.norm_gamma = self.add_weight(
                name="norm_gamma", shape=(hidden_dim,), initializer="ones"
            )
            self.norm_beta = self.add_weight(
                name="norm_beta", shape=(hidden_dim,), initializer="zeros"
            )
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
        if self.projection:
            hidden = self._project(hidden, level)
        kernel = ops.cast(ops.take(self.kernel, level, axis=0), self.compute_dtype)
        bias = ops.cast(ops.take(self.bias, level, axis=0), self.compute_dtype)
        if len(level.shape) == 0:
            logits = ops.matmul(hidden, kernel) + bias
        else:
            logits = ops.einsum("btd,bdc->btc", hidden, kernel) + bias[:, None, :]
        return ops.cast(logits, "float32")

    def _project(self, hidden, level):
        """Per-level `D -> D` projection, then the shared LayerNorm (float32)."""
        kernel = ops.cast(ops.take(self.projection_kernel, level, axis=0), self.compute_dtype)
        bias = ops.cast(ops.take(self.projection_bias, level, axis=0), self.compute_dtype)
        if len(level.shape) == 0:
            hidden = ops.matmul(hidden, kernel) + bias
        else:
            hidden = ops.einsum("btd,bde->bte", hidden, kernel) + bias[:, None, :]
        x = ops.cast(hidden, "float32")
        mean = ops.mean(x, axis=-1, keepdims=True)
        variance = ops.mean(ops.square(x - mean), axis=-1, keepdims=True)
        x = (x - mean) * ops.rsqrt(variance + self.layer_norm_epsilon)
        x = x * ops.cast(self.norm_gamma, "float32") + ops.cast(self.norm_beta, "float32")
        return ops.cast(x, self.compute_dtype)

    def compute_output_shape(self, hidden_shape, level_shape):
        return tuple(hidden_shape[:2]) + (self.codebook_size,)

    def get_config(self):
        config = super().get_config()
        config.update(num_levels=self.num_levels, codebook_size=self.codebook_size)
        if self.projection:  # older presets' configs stay as they were
            config.update(projection=True, layer_norm_epsilon=self.layer_norm_epsilon)
        return config
