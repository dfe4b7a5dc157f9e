"""Tests of the TFRecord token datasets (write_token_records / token_dataset)."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_soundstorm.data import read_token_metadata, token_dataset, write_token_records
from keras_soundstorm.data.record_format import SCHEMA_VERSION

Q, C, V, R = 4, 64, 32, 2
VOCABULARY = dict(
    num_levels=Q, codebook_size=C, conditioning_vocabulary_size=V, conditioning_rate_ratio=R
)


def make_examples(num_examples=10, rate=R, seed=0, max_tokens=9):
    rng = np.random.default_rng(seed)
    examples = []
    for i in range(num_examples):
        num_tokens = int(rng.integers(1, max_tokens + 1))
        examples.append(
            dict(
                utterance_id=f"utt-{i:03d}",
                codes=rng.integers(0, C, (num_tokens * rate, Q)),
                conditioning=rng.integers(0, V, num_tokens),
                speaker=f"voice-{i % 3}",
                text=f"sentence number {i} é",
                sample_rate=16000,
                frame_rate=50.0,
            )
        )
    return examples


def write(prefix, examples, **kwargs):
    arguments = dict(VOCABULARY, num_shards=4, progress=False)
    arguments.update(kwargs)
    return write_token_records(str(prefix), examples, **arguments)


def batches(dataset):
    return [{key: value.numpy() for key, value in batch.items()} for batch in dataset]


def by_utterance(dataset):
    """{utterance_id: (codes, conditioning, padding_mask, crop_start)} over all batches."""
    out = {}
    for batch in batches(dataset):
        for i, name in enumerate(batch["utterance_id"]):
            name = name.decode()
            assert name not in out, f"{name} seen twice"
            out[name] = {key: value[i] for key, value in batch.items()}
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("records") / "train"
    examples = make_examples()
    metadata = write(prefix, examples)
    return str(prefix), {e["utterance_id"]: e for e in examples}, metadata


def test_round_trip_exact_values(corpus):
    prefix, examples, metadata = corpus
    longest = max(len(e["codes"]) for e in examples.values())
    dataset = token_dataset(
        prefix,
        batch_size=3,
        max_frames=longest,
        shuffle=False,
        crop="start",
        include_metadata=True,
    )
    read = by_utterance(dataset)
    assert sorted(read) == sorted(examples)
    for name, example in examples.items():
        got, frames = read[name], len(example["codes"])
        np.testing.assert_array_equal(got["codes"][:frames], example["codes"])
        np.testing.assert_array_equal(got["conditioning"][: frames // R], example["conditioning"])
        assert not got["codes"][frames:].any() and not got["conditioning"][frames // R :].any()
        np.testing.assert_array_equal(got["padding_mask"], np.arange(longest) < frames)
        assert got["speaker"].decode() == example["speaker"]
        assert got["text"].decode("utf-8") == example["text"]
        assert (got["sample_rate"], got["frame_rate"]) == (16000, 50.0)
        assert (got["num_frames"], got["crop_start"]) == (frames, 0)

    sidecar = json.load(open(f"{prefix}.json"))
    assert sidecar == metadata
    assert sidecar["schema_version"] == SCHEMA_VERSION
    assert {k: sidecar[k] for k in VOCABULARY} == VOCABULARY
    assert sidecar["num_examples"] == 10
    assert sidecar["num_frames"] == sum(len(e["codes"]) for e in examples.values())
    files = sorted(os.listdir(os.path.dirname(prefix)))
    assert files == [f"train-0000{i}-of-00004.tfrecord" for i in range(4)] + ["train.json"]


def test_glob_and_prefix_read_the_same_records(corpus):
    prefix, examples, _ = corpus
    kwargs = dict(batch_size=4, max_frames=6, shuffle=False, crop="start", include_metadata=True)
    from_glob = by_utterance(token_dataset(f"{prefix}-*.tfrecord", **kwargs))
    assert sorted(from_glob) == sorted(examples)


@pytest.mark.parametrize("rate", [2, 3])
def test_random_crops_are_aligned_and_within_bounds(tmp_path, rate):
    examples = {e["utterance_id"]: e for e in make_examples(rate=rate, max_tokens=8)}
    write(tmp_path / "crops", list(examples.values()), conditioning_rate_ratio=rate)
    max_frames = 3 * rate
    dataset = token_dataset(
        str(tmp_path / "crops"),
        batch_size=4,
        max_frames=max_frames,
        seed=3,
        include_metadata=True,
    )
    starts = {name: set() for name in examples}
    for _ in range(4):  # new crops every epoch
        for name, got in by_utterance(dataset).items():
            example, start = examples[name], got["crop_start"]
            frames = len(example["codes"])
            length = min(frames, max_frames)
            assert start % rate == 0 and 0 <= start and start + length <= frames
            assert got["padding_mask"].sum() == length and got["padding_mask"][:length].all()
            np.testing.assert_array_equal(
                got["codes"][:length], example["codes"][start : start + length]
            )
            np.testing.assert_array_equal(
                got["conditioning"][: length // rate],
                example["conditioning"][start // rate : (start + length) // rate],
            )
            assert not got["codes"][length:].any()
            starts[name].add(int(start))
    long_ones = [n for n, e in examples.items() if len(e["codes"]) >= max_frames + 2 * rate]
    assert long_ones and any(len(starts[n]) > 1 for n in long_ones)


def test_batch_shapes_static_with_drop_remainder(corpus):
    prefix, _, _ = corpus
    dataset = token_dataset(prefix, batch_size=4, max_frames=8, drop_remainder=True, seed=0)
    spec = dataset.element_spec
    assert set(spec) == {"codes", "conditioning", "padding_mask"}
    assert spec["codes"].shape == (4, 8, Q) and spec["codes"].dtype == tf.int32
    assert spec["conditioning"].shape == (4, 4) and spec["conditioning"].dtype == tf.int32
    assert spec["padding_mask"].shape == (4, 8) and spec["padding_mask"].dtype == tf.bool
    assert len(batches(dataset)) == 10 // 4

    dataset = token_dataset(prefix, batch_size=4, max_frames=8, seed=0)
    assert [b["codes"].shape[0] for b in batches(dataset)] == [4, 4, 2]


def test_bucketing_pads_only_to_boundaries(corpus):
    prefix, examples, _ = corpus
    boundaries = [4, 8]
    dataset = token_dataset(
        prefix,
        batch_size=2,
        max_frames=12,
        bucket_boundaries=boundaries,
        seed=1,
        include_metadata=True,
    )
    seen = 0
    for batch in batches(dataset):
        padded = batch["codes"].shape[1]
        assert padded in (4, 8, 12)
        assert batch["conditioning"].shape[1] * R == padded == batch["padding_mask"].shape[1]
        lengths = batch["padding_mask"].sum(axis=1)
        previous = max([0] + [b for b in boundaries if b < padded])
        assert ((lengths > previous) & (lengths <= padded)).all()  # smallest bucket that fits
        seen += len(lengths)
    assert seen == len(examples)

    with pytest.raises(ValueError, match="multiples of r=2"):
        token_dataset(prefix, batch_size=2, max_frames=12, bucket_boundaries=[5])
    with pytest.raises(ValueError, match="<= max_frames=12"):
        token_dataset(prefix, batch_size=2, max_frames=12, bucket_boundaries=[14])


@pytest.mark.parametrize("num_shards", [2, 3, 6])  # 4 files: by file, by file, by element
def test_sharding_partitions_the_data(corpus, num_shards):
    prefix, examples, _ = corpus
    parts = []
    for index in range(num_shards):
        dataset = token_dataset(
            prefix,
            batch_size=3,
            max_frames=4,
            seed=5,
            num_shards=num_shards,
            shard_index=index,
            include_metadata=True,
        )
        parts.append(set(by_utterance(dataset)))
    union = set().union(*parts)
    assert union == set(examples)
    assert sum(len(part) for part in parts) == len(examples)  # disjoint
    assert all(parts)


def test_input_context_shards_like_num_shards(corpus):
    prefix, examples, _ = corpus
    parts = []
    for index in range(3):
        context = tf.distribute.InputContext(num_input_pipelines=3, input_pipeline_id=index)
        dataset = token_dataset(
            prefix, batch_size=3, max_frames=4, input_context=context, include_metadata=True
        )
        parts.append(set(by_utterance(dataset)))
    assert set().union(*parts) == set(examples) and sum(map(len, parts)) == len(examples)
    with pytest.raises(ValueError, match="not both"):
        token_dataset(prefix, 2, 4, input_context=context, num_shards=3, shard_index=0)
    with pytest.raises(ValueError, match="shard_index"):
        token_dataset(prefix, 2, 4, num_shards=3, shard_index=3)


def test_deterministic_with_seed(corpus):
    prefix, _, _ = corpus

    def first_batches(seed):
        dataset = token_dataset(prefix, batch_size=3, max_frames=4, seed=seed, repeat=True)
        return batches(dataset.take(8))

    first, again, other = first_batches(7), first_batches(7), first_batches(8)
    for a, b in zip(first, again, strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    assert any(not np.array_equal(a["codes"], b["codes"]) for a, b in zip(first, other))


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(codes=np.full((4, Q), C)), r"'bad-one' \(#3\): `codes` holds ids in \[64, 64\]"),
        (dict(codes=np.full((4, Q), -1)), r"'bad-one' \(#3\): `codes` holds ids"),
        (dict(conditioning=np.array([0, V])), r"'bad-one' \(#3\): `conditioning` holds ids"),
        (dict(codes=np.zeros((4, Q + 1), int)), r"'bad-one' \(#3\): `codes` must have shape"),
        (dict(codes=np.zeros((5, Q), int)), r"'bad-one' \(#3\): .*T=5 must be a multiple"),
        (dict(conditioning=np.zeros(3, int)), r"'bad-one' \(#3\): `conditioning` must have"),
        (dict(codes=np.zeros((4, Q))), r"'bad-one' \(#3\): `codes` must hold integers"),
        (dict(conditioning=None), r"'bad-one' \(#3\): missing `conditioning`"),
        (dict(utterance_id="utt-000"), r"'utt-000' \(#3\): duplicate"),
        (dict(condition=[0, 1]), r"unknown keys \['condition'\]"),
        (dict(frame_rate=75.0), r"'bad-one' \(#3\): `frame_rate` is 75.0"),
    ],
)
def test_invalid_examples_rejected_with_the_example_named(tmp_path, change, message):
    examples = make_examples(6)
    examples[3] = dict(
        utterance_id="bad-one", codes=np.zeros((4, Q), int), conditioning=np.zeros(2, int)
    )
    examples[3].update(change)
    examples[3] = {k: v for k, v in examples[3].items() if v is not None}
    with pytest.raises(ValueError, match=message):
        write(tmp_path / "train", examples, frame_rate=50.0)
    assert os.listdir(tmp_path) == []


def test_unconditional_records(tmp_path):
    examples = [dict(utterance_id=f"u{i}", codes=np.full((3 + i, Q), i)) for i in range(3)]
    write(tmp_path / "plain", examples, conditioning_vocabulary_size=0, conditioning_rate_ratio=1)
    dataset = token_dataset(str(tmp_path / "plain"), 3, 4, shuffle=False, crop="start")
    (batch,) = batches(dataset)
    assert set(batch) == {"codes", "padding_mask"}
    np.testing.assert_array_equal(batch["padding_mask"].sum(1), [3, 4, 4])
    with pytest.raises(ValueError, match="unconditional"):
        write(
            tmp_path / "other",
            [dict(utterance_id="x", codes=np.zeros((2, Q), int), conditioning=[1])],
            conditioning_vocabulary_size=0,
        )


def test_failed_write_leaves_no_final_files(tmp_path):
    def interrupted():
        yield from make_examples(6)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write(tmp_path / "train", interrupted())
    assert os.listdir(tmp_path) == []  # neither final names nor temporary files

    # A failed overwrite leaves the previous complete write untouched.
    write(tmp_path / "train", make_examples(5, seed=1), num_shards=2)
    before = {name: open(tmp_path / name, "rb").read() for name in os.listdir(tmp_path)}
    with pytest.raises(RuntimeError, match="disk full"):
        write(tmp_path / "train", interrupted(), overwrite=True)
    after = {name: open(tmp_path / name, "rb").read() for name in os.listdir(tmp_path)}
    assert after == before


def test_failure_inside_a_shard_write(tmp_path, monkeypatch):
    calls = []

    class FailingWriter:
        def __init__(self, path):
            self.file = open(path, "wb")

        def write(self, record):
            calls.append(record)
            if len(calls) == 5:
                self.file.write(record[:10])  # half a record, then the failure
                raise OSError("no space left on device")
            self.file.write(record)

        def close(self):
            self.file.close()

    monkeypatch.setattr(tf.io, "TFRecordWriter", FailingWriter)
    with pytest.raises(OSError, match="no space"):
        write(tmp_path / "train", make_examples(8))
    assert len(calls) == 5 and os.listdir(tmp_path) == []


def test_empty_write_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="`examples` is empty"):
        write(tmp_path / "train", [])
    assert os.listdir(tmp_path) == []


def test_existing_records_and_overwrite(tmp_path):
    prefix = tmp_path / "train"
    write(prefix, make_examples(6), num_shards=4)
    with pytest.raises(ValueError, match="already exist.*overwrite=True"):
        write(prefix, make_examples(6))
    write(prefix, make_examples(3, seed=2), num_shards=2, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == [
        "train-00000-of-00002.tfrecord",
        "train-00001-of-00002.tfrecord",
        "train.json",
    ]
    assert read_token_metadata(str(prefix))["num_examples"] == 3


def test_reader_checks_sidecar_and_compatibility(corpus, tmp_path):
    prefix, _, _ = corpus
    with pytest.raises(
        ValueError, match="conditioning_rate_ratio=2 .* but conditioning_rate_ratio=4"
    ):
        token_dataset(prefix, 2, 8, vocabulary=dict(conditioning_rate_ratio=4))
    with pytest.raises(ValueError, match="codebook_size=64 .* but codebook_size=1024"):
        token_dataset(prefix, 2, 8, vocabulary=dict(codebook_size=1024))
    with pytest.raises(ValueError, match=r"`max_frames` \(7\) must be a multiple"):
        token_dataset(prefix, 2, 7)
    with pytest.raises(ValueError, match="'random' or 'start'"):
        token_dataset(prefix, 2, 8, crop="middle")
    with pytest.raises(ValueError, match="No token records match"):
        token_dataset(str(tmp_path / "nothing-*.tfrecord"), 2, 8)

    # Shards without their sidecar (an incomplete write) are refused.
    orphan = tmp_path / "orphan-00000-of-00001.tfrecord"
    orphan.write_bytes(b"")
    with pytest.raises(ValueError, match="Missing sidecar"):
        token_dataset(str(tmp_path / "orphan-*.tfrecord"), 2, 8)

    # Records written with another r cannot be mixed with these.
    write(tmp_path / "r3", make_examples(3, rate=3), conditioning_rate_ratio=3)
    with pytest.raises(ValueError, match="Incompatible token records: conditioning_rate_ratio"):
        token_dataset([prefix, str(tmp_path / "r3")], 2, 6)

    sidecar = json.load(open(tmp_path / "r3.json"))
    sidecar["schema_version"] = 99
    json.dump(sidecar, open(tmp_path / "r3.json", "w"))
    with pytest.raises(ValueError, match="schema_version 99"):
        token_dataset(str(tmp_path / "r3"), 2, 6)


def test_vocabulary_comes_from_the_sidecar_and_is_checked_as_a_group(corpus, tmp_path):
    from types import SimpleNamespace

    prefix, examples, _ = corpus
    # The README call: a glob that also matches the sidecar, no vocabulary given.
    dataset = token_dataset(f"{prefix}*", batch_size=4, max_frames=8, drop_remainder=True)
    spec = dataset.element_spec
    assert spec["codes"].shape == (4, 8, Q) and spec["conditioning"].shape == (4, 8 // R)
    assert len(batches(dataset)) == len(examples) // 4

    # The full vocabulary, a part of it, or a model-like object: all agree.
    for vocabulary in (VOCABULARY, dict(num_levels=Q), SimpleNamespace(**VOCABULARY)):
        token_dataset(prefix, 2, 8, vocabulary=vocabulary)

    # Every mismatch is named, with both values.
    wrong = SimpleNamespace(**dict(VOCABULARY, num_levels=12, conditioning_rate_ratio=4))
    with pytest.raises(ValueError, match="do not match `vocabulary`") as error:
        token_dataset(prefix, 2, 8, vocabulary=wrong)
    message = str(error.value)
    assert "num_levels=4 in the records but num_levels=12" in message
    assert "conditioning_rate_ratio=2 in the records but conditioning_rate_ratio=4" in message
    assert "codebook_size" not in message and f"{prefix}.json" in message
    with pytest.raises(ValueError, match=r"unknown keys \['levels'\]"):
        token_dataset(prefix, 2, 8, vocabulary=dict(levels=Q))
    with pytest.raises(TypeError, match="`vocabulary` must be a mapping"):
        token_dataset(prefix, 2, 8, vocabulary=42)

    # An unconditional model (conditioning_vocabulary_size None or 0) against
    # conditional records, and the reverse.
    with pytest.raises(ValueError, match="conditioning_vocabulary_size=32 in the records but "):
        token_dataset(prefix, 2, 8, vocabulary=dict(conditioning_vocabulary_size=None))
    plain = [dict(utterance_id=f"u{i}", codes=np.full((4, Q), i)) for i in range(2)]
    write(tmp_path / "plain", plain, conditioning_vocabulary_size=0, conditioning_rate_ratio=1)
    token_dataset(str(tmp_path / "plain"), 2, 4, vocabulary=dict(conditioning_vocabulary_size=None))
    with pytest.raises(ValueError, match="conditioning_vocabulary_size=0 in the records but "):
        token_dataset(str(tmp_path / "plain"), 2, 4, vocabulary=VOCABULARY)
