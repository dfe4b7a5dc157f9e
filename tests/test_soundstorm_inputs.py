"""`SoundStorm.generate` / `fit` inputs (models/soundstorm/inputs.py) that used to give silent
wrong output (issue 15, items 7 and 10).

Each case is either a ValueError naming the argument and what is accepted, or
documented exact behaviour.
"""

import keras
import numpy as np
import pytest
from conftest import TINY, make_backbone, toy_batch

import keras_soundstorm as kss
from keras_soundstorm import backend

C, Q, V, R = TINY["codebook_size"], TINY["num_levels"], TINY["conditioning_vocabulary_size"], 2
FEW_STEPS = (2, 1, 1, 1)


@pytest.fixture(scope="module")
def model():
    return kss.SoundStorm(make_backbone())


def conditioning(batch=1, length=4):
    return np.random.default_rng(0).integers(0, V, (batch, length))


def generate(model, **kwargs):
    kwargs.setdefault("conditioning", conditioning())
    kwargs.setdefault("steps_per_level", FEW_STEPS)
    kwargs.setdefault("bucket_frames", 8)
    return model.generate(**kwargs)


# --- generate: numeric arguments ---------------------------------------------


# (None is not among them: `generate` then takes the model's stored default.)
@pytest.mark.parametrize("temperature", [1e-40, 0.0, -1.0, float("nan"), float("inf"), "1"])
def test_bad_temperature_is_a_clear_error(model, temperature):
    with pytest.raises(ValueError, match="`temperature`"):
        generate(model, temperature=temperature)


@pytest.mark.parametrize("choice_temperature", [-1.0, float("nan"), float("inf")])
def test_bad_choice_temperature_is_a_clear_error(model, choice_temperature):
    with pytest.raises(ValueError, match="`choice_temperature`"):
        generate(model, choice_temperature=choice_temperature)


@pytest.mark.parametrize("top_k", [2.5, 3.0, True, "5", 0, C + 1])
def test_bad_top_k_is_a_clear_error(model, top_k):
    with pytest.raises(ValueError, match="`top_k`"):
        generate(model, top_k=top_k)


def test_numpy_int_top_k_is_accepted_and_equals_the_python_int(model):
    expected = generate(model, top_k=3, seed=5)
    np.testing.assert_array_equal(generate(model, top_k=np.int64(3), seed=5), expected)
    np.testing.assert_array_equal(generate(model, top_k=np.int32(3), seed=5), expected)


def test_num_frames_beyond_int32_is_a_clear_error():
    unconditional = kss.SoundStorm(make_backbone(conditioning_vocabulary_size=0))
    for num_frames in (2**31, 2**32 + 8, [2**31, 4]):
        with pytest.raises(ValueError, match="`num_frames`"):
            unconditional.generate(num_frames=num_frames, steps_per_level=FEW_STEPS)


@pytest.mark.parametrize("bucket_frames", [0, -8, 2.5, "8"])
def test_bad_bucket_frames_is_a_clear_error(model, bucket_frames):
    with pytest.raises(ValueError, match="`bucket_frames`"):
        generate(model, bucket_frames=bucket_frames)


def test_default_bucket_frames_is_the_backends(model):
    """None pads as `backend.default_bucket_frames(T)` (1 on PyTorch: no padding)."""
    frames = conditioning().shape[1] * R
    default = backend.default_bucket_frames(frames)
    assert default == (1 if backend.name() == "torch" else 8)
    np.testing.assert_array_equal(
        generate(model, bucket_frames=None, seed=3),
        generate(model, bucket_frames=default, seed=3),
    )


@pytest.mark.parametrize(
    "frames, padded", [(1, 8), (100, 104), (128, 128), (129, 144), (150, 160), (1500, 1536)]
)
def test_default_bucket_pads_at_most_an_eighth(frames, padded):
    """JAX / TensorFlow: eight buckets per octave (150 frames decode as 160, not 256)."""
    if backend.name() == "torch":
        assert backend.default_bucket_frames(frames) == 1
        return
    granule = backend.default_bucket_frames(frames)
    assert -(-frames // granule) * granule == padded


def test_a_batch_of_zero_examples_is_a_clear_error(model):
    with pytest.raises(ValueError, match="batch.*0"):
        generate(model, conditioning=np.zeros((0, 4), "int32"))
    with pytest.raises(ValueError, match="batch.*0"):
        generate(
            model,
            conditioning=np.zeros((0, 4), "int32"),
            prompt_codes=np.zeros((0, 2, Q), "int32"),
        )


@pytest.mark.parametrize("seed", [-1, 2**31, 2**40, 1.5, "0", True])
def test_seed_outside_the_accepted_range_is_a_clear_error(model, seed):
    with pytest.raises(ValueError, match=r"`seed`.*\[0, 2147483647\]"):
        generate(model, seed=seed)


def test_every_accepted_seed_is_used_as_it_is(model):
    # The largest accepted seed is its own stream, not seed 0 (no modulo).
    zero = generate(model, seed=0)
    largest = generate(model, seed=2**31 - 1)
    assert not np.array_equal(zero, largest)
    np.testing.assert_array_equal(generate(model, seed=np.int64(2**31 - 1)), largest)


# --- non-finite logits -------------------------------------------------------


def test_generate_with_nan_weights_raises_instead_of_returning_garbage():
    model = kss.SoundStorm(make_backbone())
    heads = model.level_heads.weights[0]
    heads.assign(np.full(heads.shape, np.nan, heads.dtype))
    with pytest.raises(ValueError, match="NaN or inf"):
        generate(model, seed=0)


# --- training inputs ---------------------------------------------------------


def test_float_padding_mask_that_is_not_zero_or_one_is_rejected(model):
    batch = toy_batch(batch_size=2, num_frames=8)
    compiled = kss.SoundStorm(make_backbone())
    compiled.compile()
    bad = {**batch, "padding_mask": np.full((2, 8), 0.5, "float32")}
    with pytest.raises(ValueError, match="`padding_mask`.*0 or 1"):
        compiled.fit(bad, epochs=1, verbose=0)
    # Exactly 0 / 1 floats and ints are masks, as before.
    ok = {**batch, "padding_mask": batch["padding_mask"].astype("float32")}
    compiled.fit(ok, epochs=1, batch_size=2, verbose=0)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.data path on TF")
def test_float_padding_mask_in_a_dataset_is_rejected():
    import tensorflow as tf

    batch = toy_batch(batch_size=2, num_frames=8)
    bad = {**batch, "padding_mask": np.full((2, 8), 0.5, "float32")}
    model = kss.SoundStorm(make_backbone())
    model.compile()
    dataset = tf.data.Dataset.from_tensors(bad)
    with pytest.raises(tf.errors.InvalidArgumentError, match="padding_mask"):
        model.fit(dataset, epochs=1, verbose=0)


@pytest.mark.parametrize("batch_size", [0, -1, 2.0])
def test_fit_batch_size_must_be_a_positive_int(batch_size):
    model = kss.SoundStorm(make_backbone())
    model.compile()
    with pytest.raises(ValueError, match="`batch_size`"):
        model.fit(toy_batch(batch_size=2, num_frames=8), batch_size=batch_size, verbose=0)


def test_training_arrays_without_examples_are_rejected():
    model = kss.SoundStorm(make_backbone())
    model.compile()
    batch = toy_batch(batch_size=2, num_frames=8)
    empty = {key: value[:0] for key, value in batch.items()}
    with pytest.raises(ValueError, match="`codes`.*no examples"):
        model.fit(empty, epochs=1, verbose=0)
