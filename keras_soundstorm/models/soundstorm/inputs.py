"""Input checks and preparation for `SoundStorm.fit`, `generate` and the SavedModel.

Bad input raises a `ValueError` that names the problem and the accepted range;
nothing is clipped. (On a `tf.data` pipeline the same checks run as TF
assertions, which raise `InvalidArgumentError` with the same message.)
"""

import math

import numpy as np

from keras_soundstorm import backend
from keras_soundstorm.utils.validation import require_int

# Frame counts and ids are int32 inside the model.
INT32_MAX = 2**31 - 1


def _as_int_array(name, value, rank):
    array = np.asarray(value)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"`{name}` must hold integers; got dtype {array.dtype}.")
    if array.ndim not in rank:
        raise ValueError(
            f"`{name}` must have rank {' or '.join(map(str, rank))}; got shape {array.shape}."
        )
    return array


def _check_range(name, array, upper, mask=None):
    values = array if mask is None else array[mask]
    if values.size and (values.min() < 0 or values.max() >= upper):
        raise ValueError(
            f"`{name}` holds ids in [{values.min()}, {values.max()}]; accepted: [0, {upper})."
        )


def check_training_batch(batch, backbone):
    """Checks a dict batch of numpy arrays; returns it with a `padding_mask`."""
    if not isinstance(batch, dict) or "codes" not in batch:
        raise ValueError(
            "Training data must be dicts with 'codes' int [B, T, Q], 'padding_mask' "
            "bool [B, T] and (conditional models) 'conditioning' int [B, T/r]; "
            f"got {type(batch).__name__}"
            + (f" with keys {sorted(batch)}" if isinstance(batch, dict) else "")
            + "."
        )
    q, c = backbone.num_levels, backbone.codebook_size
    codes = _as_int_array("codes", batch["codes"], rank=(3,))
    b, t, levels = codes.shape
    if levels != q:
        raise ValueError(f"`codes` must have {q} levels (last axis); got shape {codes.shape}.")
    if b == 0:
        raise ValueError(f"`codes` holds no examples (shape {codes.shape}); nothing to train on.")
    _check_range("codes", codes, c)
    batch = dict(batch)
    if batch.get("padding_mask") is None:
        batch["padding_mask"] = np.ones((b, t), bool)
    padding_mask = np.asarray(batch["padding_mask"])
    if padding_mask.shape != (b, t):
        raise ValueError(
            f"`padding_mask` must have shape [B, T] = {(b, t)}; got {padding_mask.shape}."
        )
    if padding_mask.dtype != bool and not np.isin(padding_mask, (0, 1)).all():
        raise ValueError(
            "`padding_mask` must be bool, or numbers that are exactly 0 or 1 (1 = a real "
            f"frame); got dtype {padding_mask.dtype} with values such as "
            f"{padding_mask[~np.isin(padding_mask, (0, 1))].flat[0]!r}."
        )
    batch["padding_mask"] = padding_mask.astype("int32")  # see _tf_checked
    if backbone.is_conditional:
        if batch.get("conditioning") is None:
            raise ValueError("This model is conditional: batches need 'conditioning'.")
        conditioning = _as_int_array("conditioning", batch["conditioning"], rank=(2,))
        r = backbone.conditioning_rate_ratio
        if conditioning.shape != (b, t // r) or t % r:
            raise ValueError(
                f"`conditioning` must have shape [B, T / {r}] = [{b}, {t / r:g}] for codes "
                f"of {t} frames; got {conditioning.shape}."
            )
        _check_range("conditioning", conditioning, backbone.conditioning_vocabulary_size)
    return batch


def _tf_checked(batch, backbone):
    import tensorflow as tf

    q, c = backbone.num_levels, backbone.codebook_size
    codes = batch["codes"]
    checks = [
        tf.debugging.assert_rank(codes, 3, message="`codes` must have rank 3 [B, T, Q]"),
        tf.debugging.assert_equal(
            tf.shape(codes)[2], q, message=f"`codes` must have {q} levels (last axis)"
        ),
        tf.debugging.assert_non_negative(codes, message=f"`codes` ids must be in [0, {c})"),
        tf.debugging.assert_less(
            codes, tf.cast(c, codes.dtype), message=f"`codes` ids must be in [0, {c})"
        ),
    ]
    batch = dict(batch)
    if "padding_mask" not in batch:
        batch["padding_mask"] = tf.ones(tf.shape(codes)[:2], tf.bool)
    if batch["padding_mask"].dtype != tf.bool:
        padding_mask = batch["padding_mask"]
        zero_or_one = tf.logical_or(
            tf.equal(padding_mask, tf.zeros_like(padding_mask)),
            tf.equal(padding_mask, tf.ones_like(padding_mask)),
        )
        checks.append(
            tf.debugging.assert_equal(
                tf.reduce_all(zero_or_one),
                True,
                message="`padding_mask` must be bool, or numbers that are exactly 0 or 1",
            )
        )
    if backbone.is_conditional:
        if "conditioning" not in batch:
            raise ValueError("This model is conditional: batches need 'conditioning'.")
        conditioning = batch["conditioning"]
        r, v = backbone.conditioning_rate_ratio, backbone.conditioning_vocabulary_size
        checks += [
            tf.debugging.assert_equal(
                tf.shape(conditioning)[1] * r,
                tf.shape(codes)[1],
                message=f"`conditioning` length must be T / {r}",
            ),
            tf.debugging.assert_non_negative(
                conditioning, message=f"`conditioning` ids must be in [0, {v})"
            ),
            tf.debugging.assert_less(
                conditioning,
                tf.cast(v, conditioning.dtype),
                message=f"`conditioning` ids must be in [0, {v})",
            ),
        ]
    # int32, not bool: Keras' tf.distribute trainer averages a sample batch
    # across replicas before building, which fails on bool tensors. The model
    # casts it back.
    batch["padding_mask"] = tf.cast(batch["padding_mask"], "int32")
    with tf.control_dependencies(checks):
        return {key: tf.identity(value) for key, value in batch.items()}


def checked_training_data(x, backbone):
    """Wraps `fit`/`evaluate` data so that bad batches raise clear errors."""
    if isinstance(x, dict):
        return check_training_batch(x, backbone)
    if x is None or isinstance(x, (list, tuple)) or hasattr(x, "shape"):
        # Arrays and tensors (or a tuple of them): not the dict batches the
        # model takes. Rejected here, before Keras touches the model's state.
        check_training_batch(x, backbone)
    try:
        import tensorflow as tf
    except ImportError:
        return x
    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        if not isinstance(spec, dict) or "codes" not in spec:
            raise ValueError(
                "The dataset must yield dicts with 'codes', 'padding_mask' and (if "
                f"conditional) 'conditioning'; it yields {spec}."
            )
        for name in ("codes", "conditioning"):
            dtype = spec[name].dtype if name in spec else None
            if dtype is not None and not dtype.is_integer:
                raise ValueError(f"`{name}` must hold integers; the dataset yields {dtype.name}.")
        return x.map(lambda batch: _tf_checked(batch, backbone))
    return x


def shuffled_batches(arrays, batch_size, seed=None):
    """A `tf.data` pipeline of `arrays` (a dict), reshuffled every epoch."""
    import tensorflow as tf

    size = len(next(iter(arrays.values())))
    dataset = tf.data.Dataset.from_tensor_slices(arrays)
    dataset = dataset.shuffle(size, seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _per_example(name, value, batch_size, minimum, maximum=INT32_MAX):
    array = np.asarray(value)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"`{name}` must be an int or a [B] array of ints; got {value!r}.")
    array = np.broadcast_to(array, (batch_size,)) if array.ndim == 0 else array
    if array.shape != (batch_size,):
        raise ValueError(
            f"`{name}` must be an int or have shape [{batch_size}]; got {array.shape}."
        )
    if array.min() < minimum or array.max() > maximum:
        raise ValueError(f"`{name}` must be in [{minimum}, {maximum}]; got {array.tolist()}.")
    return array.astype("int32")


def prepare_generation_inputs(
    backbone, conditioning, prompt_codes, prompt_length, num_frames, bucket_frames
):
    """Checks `generate`'s arguments and builds the decode inputs.

    Returns:
        dict: `codes` int32 `[B, T_bucket, Q]` (MASK to generate), `conditioning`
        int32 `[B, T_bucket / r]`, `padding_mask` bool `[B, T_bucket]`,
        `num_frames` int32 `[B]` and `unbatched` (bool).
    """
    q, c, r = backbone.num_levels, backbone.codebook_size, backbone.conditioning_rate_ratio
    if bucket_frames is not None:
        bucket_frames = require_int("bucket_frames", bucket_frames, minimum=1)
    unbatched = False
    if backbone.is_conditional:
        if conditioning is None:
            raise ValueError("This model is conditional: `conditioning` is required.")
        conditioning = _as_int_array("conditioning", conditioning, rank=(1, 2))
        if conditioning.ndim == 1:
            conditioning, unbatched = conditioning[None], True
        if conditioning.shape[1] == 0:
            raise ValueError("`conditioning` is empty; it must have at least one token.")
        # A model trained for guidance also takes its null conditioning id (= V).
        upper = backbone.conditioning_vocabulary_size + int(backbone.supports_guidance)
        _check_range("conditioning", conditioning, upper)
    elif conditioning is not None:
        raise ValueError(
            "This model is unconditional (conditioning_vocabulary_size=0); pass "
            "`num_frames` and no `conditioning`."
        )
    if prompt_codes is not None:
        prompt_codes = _as_int_array("prompt_codes", prompt_codes, rank=(2, 3))
        if prompt_codes.ndim == 2:
            prompt_codes, unbatched = prompt_codes[None], True
        if prompt_codes.shape[2] != q:
            raise ValueError(
                f"`prompt_codes` must have {q} levels (last axis); got shape {prompt_codes.shape}."
            )
        _check_range("prompt_codes", prompt_codes, c)
    sizes = {
        name: array.shape[0]
        for name, array in [("conditioning", conditioning), ("prompt_codes", prompt_codes)]
        if array is not None
    }
    for name, value in [("num_frames", num_frames), ("prompt_length", prompt_length)]:
        if value is not None and np.ndim(value) == 1:
            sizes[name] = len(value)
    if len(set(sizes.values())) > 1:
        raise ValueError(f"Batch sizes disagree: {sizes}.")
    batch_size = next(iter(sizes.values()), 1)
    if batch_size == 0:
        raise ValueError(
            f"The batch holds 0 examples ({sizes}); `generate` needs a batch of at least one."
        )

    max_frames = None if conditioning is None else conditioning.shape[1] * r
    if num_frames is None:
        if max_frames is None:
            raise ValueError("An unconditional model needs `num_frames`.")
        num_frames = max_frames
    num_frames = _per_example("num_frames", num_frames, batch_size, 1, max_frames or INT32_MAX)
    prompt_frames = 0 if prompt_codes is None else prompt_codes.shape[1]
    if prompt_length is None:
        prompt_length = prompt_frames
    prompt_length = _per_example("prompt_length", prompt_length, batch_size, 0, prompt_frames)
    too_long = prompt_length > num_frames
    if too_long.any():
        raise ValueError(
            f"A prompt is longer than the output: prompt_length {prompt_length.tolist()} "
            f"> num_frames {num_frames.tolist()}."
        )

    if bucket_frames is None:
        bucket_frames = backend.default_bucket_frames(num_frames.max())
    granule = math.lcm(int(bucket_frames), r)
    total = int(math.ceil(num_frames.max() / granule) * granule)
    positions = np.arange(total)
    codes = np.full((batch_size, total, q), c, "int32")
    if prompt_codes is not None:
        shared = min(prompt_frames, total)
        in_prompt = positions[None, :shared] < prompt_length[:, None]
        codes[:, :shared] = np.where(in_prompt[:, :, None], prompt_codes[:, :shared], c)
    padded_conditioning = np.zeros((batch_size, total // r), "int32")
    if conditioning is not None:
        kept = min(conditioning.shape[1], total // r)
        padded_conditioning[:, :kept] = conditioning[:, :kept]
    return {
        "codes": codes,
        "conditioning": padded_conditioning,
        "padding_mask": positions[None, :] < num_frames[:, None],
        "num_frames": num_frames,
        "unbatched": unbatched,
    }


def served_input_checks(conditioning, prompt_codes, prompt_length, seed, r, v, c):
    """TF assert ops on the SavedModel's inputs: `prepare_generation_inputs`' rules.

    Each message names its input.

    `r`: conditioning rate ratio, `v`: conditioning ids accepted (the
    vocabulary size, plus one for a guided model's null id, as `generate`),
    `c`: codebook size (MASK id).
    """
    import tensorflow as tf

    batch = tf.shape(conditioning)[0]
    length = tf.shape(conditioning)[1]
    prompt_frames = tf.shape(prompt_codes)[1]
    assert_equal, assert_less = tf.debugging.assert_equal, tf.debugging.assert_less
    assert_non_negative = tf.debugging.assert_non_negative
    return [
        tf.debugging.assert_positive(
            batch, message="`conditioning` holds 0 examples; the batch needs at least one"
        ),
        tf.debugging.assert_positive(
            length, message="`conditioning` is empty; it needs at least one token per example"
        ),
        assert_non_negative(conditioning, message=f"`conditioning` ids must be in [0, {v})"),
        assert_less(conditioning, v, message=f"`conditioning` ids must be in [0, {v})"),
        assert_equal(
            tf.shape(prompt_codes)[0],
            batch,
            message="`prompt_codes` must have the batch size of `conditioning` (no broadcasting)",
        ),
        tf.debugging.assert_positive(
            prompt_frames,
            message="`prompt_codes` needs at least one frame (P >= 1; use prompt_length 0 "
            "for no prompt)",
        ),
        assert_non_negative(
            prompt_codes, message=f"`prompt_codes` ids must be real codes, in [0, {c})"
        ),
        assert_less(prompt_codes, c, message=f"`prompt_codes` ids must be real codes, in [0, {c})"),
        assert_equal(
            tf.shape(prompt_length)[0],
            batch,
            message="`prompt_length` must have the batch size of `conditioning` (no broadcasting)",
        ),
        assert_non_negative(prompt_length, message="`prompt_length` must be >= 0"),
        tf.debugging.assert_less_equal(
            prompt_length,
            tf.minimum(prompt_frames, length * r),
            message="`prompt_length` must be <= min(P, T): the prompt frames given and the "
            "output length",
        ),
        assert_non_negative(seed, message="`seed` must be in [0, 2**31 - 1]"),
    ]


def served_guidance_checks(guidance_scale):
    """TF assert ops on the served `guidance_scale`: finite and >= 0."""
    import tensorflow as tf

    message = "`guidance_scale` must be a finite number >= 0"
    return [
        tf.debugging.assert_all_finite(guidance_scale, message=message),
        tf.debugging.assert_non_negative(guidance_scale, message=message),
    ]
