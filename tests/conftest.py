"""Shared fixtures. The backend is chosen by KERAS_BACKEND before keras is imported."""

import keras
import pytest

import keras_soundstorm as kss
from keras_soundstorm.data import toy

TINY = dict(kss.CONFIGS["tiny"])


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)


def make_backbone(**overrides):
    return kss.SoundStormBackbone(**{**TINY, **overrides})


def toy_batch(batch_size=4, num_frames=32, seed=0, config=TINY):
    return toy.toy_batch(batch_size, num_frames, config, seed=seed)
