"""The training recipes in examples/ run end to end, resume and continue a preset (tiny sizes)."""

import json
import os
import subprocess
import sys

import keras
import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="the recipes run on TensorFlow (their default backend); tested in the TensorFlow job",
)


def run_recipe(script, *args, expect_success=True):
    result = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, script), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "tensorflow"},
        timeout=600,
    )
    if expect_success:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def training_metadata(preset):
    with open(os.path.join(preset, "metadata.json")) as f:
        return json.load(f)["training"]


def epochs_in_history(work_dir):
    with open(os.path.join(work_dir, "history.csv")) as f:
        return [line.split(",")[0] for line in f.read().splitlines()[1:]]


@pytest.mark.slow
def test_codec_then_soundstorm_recipes_train_resume_and_continue(tmp_path):
    codec_dir, storm_dir = str(tmp_path / "codec"), str(tmp_path / "soundstorm")
    codec_preset = os.path.join(codec_dir, "preset")
    codec_args = ["--work-dir", codec_dir, "--output", codec_preset, "--steps-per-epoch", "2"]
    codec_args += ["--batch-size", "2", "--voices-per-sentence", "1", "--decay-epochs", "0"]
    run_recipe("train_codec.py", *codec_args, "--epochs", "1")
    assert training_metadata(codec_preset)["training_steps"] == 2

    storm_args = ["--codec", codec_preset, "--work-dir", storm_dir, "--steps-per-epoch", "2"]
    storm_args += ["--batch-size", "2", "--max-frames", "40", "--hidden-dim", "32"]
    storm_args += ["--num-layers", "1", "--num-heads", "2", "--voices-per-sentence", "1"]
    storm_args += ["--warmup-steps", "0"]
    first = os.path.join(storm_dir, "first")
    run_recipe("train_soundstorm.py", *storm_args, "--output", first, "--epochs", "1")
    # A rerun with more epochs resumes from the backup: one more epoch, not two.
    run_recipe("train_soundstorm.py", *storm_args, "--output", first, "--epochs", "2")
    assert epochs_in_history(storm_dir) == ["0", "1"]
    assert training_metadata(first)["training_steps"] == 4

    continued_dir = str(tmp_path / "continued")
    continued = os.path.join(continued_dir, "preset")
    same_but_work_dir = ["--codec", codec_preset, *storm_args[4:]]
    run_recipe(
        "train_soundstorm.py",
        *same_but_work_dir,
        *["--work-dir", continued_dir, "--output", continued, "--epochs", "1"],
        *["--init-from", first],
    )
    record = training_metadata(continued)
    assert record["training_steps"] == 4 + 2
    assert record["initialised_from"]["preset"] == first


def test_soundstorm_recipe_refuses_a_missing_codec(tmp_path):
    result = run_recipe(
        "train_soundstorm.py",
        *["--codec", str(tmp_path / "no_such_codec"), "--work-dir", str(tmp_path / "run")],
        expect_success=False,
    )
    assert result.returncode != 0
    assert "train_soundstorm.py: error: Preset " in result.stderr
    assert "nor an existing directory" in result.stderr
    assert "no_such_codec" in result.stderr and "Traceback" not in result.stderr
