"""Residual vector quantizers: EMA-trained (SoundStream) and fixed Euclidean (EnCodec-style).

Both have one inference interface, which the codecs use:
`quantize_latents(latents [B, T, D], num_levels) -> codes int32 [B, T, k]` and
`dequantize(codes [B, T, k]) -> latents [B, T, D]` (the sum of the code
vectors of levels 1..k). (`quantize` itself is Keras's: every layer's
`quantize(mode)` converts its weights to int8 / float8, so it cannot be ours.)
"""

import keras
from keras import layers, ops

from keras_soundstorm.utils.validation import require_int


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class ResidualVectorQuantizer(layers.Layer):
    """Q levels of C codes; level q quantizes what levels 1..q-1 left over.

    Codebooks are not trained by gradients but by exponential moving averages
    (EMA) of the frames assigned to each code, updated in `call(training=True)`
    as assignments to non-trainable variables (so the update runs inside
    compiled training steps on every backend). In training:

    - the first call initialises every level's codebook from random frames
      (residuals of that level) of the batch; the EMA decay warms up as
      `min(decay, (1 + n) / (10 + n))` after `n` updates, so the codebooks
      keep up with the fast-moving encoder of early training;
    - codes whose recent usage (a faster EMA of their counts, decay
      `usage_decay`) falls below `dead_code_threshold` times the average are
      restarted with random frames of the batch: a code no frame picks any
      more is restarted after about `log(threshold) / log(usage_decay)` steps
      (22 by default), while the codebook EMA stays slow and smooth;
    - with probability `quantizer_dropout` an example uses only its first
      `n ~ Uniform{1..Q}` levels, so one model serves every bitrate;
    - gradients pass straight through the quantizer to the encoder, and the
      commitment loss pulls the encoder output towards its codes.

    A frozen quantizer (`trainable = False`, e.g. to fine-tune only the
    decoder while keeping every token the same) still applies quantizer
    dropout in training but never changes its codebooks.

    Args:
        num_levels: Q, quantizer levels.
        codebook_size: C, codes per level.
        decay: EMA decay of the codebooks and usage counts.
        epsilon: additive (Laplace) smoothing of the usage counts.
        dead_code_threshold: restart codes used less than this fraction of the
            uniform share `(frames seen) / C`.
        usage_decay: EMA decay of the usage counts that decide restarts.
        quantizer_dropout: probability that a training example uses a random
            number of levels instead of all Q.
        seed: seed of initialisation, restarts and dropout.

    Call args:
        latents: float `[B, T, D]`.
        training: bool.
        num_levels: (inference) use only the first `num_levels` levels.

    Returns: dict with
        `quantized` float `[B, T, D]` (straight-through in training),
        `codes` int32 `[B, T, k]`,
        `commitment_loss` float scalar (mean over levels),
        `perplexity` float `[k]`: per-level codebook perplexity on the batch,
        `num_active_levels` int32 `[B]`.
    """

    def __init__(
        self,
        num_levels,
        codebook_size,
        decay=0.99,
        epsilon=1e-5,
        dead_code_threshold=0.1,
        usage_decay=0.9,
        quantizer_dropout=0.5,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_levels = num_levels
        self.codebook_size = codebook_size
        self.decay = decay
        self.epsilon = epsilon
        self.dead_code_threshold = dead_code_threshold
        self.usage_decay = usage_decay
        self.quantizer_dropout = quantizer_dropout
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, latents_shape):
        q, c, d = self.num_levels, self.codebook_size, latents_shape[-1]
        self.latent_dim = d
        # Replaced from data on the first training call; random until then so
        # that an untrained codec still produces varied codes.
        self.codebooks = self.add_weight(
            name="codebooks",
            shape=(q, c, d),
            initializer="random_normal",
            trainable=False,
        )
        self.ema_cluster_size = self.add_weight(
            name="ema_cluster_size", shape=(q, c), initializer="zeros", trainable=False
        )
        self.ema_embedding_sum = self.add_weight(
            name="ema_embedding_sum",
            shape=(q, c, d),
            initializer="zeros",
            trainable=False,
        )
        self.ema_usage = self.add_weight(
            name="ema_usage", shape=(q, c), initializer="zeros", trainable=False
        )
        # Training calls so far; 0 = codebooks not yet initialised from data.
        self.num_updates = self.add_weight(
            name="num_updates", shape=(), initializer="zeros", trainable=False
        )
        self.built = True

    # --- Inference helpers --------------------------------------------------

    def _codebooks(self):
        # A copy: the torch backend assigns variables in place, which would
        # corrupt tensors autograd saved from a plain read.
        return ops.copy(ops.cast(ops.convert_to_tensor(self.codebooks), "float32"))

    def quantize_latents(self, latents, num_levels=None):
        """Inference codes: float `[B, T, D]` -> int32 `[B, T, k]` (k = `num_levels`, default Q)."""
        return self(latents, training=False, num_levels=num_levels)["codes"]

    def dequantize(self, codes, num_levels=None):
        """Sum of the code vectors: int `[B, T, k]` -> float `[B, T, D]`.

        `num_levels`: `k`, when the static shape of `codes` does not tell it.
        """
        codebooks = self._codebooks()
        codes = ops.cast(codes, "int32")
        levels = int(codes.shape[-1]) if num_levels is None else num_levels
        quantized = 0.0
        for level in range(levels):
            quantized = quantized + ops.take(codebooks[level], codes[:, :, level], axis=0)
        return quantized

    lookup = dequantize  # the name before `dequantize`

    @staticmethod
    def _nearest(residual, codebook):
        distances = (
            ops.sum(residual**2, axis=1, keepdims=True)
            - 2.0 * ops.matmul(residual, ops.transpose(codebook))
            + ops.sum(codebook**2, axis=1)[None, :]
        )
        return ops.cast(ops.argmin(distances, axis=1), "int32")

    @staticmethod
    def _perplexity(counts):
        probs = counts / ops.maximum(ops.sum(counts), 1.0)
        return ops.exp(-ops.sum(probs * ops.log(probs + 1e-10)))

    # --- Forward ------------------------------------------------------------

    def call(self, latents, training=False, num_levels=None):
        num_levels = self.num_levels if num_levels is None else num_levels
        if training:
            num_levels = self.num_levels
        latents = ops.cast(latents, "float32")
        batch, frames = ops.shape(latents)[0], ops.shape(latents)[1]
        flat = ops.reshape(latents, (-1, self.latent_dim))
        codebooks = self._codebooks()
        c = self.codebook_size

        # A frozen quantizer drops levels like a training one, but its
        # codebooks and EMA statistics stay as they are.
        update = training and self.trainable
        if training:
            num_active = self._sample_active_levels(batch)
            level_ids = ops.arange(self.num_levels, dtype="int32")
            active = ops.cast(level_ids[None, :] < num_active[:, None], "float32")
            frame_weights = ops.reshape(
                ops.repeat(active[:, None, :], frames, axis=1), (-1, self.num_levels)
            )
        else:
            num_active = ops.full((batch,), num_levels, "int32")
        if update:
            num_updates = ops.convert_to_tensor(self.num_updates)
            initialized = num_updates > 0.5
            # Warm-up as in `tf.train.ExponentialMovingAverage(num_updates=...)`:
            # early on the encoder moves fast and a 0.99 EMA would lag behind.
            decay = ops.minimum(self.decay, (1.0 + num_updates) / (10.0 + num_updates))
            state = [
                ops.convert_to_tensor(variable)
                for variable in (self.ema_cluster_size, self.ema_embedding_sum, self.ema_usage)
            ]
            new_state = []

        residual = flat
        quantized = ops.zeros_like(flat)
        codes, perplexities, commitment = [], [], 0.0
        for level in range(num_levels):
            codebook = codebooks[level]
            if training:
                weights = frame_weights[:, level]
            if update:
                candidates = self._sample_frames(residual, weights)
                codebook = ops.where(initialized, codebook, candidates)
            indices = self._nearest(residual, codebook)
            level_quantized = ops.take(codebook, indices, axis=0)
            if training:
                level_quantized = level_quantized * weights[:, None]
                one_hot = ops.one_hot(indices, c) * weights[:, None]
                counts = ops.sum(one_hot, axis=0)
                error = ops.mean((residual - ops.stop_gradient(level_quantized)) ** 2, axis=1)
                commitment = commitment + ops.sum(error * weights) / ops.maximum(
                    ops.sum(weights), 1.0
                )
                if update:
                    new_state.append(
                        self._ema_update(
                            codebook,
                            *(values[level] for values in state),
                            one_hot,
                            ops.stop_gradient(residual),
                            candidates,
                            initialized,
                            decay,
                        )
                    )
            else:
                counts = ops.sum(ops.one_hot(indices, c), axis=0)
                error = ops.mean((residual - level_quantized) ** 2)
                commitment = commitment + error
            perplexities.append(self._perplexity(counts))
            codes.append(ops.reshape(indices, (batch, frames)))
            residual = residual - level_quantized
            quantized = quantized + level_quantized

        if update:
            variables = (
                self.codebooks,
                self.ema_cluster_size,
                self.ema_embedding_sum,
                self.ema_usage,
            )
            for i, variable in enumerate(variables):
                variable.assign(ops.stack([level_state[i] for level_state in new_state]))
            self.num_updates.assign(num_updates + 1.0)

        # Straight-through: the forward value is the quantized vector, the
        # gradient w.r.t. the encoder output is the identity.
        quantized = flat + ops.stop_gradient(quantized - flat)
        return {
            "quantized": ops.reshape(quantized, ops.shape(latents)),
            "codes": ops.stack(codes, axis=-1),
            "commitment_loss": commitment / num_levels,
            "perplexity": ops.stack(perplexities),
            "num_active_levels": num_active,
        }

    def _sample_active_levels(self, batch):
        """Levels per example: all Q, or with prob. `quantizer_dropout` 1..Q."""
        uniform = keras.random.uniform((batch,), seed=self.seed_generator)
        random_levels = keras.random.randint(
            (batch,), 1, self.num_levels + 1, seed=self.seed_generator
        )
        full = ops.full((batch,), self.num_levels, "int32")
        return ops.where(uniform < self.quantizer_dropout, ops.cast(random_levels, "int32"), full)

    def _sample_frames(self, residual, weights):
        """C frames drawn (with replacement) among the active ones: `[C, D]`."""
        logits = ops.where(weights > 0, 0.0, -1e9)[None, :]
        indices = keras.random.categorical(logits, self.codebook_size, seed=self.seed_generator)[0]
        return ops.stop_gradient(ops.take(residual, indices, axis=0))

    def _ema_update(
        self,
        codebook,
        cluster_size,
        embedding_sum,
        usage,
        one_hot,
        residual,
        candidates,
        initialized,
        decay,
    ):
        """New (codebook, cluster size, embedding sum, usage) of one level."""
        c = self.codebook_size
        counts = ops.sum(one_hot, axis=0)
        frames_seen = ops.sum(counts)
        share = ops.full((c,), frames_seen / c)
        # Before initialisation, pretend every candidate was seen a uniform
        # share of times, so the EMA starts from the data.
        cluster_size = ops.where(initialized, cluster_size, share)
        embedding_sum = ops.where(initialized, embedding_sum, candidates * (frames_seen / c))
        usage = ops.where(initialized, usage, share)
        new_cluster_size = decay * cluster_size + (1 - decay) * counts
        new_embedding_sum = decay * embedding_sum + (1 - decay) * ops.matmul(
            ops.transpose(one_hot), residual
        )
        new_usage = self.usage_decay * usage + (1 - self.usage_decay) * counts
        total = ops.sum(new_cluster_size)
        smoothed = (new_cluster_size + self.epsilon) / (total + c * self.epsilon) * total
        new_codebook = new_embedding_sum / ops.maximum(smoothed, 1e-12)[:, None]

        # A restarted code gets an average history, so that it is not
        # restarted again before frames had a chance to pick it.
        average = total / c
        average_usage = ops.mean(new_usage)
        dead = new_usage < self.dead_code_threshold * average_usage
        new_codebook = ops.where(dead[:, None], candidates, new_codebook)
        new_cluster_size = ops.where(dead, average, new_cluster_size)
        new_embedding_sum = ops.where(dead[:, None], candidates * average, new_embedding_sum)
        new_usage = ops.where(dead, average_usage, new_usage)

        # A level no example of the batch reached keeps its state.
        seen = frames_seen > 0
        return (
            ops.where(seen, new_codebook, codebook),
            ops.where(seen, new_cluster_size, cluster_size),
            ops.where(seen, new_embedding_sum, embedding_sum),
            ops.where(seen, new_usage, usage),
        )

    def compute_output_spec(self, latents, training=False, num_levels=None):
        num_levels = self.num_levels if (num_levels is None or training) else num_levels
        batch, frames = latents.shape[0], latents.shape[1]
        spec = keras.KerasTensor
        return {
            "quantized": spec(latents.shape, "float32"),
            "codes": spec((batch, frames, num_levels), "int32"),
            "commitment_loss": spec((), "float32"),
            "perplexity": spec((num_levels,), "float32"),
            "num_active_levels": spec((batch,), "int32"),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            num_levels=self.num_levels,
            codebook_size=self.codebook_size,
            decay=self.decay,
            epsilon=self.epsilon,
            dead_code_threshold=self.dead_code_threshold,
            usage_decay=self.usage_decay,
            quantizer_dropout=self.quantizer_dropout,
            seed=self.seed,
        )
        return config


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class EuclideanResidualQuantizer(layers.Layer):
    """Residual vector quantizer with nearest-neighbour (Euclidean) codebooks.

    `codebooks` is `[num_levels, codebook_size, dim]`. Level `q` quantizes
    what levels `< q` left over. Inference only: the codebooks are fixed.

    Call args (same as `quantize`): `latents` float `[B, T, dim]`;
    `num_levels` (default all). Returns int32 codes `[B, T, num_levels]`.
    """

    def __init__(self, num_levels, codebook_size, dim, **kwargs):
        super().__init__(**kwargs)
        self.num_levels = require_int("num_levels", num_levels, 1)
        self.codebook_size = require_int("codebook_size", codebook_size, 1)
        self.dim = require_int("dim", dim, 1)

    def build(self, input_shape=None):
        self.codebooks = self.add_weight(
            name="codebooks",
            shape=(self.num_levels, self.codebook_size, self.dim),
            initializer="zeros",
            trainable=False,
        )
        self.built = True

    def quantize_latents(self, latents, num_levels=None):
        """float `[B, T, dim]` -> int32 codes `[B, T, k]` (k = `num_levels`, default all)."""
        return self(latents, num_levels=num_levels)

    def call(self, latents, num_levels=None):
        num_levels = self.num_levels if num_levels is None else num_levels
        codebooks = ops.cast(self.codebooks, "float32")
        residual = ops.cast(latents, "float32")
        codes = []
        for level in range(num_levels):
            codebook = codebooks[level]
            # argmin |r - e|^2 = argmax 2 r.e - |e|^2 (|r|^2 is the same for every code).
            scores = 2.0 * ops.matmul(residual, ops.transpose(codebook)) - ops.sum(
                ops.square(codebook), axis=-1
            )
            index = ops.cast(ops.argmax(scores, axis=-1), "int32")
            codes.append(index)
            residual = residual - ops.take(codebook, index, axis=0)
        return ops.stack(codes, axis=-1)

    def level_vectors(self, codes, level):
        """Code vectors `[B, T, dim]` of codes int `[B, T]` at `level`."""
        return ops.take(ops.cast(self.codebooks[level], "float32"), codes, axis=0)

    def dequantize(self, codes, num_levels=None):
        """Codes int `[B, T, k]` -> the sum of their code vectors `[B, T, dim]` (levels 1..k).

        `num_levels`: `k`, when the static shape of `codes` does not tell it.
        """
        levels = int(codes.shape[-1]) if num_levels is None else num_levels
        total = self.level_vectors(codes[..., 0], 0)
        for level in range(1, levels):
            total = total + self.level_vectors(codes[..., level], level)
        return total

    lookup = dequantize  # the name before `dequantize`

    def get_config(self):
        config = super().get_config()
        config.update(num_levels=self.num_levels, codebook_size=self.codebook_size, dim=self.dim)
        return config
