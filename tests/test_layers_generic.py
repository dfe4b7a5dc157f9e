"""Every layer registered with `register_keras_serializable(package="keras_soundstorm")`:
build, call, config round trip, and a .keras save / load that gives identical outputs.

The layers are discovered from Keras' registry after importing every module of the
package; a registered layer without an entry in `TINY_LAYERS` fails the test that
lists them. Registered `keras.Model`s (SoundStorm, its backbone, the codecs) are
saved and loaded as presets in their own tests (test_soundstorm, test_codecs_family).
"""

import importlib
import pkgutil

import keras
import numpy as np
import pytest

import keras_soundstorm

PACKAGE = "keras_soundstorm"


def floats(*shape):
    return np.random.default_rng(len(shape) + sum(shape)).standard_normal(shape).astype("float32")


def ints(high, *shape):
    return np.random.default_rng(sum(shape)).integers(0, high, shape).astype("int32")


def mask(batch, length):
    padding_mask = np.ones((batch, length), bool)
    padding_mask[-1, length // 2 :] = False
    return padding_mask


# name: (constructor kwargs, call inputs (positional), call kwargs). Tiny sizes.
TINY_LAYERS = {
    "CodeEmbedding": (
        dict(num_levels=2, codebook_size=5, hidden_dim=4),
        lambda: [ints(6, 2, 3, 2)],
        {},
    ),
    "ConditioningEmbedding": (
        dict(vocabulary_size=7, hidden_dim=4, rate_ratio=2),
        lambda: [ints(7, 2, 3)],
        {},
    ),
    "ConformerBlock": (
        dict(hidden_dim=8, num_heads=2, intermediate_dim=16, conv_kernel_size=3),
        lambda: [floats(2, 5, 8), mask(2, 5)],
        {},
    ),
    "ConvNeXtBlock": (dict(dim=4, kernel_size=3), lambda: [floats(2, 6, 4)], {}),
    "EncodecDecoder": (
        dict(channels=2, latent_dim=4, strides=(2, 2)),
        lambda: [floats(2, 3, 4)],
        {},
    ),
    "EncodecEncoder": (dict(channels=2, latent_dim=4, strides=(2, 2)), lambda: [floats(2, 16)], {}),
    "EuclideanResidualQuantizer": (
        dict(num_levels=2, codebook_size=4, dim=3),
        lambda: [floats(2, 5, 3)],
        {},
    ),
    "ISTFTDecoder": (dict(latent_dim=4, hop_length=4), lambda: [floats(2, 3, 4)], {}),
    "LevelHeads": (
        dict(num_levels=2, codebook_size=5, projection=True),
        lambda: [floats(2, 3, 4), np.array([0, 1], "int32")],
        {},
    ),
    "PrefixDecoder": (
        dict(num_layers=1, hidden_dim=8, num_heads=2, intermediate_dim=16),
        lambda: [floats(2, 3, 8), floats(2, 4, 8), mask(2, 3), mask(2, 4)],
        {},
    ),
    "ReflectConv1D": (
        dict(filters=3, kernel_size=3, dilation_rate=2),
        lambda: [floats(2, 8, 2)],
        {},
    ),
    "ResidualUnit": (dict(channels=2, dilation=2, kernel_size=3), lambda: [floats(2, 8, 2)], {}),
    "ResidualVectorQuantizer": (dict(num_levels=2, codebook_size=4), lambda: [floats(2, 5, 3)], {}),
    "ScaledSinusoidalPosition": (dict(hidden_dim=4), lambda: [floats(2, 5, 4)], {}),
    "SEANetDecoder": (
        dict(channels=2, latent_dim=4, strides=(2, 2)),
        lambda: [floats(2, 3, 4)],
        {},
    ),
    "SEANetEncoder": (dict(channels=2, latent_dim=4, strides=(2, 2)), lambda: [floats(2, 16)], {}),
    "SEANetResidualBlock": (
        dict(channels=4, kernel_size=3, dilation=2),
        lambda: [floats(2, 8, 4)],
        {},
    ),
    "STFTDiscriminator": (dict(channels=2, fft_size=16), lambda: [floats(2, 64)], {}),
    "STFTEncoder": (dict(latent_dim=4, hop_length=4, num_blocks=1), lambda: [floats(2, 32)], {}),
    "ScaleOnlyChannelNorm": (dict(), lambda: [floats(2, 5, 3)], {}),
    "SelfAttention": (
        dict(hidden_dim=8, num_heads=2, use_rotary=True),
        lambda: [floats(2, 5, 8), mask(2, 5)],
        {},
    ),
    "SkipLSTM": (dict(units=3, num_layers=2, bidirectional=True), lambda: [floats(2, 5, 3)], {}),
    "TrainingMasker": (dict(codebook_size=5, seed=0), lambda: [ints(5, 2, 6, 2), mask(2, 6)], {}),
    "TransformerBlock": (
        dict(hidden_dim=8, num_heads=2, intermediate_dim=16),
        lambda: [floats(2, 5, 8), mask(2, 5)],
        {},
    ),
    "TrimmedConv1DTranspose": (
        dict(filters=2, kernel_size=4, strides=2),
        lambda: [floats(2, 5, 3)],
        {},
    ),
}


def registered_layers():
    """{name: class} of every non-Model layer the package registers."""
    for module in pkgutil.walk_packages(keras_soundstorm.__path__, PACKAGE + "."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    prefix = PACKAGE + ">"
    return {
        key[len(prefix) :]: cls
        for key, cls in keras.saving.get_custom_objects().items()
        if key.startswith(prefix)
        and issubclass(cls, keras.layers.Layer)
        and not issubclass(cls, keras.Model)
    }


LAYERS = registered_layers()


def test_every_registered_layer_has_tiny_arguments_here():
    missing = sorted(set(LAYERS) - set(TINY_LAYERS))
    assert not missing, f"add tiny constructor arguments to TINY_LAYERS for {missing}"
    assert not set(TINY_LAYERS) - set(LAYERS), "TINY_LAYERS names a layer that is not registered"


def make(name):
    """(built layer with random float weights, inputs, call kwargs)."""
    kwargs, inputs, call_kwargs = TINY_LAYERS[name]
    layer = LAYERS[name](**kwargs)
    inputs = inputs()
    layer(*inputs, **call_kwargs)
    randomize(layer)
    return layer, inputs, call_kwargs


def randomize(layer):
    """Random float weights: some layers start at zero, which would hide a lost weight."""
    rng = np.random.default_rng(0)
    layer.set_weights(
        [
            (0.3 * rng.standard_normal(w.shape)).astype(w.dtype)
            if np.issubdtype(w.dtype, np.floating)
            else w
            for w in layer.get_weights()
        ]
    )


def outputs(layer, inputs, call_kwargs):
    return [
        keras.ops.convert_to_numpy(x) for x in keras.tree.flatten(layer(*inputs, **call_kwargs))
    ]


@keras.saving.register_keras_serializable(package="keras_soundstorm_tests")
class LayerWrapper(keras.Model):
    """A Model around one layer; remembers example inputs to build itself when loaded."""

    def __init__(self, layer, call_kwargs=None, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer
        self.call_kwargs = call_kwargs or {}
        self.example = None

    def call(self, inputs):
        return self.layer(*inputs, **self.call_kwargs)

    def get_config(self):
        return {
            **super().get_config(),
            "layer": keras.saving.serialize_keras_object(self.layer),
            "call_kwargs": self.call_kwargs,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layer = keras.saving.deserialize_keras_object(config.pop("layer"))
        return cls(layer, **config)

    def get_build_config(self):
        return {"inputs": [[x.tolist(), str(x.dtype)] for x in self.example]}

    def build_from_config(self, config):
        self.example = [np.array(values, dtype) for values, dtype in config["inputs"]]
        self(self.example)


@pytest.mark.parametrize("name", sorted(TINY_LAYERS))
def test_layer_builds_calls_and_reports_its_output_shape(name):
    layer, inputs, call_kwargs = make(name)
    assert layer.built and layer.weights or name == "TrainingMasker"
    got = outputs(layer, inputs, call_kwargs)
    assert got and all(np.all(np.isfinite(x)) for x in got if x.dtype.kind == "f")
    if "compute_output_shape" in type(layer).__dict__ and len(inputs) == 1:
        expected = layer.compute_output_shape(inputs[0].shape)
        assert tuple(got[0].shape) == tuple(expected)


@pytest.mark.parametrize("name", sorted(TINY_LAYERS))
def test_config_round_trip_gives_the_same_layer(name):
    layer, inputs, call_kwargs = make(name)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone(*inputs, **call_kwargs)
    clone.set_weights(layer.get_weights())
    for a, b in zip(outputs(layer, inputs, call_kwargs), outputs(clone, inputs, call_kwargs)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", sorted(TINY_LAYERS))
def test_keras_file_round_trip_gives_identical_outputs(name, tmp_path):
    layer, inputs, call_kwargs = make(name)
    model = LayerWrapper(layer, call_kwargs)
    model.example = inputs
    model(inputs)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert type(loaded.layer) is type(layer)
    assert loaded.layer.get_config() == layer.get_config()
    # Keras saves no SeedGenerator state (nor does `get_weights` list it): a layer
    # that draws random numbers (TrainingMasker) gets the same state in both here.
    for saved, restored in zip(model.variables, loaded.variables, strict=True):
        if "seed_generator_state" in saved.path:
            restored.assign(saved)
    expected = [keras.ops.convert_to_numpy(x) for x in keras.tree.flatten(model(inputs))]
    got = [keras.ops.convert_to_numpy(x) for x in keras.tree.flatten(loaded(inputs))]
    assert len(got) == len(expected)
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)
