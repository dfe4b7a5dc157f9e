"""The backend seam's kernels against the plain Keras ops they replace."""

import numpy as np
import pytest
from keras import ops

from keras_soundstorm import backend


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("kernel_size", [1, 4, 5, 31])
def test_depthwise_conv1d_matches_keras(kernel_size, padding):
    rng = np.random.default_rng(kernel_size)
    x = rng.standard_normal((2, 40, 24)).astype("float32")
    kernel = rng.standard_normal((kernel_size, 24, 1)).astype("float32")
    expected = ops.convert_to_numpy(ops.depthwise_conv(x, kernel, 1, padding))
    compiled = backend.compiled_inference(lambda x, k: backend.depthwise_conv1d(x, k, padding), [])
    for function in (backend.depthwise_conv1d, compiled):
        args = (x, kernel, padding) if function is backend.depthwise_conv1d else (x, kernel)
        got = ops.convert_to_numpy(function(*map(ops.convert_to_tensor, args[:2]), *args[2:]))
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
