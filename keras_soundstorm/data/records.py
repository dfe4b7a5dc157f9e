"""Token datasets: sharded TFRecords of codec codes + conditioning, and the
`tf.data` pipeline that feeds `SoundStorm.fit`.

`write_token_records(prefix, examples, ...)` writes
`{prefix}-00000-of-0000N.tfrecord` ... and a sidecar `{prefix}.json`;
`token_dataset(prefix_or_pattern, batch_size, max_frames, ...)` reads them
back as batches `{"codes", "conditioning", "padding_mask"}`. The pipeline is
plain `tf.data`, so it works whatever `KERAS_BACKEND` is (Keras' `fit` on JAX
and PyTorch consumes `tf.data` datasets).

Schema (version 1), one `tf.train.Example` per utterance (T frames, Q levels,
conditioning rate ratio r, i.e. r codec frames per conditioning token):

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

The sidecar `{prefix}.json` holds `format` (`"keras_soundstorm.token_records"`),
`schema_version`, `num_levels` (Q), `codebook_size` (C),
`conditioning_vocabulary_size` (V, 0 = unconditional),
`conditioning_rate_ratio` (r), `sample_rate` and `frame_rate` (or null),
`num_examples`, `num_frames` and `shards` (file name, examples and frames of
each shard). It is written last: shards without it are an incomplete write.

Batches of `token_dataset`:

| key            | dtype  | shape       | value                                  |
|----------------|--------|-------------|----------------------------------------|
| `codes`        | int32  | `[B, L, Q]` | crop of the codes, 0 on padded frames  |
| `conditioning` | int32  | `[B, L/r]`  | the aligned conditioning, 0 on padding |
|                |        |             | (absent if V = 0)                      |
| `padding_mask` | bool   | `[B, L]`    | True on real frames                    |

`L` is `max_frames`, or with `bucket_boundaries` the bucket's boundary; it is
always a multiple of r. With `include_metadata=True` the batches also hold
`utterance_id`, `speaker`, `text` (string `[B]`), `sample_rate` int32 `[B]`,
`frame_rate` float32 `[B]`, `num_frames` int32 `[B]` (length before
cropping) and `crop_start` int32 `[B]` (first frame kept).
"""

import json
import os
import random
import re
import uuid
from collections.abc import Mapping

import numpy as np
from tqdm.auto import tqdm

SCHEMA_VERSION = 1
FORMAT_NAME = "keras_soundstorm.token_records"
_SHARD_NAME = re.compile(r"^(?P<prefix>.+)-(?P<index>\d{5})-of-(?P<total>\d{5})\.tfrecord$")
_EXAMPLE_KEYS = (
    "utterance_id",
    "codes",
    "conditioning",
    "speaker",
    "text",
    "sample_rate",
    "frame_rate",
)
_VOCABULARY_KEYS = (
    "num_levels",
    "codebook_size",
    "conditioning_vocabulary_size",
    "conditioning_rate_ratio",
)


def shard_path(path_prefix, index, num_shards):
    """The file name of shard `index` of `num_shards`."""
    return f"{path_prefix}-{index:05d}-of-{num_shards:05d}.tfrecord"


def _require_int(name, value, minimum, maximum=None):
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        accepted = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"`{name}` must be an int {accepted}; got {value!r}.")
    return int(value)


# --- Writing ------------------------------------------------------------------


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


def _validated_example(index, example, config, seen_ids):
    """Checks one example; returns its feature values or raises ValueError."""
    where = f"Example #{index}"
    if not isinstance(example, Mapping):
        raise ValueError(
            f"{where}: examples must be dicts with keys {list(_EXAMPLE_KEYS)}; "
            f"got {type(example).__name__}."
        )
    utterance_id = example.get("utterance_id")
    if not isinstance(utterance_id, str) or not utterance_id:
        raise ValueError(
            f"{where}: `utterance_id` must be a non-empty string; got {utterance_id!r}."
        )
    where = f"Example {utterance_id!r} (#{index})"
    unknown = sorted(set(example) - set(_EXAMPLE_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; accepted: {list(_EXAMPLE_KEYS)}.")
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


def _serialize(values):
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


def _existing_outputs(path_prefix):
    import tensorflow as tf

    pattern = f"{path_prefix}-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9].tfrecord"
    shards = tf.io.gfile.glob(pattern)
    sidecar = f"{path_prefix}.json"
    return shards + ([sidecar] if tf.io.gfile.exists(sidecar) else [])


def _temporary_name(final_path, token):
    directory, name = os.path.split(final_path)
    # A leading dot keeps half-written files out of `{prefix}-*` globs.
    return os.path.join(directory, f".{name}.tmp-{token}")


def write_token_records(
    path_prefix,
    examples,
    *,
    codebook_size,
    num_levels,
    conditioning_vocabulary_size,
    conditioning_rate_ratio,
    num_shards=4,
    sample_rate=None,
    frame_rate=None,
    overwrite=False,
    progress=True,
):
    """Writes utterances as sharded TFRecords plus a `{path_prefix}.json` sidecar.

    Example `i` goes to shard `i % num_shards`. Every example is validated
    before it is written; on any error (bad example, interrupted iterator,
    full disk) the temporary shards are deleted and no file with a final name
    is created. Shards are renamed into place only once all are complete, and
    the sidecar (which readers require) is written last.

    Args:
        path_prefix: output prefix, e.g. `"data/train"` ->
            `data/train-00000-of-00004.tfrecord`, ..., `data/train.json`.
            Any `tf.io.gfile` path (local, `gs://`, ...).
        examples: iterable of dicts, one per utterance:
            `"utterance_id"` (str, unique, required), `"codes"` (int `[T, Q]`,
            ids in `[0, codebook_size)`, required), `"conditioning"` (int
            `[T / r]`, ids in `[0, conditioning_vocabulary_size)`; required
            unless the vocabulary size is 0), and optional `"speaker"`,
            `"text"` (str), `"sample_rate"` (int Hz), `"frame_rate"` (float).
            `T` must be >= 1 and a multiple of `r`: conditioning token `k`
            covers frames `[k * r, (k + 1) * r)`.
        codebook_size: C, codes per RVQ level.
        num_levels: Q, RVQ levels.
        conditioning_vocabulary_size: V, conditioning ids; 0 = unconditional.
        conditioning_rate_ratio: r, codec frames per conditioning token.
        num_shards: number of files; more files shard better across hosts.
        sample_rate, frame_rate: the dataset's audio sample rate and codec frame
            rate, stored in the sidecar and used for examples that omit them;
            an example that disagrees is rejected. None: unknown / per example.
        overwrite: replace the records of an earlier write with this prefix.
            If False, existing files with this prefix raise a ValueError.
        progress: show a tqdm progress bar.

    Returns:
        The sidecar dict (also written to `{path_prefix}.json`).
    """
    import tensorflow as tf

    path_prefix = os.fspath(path_prefix)
    config = dict(
        num_levels=_require_int("num_levels", num_levels, 1),
        codebook_size=_require_int("codebook_size", codebook_size, 2),
        conditioning_vocabulary_size=_require_int(
            "conditioning_vocabulary_size", conditioning_vocabulary_size, 0
        ),
        conditioning_rate_ratio=_require_int("conditioning_rate_ratio", conditioning_rate_ratio, 1),
        sample_rate=None if sample_rate is None else _require_int("sample_rate", sample_rate, 1),
        frame_rate=None,
    )
    if frame_rate is not None:
        if (
            isinstance(frame_rate, bool)
            or not isinstance(frame_rate, (int, float))
            or frame_rate <= 0
        ):
            raise ValueError(f"`frame_rate` must be a number > 0 or None; got {frame_rate!r}.")
        config["frame_rate"] = float(frame_rate)
    num_shards = _require_int("num_shards", num_shards, 1, 99999)
    existing = _existing_outputs(path_prefix)
    if existing and not overwrite:
        raise ValueError(
            f"Token records with prefix {path_prefix!r} already exist ({existing[0]}, ...); "
            "pass overwrite=True to replace them or choose another prefix."
        )
    directory = os.path.dirname(path_prefix)
    if directory:
        tf.io.gfile.makedirs(directory)

    token = uuid.uuid4().hex[:12]
    final_paths = [shard_path(path_prefix, i, num_shards) for i in range(num_shards)]
    temporary_paths = [_temporary_name(path, token) for path in final_paths]
    sidecar_path = f"{path_prefix}.json"
    temporary_sidecar = _temporary_name(sidecar_path, token)
    shard_examples = [0] * num_shards
    shard_frames = [0] * num_shards
    writers = []
    try:
        writers = [tf.io.TFRecordWriter(path) for path in temporary_paths]
        total = len(examples) if hasattr(examples, "__len__") else None
        seen_ids = set()
        description = f"Writing {os.path.basename(path_prefix)}"
        with tqdm(examples, total=total, disable=not progress, unit="utt", desc=description) as bar:
            for index, example in enumerate(bar):
                values = _validated_example(index, example, config, seen_ids)
                shard = index % num_shards
                writers[shard].write(_serialize(values))
                shard_examples[shard] += 1
                shard_frames[shard] += values["codes"].shape[0]
        if not seen_ids:
            raise ValueError(f"`examples` is empty: nothing to write to {path_prefix!r}.")
        for writer in writers:
            writer.close()
        metadata = {
            "format": FORMAT_NAME,
            "schema_version": SCHEMA_VERSION,
            **config,
            "num_examples": sum(shard_examples),
            "num_frames": sum(shard_frames),
            "shards": [
                {"file": os.path.basename(path), "num_examples": n, "num_frames": f}
                for path, n, f in zip(final_paths, shard_examples, shard_frames)
            ],
        }
        with tf.io.gfile.GFile(temporary_sidecar, "w") as file:
            file.write(json.dumps(metadata, indent=2) + "\n")
        # Renames come last: until here no final name exists (or the previous
        # write is untouched). The sidecar goes last, marking completeness.
        if tf.io.gfile.exists(sidecar_path):
            tf.io.gfile.remove(sidecar_path)
        for temporary, final in zip(temporary_paths, final_paths):
            tf.io.gfile.rename(temporary, final, overwrite=True)
        for stale in set(existing) - set(final_paths) - {sidecar_path}:
            tf.io.gfile.remove(stale)
        tf.io.gfile.rename(temporary_sidecar, sidecar_path, overwrite=True)
    except BaseException:
        for writer in writers:
            writer.close()
        for path in temporary_paths + [temporary_sidecar]:
            if tf.io.gfile.exists(path):
                tf.io.gfile.remove(path)
        raise
    return metadata


# --- Reading ------------------------------------------------------------------


def _read_sidecar(path):
    import tensorflow as tf

    if not tf.io.gfile.exists(path):
        raise ValueError(
            f"Missing sidecar {path!r}: token records are readable only with the "
            "`{prefix}.json` that `write_token_records` writes last (without it "
            "the write did not complete)."
        )
    with tf.io.gfile.GFile(path) as file:
        try:
            metadata = json.load(file)
        except json.JSONDecodeError as error:
            raise ValueError(f"Sidecar {path!r} is not valid JSON: {error}.") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        raise ValueError(f"{path!r} is not a token-records sidecar (format {FORMAT_NAME!r}).")
    version = metadata.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"Sidecar {path!r} has schema_version {version!r}; this keras_soundstorm "
            f"reads schema_version {SCHEMA_VERSION}."
        )
    missing = [key for key in _VOCABULARY_KEYS if key not in metadata]
    if missing:
        raise ValueError(f"Sidecar {path!r} lacks {missing}.")
    return metadata


def _resolve_files(file_pattern):
    """Returns (sorted shard paths, {sidecar path: metadata})."""
    import tensorflow as tf

    patterns = [file_pattern] if isinstance(file_pattern, (str, os.PathLike)) else file_pattern
    files, sidecars = [], {}
    for pattern in patterns:
        pattern = os.fspath(pattern)
        if tf.io.gfile.exists(f"{pattern}.json") and not tf.io.gfile.isdir(pattern):
            # A prefix: the sidecar lists the shards.
            sidecar = f"{pattern}.json"
            metadata = sidecars.setdefault(sidecar, _read_sidecar(sidecar))
            directory = os.path.dirname(pattern)
            matched = [os.path.join(directory, shard["file"]) for shard in metadata["shards"]]
            absent = [path for path in matched if not tf.io.gfile.exists(path)]
            if absent:
                raise ValueError(f"Sidecar {sidecar!r} lists missing shards: {absent}.")
        else:
            matched = tf.io.gfile.glob(pattern)
            if not matched:
                raise ValueError(
                    f"No token records match {pattern!r}; pass a prefix given to "
                    "`write_token_records` (e.g. 'data/train') or a glob of its "
                    "shards (e.g. 'data/train-*.tfrecord')."
                )
        for path in matched:
            name = _SHARD_NAME.match(path)
            if name is None:
                raise ValueError(
                    f"{path!r} is not named like a token-records shard "
                    "('{prefix}-00000-of-00004.tfrecord')."
                )
            sidecar = f"{name['prefix']}.json"
            if sidecar not in sidecars:
                sidecars[sidecar] = _read_sidecar(sidecar)
        files.extend(matched)
    return sorted(set(files)), sidecars


def read_token_metadata(file_pattern):
    """The sidecar of the records matched by `file_pattern`.

    Args:
        file_pattern: a prefix passed to `write_token_records`, a glob of
            shards, or a list of those. All matched records must share Q, C,
            V and r.

    Returns:
        The sidecar dict (of the first sidecar; `num_examples` / `num_frames`
        summed over all of them, `shards` concatenated).
    """
    _, sidecars = _resolve_files(file_pattern)
    return _merged_metadata(sidecars)


def _merged_metadata(sidecars):
    (first_path, first), *others = sidecars.items()
    merged = dict(first)
    for path, metadata in others:
        for key in _VOCABULARY_KEYS:
            if metadata[key] != first[key]:
                raise ValueError(
                    f"Incompatible token records: {key} is {first[key]} in "
                    f"{first_path!r} but {metadata[key]} in {path!r}."
                )
        merged["num_examples"] += metadata["num_examples"]
        merged["num_frames"] += metadata["num_frames"]
        merged["shards"] = merged["shards"] + metadata["shards"]
    return merged


def _parse_and_crop(
    serialized, seed, *, num_levels, rate, max_frames, crop, conditional, include_metadata
):
    import tensorflow as tf

    int_list = tf.io.FixedLenSequenceFeature([], tf.int64, allow_missing=True)
    features = tf.io.parse_single_example(
        serialized,
        {
            "codes": int_list,
            "conditioning": int_list,
            "num_frames": tf.io.FixedLenFeature([], tf.int64),
            "num_levels": tf.io.FixedLenFeature([], tf.int64),
            "utterance_id": tf.io.FixedLenFeature([], tf.string, default_value=""),
            "speaker": tf.io.FixedLenFeature([], tf.string, default_value=""),
            "text": tf.io.FixedLenFeature([], tf.string, default_value=""),
            "sample_rate": tf.io.FixedLenFeature([], tf.int64, default_value=0),
            "frame_rate": tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
        },
    )
    num_frames = tf.cast(features["num_frames"], tf.int32)
    utterance = features["utterance_id"]
    checks = [
        tf.debugging.assert_equal(
            features["num_levels"],
            tf.constant(num_levels, tf.int64),
            message=f"token record has a num_levels other than the sidecar's {num_levels}",
        ),
        tf.debugging.assert_equal(
            tf.size(features["codes"]),
            num_frames * num_levels,
            message="token record: `codes` size != num_frames * num_levels",
        ),
        tf.debugging.assert_equal(
            num_frames % rate,
            0,
            message=f"token record: num_frames is not a multiple of r={rate}",
        ),
    ]
    if conditional:
        checks.append(
            tf.debugging.assert_equal(
                tf.size(features["conditioning"]) * rate,
                num_frames,
                message=f"token record: `conditioning` length != num_frames / {rate}",
            )
        )
    with tf.control_dependencies(checks):
        codes = tf.reshape(tf.cast(features["codes"], tf.int32), [-1, num_levels])

    length = tf.minimum(num_frames, max_frames)
    if crop == "random":
        num_starts = (num_frames - length) // rate + 1
        start = rate * tf.random.stateless_uniform(
            [], seed=seed, minval=0, maxval=num_starts, dtype=tf.int32
        )
    else:
        start = tf.constant(0, tf.int32)
    outputs = {
        "codes": codes[start : start + length],
        "padding_mask": tf.ones([length], tf.bool),
    }
    if conditional:
        conditioning = tf.cast(features["conditioning"], tf.int32)
        outputs["conditioning"] = conditioning[start // rate : (start + length) // rate]
    if include_metadata:
        outputs.update(
            utterance_id=utterance,
            speaker=features["speaker"],
            text=features["text"],
            sample_rate=tf.cast(features["sample_rate"], tf.int32),
            frame_rate=features["frame_rate"],
            num_frames=num_frames,
            crop_start=start,
        )
    return outputs


def _padded_shapes(element_spec, frames, num_levels, rate):
    import tensorflow as tf

    shapes = {}
    for key in element_spec:
        if key == "codes":
            shapes[key] = tf.stack([frames, tf.constant(num_levels, tf.int64)])
        elif key == "padding_mask":
            shapes[key] = tf.reshape(frames, [1])
        elif key == "conditioning":
            shapes[key] = tf.reshape(frames // rate, [1])
        else:
            shapes[key] = tf.constant([], tf.int64)
    return shapes


def token_dataset(
    file_pattern,
    batch_size,
    max_frames,
    shuffle=True,
    seed=None,
    crop="random",
    bucket_boundaries=None,
    num_shards=None,
    shard_index=None,
    input_context=None,
    repeat=False,
    drop_remainder=False,
    conditioning_rate_ratio=None,
    num_levels=None,
    codebook_size=None,
    conditioning_vocabulary_size=None,
    shuffle_buffer_size=1024,
    include_metadata=False,
):
    """A `tf.data` pipeline of token batches for `SoundStorm.fit`.

    Reads the records' sidecar(s) for Q and r (and to check that all records
    agree), crops each utterance to at most `max_frames` frames starting at a
    multiple of r (so the conditioning stays aligned), pads it, and batches.

    Args:
        file_pattern: a prefix given to `write_token_records` (`"data/train"`),
            a glob of shards (`"data/train-*.tfrecord"`) or a list of those.
        batch_size: examples per batch (per pipeline: with `input_context`,
            pass `input_context.get_per_replica_batch_size(global_batch)`).
        max_frames: frames per crop, a multiple of r. Longer utterances are
            cropped, shorter ones padded (`padding_mask` False, codes and
            conditioning 0).
        shuffle: shuffle files (each epoch) and examples (buffer of
            `shuffle_buffer_size` records).
        seed: int for deterministic shuffles and crops; None: random.
        crop: `"random"` (a random start, a multiple of r, new every epoch) or
            `"start"` (the first `max_frames` frames).
        bucket_boundaries: None: every batch is padded to `max_frames` (one
            static shape). Else a list of frame counts, multiples of r and
            <= `max_frames`: each crop is batched with crops of its bucket and
            padded to the smallest boundary >= its length (`max_frames` is
            always the last boundary), so padded lengths are only these values.
        num_shards, shard_index: read only part `shard_index` of `num_shards`
            (multi-host input). Whole files when there are at least
            `num_shards` files, else every `num_shards`-th example (then files
            are read in a fixed order so that the parts stay disjoint).
        input_context: a `tf.distribute.InputContext`; same as
            `num_shards=input_pipelines, shard_index=input_pipeline_id`.
        repeat: repeat forever (pass `steps_per_epoch` to `fit`).
        drop_remainder: drop the last incomplete batch (of each bucket).
        conditioning_rate_ratio, num_levels, codebook_size,
        conditioning_vocabulary_size: if given, must equal the records' values
            (e.g. the model's), else a ValueError explains the mismatch.
        shuffle_buffer_size: records held by the example shuffle.
        include_metadata: add `utterance_id`, `speaker`, `text`,
            `sample_rate`, `frame_rate`, `num_frames` and `crop_start` to each
            batch (not for `fit`: Keras would treat them as inputs).

    Returns:
        A `tf.data.Dataset` of dicts: `"codes"` int32 `[B, L, Q]`,
        `"conditioning"` int32 `[B, L / r]` (omitted when the records are
        unconditional) and `"padding_mask"` bool `[B, L]`; see the module
        docstring for the schema.
    """
    import tensorflow as tf

    batch_size = _require_int("batch_size", batch_size, 1)
    if crop not in ("random", "start"):
        raise ValueError(f"`crop` must be 'random' or 'start'; got {crop!r}.")
    if seed is not None:
        seed = _require_int("seed", seed, 0)
    shuffle_buffer_size = _require_int("shuffle_buffer_size", shuffle_buffer_size, 1)
    if input_context is not None:
        if num_shards is not None or shard_index is not None:
            raise ValueError("Pass either `input_context` or `num_shards`/`shard_index`, not both.")
        num_shards = input_context.num_input_pipelines
        shard_index = input_context.input_pipeline_id
    if (num_shards is None) != (shard_index is None):
        raise ValueError("`num_shards` and `shard_index` go together; got only one of them.")
    if num_shards is not None:
        num_shards = _require_int("num_shards", num_shards, 1)
        shard_index = _require_int("shard_index", shard_index, 0, num_shards - 1)

    files, sidecars = _resolve_files(file_pattern)
    metadata = _merged_metadata(sidecars)
    expected = dict(
        conditioning_rate_ratio=conditioning_rate_ratio,
        num_levels=num_levels,
        codebook_size=codebook_size,
        conditioning_vocabulary_size=conditioning_vocabulary_size,
    )
    for key, value in expected.items():
        if value is not None and value != metadata[key]:
            raise ValueError(
                f"The token records have {key}={metadata[key]} (sidecars "
                f"{sorted(sidecars)}) but {key}={value} was requested."
            )
    q, rate = metadata["num_levels"], metadata["conditioning_rate_ratio"]
    conditional = metadata["conditioning_vocabulary_size"] > 0
    max_frames = _require_int("max_frames", max_frames, rate)
    if max_frames % rate:
        raise ValueError(
            f"`max_frames` ({max_frames}) must be a multiple of the records' "
            f"conditioning_rate_ratio r={rate}."
        )
    boundaries = None
    if bucket_boundaries is not None:
        boundaries = sorted({_require_int("bucket boundary", b, rate) for b in bucket_boundaries})
        bad = [b for b in boundaries if b % rate or b > max_frames]
        if bad:
            raise ValueError(
                f"`bucket_boundaries` must be multiples of r={rate} and <= max_frames="
                f"{max_frames}; got {bad}."
            )
        if boundaries[-1] != max_frames:
            boundaries.append(max_frames)

    def derived_seed(offset):
        return None if seed is None else seed + offset

    # --- Files and host sharding ---
    by_element = False
    if num_shards is not None and num_shards > 1:
        if len(files) >= num_shards:
            files = files[shard_index::num_shards]
        else:
            by_element = True
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if shuffle and not by_element:
        dataset = dataset.shuffle(len(files), seed=derived_seed(0), reshuffle_each_iteration=True)
    dataset = dataset.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(len(files), 16),
        block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if by_element:
        dataset = dataset.shard(num_shards, shard_index)

    # --- Examples ---
    if shuffle:
        dataset = dataset.shuffle(
            shuffle_buffer_size, seed=derived_seed(1), reshuffle_each_iteration=True
        )
    if repeat:
        dataset = dataset.repeat()
    crop_seed = seed + 2 if seed is not None else random.SystemRandom().randrange(2**31 - 1)
    dataset = dataset.enumerate()
    dataset = dataset.map(
        lambda index, serialized: _parse_and_crop(
            serialized,
            tf.stack([tf.constant(crop_seed, tf.int64), index]),
            num_levels=q,
            rate=rate,
            max_frames=max_frames,
            crop=crop,
            conditional=conditional,
            include_metadata=include_metadata,
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )

    # --- Batches ---
    spec = dataset.element_spec
    if boundaries is None:
        dataset = dataset.padded_batch(
            batch_size,
            padded_shapes=_padded_shapes(spec, tf.constant(max_frames, tf.int64), q, rate),
            drop_remainder=drop_remainder,
        )
    else:
        bounds = tf.constant(boundaries, tf.int64)

        def bucket_of(example):
            length = tf.cast(tf.shape(example["padding_mask"])[0], tf.int64)
            return tf.reduce_sum(tf.cast(length > bounds, tf.int64))

        def batch_bucket(bucket, window):
            frames = tf.gather(bounds, bucket)
            return window.padded_batch(
                batch_size,
                padded_shapes=_padded_shapes(spec, frames, q, rate),
                drop_remainder=drop_remainder,
            )

        dataset = dataset.group_by_window(bucket_of, batch_bucket, window_size=batch_size)

    options = tf.data.Options()
    options.deterministic = True
    if num_shards is not None:
        # Already sharded here: a tf.distribute strategy must not shard again.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    dataset = dataset.with_options(options)
    return dataset.prefetch(tf.data.AUTOTUNE)


__all__ = [
    "FORMAT_NAME",
    "SCHEMA_VERSION",
    "read_token_metadata",
    "shard_path",
    "token_dataset",
    "write_token_records",
]
