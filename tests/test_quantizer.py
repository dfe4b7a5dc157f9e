"""EuclideanResidualQuantizer (codecs/quantizer.py): nearest code per level of the residual."""

import numpy as np
from keras import ops

from keras_soundstorm.codecs.quantizer import EuclideanResidualQuantizer

Q, C, D = 3, 8, 4


def quantizer(seed=0):
    layer = EuclideanResidualQuantizer(num_levels=Q, codebook_size=C, dim=D)
    layer.build()
    codebooks = np.random.default_rng(seed).standard_normal((Q, C, D)).astype("float32")
    layer.codebooks.assign(codebooks)
    return layer, codebooks


def brute_force(latents, codebooks, levels):
    residual, codes = latents.astype("float64"), []
    for level in range(levels):
        distances = ((residual[..., None, :] - codebooks[level]) ** 2).sum(-1)
        index = distances.argmin(-1)
        codes.append(index)
        residual = residual - codebooks[level][index]
    return np.stack(codes, -1)


def test_codes_are_the_nearest_code_of_each_levels_residual():
    layer, codebooks = quantizer()
    latents = np.random.default_rng(1).standard_normal((2, 9, D)).astype("float32")
    codes = ops.convert_to_numpy(layer(latents))
    assert codes.shape == (2, 9, Q) and codes.dtype == np.int32
    np.testing.assert_array_equal(codes, brute_force(latents, codebooks, Q))
    first = ops.convert_to_numpy(layer(latents, num_levels=1))
    np.testing.assert_array_equal(first, codes[..., :1])


def test_dequantize_sums_the_code_vectors_and_inverts_quantize_on_them():
    layer, codebooks = quantizer(seed=2)
    codes = np.random.default_rng(3).integers(0, C, (2, 5, Q)).astype("int32")
    latents = ops.convert_to_numpy(layer.dequantize(codes))
    expected = sum(codebooks[q][codes[..., q]] for q in range(Q))
    np.testing.assert_allclose(latents, expected, rtol=1e-6, atol=1e-6)
    two = ops.convert_to_numpy(layer.dequantize(codes[..., :2]))
    np.testing.assert_allclose(two, expected - codebooks[2][codes[..., 2]], rtol=1e-5, atol=1e-5)
    # A latent that is one code vector of level 1 (later levels' nearest is then
    # the code closest to zero) quantizes to that code at level 1.
    single = codebooks[0][codes[..., 0]]
    np.testing.assert_array_equal(ops.convert_to_numpy(layer(single))[..., 0], codes[..., 0])
