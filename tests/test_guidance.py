"""Classifier-free guidance: conditioning dropout in training, guided decoding, and
decoding defaults stored in the preset."""

import keras
import numpy as np
import pytest
from conftest import TINY, make_backbone, toy_batch
from keras import ops

import keras_soundstorm as kss
from keras_soundstorm.models.soundstorm import ConditioningEmbedding

V = TINY["conditioning_vocabulary_size"]


def test_conditioning_dropout_replaces_whole_examples_in_training_only():
    layer = ConditioningEmbedding(V, 8, rate_ratio=2, dropout=0.5, seed=0)
    ids = np.tile(np.arange(6, dtype="int32"), (64, 1))
    inference = ops.convert_to_numpy(layer(ids))
    training = ops.convert_to_numpy(layer(ids, training=True))
    null = ops.convert_to_numpy(layer.null_embedding)
    dropped = np.all(np.isclose(training, null), axis=(1, 2))
    kept = np.all(np.isclose(training, inference), axis=(1, 2))
    assert (dropped | kept).all()  # a whole example or nothing
    assert 16 < dropped.sum() < 48  # about half of 64
    assert not np.isclose(inference, null).all(axis=2).any()
    explicit = ops.convert_to_numpy(layer(np.full((1, 3), V, "int32")))
    np.testing.assert_allclose(explicit, np.broadcast_to(null, explicit.shape), rtol=1e-6)


def test_no_dropout_means_no_null_conditioning_and_no_guidance():
    backbone = make_backbone()
    assert not backbone.supports_guidance and backbone.null_conditioning_id is None
    assert "null_embedding" not in [w.name for w in backbone.weights]
    model = kss.SoundStorm(backbone)
    with pytest.raises(ValueError, match="needs a model trained with conditioning dropout"):
        model.generate(conditioning=np.zeros((1, 4), "int32"), guidance_scale=1.0, seed=0)
    with pytest.raises(ValueError, match="conditioning_dropout"):
        make_backbone(conditioning_dropout=1.0)
    with pytest.raises(ValueError, match="needs a conditional model"):
        make_backbone(conditioning_dropout=0.1, conditioning_vocabulary_size=0)


def test_guided_logits_mix_conditional_and_unconditional_passes():
    model = kss.SoundStorm(make_backbone(conditioning_dropout=0.2))
    batch = toy_batch(batch_size=2, num_frames=8)
    codes, conditioning = batch["codes"], batch["conditioning"]
    padding = np.ones(codes.shape[:2], "bool")
    level = ops.convert_to_tensor(1, "int32")
    conditional = model.logits(codes, level, conditioning, padding)
    unconditional = model.logits(codes, level, np.full_like(conditioning, V), padding)
    assert not np.allclose(ops.convert_to_numpy(conditional), ops.convert_to_numpy(unconditional))
    for w in (0.0, 1.5):
        guide = model._guided_logits_fn(conditioning, padding, ops.convert_to_tensor(w))
        guided = guide(codes, level)
        expected = (1 + w) * ops.convert_to_numpy(conditional) - w * ops.convert_to_numpy(
            unconditional
        )
        np.testing.assert_allclose(ops.convert_to_numpy(guided), expected, rtol=1e-5, atol=1e-5)


def test_trained_with_dropout_it_generates_from_null_conditioning_and_with_guidance():
    model = kss.SoundStorm(make_backbone(conditioning_dropout=0.3), seed=0)
    model.compile()
    batch = toy_batch(batch_size=16, num_frames=16)
    before = ops.convert_to_numpy(model.backbone.conditioning_embedding.null_embedding).copy()
    model.fit(batch, epochs=3, batch_size=8, verbose=0)
    after = ops.convert_to_numpy(model.backbone.conditioning_embedding.null_embedding)
    assert not np.allclose(before, after)  # the null conditioning was trained
    null = np.full((2, 8), V, "int32")
    codes = model.generate(conditioning=null, seed=1)
    assert codes.shape == (2, 16, TINY["num_levels"])
    assert ((codes >= 0) & (codes < TINY["codebook_size"])).all()
    plain = model.generate(conditioning=batch["conditioning"][:2], seed=1)
    unguided = model.generate(conditioning=batch["conditioning"][:2], seed=1, guidance_scale=0.0)
    guided = model.generate(conditioning=batch["conditioning"][:2], seed=1, guidance_scale=2.0)
    np.testing.assert_array_equal(plain, unguided)
    assert guided.shape == plain.shape and (guided != plain).any()


def test_decoding_defaults_are_stored_in_the_preset_and_used_by_generate(tmp_path):
    decoding = dict(temperature=0.7, top_k=5, steps_per_level=[3, 1, 1, 1])
    model = kss.SoundStorm(make_backbone(), decoding=decoding)
    model.save_to_preset(tmp_path / "preset")
    loaded = kss.SoundStorm.from_preset(tmp_path / "preset")
    assert {k: loaded.decoding[k] for k in decoding} == decoding
    conditioning = np.arange(8, dtype="int32").reshape(1, 8) % V
    explicit = model.generate(
        conditioning=conditioning, temperature=0.7, top_k=5, steps_per_level=(3, 1, 1, 1), seed=2
    )
    np.testing.assert_array_equal(loaded.generate(conditioning=conditioning, seed=2), explicit)
    # An argument given to generate wins over the stored default.
    assert (loaded.generate(conditioning=conditioning, seed=2, top_k=64) != explicit).any()
    with pytest.raises(ValueError, match="Unknown decoding settings"):
        kss.SoundStorm(make_backbone(), decoding=dict(temprature=0.5))
    with pytest.raises(ValueError, match="`top_k` must be an int in"):
        kss.SoundStorm(make_backbone(), decoding=dict(top_k=0))


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="torch does not export")
def test_export_bakes_in_the_stored_decoding_and_takes_the_guidance_scale(tmp_path):
    from test_export import run_clean

    decoding = dict(temperature=0.7, top_k=5, guidance_scale=1.5, steps_per_level=[3, 1, 1, 1])
    model = kss.SoundStorm(make_backbone(conditioning_dropout=0.2), decoding=decoding)
    conditioning = (np.arange(16, dtype="int32").reshape(2, 8) * 5) % V
    path = tmp_path / "export"
    model.export_saved_model(str(path))
    inputs = dict(
        conditioning=conditioning.tolist(),
        prompt_codes=[[[0] * TINY["num_levels"]]] * 2,
        prompt_length=[0, 0],
        seed=4,
    )
    # Plain and guided decoding, against the export.
    for w in (0.0, 3.0):
        expected = model.generate(
            conditioning=conditioning, seed=4, bucket_frames=16, guidance_scale=w
        )
        np.testing.assert_array_equal(
            run_clean(path, tmp_path, **inputs, guidance_scale=w), expected
        )
    if keras.backend.backend() == "tensorflow":  # the served checks, in this process
        import tensorflow as tf

        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        tensors = {name: tf.constant(value, tf.int32) for name, value in inputs.items()}
        for bad in (-1.0, float("nan"), float("inf")):
            with pytest.raises(tf.errors.InvalidArgumentError, match="`guidance_scale`"):
                serve(**tensors, guidance_scale=tf.constant(bad))


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="torch does not export")
def test_a_model_without_guidance_exports_no_guidance_input(tmp_path):
    import tensorflow as tf

    kss.SoundStorm(make_backbone()).export_saved_model(str(tmp_path / "export"))
    serve = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    assert sorted(serve.structured_input_signature[1]) == [
        "conditioning",
        "prompt_codes",
        "prompt_length",
        "seed",
    ]


def test_a_model_trained_without_dropout_continues_with_a_null_conditioning():
    from keras_soundstorm import training

    model = kss.SoundStorm(make_backbone(), seed=3, decoding={"temperature": 0.7})
    copy = training.with_conditioning_dropout(model, 0.2)
    assert copy.backbone.supports_guidance and copy.backbone.conditioning_dropout == 0.2
    assert copy.decoding == model.decoding and copy.seed == 3
    conditioning = np.arange(10, dtype="int32")[None] % V
    np.testing.assert_array_equal(  # same weights, so the same codes without guidance
        ops.convert_to_numpy(copy.generate(conditioning=conditioning, seed=0)),
        ops.convert_to_numpy(model.generate(conditioning=conditioning, seed=0)),
    )
    copy.generate(conditioning=conditioning, guidance_scale=1.0, seed=0)
    with pytest.raises(ValueError, match="conditioning_dropout"):
        training.with_conditioning_dropout(model, 1.5)
    with pytest.raises(ValueError, match="would drop it"):
        training.with_conditioning_dropout(copy, 0.0)
    with pytest.raises(ValueError, match="needs a conditional model"):
        training.with_conditioning_dropout(
            kss.SoundStorm(make_backbone(conditioning_vocabulary_size=0)), 0.1
        )
