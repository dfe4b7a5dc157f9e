"""CodeEmbedding (models/soundstorm/embeddings.py): one table of C + 1 rows per level, summed."""

import numpy as np
from keras import ops

from keras_soundstorm.models.soundstorm.embeddings import CodeEmbedding

Q, C, D = 3, 5, 4


def embed(layer, codes):
    return ops.convert_to_numpy(layer(codes))


def test_each_frame_is_the_sum_of_its_levels_rows_mask_included():
    layer = CodeEmbedding(num_levels=Q, codebook_size=C, hidden_dim=D)
    codes = np.random.default_rng(0).integers(0, C + 1, (2, 7, Q)).astype("int32")  # C = MASK
    got = embed(layer, codes)
    table = ops.convert_to_numpy(layer.embeddings).reshape(Q, C + 1, D)
    expected = sum(table[q][codes[..., q]] for q in range(Q))
    assert got.shape == (2, 7, D)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_levels_have_their_own_tables():
    layer = CodeEmbedding(num_levels=Q, codebook_size=C, hidden_dim=D)
    same_code = np.full((1, 1, Q), 2, "int32")
    rows = [
        embed(layer, np.where(np.arange(Q) == q, 2, C)[None, None].astype("int32"))
        for q in range(Q)
    ]
    assert not np.allclose(rows[0], rows[1]) and not np.allclose(rows[1], rows[2])
    # Changing one frame's code changes that frame only.
    codes = np.zeros((1, 4, Q), "int32")
    changed = codes.copy()
    changed[0, 2, 1] = 3
    difference = np.abs(embed(layer, changed) - embed(layer, codes)).sum(-1)[0]
    assert difference[2] > 0 and np.all(difference[[0, 1, 3]] == 0)
    assert embed(layer, same_code).shape == (1, 1, D)
