"""The exported SavedModel rejects bad inputs (issue 15, item 6).

Every bad input goes through the loaded `serving_default` signature in a
TensorFlow-only process and must come back as an `InvalidArgumentError` naming
the input, as `generate` refuses the same input in Python.
"""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import TINY, make_backbone

import keras_soundstorm as kss

C, Q, V = TINY["codebook_size"], TINY["num_levels"], TINY["conditioning_vocabulary_size"]

pytestmark = pytest.mark.skipif(
    keras.backend.backend() == "torch", reason="torch cannot export a SavedModel"
)

# Loads the SavedModel once and runs every case (inputs as flat values and a
# shape, so that empty arrays keep their rank); prints the results as JSON.
CASES_PROCESS = r"""
import json, sys
import tensorflow as tf

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("keras_hub", "keras_soundstorm", "jax"):
            raise ModuleNotFoundError("blocked " + name, name=name)

sys.meta_path.insert(0, Block())
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
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
