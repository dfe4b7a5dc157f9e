"""TF SavedModel export of `TextToSemantic.generate` for TF Serving.

The `serving_default` signature takes

- `text_ids`        int32 `[B, Tt]`, each row's ids first, then any padding,
- `text_lengths`    int32 `[B]` in `[1, Tt]`,
- `prompt_semantic` int32 `[B, P]`, `P >= 1` (a row without a prompt: any
  ids with `prompt_lengths` 0),
- `prompt_lengths`  int32 `[B]` in `[0, P]`,
- `seed`            int32 scalar >= 0,

with dynamic batch and lengths, and returns `tokens` int32 `[B, N]` (each
example's new tokens, then -1; N is the longest example's count) and
`lengths` int32 `[B]`. It runs `generate`'s decoding loop as one segment
(`cached_decode`), so the same inputs and seed give the same tokens.

`max_new_tokens` is fixed at export: it is the loop's bound and the size of
the key/value cache, which must be static for XLA on JAX. Each example still
stops at end of speech or after `16 x its text length` tokens, as in
`generate`; an export's `max_new_tokens` plays `generate`'s `max_length`.
The sampling settings (temperature, top-k, top-p) are baked in too.

A bad input (ids out of range on the real positions, batch sizes that
differ, lengths out of range, a negative seed, an empty batch or text) fails
with an `InvalidArgument` error whose message names it; so do NaN or inf
logits (e.g. NaN weights) instead of returning tokens chosen from them. The
SavedModel needs only TensorFlow to load and run.
"""

import functools
import os

import keras
from keras import ops

from keras_soundstorm import backend
from keras_soundstorm.models.text_to_semantic import configs
from keras_soundstorm.models.text_to_semantic import inputs as input_checks
from keras_soundstorm.models.text_to_semantic.generate import cached_decode
from keras_soundstorm.utils import files, serving

# 20 s of speech at SpeechTokenizer's 50 Hz: a `speak` window.
DEFAULT_MAX_NEW_TOKENS = 1000


def export_saved_model(
    model,
    path,
    platforms=("cpu", "cuda", "tpu"),
    max_new_tokens=DEFAULT_MAX_NEW_TOKENS,
    temperature=1.0,
    top_k=None,
    top_p=1.0,
):
    """Writes a SavedModel of `model.generate` to `path` (atomically).

    `path` must be new, empty or a SavedModel (replaced); a file or another
    non-empty directory is a ValueError and is left untouched.

    Args:
        model: a `TextToSemantic`.
        path: output directory (TF Serving wants `NAME/VERSION/`).
        platforms: JAX backend only: the XLA platforms the export is
            serialized for.
        max_new_tokens: new tokens at most per example (see the module).
        temperature, top_k, top_p: the sampling baked in, as `generate`'s
            (`top_k=1`: greedy).
    """
    import tensorflow as tf  # imported here: `import keras_soundstorm` stays TF-free on jax/torch

    backend.check_can_export()
    settings = model.checked_sampling(
        max_new_tokens, temperature, top_k, top_p, length_name="max_new_tokens"
    )
    backbone = model.backbone
    decode = functools.partial(
        cached_decode,
        backbone,
        model.semantic_head,
        max_new_tokens=settings["max_length"],
        temperature=settings["temperature"],
        top_k=settings["top_k"],
        top_p=settings["top_p"],
        tokens_per_text_id=configs.TOKENS_PER_TEXT_ID,
    )

    def serve(text_ids, text_lengths, prompt_semantic, prompt_lengths, seed):
        # As `generate`: the masks from the lengths, padding ids set to 0.
        text_mask = ops.arange(ops.shape(text_ids)[1], dtype="int32")[None] < text_lengths[:, None]
        prompt_mask = (
            ops.arange(ops.shape(prompt_semantic)[1], dtype="int32")[None] < prompt_lengths[:, None]
        )
        text = ops.where(text_mask, text_ids, 0)
        prompt = ops.where(prompt_mask, prompt_semantic, 0)
        tokens, lengths, finite = decode(text, text_mask, prompt, prompt_mask, seed)
        return {"tokens": tokens, "lengths": lengths, "finite": finite}

    signature = [
        tf.TensorSpec(shape=(None, None), dtype="int32", name="text_ids"),
        tf.TensorSpec(shape=(None,), dtype="int32", name="text_lengths"),
        tf.TensorSpec(shape=(None, None), dtype="int32", name="prompt_semantic"),
        tf.TensorSpec(shape=(None,), dtype="int32", name="prompt_lengths"),
        tf.TensorSpec(shape=(), dtype="int32", name="seed"),
    ]
    # The model's decode, converted for the backend (jax2tf on JAX). This
    # helper archive is never written: only the checked function below is.
    unchecked = keras.export.ExportArchive()
    unchecked.track(model)
    decode_endpoint = unchecked.add_endpoint(
        "generate", serve, input_signature=signature, **backend.export_endpoint_kwargs(platforms)
    )
    v, c = backbone.text_vocabulary_size, backbone.codebook_size

    # TensorFlow asserts around it: plain TF ops on every backend, so the
    # served signature rejects bad input with an InvalidArgument error.
    @tf.function(input_signature=signature, autograph=False)
    def serving_default(text_ids, text_lengths, prompt_semantic, prompt_lengths, seed):
        inputs = [text_ids, text_lengths, prompt_semantic, prompt_lengths, seed]
        checks = input_checks.served_input_checks(*inputs, v, c)
        outputs = serving.checked_call(decode_endpoint, inputs, checks, "tokens")
        lengths = outputs["lengths"]
        # As `generate`: as many columns as the longest example has tokens.
        tokens = outputs["tokens"][:, : tf.maximum(tf.reduce_max(lengths), 0)]
        return {"tokens": tokens, "lengths": lengths}

    serving_default.get_concrete_function()
    archive = keras.export.ExportArchive()
    archive.add_endpoint("serving_default", serving_default)
    with files.atomic_directory(path, kind=files.SAVED_MODEL) as staging:
        archive.write_out(staging, verbose=False)
    return os.fspath(path)
