"""TF SavedModel export of `SoundStorm.generate` for TF Serving.

The `serving_default` signature takes

- `conditioning`  int32 `[B, T/r]` (output length `T = r * T/r`),
- `prompt_codes`  int32 `[B, P, Q]`, `P >= 1` (pass any `[B, 1, Q]` with
  `prompt_length = 0` for no prompt),
- `prompt_length` int32 `[B]` in `[0, min(P, T)]`,
- `seed`          int32 scalar,
- `guidance_scale` float32 scalar >= 0, only for a model trained with
  conditioning dropout (`backbone.supports_guidance`): classifier-free
  guidance's w (0: plain decoding, at plain decoding's cost),

with dynamic batch and lengths, and returns `{"codes": int32 [B, T, Q]}`.
The SavedModel needs only TensorFlow to load and run. It pads nothing;
`generate` pads to its bucket, which does not change the codes (the noise is
drawn frame-major, see `decoding._gumbel`): same seed, same codes.

It checks its inputs as `generate` does (the rules live in `inputs.py`, as
TensorFlow asserts in `served_input_checks`): a batch of at least one example,
the same batch in all three tensors (a batch of 1 is not broadcast), a
non-empty `conditioning` with ids in `[0, conditioning_vocabulary_size)`
(`[0, conditioning_vocabulary_size]` for a guided model: its null id too),
prompt ids in `[0, C)` (real codes: MASK, id C, is not a prompt token) on all
`P >= 1` frames, `prompt_length` in `[0, min(P, T)]`, `seed >= 0` and a
finite `guidance_scale >= 0`. A bad
input fails with an `InvalidArgument` error whose message names it; so do NaN
or inf logits (e.g. NaN weights) instead of returning codes chosen from them.
"""

import os

import keras
from keras import ops

from keras_soundstorm import backend
from keras_soundstorm.models.soundstorm import decoding_settings
from keras_soundstorm.models.soundstorm import inputs as input_checks
from keras_soundstorm.utils import files, serving


def initial_codes(prompt_codes, prompt_length, num_frames, mask_id):
    """`[B, T, Q]` codes: the prompt on its first `prompt_length` frames, MASK after."""
    positions = ops.arange(num_frames, dtype="int32")
    prompt_frames = ops.shape(prompt_codes)[1]
    source = ops.minimum(positions, prompt_frames - 1)
    prompt = ops.take(ops.cast(prompt_codes, "int32"), source, axis=1)
    in_prompt = positions[None, :] < ops.cast(prompt_length, "int32")[:, None]
    return ops.where(in_prompt[:, :, None], prompt, mask_id)


def export_saved_model(model, path, platforms=("cpu", "cuda", "tpu"), steps_per_level=None):
    """Writes a SavedModel of `model.generate` to `path` (atomically).

    `path` must be new, empty or a SavedModel (replaced); a file or another
    non-empty directory is a ValueError and is left untouched.

    Args:
        model: a conditional `SoundStorm`.
        path: output directory (TF Serving wants `NAME/VERSION/`).
        platforms: JAX backend only: the XLA platforms the export is
            serialized for.
        steps_per_level: the decoding schedule baked into the export
            (default: the model's stored `decoding` settings, as `generate`).
            The model's stored temperature, top_k and choice temperature are
            baked in too; the guidance scale is an input (see above).
    """
    import tensorflow as tf  # imported here: `import keras_soundstorm` stays TF-free on jax/torch

    backend.check_can_export()
    backbone = model.backbone
    if not backbone.is_conditional:
        raise ValueError(
            "SavedModel export supports conditional models (the output length comes "
            "from `conditioning`); this model has conditioning_vocabulary_size=0."
        )
    overrides = {} if steps_per_level is None else {"steps_per_level": steps_per_level}
    settings = model.decoding_settings(**overrides)
    steps = decoding_settings.steps_per_level(settings, backbone.num_levels)
    r, q, c = backbone.conditioning_rate_ratio, backbone.num_levels, backbone.codebook_size

    guided = backbone.supports_guidance
    # Conditioning ids `generate` takes: a guided model's null id (= V) too.
    v = backbone.conditioning_vocabulary_size + int(guided)

    def serve(conditioning, prompt_codes, prompt_length, seed, guidance_scale=0.0):
        num_frames = ops.shape(conditioning)[1] * r
        codes = initial_codes(prompt_codes, prompt_length, num_frames, c)
        padding_mask = ops.ones(ops.shape(codes)[:2], "bool")
        codes, finite = model.fill_masked_tokens(
            codes,
            conditioning,
            padding_mask,
            seed,
            steps,
            temperature=settings["temperature"],
            top_k=settings["top_k"],
            choice_temperature=settings["choice_temperature"],
            guidance_scale=guidance_scale,
            return_finite=True,
        )
        return {"codes": codes, "finite": finite}

    signature = [
        tf.TensorSpec(shape=(None, None), dtype="int32", name="conditioning"),
        tf.TensorSpec(shape=(None, None, q), dtype="int32", name="prompt_codes"),
        tf.TensorSpec(shape=(None,), dtype="int32", name="prompt_length"),
        tf.TensorSpec(shape=(), dtype="int32", name="seed"),
    ]
    if guided:
        signature.append(tf.TensorSpec(shape=(), dtype="float32", name="guidance_scale"))
    # The model's decode, converted for the backend (jax2tf on JAX). This
    # helper archive is never written: only the checked function below is.
    unchecked = keras.export.ExportArchive()
    unchecked.track(model)
    decode = unchecked.add_endpoint(
        "generate", serve, input_signature=signature, **backend.export_endpoint_kwargs(platforms)
    )

    # TensorFlow asserts around it: plain TF ops on every backend, so the
    # served signature rejects bad input with an InvalidArgument error.
    def checked_decode(*inputs):
        checks = input_checks.served_input_checks(*inputs[:4], r, v, c)
        if guided:
            checks += input_checks.served_guidance_checks(inputs[4])
        return serving.checked_call(decode, inputs, checks, "codes")

    # Two spellings: a signature's input names are its function's argument names.
    if guided:

        @tf.function(input_signature=signature, autograph=False)
        def serving_default(conditioning, prompt_codes, prompt_length, seed, guidance_scale):
            return checked_decode(conditioning, prompt_codes, prompt_length, seed, guidance_scale)

    else:

        @tf.function(input_signature=signature, autograph=False)
        def serving_default(conditioning, prompt_codes, prompt_length, seed):
            return checked_decode(conditioning, prompt_codes, prompt_length, seed)

    serving_default.get_concrete_function()
    archive = keras.export.ExportArchive()
    archive.add_endpoint("serving_default", serving_default)
    with files.atomic_directory(path, kind=files.SAVED_MODEL) as staging:
        archive.write_out(staging, verbose=False)
    return os.fspath(path)
