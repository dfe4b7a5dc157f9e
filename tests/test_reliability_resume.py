"""A `train` run killed at any moment resumes from its last complete backup (issue 15, item 2)."""

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

import keras_soundstorm as kss
from keras_soundstorm import training
from keras_soundstorm.data import toy

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


def train_command(tmp_path):
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


@pytest.mark.parametrize("moment", ["first backup write", "second backup write", "after a backup"])
def test_a_killed_train_run_resumes_and_finishes(tmp_path, moment):
    command = train_command(tmp_path)
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
