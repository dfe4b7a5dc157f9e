"""The sidecar `{prefix}.json` of token records: reading, merging, file patterns.

A sidecar holds `format` (`"keras_soundstorm.token_records"`),
`schema_version`, `num_levels` (Q), `codebook_size` (C),
`conditioning_vocabulary_size` (V, 0 = unconditional),
`conditioning_rate_ratio` (r), `sample_rate` and `frame_rate` (or null),
`num_examples`, `num_frames` and `shards` (file name, examples and frames of
each shard). It is written last: shards without it are an incomplete write.
"""

import json
import os
from collections.abc import Mapping

from keras_soundstorm.data.record_format import (
    FORMAT_NAME,
    SCHEMA_VERSION,
    SHARD_NAME,
    VOCABULARY_KEYS,
    require_int,
)


def read_sidecar(path):
    """The checked sidecar dict at `path`; a ValueError says what is wrong."""
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
    missing = [key for key in VOCABULARY_KEYS if key not in metadata]
    if missing:
        raise ValueError(f"Sidecar {path!r} lacks {missing}.")
    return metadata


def resolve_files(file_pattern):
    """Returns (sorted shard paths, {sidecar path: metadata})."""
    import tensorflow as tf

    patterns = [file_pattern] if isinstance(file_pattern, (str, os.PathLike)) else file_pattern
    files, sidecars = [], {}
    for pattern in patterns:
        pattern = os.fspath(pattern)
        if tf.io.gfile.exists(f"{pattern}.json") and not tf.io.gfile.isdir(pattern):
            # A prefix: the sidecar lists the shards.
            sidecar = f"{pattern}.json"
            metadata = sidecars.setdefault(sidecar, read_sidecar(sidecar))
            directory = os.path.dirname(pattern)
            matched = [os.path.join(directory, shard["file"]) for shard in metadata["shards"]]
            absent = [path for path in matched if not tf.io.gfile.exists(path)]
            if absent:
                raise ValueError(f"Sidecar {sidecar!r} lists missing shards: {absent}.")
        else:
            # A glob such as "data/train*" also matches the sidecar itself.
            matched = [path for path in tf.io.gfile.glob(pattern) if not path.endswith(".json")]
            if not matched:
                raise ValueError(
                    f"No token records match {pattern!r}; pass a prefix given to "
                    "`write_token_records` (e.g. 'data/train') or a glob of its "
                    "shards (e.g. 'data/train-*.tfrecord')."
                )
        for path in matched:
            name = SHARD_NAME.match(path)
            if name is None:
                raise ValueError(
                    f"{path!r} is not named like a token-records shard "
                    "('{prefix}-00000-of-00004.tfrecord')."
                )
            sidecar = f"{name['prefix']}.json"
            if sidecar not in sidecars:
                sidecars[sidecar] = read_sidecar(sidecar)
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
    _, sidecars = resolve_files(file_pattern)
    return merged_metadata(sidecars)


def merged_metadata(sidecars):
    """One sidecar for several writes that share Q, C, V and r (else ValueError)."""
    (first_path, first), *others = sidecars.items()
    merged = dict(first)
    for path, metadata in others:
        for key in VOCABULARY_KEYS:
            if metadata[key] != first[key]:
                raise ValueError(
                    f"Incompatible token records: {key} is {first[key]} in "
                    f"{first_path!r} but {metadata[key]} in {path!r}."
                )
        merged["num_examples"] += metadata["num_examples"]
        merged["num_frames"] += metadata["num_frames"]
        merged["shards"] = merged["shards"] + metadata["shards"]
    return merged


def expected_vocabulary(vocabulary):
    """`{key: int}` of the `VOCABULARY_KEYS` that `vocabulary` names.

    `vocabulary` is a mapping (keys left out are not checked) or an object
    with those attributes, such as a `SoundStormBackbone` or a `SoundStorm`
    (its backbone's). A conditioning vocabulary size of None means 0.
    """
    if isinstance(vocabulary, Mapping):
        unknown = sorted(set(vocabulary) - set(VOCABULARY_KEYS))
        if unknown:
            raise ValueError(
                f"`vocabulary` has unknown keys {unknown}; accepted: {list(VOCABULARY_KEYS)}."
            )
        given = dict(vocabulary)
    else:
        source = getattr(vocabulary, "backbone", vocabulary)
        given = {key: getattr(source, key) for key in VOCABULARY_KEYS if hasattr(source, key)}
        if not given:
            raise TypeError(
                "`vocabulary` must be a mapping or an object (e.g. a SoundStormBackbone) "
                f"with some of {list(VOCABULARY_KEYS)}; got {type(vocabulary).__name__}."
            )
    if given.get("conditioning_vocabulary_size", 0) is None:
        given["conditioning_vocabulary_size"] = 0
    return {key: require_int(f"vocabulary[{key!r}]", value, 0) for key, value in given.items()}


def check_vocabulary(metadata, vocabulary, sources=()):
    """Raises a ValueError naming each of Q, C, V, r where `vocabulary` and the sidecar differ.

    Args:
        metadata: a (merged) sidecar dict.
        vocabulary: None (nothing to check), or what `expected_vocabulary` takes.
        sources: the sidecar paths, named in the error.
    """
    if vocabulary is None:
        return
    expected = expected_vocabulary(vocabulary)
    mismatches = [
        f"{key}={metadata[key]} in the records but {key}={value} in `vocabulary`"
        for key, value in expected.items()
        if value != metadata[key]
    ]
    if mismatches:
        raise ValueError(
            f"The token records (sidecars {sorted(sources)}) do not match `vocabulary`: "
            + "; ".join(mismatches)
            + "."
        )


__all__ = [
    "check_vocabulary",
    "expected_vocabulary",
    "merged_metadata",
    "read_sidecar",
    "read_token_metadata",
    "resolve_files",
]
