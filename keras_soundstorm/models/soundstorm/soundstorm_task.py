"""SoundStorm task: training masking + loss, level heads and parallel decoding."""

import functools
import types

import keras
import keras_hub
import numpy as np
from keras import ops

from keras_soundstorm import backend
from keras_soundstorm.models.soundstorm import decoding, export
from keras_soundstorm.models.soundstorm import inputs as input_checks
from keras_soundstorm.models.soundstorm.decoding_settings import (
    checked_decoding,
)
from keras_soundstorm.models.soundstorm.decoding_settings import (
    steps_per_level as resolved_steps,
)
from keras_soundstorm.models.soundstorm.level_heads import LevelHeads
from keras_soundstorm.models.soundstorm.masking import TrainingMasker
from keras_soundstorm.models.soundstorm.soundstorm_backbone import SoundStormBackbone
from keras_soundstorm.models.task_presets import TaskPresets
from keras_soundstorm.utils.validation import require_int


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class SoundStorm(TaskPresets, keras_hub.models.Task):
    """SoundStorm: masked training and level-wise parallel decoding.

    `fit` takes batches `{"codes": int [B, T, Q], "conditioning": int [B, T/r],
    "padding_mask": bool [B, T]}` (no labels): each example is masked inside
    the training step (prompt / level / cosine scheme) and the loss is the
    cross-entropy over the masked tokens of its sampled level. `generate`
    fills the levels coarse to fine in `sum(steps_per_level)` forward passes.

    Args:
        backbone: a `SoundStormBackbone`.
        preprocessor: unused, for KerasHub compatibility (None).
        seed: seed of the training masks.
        decoding: default decoding settings of `generate` (stored in the
            preset): a dict with any of `steps_per_level`, `temperature`,
            `top_k`, `choice_temperature`, `guidance_scale`; unset ones take
            `DECODING_DEFAULTS`.
        head_projection: if True, each level's head projects the hidden state
            (`D -> D`) and a LayerNorm shared by the levels precedes its
            output (the lucidrains SoundStorm's heads); False (default): a
            plain `D -> C` head per level.

    Example:
    ```python
    backbone = kss.SoundStormBackbone(**kss.CONFIGS["tiny"])
    model = kss.SoundStorm(backbone)
    model.fit(dataset, epochs=1)
    codes = model.generate(conditioning=np.zeros((1, 50), "int32"), seed=0)
    ```

    Reference: [SoundStorm](https://arxiv.org/abs/2305.09636).
    """

    backbone_cls = SoundStormBackbone

    def __init__(
        self,
        backbone,
        preprocessor=None,
        seed=None,
        decoding=None,
        head_projection=False,
        **kwargs,
    ):
        decoding_settings = checked_decoding(decoding, backbone)
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        dtype = backbone.dtype_policy
        self.training_masker = TrainingMasker(
            backbone.codebook_size, seed=seed, dtype=dtype, name="training_masker"
        )
        self.level_heads = LevelHeads(
            backbone.num_levels,
            backbone.codebook_size,
            projection=head_projection,
            layer_norm_epsilon=backbone.layer_norm_epsilon,
            dtype=dtype,
            name="level_heads",
        )

        # === Functional Model ===
        inputs = dict(backbone.input)
        masked = self.training_masker(inputs["codes"], inputs["padding_mask"])
        hidden = backbone({**inputs, "codes": masked["masked_codes"]})
        logits = self.level_heads(hidden, masked["level"])
        outputs = {
            "logits": logits,
            "targets": masked["targets"],
            "loss_mask": masked["loss_mask"],
        }
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.seed = seed
        self.head_projection = bool(head_projection)
        self.decoding = decoding_settings
        # A plain object, so that TF's attribute tracking does not try to save it.
        self._decode_cache = types.SimpleNamespace(functions={})

    def get_config(self):
        config = super().get_config()
        config.update(seed=self.seed, decoding=dict(self.decoding))
        if self.head_projection:  # older presets' configs stay as they were
            config.update(head_projection=True)
        return config

    # --- Training -----------------------------------------------------------

    def compile(self, optimizer="auto", metrics="auto", **kwargs):
        """Compiles with AdamW (lr 3e-4, clip-norm 1) and masked accuracy by default.

        The loss is built in (`compute_loss`): any `loss` argument is rejected.
        """
        if "loss" in kwargs:
            raise ValueError("SoundStorm computes its own masked loss; do not pass `loss`.")
        if optimizer == "auto":
            optimizer = keras.optimizers.AdamW(
                learning_rate=3e-4, weight_decay=0.01, global_clipnorm=1.0
            )
        if metrics not in ("auto", None):
            raise ValueError(
                "SoundStorm tracks its own metrics (loss, masked-token accuracy); "
                f"`metrics` must be 'auto' or None, got {metrics!r}."
            )
        self.masked_accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        super().compile(optimizer=optimizer, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Cross-entropy over the masked tokens of each example's level.

        Averaged over the masked tokens of the batch; 0 (not NaN) when none is
        masked.
        """
        weights = ops.cast(y_pred["loss_mask"], "float32")
        cross_entropy = keras.losses.sparse_categorical_crossentropy(
            y_pred["targets"], y_pred["logits"], from_logits=True
        )
        loss = ops.sum(cross_entropy * weights) / ops.maximum(ops.sum(weights), 1.0)
        if self.losses:
            loss = loss + sum(self.losses)
        return loss / backend.replica_count()

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        self.masked_accuracy.update_state(
            y_pred["targets"], y_pred["logits"], sample_weight=y_pred["loss_mask"]
        )
        return self.get_metrics_result()

    @property
    def metrics(self):
        metrics = super().metrics
        accuracy = getattr(self, "masked_accuracy", None)
        return metrics + [accuracy] if accuracy is not None and accuracy not in metrics else metrics

    def fit(self, x=None, y=None, batch_size=None, shuffle=True, **kwargs):
        """`keras.Model.fit`, with batches checked (ids, shapes) before training.

        Arrays are shuffled every epoch (KerasHub tasks otherwise batch them in
        order); datasets are used as they come.

        Data that is not dict batches is rejected before training starts. A
        bad batch found while training raises with the weights of the last
        completed step (on JAX, whose stateless steps hold them outside the
        variables, those from before the call): the model stays usable.
        """
        if batch_size is not None:
            batch_size = require_int("batch_size", batch_size, minimum=1)
        x = input_checks.checked_training_data(x, self.backbone)
        if shuffle and isinstance(x, dict):
            x = input_checks.shuffled_batches(x, batch_size or 32, seed=self.seed)
            batch_size, shuffle = None, False
        with backend.state_kept_on_error(self):
            return super().fit(x, y, batch_size=batch_size, shuffle=shuffle, **kwargs)

    def evaluate(self, x=None, y=None, **kwargs):
        """`keras.Model.evaluate` on freshly masked batches (same checks as `fit`)."""
        x = input_checks.checked_training_data(x, self.backbone)
        with backend.state_kept_on_error(self):
            return super().evaluate(x, y, **kwargs)

    # --- Inference ----------------------------------------------------------

    def logits(self, codes, level, conditioning=None, padding_mask=None):
        """Logits float32 `[B, T, C]` of level `level` for `codes`.

        `codes` int `[B, T, Q]` (MASK = C where unknown), `level` an int (Python
        or numpy) or int `[B]` (0-based), `conditioning` int `[B, T/r]`
        (conditional models), `padding_mask` bool `[B, T]` (None: all real);
        numpy arrays, nested lists or tensors.
        """
        codes = ops.cast(ops.convert_to_tensor(codes), "int32")
        level = ops.cast(ops.convert_to_tensor(level), "int32")
        if padding_mask is None:
            padding_mask = ops.ones(ops.shape(codes)[:2], "bool")
        padding_mask = ops.cast(ops.convert_to_tensor(padding_mask), "bool")
        if conditioning is not None:
            conditioning = ops.cast(ops.convert_to_tensor(conditioning), "int32")
        inputs = {"codes": codes, "padding_mask": padding_mask}
        if self.backbone.is_conditional:
            inputs["conditioning"] = conditioning
        hidden = self.backbone(inputs, training=False)
        return self.level_heads(hidden, level)

    def fill_masked_tokens(
        self,
        codes,
        conditioning,
        padding_mask,
        seed,
        steps_per_level,
        temperature=1.0,
        top_k=None,
        choice_temperature=1.0,
        return_finite=False,
        guidance_scale=0.0,
    ):
        """Replaces every MASK of prepared tensors, uncompiled.

        `codes` int `[B, T, Q]` (MASK = `codebook_size` where to generate),
        `conditioning` int `[B, T/r]`, `padding_mask` bool `[B, T]`, `seed` a
        scalar int tensor; returns int32 `[B, T, Q]` (and, with
        `return_finite`, whether all logits were finite: see
        `decoding.iterative_decode`). `generate` prepares these from user
        input and compiles this; see it for the other args. The decoding
        settings must come from `decoding_settings` (a tuple `steps_per_level`):
        they are checked there, once, and not again here.
        """
        if isinstance(guidance_scale, (int, float)) and guidance_scale == 0:
            logits_fn = functools.partial(
                self.logits, conditioning=conditioning, padding_mask=padding_mask
            )
        else:
            logits_fn = self._guided_logits_fn(conditioning, padding_mask, guidance_scale)
        codebook_size = self.backbone.codebook_size
        settings = (steps_per_level, temperature, top_k, choice_temperature)
        return decoding.decode_levels(
            logits_fn, codes, padding_mask, *settings, seed, codebook_size, return_finite
        )

    def _guided_logits_fn(self, conditioning, padding_mask, guidance_scale):
        """Classifier-free guidance: `(1 + w) * cond - w * uncond` logits.

        The conditional and unconditional (null conditioning) passes run as
        one batch of `2B`. A tensor `guidance_scale` (the SavedModel's input)
        chooses at run time: 0 runs the conditional pass alone.
        """
        fixed_scale = isinstance(guidance_scale, (int, float))
        null = ops.full_like(conditioning, self.backbone.null_conditioning_id)
        both_conditioning = ops.concatenate([conditioning, null], axis=0)
        both_padding = ops.concatenate([padding_mask, padding_mask], axis=0)
        scale = ops.cast(guidance_scale, "float32")

        def guided_logits(codes, level):
            both = self.logits(
                ops.concatenate([codes, codes], axis=0), level, both_conditioning, both_padding
            )
            conditional, unconditional = ops.split(both, 2, axis=0)
            return (1.0 + scale) * conditional - scale * unconditional

        if fixed_scale:
            return guided_logits

        def logits_chosen_at_run_time(codes, level):
            return ops.cond(
                scale > 0,
                lambda: guided_logits(codes, level),
                lambda: self.logits(codes, level, conditioning, padding_mask),
            )

        return logits_chosen_at_run_time

    def decoding_settings(self, **overrides):
        """The full, checked decoding settings: `overrides` over the model's `decoding`.

        Raises ValueError naming an unknown setting or a bad value (a nonzero
        `guidance_scale` on a model trained without conditioning dropout).
        """
        return checked_decoding(overrides, self.backbone, defaults=self.decoding)

    def set_decoding(self, **settings):
        """Changes the default decoding settings of `generate` (saved with the preset).

        Settings not given keep their current values.
        """
        self.decoding = self.decoding_settings(**settings)

    def generate(
        self,
        conditioning=None,
        prompt_codes=None,
        prompt_length=None,
        num_frames=None,
        steps_per_level=None,
        temperature=None,
        top_k=None,
        choice_temperature=None,
        seed=None,
        bucket_frames=None,
        guidance_scale=None,
    ):
        """Generates codec tokens, continuing `prompt_codes` if given.

        Args:
            conditioning: int `[B, T/r]` (or `[T/r]`); required if the model is
                conditional. Its length sets the output length `T`.
            prompt_codes: int `[B, P, Q]` (or `[P, Q]`): the first frames of the
                output, kept as they are.
            prompt_length: int or `[B]` ints, prompt frames per example
                (default `P`); 0 = no prompt.
            num_frames: int or `[B]` ints, frames to produce per example
                (default `r * conditioning length`; required if unconditional).
            steps_per_level: passes per level, default `(16, 1, ..., 1)`.
            temperature, top_k, choice_temperature: see
                `decoding.iterative_decode`.
            guidance_scale: classifier-free guidance weight w >= 0: the logits
                are `(1 + w) * cond - w * uncond` (two passes, one batched call);
                0 is plain decoding. Needs a model trained with
                `conditioning_dropout > 0`.
            Decoding settings left None take the model's `decoding` defaults
            (stored in its preset), then `DECODING_DEFAULTS`.
            seed: an int in `[0, 2**31 - 1]`, used as it is (None: a random
                one). Same seed, same result.
            bucket_frames: an int >= 1; the output length is padded up to a
                multiple of `lcm(bucket_frames, r)`, so that nearby lengths
                share one compiled decode. It does not change the codes: the
                noise of a frame does not depend on the padding, so a seed
                gives the same codes for every `bucket_frames`, and the
                SavedModel's. None: `backend.default_bucket_frames(T)` (on JAX and
                TensorFlow a power of two an eighth of T's octave, so at most
                12.5% padding: 150 -> 160 frames; 1 on PyTorch, which does not
                compile).

        Returns:
            numpy int32 `[B, T, Q]` (`[T, Q]` for unbatched input), with `-1` on
            frames past an example's `num_frames`.

        Raises:
            ValueError: for bad arguments (naming them), and when the model's
                logits hold NaN or inf (e.g. NaN weights) instead of returning
                tokens chosen from them.
        """
        backbone = self.backbone
        settings = self.decoding_settings(
            **{
                name: value
                for name, value in dict(
                    steps_per_level=steps_per_level,
                    temperature=temperature,
                    top_k=top_k,
                    choice_temperature=choice_temperature,
                    guidance_scale=guidance_scale,
                ).items()
                if value is not None
            },
        )
        steps = resolved_steps(settings, backbone.num_levels)
        temperature, top_k = settings["temperature"], settings["top_k"]
        choice_temperature = settings["choice_temperature"]
        guidance_scale = settings["guidance_scale"]
        prepared = input_checks.prepare_generation_inputs(
            backbone, conditioning, prompt_codes, prompt_length, num_frames, bucket_frames
        )
        seed = decoding.check_seed(seed)
        decode_fn = self._compiled_decode(
            steps, temperature, top_k, choice_temperature, guidance_scale
        )
        codes, finite = decode_fn(
            *(
                ops.convert_to_tensor(prepared[name])
                for name in ("codes", "conditioning", "padding_mask")
            ),
            ops.convert_to_tensor(np.int32(seed)),
        )
        if not bool(ops.convert_to_numpy(finite)):
            raise ValueError(
                "The model's logits hold NaN or inf (are its weights NaN or inf, e.g. "
                "after a diverged training run?); no codes were generated."
            )
        codes = np.asarray(ops.convert_to_numpy(codes), "int32")
        codes = codes[:, : prepared["num_frames"].max()]
        valid = np.arange(codes.shape[1])[None, :] < prepared["num_frames"][:, None]
        codes = np.where(valid[:, :, None], codes, -1).astype("int32")
        return codes[0] if prepared["unbatched"] else codes

    def _compiled_decode(self, steps, temperature, top_k, choice_temperature, guidance_scale):
        """One compiled decode per decoding setting, reused across shapes/buckets.

        With `model.run_eagerly = True` the decode runs op by op.
        """
        key = (
            steps,
            temperature,
            top_k,
            choice_temperature,
            guidance_scale,
            bool(self.run_eagerly),
        )
        cache = self._decode_cache.functions
        if key not in cache:
            decode = functools.partial(
                self.fill_masked_tokens,
                steps_per_level=steps,
                temperature=temperature,
                top_k=top_k,
                choice_temperature=choice_temperature,
                return_finite=True,
                guidance_scale=guidance_scale,
            )
            variables = self.backbone.variables + self.level_heads.variables
            cache[key] = backend.compiled_inference(
                decode, variables, run_eagerly=bool(self.run_eagerly)
            )
        return cache[key]

    # --- Export -------------------------------------------------------------

    def export_saved_model(self, path, platforms=("cpu", "cuda", "tpu"), steps_per_level=None):
        """Exports a TF SavedModel whose `serving_default` runs `generate`.

        See `keras_soundstorm.models.soundstorm.export.export_saved_model`.
        """
        return export.export_saved_model(
            self, path, platforms=platforms, steps_per_level=steps_per_level
        )
