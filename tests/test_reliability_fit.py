"""A rejected `fit` / `evaluate` leaves the model as it was, on every backend (issue 15, item 3)."""

import numpy as np
import pytest
import tensorflow as tf

import keras_soundstorm as kss
from keras_soundstorm.data import toy

CONFIG = dict(kss.CONFIGS["tiny"], hidden_dim=32, num_layers=1, num_heads=2, intermediate_dim=64)


def good_batch():
    return toy.toy_batch(4, 8, CONFIG, seed=0)


def out_of_range_dataset():
    batch = good_batch()
    return tf.data.Dataset.from_tensor_slices(dict(batch, codes=batch["codes"] + 1000)).batch(2)


REJECTED = {
    "an array, not a dict": lambda: good_batch()["codes"],
    "a tuple": lambda: (good_batch()["codes"], good_batch()["conditioning"]),
    "no data": lambda: None,
    "a tf.data batch with ids out of range": out_of_range_dataset,
}


@pytest.mark.parametrize("method", ["fit", "evaluate"])
@pytest.mark.parametrize("case", sorted(REJECTED))
def test_a_rejected_call_leaves_the_model_as_it_was(case, method):
    model = kss.SoundStorm(kss.SoundStormBackbone(**CONFIG), seed=0)
    model.compile(optimizer="adam")
    conditioning = np.arange(8, dtype="int32").reshape(2, 4)
    before = model.generate(conditioning=conditioning, seed=0)
    weights = [w.copy() for w in model.get_weights()]
    with pytest.raises(Exception, match="codes|dict"):
        getattr(model, method)(REJECTED[case](), verbose=0)
    for saved, now in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(now, saved)
    np.testing.assert_array_equal(model.generate(conditioning=conditioning, seed=0), before)
    # ... and it still trains.
    model.fit(good_batch(), epochs=1, batch_size=2, verbose=0)
