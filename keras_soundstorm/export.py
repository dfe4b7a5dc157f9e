"""TF SavedModel export of `SoundStorm.generate` for TF Serving.

The `serving_default` signature takes

- `conditioning`  int32 `[B, T/r]` (output length `T = r * T/r`),
- `prompt_codes`  int32 `[B, P, Q]`, `P >= 1` (pass any `[B, 1, Q]` with
  `prompt_length = 0` for no prompt),
- `prompt_length` int32 `[B]` in `[0, min(P, T)]`,
- `seed`          int32 scalar,

with dynamic batch and lengths, and returns `{"codes": int32 [B, T, Q]}`.
The SavedModel needs only TensorFlow to load and run.
"""

import os

import keras
from keras import ops

from keras_soundstorm import backend, decoding
from keras_soundstorm.utils import files

# What an export may replace: a SavedModel (with its saved_model.pb).
SAVED_MODEL = files.DirectoryKind(
    "SavedModel export (a directory with saved_model.pb)",
    lambda path: os.path.isfile(os.path.join(path, "saved_model.pb")),
)


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
        steps_per_level: the decoding schedule baked into the export.
    """
    backend.check_can_export()
    backbone = model.backbone
    if not backbone.is_conditional:
        raise ValueError(
            "SavedModel export supports conditional models (the output length comes "
            "from `conditioning`); this model has conditioning_vocabulary_size=0."
        )
    steps = decoding.validate_steps_per_level(steps_per_level, backbone.num_levels)
    r, q, c = backbone.conditioning_rate_ratio, backbone.num_levels, backbone.codebook_size

    def serve(conditioning, prompt_codes, prompt_length, seed):
        num_frames = ops.shape(conditioning)[1] * r
        codes = initial_codes(prompt_codes, prompt_length, num_frames, c)
        padding_mask = ops.ones(ops.shape(codes)[:2], "bool")
        return {"codes": model.fill_masked_tokens(codes, conditioning, padding_mask, seed, steps)}

    signature = [
        keras.InputSpec(shape=(None, None), dtype="int32", name="conditioning"),
        keras.InputSpec(shape=(None, None, q), dtype="int32", name="prompt_codes"),
        keras.InputSpec(shape=(None,), dtype="int32", name="prompt_length"),
        keras.InputSpec(shape=(), dtype="int32", name="seed"),
    ]
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default",
        serve,
        input_signature=signature,
        **backend.export_endpoint_kwargs(platforms),
    )
    with files.atomic_directory(path, kind=SAVED_MODEL) as staging:
        archive.write_out(staging, verbose=False)
    return os.fspath(path)
