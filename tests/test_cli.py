"""The `keras-soundstorm` commands `info` and `generate`, run as a user runs them."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import make_backbone

import keras_soundstorm as kss
from keras_soundstorm import cli

BACKEND = keras.backend.backend()


def run_cli(*args):
    """Runs the CLI in a fresh process on this test run's backend."""
    return subprocess.run(
        [sys.executable, "-m", "keras_soundstorm.cli", "--backend", BACKEND, *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_info_prints_versions_and_the_shipped_presets():
    result = run_cli("info")
    assert result.returncode == 0, result.stderr
    assert f"keras-soundstorm {kss.__version__}" in result.stdout
    assert f"backend {BACKEND}" in result.stdout
    for name, entry in {**kss.SoundStorm.presets, **kss.codecs.SoundStream.presets}.items():
        assert name in result.stdout
        assert f"{entry['parameter_count']:,} parameters" in result.stdout


def test_info_of_a_shipped_preset_prints_its_config(capsys):
    cli.main(["info", "soundstorm_espeak_small"])
    out = capsys.readouterr().out
    model = kss.SoundStorm.from_preset("soundstorm_espeak_small")
    assert f'"hidden_dim": {model.backbone.hidden_dim}' in out
    assert f"parameters: {model.count_params():,}" in out


def test_generate_writes_exactly_the_output_path(tmp_path, capsys):
    model = kss.SoundStorm(make_backbone())
    model.save_to_preset(tmp_path / "preset")
    backbone = model.backbone
    conditioning = (
        np.arange(12, dtype="int32").reshape(2, 6) % backbone.conditioning_vocabulary_size
    )
    np.save(tmp_path / "conditioning.npy", conditioning)
    output = tmp_path / "codes"  # no .npy suffix: written as given
    args = ["generate", "--preset", str(tmp_path / "preset")]
    args += ["--conditioning", str(tmp_path / "conditioning.npy"), "--output", str(output)]
    cli.main(args + ["--seed", "3", "--steps-per-level", "2,1,1,1"])
    assert f"Wrote {output}: codes (2, 12, 4)" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == ["codes", "conditioning.npy", "preset"]
    codes = np.load(output)
    expected = model.generate(conditioning=conditioning, steps_per_level=(2, 1, 1, 1), seed=3)
    np.testing.assert_array_equal(codes, expected)


def test_generate_bad_input_is_one_error_line(tmp_path):
    model = kss.SoundStorm(make_backbone())
    model.save_to_preset(tmp_path / "preset")
    too_large = np.full((1, 6), model.backbone.conditioning_vocabulary_size, "int32")
    np.save(tmp_path / "conditioning.npy", too_large)
    args = ["generate", "--preset", str(tmp_path / "preset")]
    args += ["--conditioning", str(tmp_path / "conditioning.npy"), "--output", "unused.npy"]
    with pytest.raises(SystemExit, match="keras-soundstorm generate: error: .*conditioning"):
        cli.main(args)
