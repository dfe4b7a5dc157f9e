import os

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from conftest import FEW_STEPS_EAGERLY, TINY, make_backbone, toy_batch
from keras import ops

import keras_soundstorm as kss
from keras_soundstorm.data import toy

C, Q, V, R = TINY["codebook_size"], TINY["num_levels"], TINY["conditioning_vocabulary_size"], 2


def backbone_output(backbone, batch):
    return ops.convert_to_numpy(backbone(batch))


def test_backbone_shapes_and_config_round_trip():
    backbone = make_backbone()
    batch = toy_batch(batch_size=2, num_frames=16)
    assert backbone_output(backbone, batch).shape == (2, 16, TINY["hidden_dim"])
    clone = kss.SoundStormBackbone.from_config(backbone.get_config())
    assert clone.get_config() == backbone.get_config()


def test_padding_never_leaks_into_real_frames():
    backbone = make_backbone()
    batch = toy_batch(batch_size=2, num_frames=16)
    reference = backbone_output(backbone, batch)
    rng = np.random.default_rng(1)
    padded = {
        "codes": np.concatenate([batch["codes"], rng.integers(0, C + 1, (2, 8, Q))], 1),
        "conditioning": np.concatenate([batch["conditioning"], rng.integers(0, V, (2, 4))], 1),
        "padding_mask": np.concatenate([batch["padding_mask"], np.zeros((2, 8), bool)], 1),
    }
    padded = {k: v.astype(batch[k].dtype) for k, v in padded.items()}
    np.testing.assert_allclose(backbone_output(backbone, padded)[:, :16], reference, atol=2e-5)


def test_level_heads_compute_each_examples_level():
    heads = kss.models.soundstorm.LevelHeads(Q, C)
    hidden = np.random.default_rng(0).normal(size=(3, 5, 8)).astype("float32")
    level = np.array([0, 3, 1], "int32")
    logits = ops.convert_to_numpy(heads(hidden, level))
    kernel, bias = (ops.convert_to_numpy(w) for w in (heads.kernel, heads.bias))
    for b in range(3):
        expected = hidden[b] @ kernel[level[b]] + bias[level[b]]
        np.testing.assert_allclose(logits[b], expected, rtol=1e-5, atol=1e-5)
    scalar = ops.convert_to_numpy(heads(hidden, np.int32(2)))
    np.testing.assert_allclose(scalar, hidden @ kernel[2] + bias[2], rtol=1e-5, atol=1e-5)


def test_loss_is_finite_when_nothing_is_masked():
    model = kss.SoundStorm(make_backbone())
    y_pred = {
        "logits": ops.zeros((2, 4, C)),
        "targets": ops.zeros((2, 4), "int32"),
        "loss_mask": ops.zeros((2, 4), "bool"),
    }
    assert float(ops.convert_to_numpy(model.compute_loss(y_pred=y_pred))) == 0.0


def test_loss_counts_only_masked_tokens():
    model = kss.SoundStorm(make_backbone())
    logits = np.zeros((1, 3, C), "float32")
    logits[0, 0, 5] = 100.0  # frame 0 right, frames 1-2 uniform
    y_pred = {
        "logits": ops.convert_to_tensor(logits),
        "targets": ops.convert_to_tensor(np.array([[5, 0, 0]], "int32")),
        "loss_mask": ops.convert_to_tensor(np.array([[True, True, False]])),
    }
    loss = float(ops.convert_to_numpy(model.compute_loss(y_pred=y_pred)))
    np.testing.assert_allclose(loss, np.log(C) / 2, rtol=1e-4)


@pytest.fixture(scope="module")
def trained_model():
    """A tiny model fit on codes that are a function of the conditioning."""
    keras.utils.set_random_seed(0)
    model = kss.SoundStorm(make_backbone(), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    data = toy_batch(batch_size=256, num_frames=16, seed=0)
    history = model.fit(data, batch_size=32, epochs=25, verbose=0)
    return model, history


def test_fit_learns_and_generate_reproduces(trained_model):
    model, history = trained_model
    assert history.history["loss"][-1] < 0.05, history.history["loss"]
    assert history.history["accuracy"][-1] > 0.99
    test = toy_batch(batch_size=8, num_frames=24, seed=99)
    codes = model.generate(conditioning=test["conditioning"], seed=0)
    assert (codes == test["codes"]).mean() >= 0.99


def test_generate_continues_prompt_and_marks_padding(trained_model):
    model, _ = trained_model
    test = toy_batch(batch_size=2, num_frames=24, seed=7)
    prompt = test["codes"][:, :6].copy()
    prompt[0] = (prompt[0] + 1) % C  # a prompt the model would not produce itself
    codes = model.generate(
        conditioning=test["conditioning"],
        prompt_codes=prompt,
        prompt_length=[6, 3],
        num_frames=[24, 10],
        seed=1,
    )
    assert codes.shape == (2, 24, Q) and codes.dtype == np.int32
    np.testing.assert_array_equal(codes[0, :6], prompt[0])
    np.testing.assert_array_equal(codes[1, :3], prompt[1, :3])
    assert (codes[1, 10:] == -1).all() and (codes[1, :10] >= 0).all()


def test_generate_is_deterministic_and_batch_independent_when_greedy(trained_model):
    model, _ = trained_model
    rng = np.random.default_rng(3)
    conditioning = rng.integers(0, V, (3, 12)).astype("int32")
    num_frames = np.array([24, 17, 9])
    greedy = (1,) * Q
    together = model.generate(
        conditioning=conditioning, num_frames=num_frames, steps_per_level=greedy, seed=0
    )
    for b in range(3):
        alone = model.generate(
            conditioning=conditioning[b], num_frames=int(num_frames[b]), steps_per_level=greedy
        )
        np.testing.assert_array_equal(together[b, : num_frames[b]], alone[: num_frames[b]])
    a = model.generate(conditioning=conditioning, seed=5, temperature=3.0)
    b = model.generate(conditioning=conditioning, seed=5, temperature=3.0)
    np.testing.assert_array_equal(a, b)


def test_unconditional_model_generates():
    model = kss.SoundStorm(make_backbone(conditioning_vocabulary_size=0))
    model.fit({"codes": toy_batch(4, 8)["codes"]}, epochs=1, verbose=0)
    codes = model.generate(num_frames=10, steps_per_level=(2, 1, 1, 1), seed=0)
    assert codes.shape == (1, 10, Q)
    with pytest.raises(ValueError, match="num_frames"):
        model.generate()


def test_preset_round_trip(tmp_path, trained_model):
    model, _ = trained_model
    path = tmp_path / "preset"
    model.save_to_preset(path)
    assert sorted(os.listdir(tmp_path)) == ["preset"]
    restored = kss.SoundStorm.from_preset(path)
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)
    conditioning = toy_batch(2, 8)["conditioning"]
    np.testing.assert_array_equal(
        model.generate(conditioning=conditioning, seed=0),
        restored.generate(conditioning=conditioning, seed=0),
    )
    backbone = keras_hub.models.Backbone.from_preset(str(path))
    assert isinstance(backbone, kss.SoundStormBackbone)


def test_failed_save_keeps_previous_preset(tmp_path, monkeypatch):
    model = kss.SoundStorm(make_backbone())
    path = tmp_path / "preset"
    model.save_to_preset(path)
    before = sorted(os.listdir(path))

    def explode(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(keras_hub.models.Task, "save_to_preset", explode)
    with pytest.raises(OSError, match="disk full"):
        model.save_to_preset(path)
    assert sorted(os.listdir(path)) == before
    assert sorted(os.listdir(tmp_path)) == ["preset"]
    kss.SoundStorm.from_preset(path)


def test_preset_errors(tmp_path):
    with pytest.raises(ValueError, match="nor an existing directory"):
        kss.SoundStorm.from_preset(tmp_path / "nothing")
    model = kss.SoundStorm(make_backbone())
    model.backbone.save_to_preset(tmp_path / "backbone_only")
    with pytest.raises(ValueError, match="task.json"):
        kss.SoundStorm.from_preset(tmp_path / "backbone_only")
    model.save_to_preset(tmp_path / "broken")
    os.remove(tmp_path / "broken" / "model.weights.h5")
    with pytest.raises(ValueError, match="missing model.weights.h5"):
        kss.SoundStorm.from_preset(tmp_path / "broken")
    other = tmp_path / "other"
    keras_hub.models.Backbone.save_to_preset(
        keras_hub.models.BertBackbone(
            vocabulary_size=10,
            num_layers=1,
            num_heads=1,
            hidden_dim=4,
            intermediate_dim=4,
            max_sequence_length=8,
        ),
        other,
    )
    with pytest.raises(ValueError, match="BertBackbone"):
        kss.SoundStormBackbone.from_preset(other)


@pytest.mark.slow
def test_backup_and_restore_resumes(tmp_path):
    data = toy_batch(batch_size=8, num_frames=8)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("killed")

    # The subject is what the backup saves and restores, not the traced step.
    model = kss.SoundStorm(make_backbone(), seed=0)
    model.compile(run_eagerly=FEW_STEPS_EAGERLY)
    with pytest.raises(RuntimeError, match="killed"):
        model.fit(data, epochs=4, verbose=0, callbacks=[backup, Interrupt()])
    resumed = kss.SoundStorm(make_backbone(), seed=0)
    resumed.compile(run_eagerly=FEW_STEPS_EAGERLY)
    history = resumed.fit(data, epochs=4, verbose=0, callbacks=[backup])
    # Epochs 0 and 1 were backed up; only 2 and 3 run again, from the saved state.
    assert len(history.history["loss"]) == 2
    assert int(ops.convert_to_numpy(resumed.optimizer.iterations)) == 4


BAD_GENERATE = [
    (dict(conditioning=np.full((1, 4), V)), r"\[0, 32\)"),
    (dict(conditioning=np.full((1, 4), -1)), r"\[0, 32\)"),
    (dict(conditioning=np.zeros((1, 4), "float32")), "integers"),
    (dict(conditioning=np.zeros((1, 2, 4), "int32")), "rank"),
    (
        dict(conditioning=np.zeros((1, 4), "int32"), prompt_codes=np.zeros((1, 9, Q), "int32")),
        "longer than the output",
    ),
    (
        dict(conditioning=np.zeros((1, 4), "int32"), prompt_codes=np.full((1, 2, Q), C)),
        r"\[0, 64\)",
    ),
    (
        dict(conditioning=np.zeros((1, 4), "int32"), prompt_codes=np.zeros((1, 2, Q + 1), "int32")),
        "levels",
    ),
    (dict(conditioning=np.zeros((1, 4), "int32"), num_frames=0), "num_frames"),
    (dict(conditioning=np.zeros((1, 4), "int32"), num_frames=9), "num_frames"),
    (dict(conditioning=np.zeros((1, 4), "int32"), steps_per_level=(1, 1)), "one entry per level"),
    (dict(conditioning=np.zeros((1, 4), "int32"), steps_per_level=(1, 0, 1, 1)), ">= 1"),
    (dict(conditioning=np.zeros((2, 4), "int32"), num_frames=[4, 4, 4]), "disagree"),
    (dict(), "conditional"),
]


@pytest.mark.parametrize("kwargs, message", BAD_GENERATE)
def test_generate_rejects_bad_input(kwargs, message):
    model = kss.SoundStorm(make_backbone())
    with pytest.raises(ValueError, match=message):
        model.generate(**kwargs)


def bad_batches():
    good = toy_batch(2, 8)
    yield dict(good, codes=good["codes"] + C), r"\[0, 64\)"
    yield dict(good, codes=good["codes"][..., :2]), "levels"
    yield dict(good, codes=good["codes"][0]), "rank"
    yield dict(good, codes=good["codes"].astype("float32")), "integers"
    yield dict(good, conditioning=good["conditioning"][:, :3]), r"T / 2"
    yield dict(good, conditioning=good["conditioning"] + V), r"\[0, 32\)"


@pytest.mark.parametrize("batch, message", bad_batches())
def test_fit_rejects_bad_batches(batch, message):
    model = kss.SoundStorm(make_backbone())
    with pytest.raises(ValueError, match=message):
        model.fit(batch, epochs=1, verbose=0)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(num_levels=0), "num_levels"),
        (dict(hidden_dim=30), "divisible"),
        (dict(dropout=1.5), "dropout"),
        (dict(conditioning_rate_ratio=0), "conditioning_rate_ratio"),
    ],
)
def test_backbone_rejects_bad_config(overrides, message):
    with pytest.raises(ValueError, match=message):
        make_backbone(**overrides)


# --- a rejected fit / evaluate leaves the model as it was (issue 15, item 3) ---

CONFIG = dict(kss.CONFIGS["tiny"], hidden_dim=32, num_layers=1, num_heads=2, intermediate_dim=64)


def good_batch():
    return toy.toy_batch(4, 8, CONFIG, seed=0)


def out_of_range_dataset():
    batch = good_batch()
    return tf.data.Dataset.from_tensor_slices(dict(batch, codes=batch["codes"] + 1000)).batch(2)


REJECTED = {
    "an array, not a dict": lambda: good_batch()["codes"],
    "a tuple": lambda: (good_batch()["codes"], good_batch()["conditioning"]),
    "no data": lambda: None,
    "a tf.data batch with ids out of range": out_of_range_dataset,
}


@pytest.mark.parametrize("method", ["fit", "evaluate"])
@pytest.mark.parametrize("case", sorted(REJECTED))
def test_a_rejected_call_leaves_the_model_as_it_was(case, method):
    model = kss.SoundStorm(kss.SoundStormBackbone(**CONFIG), seed=0)
    model.compile(optimizer="adam")
    conditioning = np.arange(8, dtype="int32").reshape(2, 4)
    before = model.generate(conditioning=conditioning, seed=0)
    weights = [w.copy() for w in model.get_weights()]
    with pytest.raises(Exception, match="codes|dict"):
        getattr(model, method)(REJECTED[case](), verbose=0)
    for saved, now in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(now, saved)
    np.testing.assert_array_equal(model.generate(conditioning=conditioning, seed=0), before)
    # ... and it still trains.
    model.fit(good_batch(), epochs=1, batch_size=2, verbose=0)


@pytest.mark.parametrize("name", ["codes", "conditioning"])
@pytest.mark.parametrize("method", ["fit", "evaluate"])
def test_fit_on_a_dataset_rejects_float_ids_as_the_numpy_path_does(name, method):
    import tensorflow as tf

    batch = toy_batch(2, 8)
    batch[name] = batch[name].astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices(batch).batch(2)
    model = kss.SoundStorm(make_backbone())
    model.compile()
    with pytest.raises(
        ValueError, match=f"`{name}` must hold integers; the dataset yields float32"
    ):
        getattr(model, method)(dataset, verbose=0)


@pytest.mark.parametrize("level", [0, np.int64(2), np.array([0, 3]), [1, 1]])
def test_logits_takes_python_ints_and_numpy_arrays(level):
    """`model.logits(codes, 0, ...)` with numpy inputs failed ("Only input tensors may
    be passed as positional arguments" / "cannot mix tensors and non-tensors")."""
    model = kss.SoundStorm(make_backbone())
    codes = np.random.default_rng(0).integers(0, C + 1, (2, 8, Q)).astype("int32")
    conditioning = np.arange(8, dtype="int32").reshape(2, 4)
    padding_mask = np.ones((2, 8), bool)
    logits = model.logits(codes, level, conditioning, padding_mask)
    assert tuple(logits.shape) == (2, 8, C)
    # The same numbers as with tensors, and with lists and the default mask.
    expected = model.logits(
        ops.convert_to_tensor(codes),
        ops.convert_to_tensor(np.asarray(level, "int32")),
        ops.convert_to_tensor(conditioning),
        ops.convert_to_tensor(padding_mask),
    )
    np.testing.assert_allclose(ops.convert_to_numpy(logits), ops.convert_to_numpy(expected))
    from_lists = model.logits(codes.tolist(), level, conditioning.tolist())
    np.testing.assert_allclose(ops.convert_to_numpy(from_lists), ops.convert_to_numpy(expected))
