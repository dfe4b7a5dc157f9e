"""SavedModel export: runs in a TensorFlow-only process, matches `generate`, rejects bad inputs."""

import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import TF_ONLY_PROCESS, TINY, make_backbone

import keras_soundstorm as kss

BACKEND = keras.backend.backend()

# Runs in a fresh interpreter. TensorFlow 2.21 imports keras itself at import
# time; after that, keras_hub / keras_soundstorm / jax are made unimportable.
CLEAN_PROCESS = (
    TF_ONLY_PROCESS
    + r"""
args = json.loads(sys.argv[2])
out = serve(**{
    name: tf.constant(value, tf.float32 if name == "guidance_scale" else tf.int32)
    for name, value in args.items()
})
np.save(sys.argv[3], out["codes"].numpy())
"""
)


def run_clean(path, tmp_path, **inputs):
    out = tmp_path / "out.npy"
    result = subprocess.run(
        [sys.executable, "-c", CLEAN_PROCESS, str(path), json.dumps(inputs), str(out)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return np.load(out)


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


# --- the served signature rejects bad inputs (issue 15, item 6) ------------
# Every bad input goes through the loaded `serving_default` signature in a
# TensorFlow-only process and must come back as an `InvalidArgumentError` naming
# the input, as `generate` refuses the same input in Python.

C, Q, V = TINY["codebook_size"], TINY["num_levels"], TINY["conditioning_vocabulary_size"]


# Loads the SavedModel once and runs every case (inputs as flat values and a
# shape, so that empty arrays keep their rank); prints the results as JSON.
CASES_PROCESS = (
    TF_ONLY_PROCESS
    + r"""
results = {}
for name, args in json.loads(sys.argv[2]).items():
    try:
        out = serve(**{
            key: tf.reshape(tf.constant(flat, tf.int32), shape)
            for key, (flat, shape) in args.items()
        })
        results[name] = {"ok": out["codes"].numpy().tolist()}
    except tf.errors.InvalidArgumentError as error:
        results[name] = {"error": "InvalidArgumentError", "message": error.message}
    except Exception as error:
        results[name] = {"error": type(error).__name__, "message": str(error)}
print(json.dumps(results))
"""
)


GOOD = dict(
    conditioning=[[1, 2, 3], [4, 5, 6]],
    prompt_codes=[[[1, 2, 3, 4]] * 2, [[5, 6, 7, 8]] * 2],
    prompt_length=[2, 1],
    seed=3,
)


# name: (changed inputs, the input the error must name)
BAD = {
    "prompt id == C (MASK)": (
        dict(prompt_codes=[[[C, 2, 3, 4]] * 2, [[5, 6, 7, 8]] * 2]),
        "prompt_codes",
    ),
    "prompt id > C": (
        dict(prompt_codes=[[[1, 2, 3, 4]] * 2, [[5, 6, 7, 1000]] * 2]),
        "prompt_codes",
    ),
    "negative prompt id": (
        dict(prompt_codes=[[[1, -1, 3, 4]] * 2, [[5, 6, 7, 8]] * 2]),
        "prompt_codes",
    ),
    "conditioning id == V": (dict(conditioning=[[1, 2, V], [4, 5, 6]]), "conditioning"),
    "negative conditioning id": (dict(conditioning=[[1, 2, 3], [4, -5, 6]]), "conditioning"),
    "prompt_length > P": (dict(prompt_length=[3, 1]), "prompt_length"),
    "prompt_length > T": (
        dict(conditioning=[[1], [2]], prompt_codes=[[[1, 2, 3, 4]] * 3] * 2, prompt_length=[3, 0]),
        "prompt_length",
    ),
    "negative prompt_length": (dict(prompt_length=[2, -1]), "prompt_length"),
    "prompt_length batch of 1": (dict(prompt_length=[2]), "prompt_length"),
    "prompt_length batch of 3": (dict(prompt_length=[2, 1, 0]), "prompt_length"),
    "prompt_codes batch of 1": (dict(prompt_codes=[[[1, 2, 3, 4]] * 2]), "prompt_codes"),
    "no prompt frames": (dict(prompt_codes=np.zeros((2, 0, Q), int)), "prompt_codes"),
    "empty conditioning": (
        dict(conditioning=np.zeros((2, 0), int), prompt_length=[0, 0]),
        "conditioning",
    ),
    "a batch of 0": (
        dict(
            conditioning=np.zeros((0, 3), int),
            prompt_codes=np.zeros((0, 1, Q), int),
            prompt_length=np.zeros(0, int),
        ),
        "conditioning",
    ),
    "negative seed": (dict(seed=-1), "seed"),
}


def run_cases(path, cases):
    encoded = {
        name: {key: (np.ravel(v).tolist(), np.shape(v)) for key, v in args.items()}
        for name, args in cases.items()
    }
    shown = subprocess.run(
        [sys.executable, "-c", CASES_PROCESS, str(path), json.dumps(encoded)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(shown.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(BACKEND == "torch", reason="torch cannot export a SavedModel")
def test_served_model_rejects_each_bad_input_naming_it(tmp_path):
    model = kss.SoundStorm(make_backbone())
    path = tmp_path / "export" / "1"
    model.export_saved_model(path, steps_per_level=(2, 1, 1, 1))
    cases = {"good": GOOD}
    cases.update({name: {**GOOD, **changed} for name, (changed, _) in BAD.items()})
    results = run_cases(path, cases)

    good = np.array(results["good"]["ok"])
    assert good.shape == (2, 6, Q) and (good >= 0).all() and (good < C).all()
    np.testing.assert_array_equal(good[0, :2], GOOD["prompt_codes"][0])
    failures = []
    for name, (_, culprit) in BAD.items():
        result = results[name]
        if result.get("error") != "InvalidArgumentError" or f"`{culprit}`" not in result["message"]:
            failures.append(f"{name}: {str(result)[:300]}")
    assert not failures, "\n".join(failures)


def _export_and_load(model, path):
    import tensorflow as tf

    model.export_saved_model(str(path))
    return tf.saved_model.load(str(path)).signatures["serving_default"]


def _serve(serve, guided, **inputs):
    import tensorflow as tf

    tensors = {name: tf.constant(value, tf.int32) for name, value in inputs.items()}
    if guided:
        tensors["guidance_scale"] = tf.constant(0.0)
    return serve(**tensors)["codes"].numpy()


@pytest.mark.skipif(BACKEND == "torch", reason="torch export is tested to raise below")
def test_saved_model_takes_the_null_conditioning_id_of_a_guided_model(tmp_path):
    """`generate` takes id V (the null conditioning) on a guided model; the served
    checks refused it (`conditioning` ids must be in [0, V))."""
    model = kss.SoundStorm(make_backbone(conditioning_dropout=0.2))
    V = model.backbone.conditioning_vocabulary_size
    conditioning = np.array([[V, 3, V, 0], [1, V, V, V]], "int32")
    expected = model.generate(conditioning=conditioning, seed=3, bucket_frames=8)
    serve = _export_and_load(model, tmp_path / "export")
    codes = _serve(
        serve,
        True,
        conditioning=conditioning,
        prompt_codes=np.zeros((2, 1, 4), "int32"),
        prompt_length=[0, 0],
        seed=3,
    )
    np.testing.assert_array_equal(codes, expected)


@pytest.mark.skipif(BACKEND == "torch", reason="torch export is tested to raise below")
@pytest.mark.parametrize("guided", [False, True])
def test_saved_model_refuses_what_generate_refuses(tmp_path, guided):
    import tensorflow as tf

    model = kss.SoundStorm(make_backbone(conditioning_dropout=0.2 if guided else 0.0))
    V, C = model.backbone.conditioning_vocabulary_size, model.backbone.codebook_size
    good = dict(
        conditioning=np.zeros((1, 4), "int32"),
        prompt_codes=np.zeros((1, 2, 4), "int32"),
        prompt_length=[2],
        seed=0,
    )
    bad = [
        dict(conditioning=np.full((1, 4), V + int(guided), "int32")),
        dict(conditioning=np.full((1, 4), -1, "int32")),
        dict(prompt_codes=np.full((1, 2, 4), C, "int32")),
        dict(prompt_length=[3]),
        dict(prompt_length=[-1]),
        dict(seed=-1),
    ]
    serve = _export_and_load(model, tmp_path / "export")
    _serve(serve, guided, **good)
    for case in bad:
        inputs = dict(good, **case)
        with pytest.raises(ValueError):
            model.generate(**inputs)
        name = next(iter(case))
        with pytest.raises(tf.errors.InvalidArgumentError, match=f"`{name}`"):
            _serve(serve, guided, **inputs)


@pytest.mark.skipif(BACKEND == "torch", reason="torch export is tested to raise below")
def test_same_seed_same_codes_whatever_bucket_frames_and_in_the_saved_model(tmp_path):
    """The noise was drawn for the padded [B, T_padded, C] tensor in row-major
    order, so `bucket_frames` changed the codes of every example after the first
    and the SavedModel (which pads nothing) disagreed with `generate`'s default."""
    model = kss.SoundStorm(make_backbone())
    rng = np.random.default_rng(0)
    conditioning = rng.integers(0, 32, (3, 12)).astype("int32")  # T = 24
    prompt = rng.integers(0, 64, (3, 4, 4)).astype("int32")
    kwargs = dict(conditioning=conditioning, prompt_codes=prompt, prompt_length=[4, 0, 2], seed=5)
    codes = {b: model.generate(**kwargs, bucket_frames=b) for b in (1, 5, 128)}
    np.testing.assert_array_equal(codes[5], codes[1])  # padded to 30 frames
    np.testing.assert_array_equal(codes[128], codes[1])  # padded to 128 frames
    serve = _export_and_load(model, tmp_path / "export")
    served = _serve(serve, False, **kwargs)
    np.testing.assert_array_equal(served, codes[128])


@pytest.mark.skipif(BACKEND == "torch", reason="torch export is tested to raise above")
def test_saved_model_refuses_nan_logits(tmp_path):
    """NaN weights give an InvalidArgument error, not codes chosen from NaN logits."""
    import tensorflow as tf

    model = kss.SoundStorm(make_backbone())
    for variable in model.level_heads.trainable_variables:
        variable.assign(np.full(variable.shape, np.nan, "float32"))
    serve = _export_and_load(model, tmp_path / "export")
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or inf"):
        _serve(
            serve,
            False,
            conditioning=np.zeros((1, 4), "int32"),
            prompt_codes=np.zeros((1, 1, 4), "int32"),
            prompt_length=[0],
            seed=0,
        )
