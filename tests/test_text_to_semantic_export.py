"""TextToSemantic SavedModel: served tokens equal `generate`'s (also in a TensorFlow-only
process), dynamic batch and lengths, bad inputs rejected naming them."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import TF_ONLY_PROCESS
from test_text_to_semantic import END, TINY, _batch, _model, _randomised

BACKEND = keras.backend.backend()
NOT_TORCH = pytest.mark.skipif(BACKEND == "torch", reason="torch export is tested to raise")

SAMPLINGS = {"greedy": dict(top_k=1), "sampled": dict(temperature=0.9, top_k=8, top_p=0.9)}
MAX_NEW_TOKENS = 12

# Runs in a fresh interpreter that cannot import keras_hub, keras_soundstorm or
# jax (TensorFlow imports keras itself first): each request's outputs as JSON.
CLEAN_PROCESS = (
    TF_ONLY_PROCESS
    + r"""
results = []
for request in json.loads(sys.argv[2]):
    out = serve(**{name: tf.constant(value, tf.int32) for name, value in request.items()})
    results.append({name: tensor.numpy().tolist() for name, tensor in out.items()})
print(json.dumps(results))
"""
)


def _requests():
    """A padded batch (one row without a prompt), then another batch size and widths."""
    text, text_lengths, prompt, prompt_lengths = _batch()
    prompt_lengths = np.array([4, 0, 2], "int32")  # row 1: no prompt
    rng = np.random.default_rng(1)
    other = dict(
        text_ids=rng.integers(3, 60, (2, 7)),
        text_lengths=np.array([7, 2]),
        prompt_semantic=rng.integers(0, END, (2, 1)),
        prompt_lengths=np.array([1, 0]),
        seed=5,
    )
    first = dict(
        text_ids=text,
        text_lengths=text_lengths,
        prompt_semantic=prompt,
        prompt_lengths=prompt_lengths,
        seed=11,
    )
    return [{k: np.asarray(v, "int32") for k, v in r.items()} for r in (first, other)]


def _generate(model, request, **sampling):
    return model.generate(
        request["text_ids"],
        request["prompt_semantic"],
        text_lengths=request["text_lengths"],
        prompt_lengths=request["prompt_lengths"],
        seed=int(request["seed"]),
        max_length=MAX_NEW_TOKENS,
        **sampling,
    )


@pytest.mark.slow
@NOT_TORCH
@pytest.mark.parametrize("sampling", sorted(SAMPLINGS))
def test_served_tokens_equal_generate_in_a_tensorflow_only_process(tmp_path, sampling):
    model = _randomised(_model())
    requests = _requests()
    # generate first: its cached compiled decode must not get in the export's way.
    expected = [_generate(model, r, **SAMPLINGS[sampling]) for r in requests]
    path = tmp_path / "text_to_semantic" / "1"
    model.export_saved_model(path, max_new_tokens=MAX_NEW_TOKENS, **SAMPLINGS[sampling])
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            CLEAN_PROCESS,
            str(path),
            json.dumps([{k: v.tolist() for k, v in r.items()} for r in requests]),
        ],
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stderr[-3000:]
    served = json.loads(shown.stdout.strip().splitlines()[-1])
    for want, got in zip(expected, served):
        assert set(got) == {"tokens", "lengths"}
        np.testing.assert_array_equal(np.array(got["tokens"], "int32").reshape(want.shape), want)
        np.testing.assert_array_equal(got["lengths"], (want >= 0).sum(axis=1))
    assert max(served[0]["lengths"]) >= 5  # several decoding steps compared


def _load(model, path, **kwargs):
    import tensorflow as tf

    model.export_saved_model(path, max_new_tokens=MAX_NEW_TOKENS, **kwargs)
    return tf.saved_model.load(str(path)).signatures["serving_default"]


def _serve(serve, request):
    import tensorflow as tf

    out = serve(**{name: tf.constant(value, tf.int32) for name, value in request.items()})
    return {name: tensor.numpy() for name, tensor in out.items()}


@NOT_TORCH
def test_served_tokens_equal_generate_in_this_process(tmp_path):
    model = _randomised(_model(), seed=2)
    serve = _load(model, tmp_path / "export", **SAMPLINGS["sampled"])
    for request in _requests():
        np.testing.assert_array_equal(
            _serve(serve, request)["tokens"], _generate(model, request, **SAMPLINGS["sampled"])
        )


GOOD = _requests()[0]
V = TINY["text_vocabulary_size"]

TEXT = GOOD["text_ids"]

# name: (changed inputs, the input the error must name)
BAD = {
    "text id == V": (dict(text_ids=np.where(TEXT == 7, V, TEXT)), "text_ids"),
    "negative text id": (dict(text_ids=np.where(TEXT == 9, -1, TEXT)), "text_ids"),
    "prompt id == END": (dict(prompt_semantic=np.full((3, 4), END)), "prompt_semantic"),
    "negative prompt id": (dict(prompt_semantic=np.full((3, 4), -2)), "prompt_semantic"),
    "text_lengths batch of 2": (dict(text_lengths=np.array([5, 3])), "text_lengths"),
    "prompt_semantic batch of 1": (dict(prompt_semantic=np.ones((1, 4))), "prompt_semantic"),
    "prompt_lengths batch of 4": (dict(prompt_lengths=np.array([4, 0, 2, 1])), "prompt_lengths"),
    "negative text length": (dict(text_lengths=np.array([5, -1, 4])), "text_lengths"),
    "text length 0": (dict(text_lengths=np.array([5, 0, 4])), "text_lengths"),
    "text length > Tt": (dict(text_lengths=np.array([6, 3, 4])), "text_lengths"),
    "negative prompt length": (dict(prompt_lengths=np.array([4, -1, 2])), "prompt_lengths"),
    "prompt length > P": (dict(prompt_lengths=np.array([5, 0, 2])), "prompt_lengths"),
    "no prompt column": (
        dict(prompt_semantic=np.zeros((3, 0)), prompt_lengths=np.zeros(3)),
        "prompt_semantic",
    ),
    "empty text": (dict(text_ids=np.zeros((3, 0))), "text_ids"),
    "a batch of 0": (
        dict(
            text_ids=np.zeros((0, 3)),
            text_lengths=np.zeros(0),
            prompt_semantic=np.zeros((0, 1)),
            prompt_lengths=np.zeros(0),
        ),
        "text_ids",
    ),
    "negative seed": (dict(seed=np.int32(-1)), "seed"),
}  # fmt: skip


@NOT_TORCH
def test_served_model_rejects_each_bad_input_naming_it(tmp_path):
    import tensorflow as tf

    model = _randomised(_model())
    serve = _load(model, tmp_path / "export", top_k=1)
    # Padding is not checked (`generate` does not read it): garbage there is fine.
    padded = dict(GOOD, text_ids=np.where(TEXT == 0, 999, TEXT))
    np.testing.assert_array_equal(_serve(serve, padded)["tokens"], _serve(serve, GOOD)["tokens"])
    failures = []
    for name, (changed, culprit) in BAD.items():
        request = {k: np.asarray(v, "int32") for k, v in {**GOOD, **changed}.items()}
        try:
            _serve(serve, request)
            failures.append(f"{name}: served")
        except tf.errors.InvalidArgumentError as error:
            if f"`{culprit}`" not in error.message:
                failures.append(f"{name}: {error.message[:300]}")
        if name != "a batch of 0":
            with pytest.raises(ValueError):  # generate refuses it as well
                _generate(model, request, top_k=1)
    assert not failures, "\n".join(failures)


@NOT_TORCH
def test_served_model_refuses_nan_logits(tmp_path):
    import tensorflow as tf

    model = _model()
    model.semantic_head.kernel.assign(np.full(model.semantic_head.kernel.shape, np.nan))
    serve = _load(model, tmp_path / "export", top_k=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or inf"):
        _serve(serve, GOOD)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(max_new_tokens=0), "max_new_tokens"),
        (dict(top_k=0), "top_k"),
        (dict(top_p=1.5), "top_p"),
        (dict(temperature=0.0), "temperature"),
    ],
)
def test_bad_export_settings_are_named(tmp_path, kwargs, message):
    if BACKEND == "torch":
        pytest.skip("torch refuses any export, tested below")
    with pytest.raises(ValueError, match=message):
        _model().export_saved_model(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


@pytest.mark.skipif(BACKEND != "torch", reason="only torch refuses to export")
def test_torch_export_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="tensorflow or jax backend"):
        _model().export_saved_model(tmp_path / "x")
