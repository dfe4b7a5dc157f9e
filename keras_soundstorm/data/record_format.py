"""The token-records format: one `tf.train.Example` per utterance.

Schema (version 1), T frames, Q levels, conditioning rate ratio r (r codec
frames per conditioning token):

| feature        | type       | shape / value                                  |
|----------------|------------|------------------------------------------------|
| `codes`        | int64 list | `T * Q` values: codes `[T, Q]` flattened       |
|                |            | row-major (frame by frame), ids in `[0, C)`    |
| `num_frames`   | int64      | T (>= 1, a multiple of r)                      |
| `num_levels`   | int64      | Q                                              |
| `conditioning` | int64 list | `T / r` ids in `[0, V)`; empty if V = 0        |
| `utterance_id` | bytes      | UTF-8, unique within one write                 |
| `speaker`      | bytes      | UTF-8 speaker / voice name ("" if unknown)     |
| `text`         | bytes      | UTF-8 transcript ("" if unknown)               |
| `sample_rate`  | int64      | Hz of the audio the codes came from (0: unknown)|
| `frame_rate`   | float      | codec frames per second (0: unknown)           |

Shards are named `{prefix}-00000-of-0000N.tfrecord`; the sidecar
`{prefix}.json` is described in `record_metadata`.
"""

import re
from collections.abc import Mapping

import numpy as np

SCHEMA_VERSION = 1
FORMAT_NAME = "keras_soundstorm.token_records"
SHARD_NAME = re.compile(r"^(?P<prefix>.+)-(?P<index>\d{5})-of-(?P<total>\d{5})\.tfrecord$")
EXAMPLE_KEYS = (
    "utterance_id",
    "codes",
    "conditioning",
    "speaker",
    "text",
    "sample_rate",
    "frame_rate",
)
# The facts a model must share with its records (Q, C, V, r).
VOCABULARY_KEYS = (
    "num_levels",
    "codebook_size",
    "conditioning_vocabulary_size",
    "conditioning_rate_ratio",
)


def shard_path(path_prefix, index, num_shards):
    """The file name of shard `index` of `num_shards`."""
    return f"{path_prefix}-{index:05d}-of-{num_shards:05d}.tfrecord"


def require_int(name, value, minimum, maximum=None):
    """`value` as an int in `[minimum, maximum]`, else a ValueError naming `name`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        accepted = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"`{name}` must be an int {accepted}; got {value!r}.")
    return int(value)


def _int_ids(where, name, value, rank):
    try:
        array = np.asarray(value)
    except ValueError as error:
        raise ValueError(f"{where}: `{name}` is not a rectangular array: {error}") from None
    is_int = array.dtype != bool and np.issubdtype(array.dtype, np.integer)
    if array.size and not is_int:
        raise ValueError(f"{where}: `{name}` must hold integers; got dtype {array.dtype}.")
    if array.ndim != rank:
        raise ValueError(f"{where}: `{name}` must have rank {rank}; got shape {array.shape}.")
    return array.astype("int64")


def _check_ids(where, name, array, upper):
    if array.size and (array.min() < 0 or array.max() >= upper):
        bad = np.flatnonzero((array.reshape(-1) < 0) | (array.reshape(-1) >= upper))
        position = np.unravel_index(bad[0], array.shape)
        raise ValueError(
            f"{where}: `{name}` holds ids in [{array.min()}, {array.max()}] "
            f"(first bad id {array[position]} at index {tuple(int(i) for i in position)}); "
            f"accepted: [0, {upper})."
        )


def validated_example(index, example, config, seen_ids):
    """Checks one example; returns its feature values or raises ValueError."""
    where = f"Example #{index}"
    if not isinstance(example, Mapping):
        raise ValueError(
            f"{where}: examples must be dicts with keys {list(EXAMPLE_KEYS)}; "
            f"got {type(example).__name__}."
        )
    utterance_id = example.get("utterance_id")
    if not isinstance(utterance_id, str) or not utterance_id:
        raise ValueError(
            f"{where}: `utterance_id` must be a non-empty string; got {utterance_id!r}."
        )
    where = f"Example {utterance_id!r} (#{index})"
    unknown = sorted(set(example) - set(EXAMPLE_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; accepted: {list(EXAMPLE_KEYS)}.")
    if utterance_id in seen_ids:
        raise ValueError(f"{where}: duplicate `utterance_id`; ids must be unique.")

    q, c = config["num_levels"], config["codebook_size"]
    v, r = config["conditioning_vocabulary_size"], config["conditioning_rate_ratio"]
    if "codes" not in example:
        raise ValueError(f"{where}: missing `codes` (int [T, Q]).")
    codes = _int_ids(where, "codes", example["codes"], rank=2)
    num_frames = codes.shape[0]
    if codes.shape[1] != q:
        raise ValueError(
            f"{where}: `codes` must have shape [T, {q}] (num_levels={q}); got {codes.shape}."
        )
    if num_frames == 0:
        raise ValueError(f"{where}: `codes` has no frames (shape {codes.shape}).")
    if num_frames % r:
        raise ValueError(
            f"{where}: the number of frames T={num_frames} must be a multiple of "
            f"conditioning_rate_ratio={r} (trim the codes to {num_frames // r * r} "
            "frames or pad them)."
        )
    _check_ids(where, "codes", codes, c)

    conditioning = example.get("conditioning")
    if v:
        if conditioning is None:
            raise ValueError(
                f"{where}: missing `conditioning` (int [T / {r}]); this dataset is "
                f"conditional (conditioning_vocabulary_size={v})."
            )
        conditioning = _int_ids(where, "conditioning", conditioning, rank=1)
        if conditioning.shape[0] * r != num_frames:
            raise ValueError(
                f"{where}: `conditioning` must have T / r = {num_frames} / {r} = "
                f"{num_frames // r} tokens; got {conditioning.shape[0]}."
            )
        _check_ids(where, "conditioning", conditioning, v)
    else:
        if conditioning is not None and np.size(conditioning):
            raise ValueError(
                f"{where}: has `conditioning` but conditioning_vocabulary_size=0 "
                "(unconditional dataset); leave it out or set the vocabulary size."
            )
        conditioning = np.zeros((0,), "int64")

    strings = {}
    for key in ("speaker", "text"):
        value = example.get(key, "")
        if not isinstance(value, str):
            raise ValueError(f"{where}: `{key}` must be a string; got {value!r}.")
        strings[key] = value
    rates = {}
    for key, cast in (("sample_rate", int), ("frame_rate", float)):
        value = example.get(key, config[key])
        if value is None:
            value = 0
        is_number = isinstance(value, (int, float, np.integer, np.floating))
        if isinstance(value, bool) or not is_number or value < 0:
            raise ValueError(f"{where}: `{key}` must be a number >= 0; got {value!r}.")
        if key == "sample_rate" and int(value) != value:
            raise ValueError(f"{where}: `sample_rate` must be an integer; got {value!r}.")
        if config[key] is not None and value != config[key]:
            raise ValueError(
                f"{where}: `{key}` is {value} but the dataset's {key} is {config[key]}."
            )
        rates[key] = cast(value)
    seen_ids.add(utterance_id)
    return dict(
        utterance_id=utterance_id, codes=codes, conditioning=conditioning, **strings, **rates
    )


def serialize_example(values):
    import tensorflow as tf

    def ints(array):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=np.ravel(array)))

    def text(value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode("utf-8")]))

    codes = values["codes"]
    feature = {
        "codes": ints(codes),
        "num_frames": ints([codes.shape[0]]),
        "num_levels": ints([codes.shape[1]]),
        "conditioning": ints(values["conditioning"]),
        "utterance_id": text(values["utterance_id"]),
        "speaker": text(values["speaker"]),
        "text": text(values["text"]),
        "sample_rate": ints([values["sample_rate"]]),
        "frame_rate": tf.train.Feature(float_list=tf.train.FloatList(value=[values["frame_rate"]])),
    }
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString()


__all__ = [
    "EXAMPLE_KEYS",
    "FORMAT_NAME",
    "SCHEMA_VERSION",
    "SHARD_NAME",
    "VOCABULARY_KEYS",
    "require_int",
    "serialize_example",
    "shard_path",
    "validated_example",
]
