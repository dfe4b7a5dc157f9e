"""What `TextToSemantic` takes: `fit` / `evaluate` batches and the SavedModel's inputs.

Training batches are dicts of `text_ids` and `semantic` (int `[B, T]`, each row
padded at its end) plus, for each of the two, its padding as a bool mask
(`text_padding_mask`, `semantic_padding_mask`, True on real positions) or as
per-row lengths (`text_lengths`, `semantic_lengths`, int `[B]`), or neither:
then every position is real. `training_batch` turns any of these into the
four tensors the model runs on (`INPUT_KEYS`).
"""

import numpy as np

# What the model runs on (the backbone's inputs).
INPUT_KEYS = ("text_ids", "text_padding_mask", "semantic", "semantic_padding_mask")
# Per sequence: its ids, then the two ways of giving its padding (at most one).
SEQUENCES = (
    ("text_ids", "text_padding_mask", "text_lengths"),
    ("semantic", "semantic_padding_mask", "semantic_lengths"),
)
ACCEPTED_KEYS = tuple(key for sequence in SEQUENCES for key in sequence)


def accepted_keys_message():
    return (
        "a batch is a dict with 'text_ids' and 'semantic' (int [B, T]) and, for each, "
        "optionally its padding as a bool mask ('text_padding_mask', "
        "'semantic_padding_mask') or as lengths ('text_lengths', 'semantic_lengths', "
        f"int [B]) (neither: every position is real); accepted keys: {list(ACCEPTED_KEYS)}"
    )


def check_keys(keys):
    """Raises ValueError unless `keys` form a training batch (see the module)."""
    keys = set(keys)
    unknown = sorted(keys - set(ACCEPTED_KEYS))
    missing = [ids for ids, _, _ in SEQUENCES if ids not in keys]
    if unknown or missing:
        problem = f"unknown keys {unknown}" if unknown else f"no {missing}"
        if unknown and missing:
            problem += f" and no {missing}"
        raise ValueError(f"Training data has {problem}; {accepted_keys_message()}.")
    for ids, mask, lengths in SEQUENCES:
        if mask in keys and lengths in keys:
            raise ValueError(
                f"Training data gives both '{mask}' and '{lengths}'; give the padding of "
                f"'{ids}' one way."
            )


def training_data(x, backbone):
    """`fit` / `evaluate` data -> the same data with batches of `INPUT_KEYS`.

    A dict of arrays is checked (keys, shapes, id ranges, lengths) and
    completed here; a `tf.data.Dataset` of dicts has its keys checked and is
    mapped; anything else is passed on (it must then yield the four keys).
    """
    if isinstance(x, dict):
        return _completed_arrays(x, backbone)
    if x is None or isinstance(x, (list, tuple)) or hasattr(x, "shape"):
        raise ValueError(
            f"TextToSemantic trains on dict batches (no labels); got {type(x).__name__}: "
            f"{accepted_keys_message()}."
        )
    try:
        import tensorflow as tf
    except ImportError:
        return x
    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        if not isinstance(spec, dict):
            raise ValueError(f"The dataset yields {spec}; {accepted_keys_message()}.")
        check_keys(spec)
        return x.map(_completed_tensors)
    return x


def _completed_arrays(batch, backbone):
    check_keys(batch)
    completed = {}
    rows = None
    for (ids, mask, lengths), high in zip(
        SEQUENCES, (backbone.text_vocabulary_size, backbone.codebook_size + 1)
    ):
        values = np.asarray(batch[ids])
        if values.ndim != 2 or not np.issubdtype(values.dtype, np.integer):
            raise ValueError(
                f"`{ids}` must be an int array [B, T]; got shape {values.shape} of {values.dtype}."
            )
        if values.size and (values.min() < 0 or values.max() >= high):
            raise ValueError(f"`{ids}` must hold ids in [0, {high - 1}].")
        if rows is None:
            rows = values.shape[0]
        elif values.shape[0] != rows:
            raise ValueError(f"`{ids}` has {values.shape[0]} rows but `text_ids` has {rows}.")
        width = values.shape[1]
        if mask in batch:
            padding = np.asarray(batch[mask])
            if padding.shape != values.shape:
                raise ValueError(
                    f"`{ids}` and `{mask}` must both be [B, T]; got {values.shape} and "
                    f"{padding.shape}."
                )
        elif lengths in batch:
            given = np.asarray(batch[lengths])
            if given.shape != (rows,) or not np.issubdtype(given.dtype, np.integer):
                raise ValueError(
                    f"`{lengths}` must be one int per row of `{ids}` ([{rows}]); got shape "
                    f"{given.shape} of {given.dtype}."
                )
            if given.size and (given.min() < 1 or given.max() > width):
                raise ValueError(
                    f"`{lengths}` must be in [1, {width}] (the width of `{ids}`); got values "
                    f"in [{given.min()}, {given.max()}]."
                )
            padding = np.arange(width)[None] < given[:, None]
        else:
            padding = np.ones(values.shape, bool)
        completed[ids], completed[mask] = values, padding
    return {key: completed[key] for key in INPUT_KEYS}


def _completed_tensors(batch):
    """A dataset batch with its masks made from lengths, or all True (TF ops)."""
    import tensorflow as tf

    completed = {}
    for ids, mask, lengths in SEQUENCES:
        values = batch[ids]
        completed[ids] = values
        if mask in batch:
            completed[mask] = batch[mask]
        elif lengths in batch:
            width = tf.shape(values)[1]
            given = tf.cast(batch[lengths], tf.int32)
            in_range = tf.debugging.assert_equal(
                tf.reduce_all((given >= 1) & (given <= width)),
                True,
                message=f"`{lengths}` must be in [1, the width of `{ids}`]",
            )
            with tf.control_dependencies([in_range]):
                completed[mask] = tf.sequence_mask(given, width)
        else:
            completed[mask] = tf.ones(tf.shape(values), tf.bool)
    return {key: completed[key] for key in INPUT_KEYS}


def served_input_checks(text_ids, text_lengths, prompt_semantic, prompt_lengths, seed, v, c):
    """TF assert ops on the SavedModel's inputs (`generate`'s rules), in two groups.

    The first group checks shapes, batch sizes, lengths and the seed; the
    second, the ids of the real positions, and runs after the first (the
    masks it builds need the lengths checked). Each message names its input.
    `v`: text ids accepted, `c`: codebook size (real semantic ids).
    """
    import tensorflow as tf

    batch, width = tf.shape(text_ids)[0], tf.shape(text_ids)[1]
    frames = tf.shape(prompt_semantic)[1]

    def same_batch(name, tensor):
        return tf.debugging.assert_equal(
            tf.shape(tensor)[0],
            batch,
            message=f"`{name}` must have the batch size of `text_ids` (no broadcasting)",
        )

    shapes = [
        tf.debugging.assert_positive(
            batch, message="`text_ids` holds 0 examples; the batch needs at least one"
        ),
        tf.debugging.assert_positive(
            width, message="`text_ids` is empty; it needs at least one id per example"
        ),
        same_batch("text_lengths", text_lengths),
        same_batch("prompt_semantic", prompt_semantic),
        same_batch("prompt_lengths", prompt_lengths),
        tf.debugging.assert_positive(
            frames,
            message="`prompt_semantic` needs at least one token (P >= 1; use prompt_lengths 0 "
            "for no prompt)",
        ),
        tf.debugging.assert_positive(text_lengths, message="`text_lengths` must be >= 1"),
        tf.debugging.assert_less_equal(
            text_lengths, width, message="`text_lengths` must be <= the width of `text_ids`"
        ),
        tf.debugging.assert_non_negative(prompt_lengths, message="`prompt_lengths` must be >= 0"),
        tf.debugging.assert_less_equal(
            prompt_lengths,
            frames,
            message="`prompt_lengths` must be <= the width of `prompt_semantic`",
        ),
        tf.debugging.assert_non_negative(seed, message="`seed` must be in [0, 2**31 - 1]"),
    ]
    with tf.control_dependencies(shapes):
        real_text = tf.where(tf.sequence_mask(text_lengths, width), text_ids, 0)
        real_prompt = tf.where(tf.sequence_mask(prompt_lengths, frames), prompt_semantic, 0)
        text_message = f"`text_ids` must hold ids in [0, {v - 1}] (on its real positions)"
        prompt_message = f"`prompt_semantic` must hold ids in [0, {c - 1}] (on its real positions)"
        ids = [
            tf.debugging.assert_non_negative(real_text, message=text_message),
            tf.debugging.assert_less(real_text, v, message=text_message),
            tf.debugging.assert_non_negative(real_prompt, message=prompt_message),
            tf.debugging.assert_less(real_prompt, c, message=prompt_message),
        ]
    return shapes + ids
