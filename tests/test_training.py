"""Long runs: warm-up + cosine schedule, gradient accumulation, resuming, TensorBoard, CLI."""

import glob
import json
import os
import signal
import subprocess
import sys
import time
import warnings

import h5py
import keras
import numpy as np
import pytest
from conftest import FEW_STEPS_EAGERLY
from keras import ops

import keras_soundstorm as kss
from keras_soundstorm import cli, training
from keras_soundstorm.data import toy

CONFIG = dict(kss.CONFIGS["tiny"], hidden_dim=32, num_layers=1, num_heads=2, intermediate_dim=64)
BATCH_SIZE = 2


def tiny_model(optimizer, run_eagerly=False):
    model = kss.SoundStorm(kss.SoundStormBackbone(**CONFIG), seed=0)
    model.compile(optimizer=optimizer, run_eagerly=run_eagerly)
    return model


def batches(num_batches):
    return toy.toy_batch(BATCH_SIZE * num_batches, 8, CONFIG, seed=0)


def step_count(optimizer):
    """Training steps (batches) seen; `optimizer.iterations` counts updates."""
    return int(ops.convert_to_numpy(optimizer._iterations))


def learning_rate_at(schedule, step):
    return float(ops.convert_to_numpy(schedule(step)))


def test_schedule_warms_up_then_decays_to_alpha():
    schedule = training.learning_rate_schedule(1e-3, total_steps=110, warmup_steps=10, alpha=0.1)
    assert learning_rate_at(schedule, 0) == 0.0
    assert learning_rate_at(schedule, 5) == pytest.approx(5e-4)
    assert learning_rate_at(schedule, 10) == pytest.approx(1e-3)  # peak
    # Half-way through the decay: (1 - alpha) * 0.5 + alpha of the peak.
    assert learning_rate_at(schedule, 60) == pytest.approx(5.5e-4)
    assert learning_rate_at(schedule, 110) == pytest.approx(1e-4)
    assert learning_rate_at(schedule, 500) == pytest.approx(1e-4)  # stays at the end value
    no_warmup = training.learning_rate_schedule(1e-3, total_steps=100)
    assert learning_rate_at(no_warmup, 0) == pytest.approx(1e-3)
    assert learning_rate_at(no_warmup, 100) == pytest.approx(0.0, abs=1e-12)


def test_make_optimizer_defaults_to_a_constant_rate_and_no_accumulation():
    optimizer = training.make_optimizer(2e-3, gradient_accumulation_steps=1)
    assert float(ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(2e-3)
    assert optimizer.gradient_accumulation_steps is None
    assert optimizer.weight_decay == 0.01 and optimizer.global_clipnorm == 1.0


BAD_ARGUMENTS = [
    (dict(learning_rate=-1e-3), "learning_rate"),
    (dict(learning_rate="fast"), "learning_rate"),
    (dict(total_steps=0), "total_steps"),
    (dict(total_steps=10, warmup_steps=10), "smaller than `total_steps`"),
    (dict(total_steps=10, warmup_steps=-1), "warmup_steps"),
    (dict(warmup_steps=5), "needs `total_steps`"),
    (dict(gradient_accumulation_steps=0), "gradient_accumulation_steps"),
    (dict(gradient_accumulation_steps=2.0), "gradient_accumulation_steps"),
    (dict(total_steps=3, gradient_accumulation_steps=4), "never be updated"),
    (dict(total_steps=10, alpha=1.5), "alpha"),
]


@pytest.mark.parametrize("arguments, message", BAD_ARGUMENTS)
def test_bad_arguments_raise_clear_errors(arguments, message):
    with pytest.raises(ValueError, match=message):
        training.make_optimizer(**arguments)


def test_weights_change_only_every_k_steps():
    k = 3
    model = tiny_model(training.make_optimizer(1e-2, gradient_accumulation_steps=k))
    kernel = model.backbone.get_layer("code_embedding").embeddings
    snapshots = []

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append(ops.convert_to_numpy(kernel).copy())

    before = ops.convert_to_numpy(kernel).copy()
    # One batch an epoch: JAX writes its training state back to the variables
    # at epoch ends, where the callback reads them.
    model.fit(batches(1), epochs=2 * k, batch_size=BATCH_SIZE, verbose=0, callbacks=[Snapshot()])
    changed = [not np.array_equal(a, b) for a, b in zip([before] + snapshots, snapshots)]
    assert changed == [False, False, True, False, False, True]
    assert step_count(model.optimizer) == 2 * k
    assert int(ops.convert_to_numpy(model.optimizer.iterations)) == 2  # updates


def optimizer_state(optimizer):
    return [(v.path, ops.convert_to_numpy(v).copy()) for v in optimizer.variables]


def test_resume_continues_the_schedule_and_the_accumulation(tmp_path):
    """A run killed mid-accumulation resumes with the optimizer state it had."""
    epochs, k = 4, 3  # 2 steps an epoch, an update every 3: cycles cross epoch ends

    def run(callbacks):
        optimizer = training.make_optimizer(
            1e-2, total_steps=2 * epochs, warmup_steps=2, gradient_accumulation_steps=k
        )
        # test_weights_change_only_every_k_steps runs the traced step.
        model = tiny_model(optimizer, run_eagerly=FEW_STEPS_EAGERLY)
        model.fit(batches(2), epochs=epochs, batch_size=BATCH_SIZE, verbose=0, callbacks=callbacks)
        return model

    killed, restored = [], []

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:  # after 4 steps: 1 update, then 1 gradient accumulated
                killed.extend(optimizer_state(self.model.optimizer))
                raise RuntimeError("killed")

    class Restored(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):  # runs after BackupAndRestore's
            restored.extend(optimizer_state(self.model.optimizer))

    backup_dir = str(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="killed"):
        run(training.make_callbacks(backup_dir=backup_dir) + [Interrupt()])
    accumulators = [value for path, value in killed if "gradient_accumulator" in path]
    assert accumulators and any(np.any(value) for value in accumulators)
    resumed = run(training.make_callbacks(backup_dir=backup_dir) + [Restored()])

    # Step count, accumulated gradients and Adam moments all came back.
    assert len(restored) == len(killed)
    for (path, value), (_, restored_value) in zip(killed, restored):
        np.testing.assert_array_equal(restored_value, value, err_msg=path)
    # Only epochs 2 and 3 ran again; the schedule ended where an unbroken run ends.
    assert step_count(resumed.optimizer) == 2 * epochs
    assert int(ops.convert_to_numpy(resumed.optimizer.iterations)) == 2 * epochs // k
    end_rate = learning_rate_at(resumed.optimizer._learning_rate, 2 * epochs)
    assert float(ops.convert_to_numpy(resumed.optimizer.learning_rate)) == pytest.approx(end_rate)


def read_scalar_tags(log_dir):
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    tags = set()
    for path in glob.glob(os.path.join(log_dir, "train", "events.out.tfevents.*")):
        for event in EventFileLoader(path).Load():
            tags.update(value.tag for value in event.summary.value)
    return tags


def train_command(tmp_path, *extra):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(CONFIG))
    return [
        "train",
        "--config",
        str(config),
        "--output",
        str(tmp_path / "preset"),
        "--epochs",
        "2",
        "--steps-per-epoch",
        "2",
        "--batch-size",
        "2",
        "--max-frames",
        "8",
        *extra,
    ]


def test_cli_train_long_run_options(tmp_path):
    log_dir = str(tmp_path / "logs")
    options = ["--warmup-steps", "1", "--gradient-accumulation-steps", "2", "--log-dir", log_dir]
    try:
        cli.main(["--dtype", "mixed_bfloat16", *train_command(tmp_path, *options)])
    finally:  # `--dtype` sets the global policy
        keras.config.set_dtype_policy("float32")
    # TensorBoard: loss, accuracy and the learning rate every epoch.
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= read_scalar_tags(log_dir)
    # Finished: the backup is gone, so the next run starts afresh.
    assert not os.path.exists(str(tmp_path / "preset") + ".backup")
    # keras-hub 0.32's `from_preset` cannot read a mixed policy back by itself
    # (`is_float_dtype("mixed_bfloat16")` raises); `SoundStorm.from_preset` passes it.
    model = kss.SoundStorm.from_preset(str(tmp_path / "preset"))
    assert model.backbone.dtype_policy.name == "mixed_bfloat16"
    embeddings = model.backbone.get_layer("code_embedding").embeddings
    assert embeddings.dtype == "float32"  # variables stay float32, compute is bfloat16
    assert np.isfinite(ops.convert_to_numpy(embeddings)).all()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--warmup-steps", "4"], "--warmup-steps"),
        (["--gradient-accumulation-steps", "0"], "--gradient-accumulation-steps"),
        (["--learning-rate", "0"], "--learning-rate"),
    ],
)
def test_cli_train_rejects_bad_long_run_options(tmp_path, extra, message):
    with pytest.raises(SystemExit, match=message):
        cli.main(train_command(tmp_path, *extra))
    assert not os.path.exists(tmp_path / "preset")


def test_record_in_metadata_adds_a_key_and_keeps_the_rest(tmp_path):
    from keras_soundstorm.utils.preset_files import record_in_metadata

    (tmp_path / "metadata.json").write_text(json.dumps({"training": {"steps": 3}}))
    record_in_metadata(tmp_path, "evaluation", {"speaker_cosine": 0.91})
    stored = json.loads((tmp_path / "metadata.json").read_text())
    assert stored == {"training": {"steps": 3}, "evaluation": {"speaker_cosine": 0.91}}
    assert sorted(os.listdir(tmp_path)) == ["metadata.json"]  # no temporary file left
    with pytest.raises(ValueError, match="has no metadata.json"):
        record_in_metadata(tmp_path / "missing", "evaluation", {})


def test_wall_time_accumulates_across_runs(tmp_path):
    from keras_soundstorm.callbacks import WallTime

    path = str(tmp_path / "wall_time.json")
    first = WallTime(path)
    first.on_epoch_end(0)
    second = WallTime(path)
    assert second.epochs_done == 1 and second.previous >= 0
    second.on_epoch_end(1)
    assert json.loads(open(path).read())["epochs_done"] == 2


def test_recipe_callbacks_resume_a_longer_rerun_where_the_first_stopped(tmp_path):
    work_dir = str(tmp_path / "run")

    def run(epochs):
        callbacks, wall_time = training.recipe_callbacks(work_dir)
        model = tiny_model(training.make_optimizer(1e-3), run_eagerly=FEW_STEPS_EAGERLY)
        model.fit(batches(2), epochs=epochs, batch_size=BATCH_SIZE, verbose=0, callbacks=callbacks)
        return model, wall_time

    first, _ = run(2)
    assert step_count(first.optimizer) == 4
    resumed, wall_time = run(3)  # raising --epochs continues: one more epoch only
    assert wall_time.epochs_done == 2  # read at construction, before the rerun's epoch
    assert step_count(resumed.optimizer) == 6
    with open(os.path.join(work_dir, "history.csv")) as f:
        epochs_logged = [line.split(",")[0] for line in f.read().splitlines()[1:]]
    assert epochs_logged == ["0", "1", "2"]
    assert json.loads(open(os.path.join(work_dir, "wall_time.json")).read())["epochs_done"] == 3


def test_training_record_of_a_continued_run_adds_the_earlier_run(tmp_path):
    import argparse

    first = training.training_record(
        "examples/train_x.py", argparse.Namespace(epochs=3, init_from=None), 300, 120.0, batch="b"
    )
    assert first["training_steps"] == 300 and first["training_wall_time_minutes"] == 2.0
    assert first["training_command"] == "python examples/train_x.py --epochs 3 --init-from None"
    assert first["batch"] == "b" and "initialised_from" not in first
    (tmp_path / "metadata.json").write_text(json.dumps({"training": first, "other": 1}))

    earlier = training.preset_training_record(str(tmp_path))
    assert earlier == first
    second = training.training_record(
        "examples/train_x.py",
        argparse.Namespace(epochs=2, init_from=str(tmp_path)),
        200,
        60.0,
        init_from=str(tmp_path),
        earlier=earlier,
    )
    assert second["training_steps"] == 500
    assert second["training_wall_time_minutes"] == 3.0
    assert second["initialised_from"] == {"preset": str(tmp_path), "training": first}
    assert "this run: 200 steps, 1.0 min" in second["note"]
    # A third run records the second one's totals, not a nested chain.
    (tmp_path / "metadata.json").write_text(json.dumps({"training": second}))
    assert "initialised_from" not in training.preset_training_record(str(tmp_path))


# --- a train run killed at any moment resumes from its last complete backup (issue 15, item 2) ---
# The file-level guarantees of backups (Keras' backend-neutral .h5 files): run on one backend.

BACKEND = keras.backend.backend()


# A large codebook makes each backup (level heads, embeddings, Adam moments)
# tens of MB, so that its write lasts long enough to be killed in the middle.
BIG = dict(
    kss.CONFIGS["tiny"],
    codebook_size=16384,
    hidden_dim=32,
    num_layers=1,
    num_heads=2,
    intermediate_dim=64,
)


EPOCHS = 3


def killable_train_command(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(BIG))
    return [
        sys.executable,
        "-m",
        "keras_soundstorm.cli",
        "--backend",
        BACKEND,
        "train",
        "--config",
        str(config),
        "--output",
        str(tmp_path / "preset"),
        "--epochs",
        str(EPOCHS),
        "--steps-per-epoch",
        "2",
        "--batch-size",
        "2",
        "--max-frames",
        "8",
    ]


def completed_epochs(backup_dir):
    try:
        with open(os.path.join(backup_dir, "training_metadata.json")) as f:
            return json.load(f)["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def weight_files(backup_dir):
    found = {}
    if os.path.isdir(backup_dir):
        for name in os.listdir(backup_dir):
            if name.endswith(".h5"):
                try:
                    stat = os.stat(os.path.join(backup_dir, name))
                except FileNotFoundError:
                    continue
                found[name] = (stat.st_mtime_ns, stat.st_size)
    return found


def run_and_kill(command, backup_dir, moment):
    """Starts `command` and SIGKILLs it at `moment`; returns True if it was killed there."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wanted_complete = {"first backup write": 0, "second backup write": 1, "after a backup": 1}
    deadline = time.time() + 900
    seen = None
    try:
        while process.poll() is None and time.time() < deadline:
            complete = completed_epochs(backup_dir)
            if moment == "after a backup":
                if complete >= 1:
                    break
            elif complete == wanted_complete[moment]:
                files = weight_files(backup_dir)
                if seen is None:
                    seen = files
                elif files != seen:  # a weights file appeared or grew: a write in progress
                    break
            elif complete > wanted_complete[moment]:
                seen = None  # missed it
            time.sleep(0.002)
        killed = process.poll() is None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return killed


@pytest.mark.slow
@pytest.mark.backend_independent
@pytest.mark.parametrize("moment", ["first backup write", "second backup write", "after a backup"])
def test_a_killed_train_run_resumes_and_finishes(tmp_path, moment):
    command = killable_train_command(tmp_path)
    backup_dir = str(tmp_path / "preset") + ".backup"
    assert run_and_kill(command, backup_dir, moment), "the run ended before it could be killed"
    complete = completed_epochs(backup_dir)
    assert not os.path.exists(tmp_path / "preset")

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "Traceback" not in rerun.stderr
    # Completed epochs are not trained again; the rest are.
    for epoch in range(1, EPOCHS + 1):
        assert (f"Epoch {epoch}/{EPOCHS}" in rerun.stdout) == (epoch > complete), rerun.stdout
    if complete:
        assert f"{complete} epoch(s) done" in rerun.stdout
    model = kss.SoundStorm.from_preset(str(tmp_path / "preset"))
    assert model.backbone.codebook_size == BIG["codebook_size"]
    assert not os.path.exists(backup_dir)  # removed once the preset is saved


SMALL = dict(BIG, codebook_size=64)


def fit_with_backup(backup_dir, epochs=2):
    model = kss.SoundStorm(kss.SoundStormBackbone(**SMALL), seed=0)
    model.compile(optimizer=training.make_optimizer(1e-3))
    data = toy.toy_batch(4, 8, SMALL, seed=0)
    history = model.fit(
        data,
        epochs=epochs,
        batch_size=2,
        verbose=0,
        callbacks=training.make_callbacks(backup_dir, delete_backup=False),
    )
    return model, history


def truncate(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)


@pytest.mark.backend_independent
def test_a_truncated_keras_backup_warns_and_starts_over(tmp_path):
    """A backup left by `keras.callbacks.BackupAndRestore` killed mid-write."""
    backup_dir = tmp_path / "backup"
    model, _ = fit_with_backup(str(tmp_path / "scratch"), epochs=1)
    backup_dir.mkdir()
    model.save_weights(str(backup_dir / "latest.weights.h5"))
    (backup_dir / "training_metadata.json").write_text(json.dumps({"epoch": 1, "batch": 0}))
    truncate(backup_dir / "latest.weights.h5")
    with pytest.warns(UserWarning, match="starts over from epoch 0"):
        _, history = fit_with_backup(str(backup_dir))
    assert history.epoch == [0, 1] and all(np.isfinite(history.history["loss"]))
    # The next completed epochs replaced it: a rerun resumes from them.
    _, history = fit_with_backup(str(backup_dir), epochs=3)
    assert history.epoch == [2]


@pytest.mark.slow
@pytest.mark.backend_independent
def test_a_rerun_after_a_kill_mid_write_keeps_the_completed_epochs(tmp_path):
    """A half-written new backup never replaces the last complete one."""
    backup_dir = str(tmp_path / "backup")
    fit_with_backup(backup_dir, epochs=1)
    # A kill while writing the next backup leaves a partial file beside it.
    partial = os.path.join(backup_dir, f".partial-{os.getpid() + 1}.weights.h5")
    with h5py.File(partial, "w") as f:
        f.create_dataset("x", data=np.zeros(1000))
    truncate(partial)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model, history = fit_with_backup(backup_dir, epochs=2)
    assert history.epoch == [1]  # epoch 0 was complete
    assert not os.path.exists(partial)
    assert sorted(os.listdir(backup_dir))[-1] == "training_metadata.json"
