"""`token_dataset`: the `tf.data` pipeline of token batches for `SoundStorm.fit`.

It parses token records, crops each utterance at a multiple of r (keeping the
conditioning aligned), pads, optionally buckets by length, shuffles and shards
across hosts. It is plain `tf.data`, so it works whatever `KERAS_BACKEND` is.

Batches:

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

import random

from keras_soundstorm.data.record_format import require_int
from keras_soundstorm.data.record_metadata import check_vocabulary, merged_metadata, resolve_files


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
    *,
    vocabulary=None,
    shuffle=True,
    seed=None,
    crop="random",
    bucket_boundaries=None,
    num_shards=None,
    shard_index=None,
    input_context=None,
    repeat=False,
    drop_remainder=False,
    shuffle_buffer_size=1024,
    include_metadata=False,
):
    """A `tf.data` pipeline of token batches for `SoundStorm.fit`.

    The vocabulary (Q, C, V, r) comes from the records' sidecar(s), which must
    all agree: `token_dataset("tokens/train*", batch_size=16, max_frames=1500)`
    needs nothing else. Each utterance is cropped to at most `max_frames`
    frames starting at a multiple of r (so the conditioning stays aligned),
    padded and batched.

    Args:
        file_pattern: a prefix given to `write_token_records` (`"data/train"`),
            a glob (`"data/train*"`, `"data/train-*.tfrecord"`) or a list of those.
        batch_size: examples per batch (per pipeline: with `input_context`,
            pass `input_context.get_per_replica_batch_size(global_batch)`).
        max_frames: frames per crop, a multiple of r. Longer utterances are
            cropped, shorter ones padded (`padding_mask` False, codes and
            conditioning 0).
        vocabulary: None (take the sidecar's), or what the records must hold:
            a mapping with some of `num_levels`, `codebook_size`,
            `conditioning_vocabulary_size` and `conditioning_rate_ratio`, or a
            model (`SoundStormBackbone` / `SoundStorm`) to check the records
            against. A ValueError names every value that differs.
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
        shuffle_buffer_size: records held by the example shuffle.
        include_metadata: add `utterance_id`, `speaker`, `text`,
            `sample_rate`, `frame_rate`, `num_frames` and `crop_start` to each
            batch (not for `fit`: Keras would treat them as inputs).

    Returns:
        A `tf.data.Dataset` of dicts: `"codes"` int32 `[B, L, Q]`,
        `"conditioning"` int32 `[B, L / r]` (omitted when the records are
        unconditional) and `"padding_mask"` bool `[B, L]`; see the module
        docstring for the other keys.
    """
    import tensorflow as tf

    batch_size = require_int("batch_size", batch_size, 1)
    if crop not in ("random", "start"):
        raise ValueError(f"`crop` must be 'random' or 'start'; got {crop!r}.")
    if seed is not None:
        seed = require_int("seed", seed, 0)
    shuffle_buffer_size = require_int("shuffle_buffer_size", shuffle_buffer_size, 1)
    if input_context is not None:
        if num_shards is not None or shard_index is not None:
            raise ValueError("Pass either `input_context` or `num_shards`/`shard_index`, not both.")
        num_shards = input_context.num_input_pipelines
        shard_index = input_context.input_pipeline_id
    if (num_shards is None) != (shard_index is None):
        raise ValueError("`num_shards` and `shard_index` go together; got only one of them.")
    if num_shards is not None:
        num_shards = require_int("num_shards", num_shards, 1)
        shard_index = require_int("shard_index", shard_index, 0, num_shards - 1)

    files, sidecars = resolve_files(file_pattern)
    metadata = merged_metadata(sidecars)
    check_vocabulary(metadata, vocabulary, sources=sidecars)
    q, rate = metadata["num_levels"], metadata["conditioning_rate_ratio"]
    conditional = metadata["conditioning_vocabulary_size"] > 0
    max_frames = require_int("max_frames", max_frames, rate)
    if max_frames % rate:
        raise ValueError(
            f"`max_frames` ({max_frames}) must be a multiple of the records' "
            f"conditioning_rate_ratio r={rate}."
        )
    boundaries = None
    if bucket_boundaries is not None:
        boundaries = sorted({require_int("bucket boundary", b, rate) for b in bucket_boundaries})
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


__all__ = ["token_dataset"]
