"""Input embeddings: the per-frame sum of Q code embeddings and the conditioning."""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class CodeEmbedding(layers.Layer):
    """Sums each frame's Q token embeddings, one table of `C + 1` rows per level.

    Row `C` of each level's table is the MASK token. The Q tables live in one
    `[Q * (C + 1), D]` variable so the lookup is a single gather.

    Call args:
        codes: int `[B, T, Q]` in `[0, C]` (C = MASK).

    Returns:
        float `[B, T, D]`.
    """

    def __init__(self, num_levels, codebook_size, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        self.num_levels = num_levels
        self.codebook_size = codebook_size
        self.hidden_dim = hidden_dim

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.num_levels * (self.codebook_size + 1), self.hidden_dim),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
        )
        self.built = True

    def call(self, codes):
        offsets = ops.arange(self.num_levels, dtype="int32") * (self.codebook_size + 1)
        ids = ops.cast(codes, "int32") + offsets
        return ops.sum(ops.take(self.embeddings, ids, axis=0), axis=2)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:2]) + (self.hidden_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_levels=self.num_levels,
            codebook_size=self.codebook_size,
            hidden_dim=self.hidden_dim,
        )
        return config


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class ConditioningEmbedding(layers.Layer):
    """Embeds conditioning tokens and repeats each one `rate_ratio` times.

    With `dropout > 0` (classifier-free guidance), the layer also learns a null
    conditioning vector: in training, each example's whole conditioning is
    replaced by it with probability `dropout`, and id `vocabulary_size`
    (`null_id`) asks for it explicitly (the unconditional pass of guided
    decoding).

    Call args:
        conditioning: int `[B, T / r]` in `[0, V)` (or `== V`: null, with dropout).
        training: whether to drop conditioning.

    Returns:
        float `[B, T, D]`.
    """

    def __init__(self, vocabulary_size, hidden_dim, rate_ratio=1, dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.hidden_dim = hidden_dim
        self.rate_ratio = rate_ratio
        self.dropout = dropout
        self.seed = seed
        # Only models trained for guidance own these (older presets load unchanged).
        self.seed_generator = keras.random.SeedGenerator(seed) if dropout > 0 else None

    @property
    def null_id(self):
        """The id that selects the null conditioning (None without dropout)."""
        return self.vocabulary_size if self.dropout > 0 else None

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.vocabulary_size, self.hidden_dim),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
        )
        if self.dropout > 0:
            self.null_embedding = self.add_weight(
                name="null_embedding",
                shape=(self.hidden_dim,),
                initializer=keras.initializers.RandomNormal(stddev=0.02),
            )
        self.built = True

    def call(self, conditioning, training=False):
        ids = ops.cast(conditioning, "int32")
        if self.dropout > 0:
            is_null = ops.equal(ids, self.vocabulary_size)
            if training:
                batch_size = ops.shape(ids)[0]
                dropped = keras.random.uniform((batch_size,), seed=self.seed_generator)
                is_null = ops.logical_or(is_null, (dropped < self.dropout)[:, None])
            x = ops.take(self.embeddings, ops.minimum(ids, self.vocabulary_size - 1), axis=0)
            null = ops.cast(self.null_embedding, x.dtype)
            x = ops.where(is_null[:, :, None], null, x)
        else:
            x = ops.take(self.embeddings, ids, axis=0)
        if self.rate_ratio > 1:
            x = ops.repeat(x, self.rate_ratio, axis=1)
        return x

    def compute_output_shape(self, input_shape):
        length = None if input_shape[1] is None else input_shape[1] * self.rate_ratio
        return (input_shape[0], length, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            hidden_dim=self.hidden_dim,
            rate_ratio=self.rate_ratio,
            dropout=self.dropout,
            seed=self.seed,
        )
        return config
