"""One test for every codec (`kss.codecs.ResidualCodec` subclass), each with a tiny config.

Shapes of encode / decode, config round trip, preset round trip (including a
re-save onto its own folder and sha256 verification), presets without
checksums, and the refusals of bad inputs and degenerate weights (issue 20
item 1, issue 22 items 2 and 3). A new codec is added to `CASES`;
`test_every_codec_is_covered` fails until it is.
"""

import json
import math
import re

import keras
import numpy as np
import pytest

import keras_soundstorm as kss
from keras_soundstorm.codecs import ResidualCodec, SoundStream, SpeechTokenizer
from keras_soundstorm.utils import preset_files

CASES = {
    "SoundStream": (
        SoundStream,
        dict(
            channels=4,
            latent_dim=8,
            strides=(2, 4),
            num_levels=3,
            codebook_size=16,
            dilations=(1,),
            fft_sizes=(32,),
            seed=0,
        ),
    ),
    "SpeechTokenizer": (
        SpeechTokenizer,
        dict(
            channels=2,
            latent_dim=8,
            semantic_dim=6,
            strides=(2, 4),
            num_levels=3,
            codebook_size=16,
            lstm_layers=1,
        ),
    ),
}


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def test_every_codec_is_covered():
    public = {
        name
        for name in dir(kss.codecs)
        if isinstance(getattr(kss.codecs, name), type)
        and issubclass(getattr(kss.codecs, name), ResidualCodec)
        and getattr(kss.codecs, name) is not ResidualCodec
    }
    assert public == set(CASES)
    assert {cls.__name__ for cls in _all_subclasses(ResidualCodec)} <= set(CASES)


def _randomized(cls, config):
    """A codec with random (small, seeded) weights: SpeechTokenizer starts at zeros."""
    codec = cls(**config)
    rng = np.random.default_rng(0)
    for variable in codec.weights:
        if "float" in str(variable.dtype):
            variable.assign(0.3 * rng.standard_normal(variable.shape).astype("float32"))
    return codec


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    cls, config = CASES[request.param]
    return cls, config, _randomized(cls, config)


def _waveform(batch=2, samples=100, seed=1):
    return 0.5 * np.random.default_rng(seed).standard_normal((batch, samples)).astype("float32")


def test_encode_decode_shapes(case):
    cls, config, codec = case
    hop = math.prod(config["strides"])
    assert codec.hop_length == hop
    assert codec.frame_rate == codec.sample_rate / hop
    waveform = _waveform()
    frames = math.ceil(100 / hop)
    codes = codec.encode(waveform)
    assert codes.shape == (2, frames, config["num_levels"]) and codes.dtype == np.int32
    assert codes.min() >= 0 and codes.max() < config["codebook_size"]
    two = codec.encode(waveform, num_levels=2)
    np.testing.assert_array_equal(two, codes[:, :, :2])
    audio = codec.decode(codes)
    assert audio.shape == (2, frames * hop) and audio.dtype == np.float32
    assert np.isfinite(audio).all()
    assert codec.decode(codes, num_levels=1).shape == (2, frames * hop)
    if codec.has_semantic_tokens:
        np.testing.assert_array_equal(codec.semantic_tokens(waveform), codes[:, :, 0])
    else:
        with pytest.raises(ValueError, match="no semantic tokens"):
            codec.semantic_tokens(waveform)


def test_quantizer_interface_round_trips(case):
    _, config, codec = case
    quantizer = codec.quantizer
    latents = codec.encoder(_waveform(samples=8 * math.prod(config["strides"])))
    codes = quantizer.quantize_latents(latents, num_levels=2)
    assert tuple(codes.shape) == (2, 8, 2)
    summed = keras.ops.convert_to_numpy(quantizer.dequantize(codes))
    assert summed.shape == tuple(latents.shape)
    one = quantizer.dequantize(codes[..., :1])
    codebooks = keras.ops.convert_to_numpy(quantizer.codebooks)
    codes_np = keras.ops.convert_to_numpy(codes)
    expected = codebooks[0][codes_np[..., 0]] + codebooks[1][codes_np[..., 1]]
    np.testing.assert_allclose(summed, expected, rtol=1e-6, atol=1e-6)
    # A code vector of level 1 quantizes back to its code.
    again = quantizer.quantize_latents(one, num_levels=1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again), codes_np[..., :1])


def test_config_round_trip(case):
    cls, config, codec = case
    rebuilt = cls.from_config(codec.get_config())
    assert rebuilt.get_config() == codec.get_config()
    for key, value in config.items():
        assert codec.get_config()[key] == value
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(codec))
    assert type(restored) is cls and restored.get_config() == codec.get_config()


def _flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_preset_round_trip_overwrite_and_checksums(case, tmp_path):
    cls, _, codec = case
    preset = tmp_path / "preset"
    codec.save_to_preset(preset, metadata={"note": "first"})
    codec.save_to_preset(preset, metadata={"note": "second"})  # onto its own folder
    with open(preset / "metadata.json") as f:
        metadata = json.load(f)
    assert metadata["note"] == "second"
    assert metadata["weights_sha256"] == {
        "model.weights.h5": preset_files.file_sha256(preset / "model.weights.h5")
    }
    loaded = cls.from_preset(preset)
    waveform = _waveform()
    codes = codec.encode(waveform)
    np.testing.assert_array_equal(loaded.encode(waveform), codes)
    np.testing.assert_allclose(loaded.decode(codes), codec.decode(codes), rtol=1e-5, atol=1e-6)

    _flip_byte(preset / "model.weights.h5")
    pattern = re.escape(str(preset / "model.weights.h5")) + ".*sha256"
    with pytest.raises(ValueError, match=pattern):
        cls.from_preset(preset)


def test_a_preset_of_another_kind_is_neither_replaced_nor_loaded(tmp_path):
    (first, first_config), (second, second_config) = (CASES[n] for n in sorted(CASES))
    preset = tmp_path / "preset"
    first(**first_config).save_to_preset(preset)
    before = (preset / "config.json").read_text()
    with pytest.raises(ValueError, match="not a directory of the same kind|not empty"):
        second(**second_config).save_to_preset(preset)
    assert (preset / "config.json").read_text() == before
    with pytest.raises(ValueError, match=f"keras_soundstorm>{first.__name__}"):
        second.from_preset(preset)


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_a_preset_without_checksums_loads_with_a_warning_naming_it(case, state, tmp_path):
    cls, _, codec = case
    preset = tmp_path / "preset"
    codec.save_to_preset(preset)
    with open(preset / "metadata.json") as f:
        metadata = json.load(f)
    if state == "missing":
        del metadata["weights_sha256"]
    else:
        metadata["weights_sha256"] = {}
    (preset / "metadata.json").write_text(json.dumps(metadata))
    with pytest.warns(preset_files.UnverifiedPresetWarning, match=re.escape(str(preset))):
        cls.from_preset(preset)


@pytest.mark.parametrize(
    "value, message",
    [(np.nan, "NaN or infinite"), (np.inf, "NaN or infinite"), (1e3 + 1, "above the accepted")],
)
def test_encode_refuses_non_finite_and_absurd_amplitudes(case, value, message):
    _, _, codec = case
    waveform = _waveform()
    waveform[1, 7] = value
    with pytest.raises(ValueError, match=message):
        codec.encode(waveform)
    waveform[1, 7] = -value
    with pytest.raises(ValueError, match=message):
        codec.encode(waveform)


def test_encode_accepts_amplitudes_up_to_the_bound(case):
    _, _, codec = case
    waveform = _waveform()
    waveform[0, 3] = codec.max_amplitude
    assert codec.encode(waveform).shape[0] == 2


def _poisoned(cls, config, part):
    codec = _randomized(cls, config)
    for variable in getattr(codec, part).weights:
        if "float" in str(variable.dtype):
            variable.assign(np.full(variable.shape, np.nan, "float32"))
    return codec


def test_encode_refuses_non_finite_latents(case):
    cls, config, _ = case
    codec = _poisoned(cls, config, "encoder")
    with pytest.raises(ValueError, match="encode.*NaN or infinite latents"):
        codec.encode(_waveform())


def test_decode_refuses_non_finite_audio(case):
    cls, config, codec = case
    codes = codec.encode(_waveform())
    poisoned = _poisoned(cls, config, "decoder")
    with pytest.raises(ValueError, match="decode produced NaN or infinite audio"):
        poisoned.decode(codes)


def test_load_codec_picks_the_class_of_any_codec_preset(case, tmp_path):
    cls, _, codec = case
    codec.save_to_preset(tmp_path / "preset")
    loaded = kss.codecs.load_codec(tmp_path / "preset")
    assert type(loaded) is cls and loaded.get_config() == codec.get_config()
    assert type(kss.codecs.load_codec("soundstream_espeak_16khz")) is SoundStream
    with pytest.raises(ValueError, match="not a codec"):
        kss.codecs.load_codec("soundstorm_espeak_small")


def test_speechtokenizer_still_reads_the_old_naming(tmp_path):
    # Before the codecs shared one naming: `filters`, strides in decoder order.
    _, config = CASES["SpeechTokenizer"]
    old = {**config, "strides": tuple(reversed(config["strides"]))}
    old["filters"] = old.pop("channels")
    with pytest.warns(DeprecationWarning, match="filters"):
        codec = SpeechTokenizer(**old)
    unnamed = lambda c: {k: v for k, v in c.get_config().items() if k != "name"}  # noqa: E731
    assert unnamed(codec) == unnamed(SpeechTokenizer(**config))
    preset = tmp_path / "preset"
    codec.save_to_preset(preset)
    saved = json.loads((preset / "config.json").read_text())
    saved["config"].update(old)
    saved["config"].pop("channels")
    (preset / "config.json").write_text(json.dumps(saved))
    with pytest.warns(DeprecationWarning):
        loaded = SpeechTokenizer.from_preset(preset)
    assert loaded.get_config() == codec.get_config()
