"""A scale-only channel norm, as in lucidrains-style Conformer convolution modules."""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class ScaleOnlyChannelNorm(layers.Layer):
    """`(x - mean) * rsqrt(max(var, epsilon)) * gamma` over the last axis.

    No bias, and the variance is clamped rather than offset by epsilon. The
    statistics are computed in float32 whatever the compute dtype (mixed
    precision), the result is cast back.

    Call args:
        x: float `[..., C]`.

    Returns:
        `[..., C]`, of the compute dtype.
    """

    def __init__(self, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        self.gamma = self.add_weight(name="gamma", shape=(input_shape[-1],), initializer="ones")
        self.built = True

    def call(self, x):
        dtype = x.dtype
        x = ops.cast(x, "float32")
        mean = ops.mean(x, axis=-1, keepdims=True)
        variance = ops.mean(ops.square(x - mean), axis=-1, keepdims=True)
        y = (x - mean) * ops.rsqrt(ops.maximum(variance, self.epsilon))
        return ops.cast(y * ops.cast(self.gamma, "float32"), dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon)
        return config
