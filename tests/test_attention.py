"""SelfAttention: masks against a NumPy reference, the key/value cache (also in
a compiled loop), config round trip, bad arguments, and the Conformer's weight
paths."""

import os

import h5py
import keras
import numpy as np
import pytest
from keras import ops

from keras_soundstorm import backend
from keras_soundstorm.layers.attention import SelfAttention

HIDDEN, HEADS, BATCH, FRAMES = 16, 4, 2, 11
PRESET = os.path.join(os.path.dirname(__file__), "..", "saved_models", "soundstorm_espeak_small")


def make_layer(seed=0, **kwargs):
    """A built layer with random (not zero) biases, so their use is checked too."""
    layer = SelfAttention(HIDDEN, HEADS, **kwargs)
    layer.build((None, None, HIDDEN))
    rng = np.random.default_rng(seed)
    for variable in layer.weights:
        variable.assign(0.3 * rng.standard_normal(variable.shape).astype("float32"))
    return layer


def random_input(seed=1, frames=FRAMES):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((BATCH, frames, HIDDEN)).astype("float32")


def reference(layer, x, visible, padding_mask=None):
    """NumPy attention. `visible`: bool [T, T] or [B, T, T], key j seen by query i."""
    weights = {v.path.split("/")[-2] + "/" + v.name: ops.convert_to_numpy(v) for v in layer.weights}
    qkv = np.einsum("btd,dkhf->btkhf", x, weights["attention_qkv/kernel"])
    if layer.qkv_bias:
        qkv = qkv + weights["attention_qkv/bias"]
    query, key, value = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
    if layer.use_rotary:
        wavelength = layer.rotary_max_wavelength
        query, key = rotate(query, wavelength), rotate(key, wavelength)
    visible = np.broadcast_to(visible, (x.shape[0], x.shape[1], x.shape[1])).copy()
    if padding_mask is not None:
        visible &= padding_mask[:, None, :]
    visible |= ~visible.any(axis=-1, keepdims=True)  # no key at all: attend everywhere
    scores = np.einsum("bqhf,bkhf->bhqk", query, key) / np.sqrt(query.shape[-1])
    scores = np.where(visible[:, None], scores, -np.inf)
    probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    heads = np.einsum("bhqk,bkhf->bqhf", probs, value)
    y = np.einsum("bqhf,hfd->bqd", heads, weights["attention_output/kernel"])
    return y + weights["attention_output/bias"] if layer.output_bias else y


def rotate(x, max_wavelength):
    """RoPE on [B, T, H, F] with rotate-half pairing, positions 0 .. T - 1."""
    size = x.shape[-1]
    inverse = max_wavelength ** (-np.arange(0, size, 2) / size)
    angles = np.arange(x.shape[1])[:, None] * inverse[None, :]
    angles = np.concatenate([angles, angles], axis=-1)[None, :, None, :]
    half = size // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * np.cos(angles) + rotated * np.sin(angles)


def causal(frames):
    return np.tril(np.ones((frames, frames), bool))


def prefix_visible(frames, prefix_length):
    prefix = np.broadcast_to(np.asarray(prefix_length), (BATCH,))
    keys = np.arange(frames)[None, None, :]
    return causal(frames)[None] | (keys < prefix[:, None, None])


PADDING = np.array([[True] * FRAMES, [True] * 7 + [False] * 4])


@pytest.mark.parametrize("chunk_size", [None, 4])
@pytest.mark.parametrize(
    "mode, prefix_length",
    [("bidirectional", None), ("causal", None), ("prefix", 3), ("prefix", [2, 5])],
)
@pytest.mark.parametrize("use_rotary", [False, True])
def test_masks_match_numpy_reference(mode, prefix_length, use_rotary, chunk_size):
    layer = make_layer(use_rotary=use_rotary, chunk_size=chunk_size, qkv_bias=not use_rotary)
    x = random_input()
    visible = {
        "bidirectional": np.ones((FRAMES, FRAMES), bool),
        "causal": causal(FRAMES),
        "prefix": prefix_visible(FRAMES, prefix_length or 0),
    }[mode]
    for padding_mask in (None, PADDING):
        got = layer(
            x,
            padding_mask=padding_mask,
            attention_mode=mode,
            prefix_length=None if prefix_length is None else np.asarray(prefix_length, "int32"),
        )
        expected = reference(layer, x, visible, padding_mask)
        np.testing.assert_allclose(ops.convert_to_numpy(got), expected, rtol=1e-4, atol=1e-5)


def test_masks_differ_from_each_other():
    """The reference comparison above would also pass if every mode ignored its mask."""
    layer = make_layer()
    x = random_input()
    outputs = [
        ops.convert_to_numpy(layer(x, attention_mode="bidirectional")),
        ops.convert_to_numpy(layer(x, attention_mode="causal")),
        ops.convert_to_numpy(layer(x, attention_mode="prefix", prefix_length=4)),
    ]
    for i in range(3):
        for j in range(i):
            assert np.abs(outputs[i] - outputs[j]).max() > 1e-3
    # Causal: the last query sees everything, as in bidirectional attention.
    np.testing.assert_allclose(outputs[0][:, -1], outputs[1][:, -1], rtol=1e-5, atol=1e-6)


def empty_cache(frames):
    shape = (BATCH, HEADS, frames, HIDDEN // HEADS)
    return np.zeros(shape, "float32"), np.zeros(shape, "float32")


@pytest.mark.parametrize("use_rotary", [False, True])
def test_token_by_token_with_cache_equals_the_causal_pass(use_rotary):
    layer = make_layer(use_rotary=use_rotary)
    x = random_input()
    full = ops.convert_to_numpy(layer(x, attention_mode="causal"))
    cache = empty_cache(FRAMES)
    for i in range(FRAMES):
        y, cache = layer(x[:, i : i + 1], attention_mode="causal", cache=cache, cache_index=i)
        np.testing.assert_allclose(ops.convert_to_numpy(y)[:, 0], full[:, i], rtol=1e-5, atol=1e-5)
    # The cache holds every position's (rotated) keys and values.
    keys = ops.convert_to_numpy(cache[0])
    assert np.abs(keys).min(axis=(0, 1, 3)).all()


def test_prefix_then_tokens_with_cache_equals_the_prefix_pass():
    """A prompt attended both ways in one call, then one token at a time."""
    layer = make_layer(use_rotary=True)
    x = random_input()
    prefix_length, padding_mask = 4, np.ones((BATCH, FRAMES), bool)
    full = ops.convert_to_numpy(layer(x, attention_mode="prefix", prefix_length=prefix_length))
    cache = empty_cache(FRAMES)
    y, cache = layer(
        x[:, :prefix_length],
        padding_mask=padding_mask,
        attention_mode="prefix",
        prefix_length=prefix_length,
        cache=cache,
        cache_index=0,
    )
    np.testing.assert_allclose(ops.convert_to_numpy(y), full[:, :prefix_length], atol=1e-5)
    for i in range(prefix_length, FRAMES):
        y, cache = layer(
            x[:, i : i + 1],
            padding_mask=padding_mask,
            attention_mode="prefix",
            prefix_length=prefix_length,
            cache=cache,
            cache_index=i,
        )
        np.testing.assert_allclose(ops.convert_to_numpy(y)[:, 0], full[:, i], atol=1e-5)


def test_cache_decoding_in_a_compiled_loop():
    """`fori_loop` with a traced cache index: jax.jit / tf.function / torch eager."""
    layer = make_layer(use_rotary=True, chunk_size=4)
    x = random_input()
    full = ops.convert_to_numpy(layer(x, attention_mode="causal"))

    def decode(inputs, cache):
        def step(i, state):
            cache, outputs = state
            token = ops.slice(inputs, [0, i, 0], [BATCH, 1, HIDDEN])
            y, cache = layer(token, attention_mode="causal", cache=cache, cache_index=i)
            return cache, ops.slice_update(outputs, [0, i, 0], y)

        return ops.fori_loop(0, FRAMES, step, (cache, ops.zeros_like(inputs)))

    compiled = backend.compiled_inference(decode, layer.variables)
    cache = tuple(ops.convert_to_tensor(part) for part in empty_cache(FRAMES))
    cache, outputs = compiled(ops.convert_to_tensor(x), cache)
    np.testing.assert_allclose(ops.convert_to_numpy(outputs), full, rtol=1e-5, atol=1e-5)
    expected_cache = empty_cache(FRAMES)
    _, expected_cache = layer(x, attention_mode="causal", cache=expected_cache, cache_index=0)
    for part, expected in zip(cache, expected_cache):
        np.testing.assert_allclose(
            ops.convert_to_numpy(part), ops.convert_to_numpy(expected), atol=1e-5
        )


def test_config_round_trip():
    layer = make_layer(
        use_rotary=True,
        rotary_max_wavelength=500,
        qkv_bias=False,
        output_bias=False,
        chunk_size=3,
        dropout=0.1,
        name="attn",
    )
    config = layer.get_config()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, SelfAttention)
    assert restored.get_config() == config
    assert [v.shape for v in restored.weights] == [v.shape for v in layer.weights]
    restored.set_weights(layer.get_weights())
    x = random_input()
    np.testing.assert_array_equal(
        ops.convert_to_numpy(restored(x, attention_mode="causal")),
        ops.convert_to_numpy(layer(x, attention_mode="causal")),
    )


@pytest.mark.parametrize(
    "kwargs, call_kwargs, message",
    [
        (dict(hidden_dim=10, num_heads=4), {}, "divisible"),
        (dict(num_heads=0), {}, "num_heads"),
        (dict(chunk_size=0), {}, "chunk_size"),
        (dict(dropout=1.0), {}, "dropout"),
        ({}, dict(attention_mode="sideways"), "attention_mode"),
        ({}, dict(attention_mode="prefix"), "prefix_length"),
        ({}, dict(attention_mode="causal", prefix_length=2), "prefix_length"),
        ({}, dict(cache=empty_cache(FRAMES)), "cache_index"),
        ({}, dict(cache=empty_cache(FRAMES)[0], cache_index=0), "pair"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, call_kwargs, message):
    with pytest.raises(ValueError, match=message):
        layer = SelfAttention(**{"hidden_dim": HIDDEN, "num_heads": HEADS, **kwargs})
        layer(random_input(), **call_kwargs)


def test_conformer_keeps_the_shipped_weight_paths(tmp_path):
    """The shipped preset's .h5 layout (`<block>/qkv`, `<block>/attention_out`) is kept."""
    from keras_hub.models import Backbone

    import keras_soundstorm  # noqa: F401 (registers the classes)

    backbone = Backbone.from_preset(PRESET)
    path = str(tmp_path / "model.weights.h5")
    backbone.save_weights(path)

    def datasets(filename):
        names = set()
        with h5py.File(filename) as f:
            f.visititems(lambda n, o: names.add(n) if isinstance(o, h5py.Dataset) else None)
        return names

    shipped = datasets(os.path.join(PRESET, "model.weights.h5"))
    assert "layers/conformer_block/qkv/vars/0" in shipped
    assert datasets(path) == shipped
