"""Shared fixtures. The backend is chosen by KERAS_BACKEND before keras is imported."""

import keras
import pytest

import keras_soundstorm as kss
from keras_soundstorm.data import toy

TINY = dict(kss.CONFIGS["tiny"])
# The smallest SoundStream the tests build (a few thousand parameters).
MICRO_CODEC = dict(
    channels=4,
    latent_dim=8,
    strides=(2, 4),
    num_levels=2,
    codebook_size=16,
    dilations=(1,),
    fft_sizes=(32,),
    seed=0,
)

# Test modules whose subject does not depend on the Keras backend: eSpeak, audio
# files, token records, metrics, text, and the file-level guarantees of preset saves
# (pure Python around Keras' backend-neutral .h5 files). In a module that also has
# backend-dependent tests, such tests carry `@pytest.mark.backend_independent`
# themselves (training backups in test_training, CLI argument checks in test_cli).
# CI runs them in the TensorFlow job only (`-m "not backend_independent"` in the others).
BACKEND_INDEPENDENT_MODULES = {
    "test_audio",
    "test_espeak",
    "test_evaluation",
    "test_preset_files",
    "test_records",
    "test_text",
}


# End-to-end flows composed of parts that other modules test on every backend
# (model, decoding, codecs, export): CI runs them in the TensorFlow job only
# (`-m "not composite"` in the others), to keep CI's wall time down.
COMPOSITE_MODULES = {
    "test_benchmark_script",
    "test_cli_evaluate",
    "test_notebooks",
    "test_pipeline",
    "test_prompting",
    "test_resynthesis",
    "test_whisper_evaluation",
}


# The longest modules (minutes each in CI), run first: with two pytest-xdist
# workers (`--dist loadfile`, modules handed out in collection order) a long
# module started last would leave one worker idle while the other finishes it.
LONGEST_MODULES_FIRST = [
    "test_recipes",
    "test_training",
    "test_export",
    "test_codec",
    "test_distribution",
    "test_soundstorm",
    "test_soundstorm_inputs",
    "test_guidance",
]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "backend_independent: the test gives the same result on every Keras backend"
    )
    config.addinivalue_line(
        "markers", "composite: an end-to-end flow of parts tested on every backend elsewhere"
    )
    config.addinivalue_line("markers", "slow: takes more than ~20 s (deselect: -m 'not slow')")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_MODULES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: order kept within
    for item in items:
        if item.path.stem in BACKEND_INDEPENDENT_MODULES:
            item.add_marker(pytest.mark.backend_independent)
        if item.path.stem in COMPOSITE_MODULES:
            item.add_marker(pytest.mark.composite)


# For tests that take a few training steps of a fresh model: TensorFlow traces
# a train step in about a minute on CI's CPUs and steps fast eagerly; JAX is the
# other way round (and PyTorch steps eagerly either way).
FEW_STEPS_EAGERLY = keras.backend.backend() == "tensorflow"


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)


def make_backbone(**overrides):
    return kss.SoundStormBackbone(**{**TINY, **overrides})


def toy_batch(batch_size=4, num_frames=32, seed=0, config=TINY):
    return toy.toy_batch(batch_size, num_frames, config, seed=seed)


# The head of a script run in a fresh interpreter, as TF Serving would: after
# TensorFlow (2.21 imports keras itself), keras_hub / keras_soundstorm / jax
# cannot be imported. `serve` is the SavedModel at argv[1]'s serving_default.
TF_ONLY_PROCESS = r"""
import json, sys
import numpy as np
import tensorflow as tf

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("keras_hub", "keras_soundstorm", "jax"):
            raise ModuleNotFoundError("blocked " + name, name=name)

sys.meta_path.insert(0, Block())
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
"""
