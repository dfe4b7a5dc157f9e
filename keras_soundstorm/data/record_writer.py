"""`write_token_records`: validated examples into sharded TFRecords, atomically.

Shards are written under temporary names and renamed into place only once all
are complete; the sidecar `{prefix}.json`, which readers require, goes last.
"""

import json
import os
import uuid

from tqdm.auto import tqdm

from keras_soundstorm.data.record_format import (
    FORMAT_NAME,
    SCHEMA_VERSION,
    require_int,
    serialize_example,
    shard_path,
    validated_example,
)


def existing_records(path_prefix):
    """The shard files and sidecar already written with `path_prefix` (a list of paths)."""
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
        num_levels=require_int("num_levels", num_levels, 1),
        codebook_size=require_int("codebook_size", codebook_size, 2),
        conditioning_vocabulary_size=require_int(
            "conditioning_vocabulary_size", conditioning_vocabulary_size, 0
        ),
        conditioning_rate_ratio=require_int("conditioning_rate_ratio", conditioning_rate_ratio, 1),
        sample_rate=None if sample_rate is None else require_int("sample_rate", sample_rate, 1),
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
    num_shards = require_int("num_shards", num_shards, 1, 99999)
    existing = existing_records(path_prefix)
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
                values = validated_example(index, example, config, seen_ids)
                shard = index % num_shards
                writers[shard].write(serialize_example(values))
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


__all__ = ["write_token_records"]
