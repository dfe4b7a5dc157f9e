"""SavedModel export: runs in a TensorFlow-only process and matches `generate`."""

import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import make_backbone

import keras_soundstorm as kss

BACKEND = keras.backend.backend()

# Runs in a fresh interpreter. TensorFlow 2.21 imports keras itself at import
# time; after that, keras_hub / keras_soundstorm / jax are made unimportable.
CLEAN_PROCESS = r"""
import json, sys
import numpy as np
import tensorflow as tf

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("keras_hub", "keras_soundstorm", "jax"):
            raise ModuleNotFoundError("blocked " + name, name=name)

sys.meta_path.insert(0, Block())
args = json.loads(sys.argv[2])
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
out = serve(**{
    name: tf.constant(value, tf.float32 if name == "guidance_scale" else tf.int32)
    for name, value in args.items()
})
np.save(sys.argv[3], out["codes"].numpy())
"""


def run_clean(path, tmp_path, **inputs):
    out = tmp_path / "out.npy"
    result = subprocess.run(
        [sys.executable, "-c", CLEAN_PROCESS, str(path), json.dumps(inputs), str(out)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return np.load(out)


@pytest.mark.skipif(BACKEND == "torch", reason="torch export is tested to raise below")
def test_saved_model_matches_generate_in_a_tensorflow_only_process(tmp_path):
    model = kss.SoundStorm(make_backbone())
    rng = np.random.default_rng(0)
    conditioning = rng.integers(0, 32, (2, 64))  # 128 frames: one generate bucket
    prompt = rng.integers(0, 64, (2, 5, 4))
    # generate first: its cached compiled decode must not get in the export's way.
    expected = model.generate(
        conditioning=conditioning, prompt_codes=prompt, prompt_length=[5, 2], seed=7
    )
    path = tmp_path / "soundstorm" / "1"
    model.export_saved_model(path)
    codes = run_clean(
        path,
        tmp_path,
        conditioning=conditioning.tolist(),
        prompt_codes=prompt.tolist(),
        prompt_length=[5, 2],
        seed=7,
    )
    np.testing.assert_array_equal(codes, expected)
    # Another batch size and length, no prompt.
    codes = run_clean(
        path,
        tmp_path,
        conditioning=[[1, 2, 3]],
        prompt_codes=[[[0] * 4]],
        prompt_length=[0],
        seed=1,
    )
    assert codes.shape == (1, 6, 4) and (codes >= 0).all() and (codes < 64).all()


@pytest.mark.skipif(BACKEND == "torch", reason="torch export is tested to raise below")
def test_saved_model_cli_shows_the_signature(tmp_path):
    model = kss.SoundStorm(make_backbone())
    path = tmp_path / "export"
    model.export_saved_model(path)
    cli = shutil.which("saved_model_cli") or os.path.join(
        os.path.dirname(sys.executable), "saved_model_cli"
    )
    shown = subprocess.run(
        [cli, "show", "--all", "--dir", str(path)], check=True, capture_output=True, text=True
    ).stdout
    for name, shape in [
        ("conditioning", "(-1, -1)"),
        ("prompt_codes", "(-1, -1, 4)"),
        ("prompt_length", "(-1)"),
        ("seed", "()"),
    ]:
        block = shown.split(f"inputs['{name}']")[1]
        assert "DT_INT32" in block.split("name:")[0] and shape in block.split("name:")[0]
    assert "outputs['codes']" in shown


@pytest.mark.skipif(BACKEND != "torch", reason="only torch refuses to export")
def test_torch_export_is_a_clear_error(tmp_path):
    model = kss.SoundStorm(make_backbone())
    with pytest.raises(ValueError, match="tensorflow or jax backend"):
        model.export_saved_model(tmp_path / "x")


def test_unconditional_export_is_a_clear_error(tmp_path):
    model = kss.SoundStorm(make_backbone(conditioning_vocabulary_size=0))
    if BACKEND == "torch":
        pytest.skip("torch refuses earlier, tested above")
    with pytest.raises(ValueError, match="conditional"):
        model.export_saved_model(tmp_path / "x")


@pytest.mark.skipif(BACKEND != "tensorflow", reason="one backend suffices for the CLI layout")
def test_cli_export_writes_versioned_directories_and_the_rest_example_runs(tmp_path):
    from keras_soundstorm import cli

    # Like the shipped preset: trained with conditioning dropout, so its
    # SavedModel takes a guidance scale.
    model = kss.SoundStorm(make_backbone(conditioning_dropout=0.1))
    model.save_to_preset(tmp_path / "preset")
    for expected_version in ("1", "2"):
        cli.main(["export", "--preset", str(tmp_path / "preset"), "--output", str(tmp_path / "m")])
        assert expected_version in os.listdir(tmp_path / "m")
    # The README's REST payload matches the signature and runs through the SavedModel.
    here = os.path.dirname(__file__)
    with open(os.path.join(here, "..", "examples", "serving_request.json")) as f:
        request = json.load(f)
    assert request["signature_name"] == "serving_default"
    expected = {"conditioning", "prompt_codes", "prompt_length", "seed", "guidance_scale"}
    assert set(request["inputs"]) == expected
    # The payload's scale is the one the shipped preset decodes with.
    shipped = kss.SoundStorm.from_preset("soundstorm_espeak_small").decoding
    assert request["inputs"]["guidance_scale"] == shipped["guidance_scale"]
    codes = run_clean(tmp_path / "m" / "2", tmp_path, **request["inputs"])
    assert codes.shape == (1, 2 * len(request["inputs"]["conditioning"][0]), 4)
