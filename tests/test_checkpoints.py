"""`kss.convert.checkpoints`: converters refuse degenerate tensors, naming them (issue 22 item 3).

Both converters (`kss.convert.speechtokenizer`, `kss.convert.soundstorm`)
take every tensor through `StateDictReader.take` / `take_weight_normed`.
"""

import re

import numpy as np
import pytest

from keras_soundstorm.convert import StateDictReader, fold_weight_norm


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_non_finite_tensor_is_refused_by_name(value):
    weight = np.ones((3, 4), "float32")
    weight[1, 2] = value
    reader = StateDictReader({"layer.weight": weight})
    with pytest.raises(ValueError, match=r"'layer\.weight' holds 1 NaN or infinite"):
        reader.take("layer.weight", (3, 4))


def test_finite_and_integer_tensors_pass():
    reader = StateDictReader({"a": np.ones((2,), "float32"), "b": np.array([7], "int64")})
    assert reader.take("a", (2,)).tolist() == [1.0, 1.0]
    assert reader.take("b", (1,)).tolist() == [7]
    reader.finish()


@pytest.mark.parametrize(
    "gain, direction",
    [
        ("conv.weight_g", "conv.weight_v"),
        ("conv.parametrizations.weight.original0", "conv.parametrizations.weight.original1"),
    ],
)
def test_a_weight_norm_direction_of_zero_norm_is_refused_by_name(gain, direction):
    v = np.random.default_rng(0).standard_normal((4, 2, 3)).astype("float32")
    v[2] = 0.0
    reader = StateDictReader({gain: np.ones((4, 1, 1), "float32"), direction: v})
    with pytest.raises(ValueError, match=re.escape(repr(direction)) + ".*1 output channel.*2"):
        reader.take_weight_normed("conv", (4, 2, 3))


def test_a_non_finite_weight_norm_gain_is_refused_by_name():
    g = np.ones((4, 1, 1), "float32")
    g[0] = np.nan
    v = np.ones((4, 2, 3), "float32")
    reader = StateDictReader({"conv.weight_g": g, "conv.weight_v": v})
    with pytest.raises(ValueError, match=r"'conv\.weight_g' holds 1 NaN"):
        reader.take_weight_normed("conv", (4, 2, 3))


def test_fold_weight_norm_still_folds():
    v = np.array([[3.0, 4.0], [0.0, 2.0]], "float32")
    g = np.array([[10.0], [1.0]], "float32")
    np.testing.assert_allclose(fold_weight_norm(g, v), [[6.0, 8.0], [0.0, 1.0]])
