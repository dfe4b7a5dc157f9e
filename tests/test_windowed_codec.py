"""`WindowedCodec`: window-by-window encode / decode equal the codec's whole-input ones.

A tiny SpeechTokenizer-like codec with random weights (two bidirectional LSTM
layers in the encoder, two in the decoder, dilated residual blocks) and
windows of 32 frames over a 301-frame input: codes must be identical and the
audio equal to within 1e-5 of its peak (measured: 0.0 on JAX), and a window
context below the receptive field must leave a seam (the test can fail).
"""

import os

import numpy as np
import pytest

from keras_soundstorm import audio
from keras_soundstorm.codecs import SpeechTokenizer
from keras_soundstorm.codecs.windowed import WindowedCodec

RATE, HOP = 16000, 20  # 800 frames per second
WINDOW_SECONDS = 0.04  # 32 frames


@pytest.fixture(scope="module")
def codec():
    codec = SpeechTokenizer(
        sample_rate=RATE, channels=4, latent_dim=16, semantic_dim=8, strides=(5, 4),
        num_levels=3, codebook_size=32, lstm_layers=2, num_residual_layers=2,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    for variable in codec.variables:
        variable.assign(rng.normal(0.0, 0.3, variable.shape).astype("float32"))
    return codec


@pytest.fixture(scope="module")
def windowed(codec):
    return WindowedCodec(codec, window_seconds=WINDOW_SECONDS)


@pytest.fixture(scope="module")
def waveform():
    return (0.3 * np.random.default_rng(1).normal(size=301 * HOP - 13)).astype("float32")


def test_windowed_encode_equals_whole_encode(codec, windowed, waveform):
    assert windowed.streams and windowed.window_frames == 32
    whole = codec.encode(waveform[None])[0]
    codes = windowed.encode(waveform)
    assert codes.shape == whole.shape == (301, 3)
    np.testing.assert_array_equal(codes, whole)
    np.testing.assert_array_equal(windowed.semantic_tokens(waveform), whole[:, 0])


def test_windowed_decode_equals_whole_decode(codec, windowed, waveform):
    codes = codec.encode(waveform[None])[0]
    whole = codec.decode(codes[None])[0]
    chunks = list(windowed.decode_chunks(codes))
    assert len(chunks) == 10 and all(len(c) == 32 * HOP for c in chunks[:-1])
    joined = np.concatenate(chunks)
    assert joined.shape == whole.shape == (301 * HOP,)
    np.testing.assert_allclose(joined, whole, rtol=0, atol=1e-5 * np.abs(whole).max())


def test_too_little_context_leaves_a_seam(codec, windowed, waveform):
    codes = codec.encode(waveform[None])[0]
    whole = codec.decode(codes[None])[0]
    context, windowed.decoder_context = windowed.decoder_context, 0
    try:
        seam = np.abs(windowed.decode(codes) - whole).max()
    finally:
        windowed.decoder_context = context
    assert seam > 1e-3 * np.abs(whole).max()


def test_decoded_chunks_stream_to_a_wav_file(codec, windowed, waveform, tmp_path):
    codes = codec.encode(waveform[None])[0]
    path = str(tmp_path / "out.wav")
    with audio.WavWriter(path, RATE, clip=True) as writer:
        for chunk in windowed.decode_chunks(codes):
            writer.write(chunk / (np.abs(chunk).max() + 1.0))
        assert not os.path.exists(path)  # appears only when complete
    loaded, rate = audio.load(path)
    assert rate == RATE and loaded.shape == (301 * HOP,)


def test_wav_writer_leaves_nothing_on_error(tmp_path):
    path = str(tmp_path / "out.wav")
    with pytest.raises(RuntimeError):
        with audio.WavWriter(path, RATE) as writer:
            writer.write(np.zeros(100, "float32"))
            raise RuntimeError("interrupted")
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="integers"):
        with audio.WavWriter(path, RATE) as writer:
            writer.write(np.zeros(100, "int16"))
    assert os.listdir(tmp_path) == []


def test_degenerate_weights_are_an_error(codec, waveform):
    broken = SpeechTokenizer.from_config(codec.get_config())
    for target, source in zip(broken.variables, codec.variables):
        target.assign(source)
    broken.encoder.output_conv.bias.assign(np.full(broken.latent_dim, np.nan, "float32"))
    with pytest.raises(ValueError, match="NaN or infinite latents"):
        WindowedCodec(broken, window_seconds=WINDOW_SECONDS).encode(waveform[: 40 * HOP])


def test_every_windowed_codec_of_a_codec_reuses_its_compiled_stages(codec, windowed, waveform):
    """`speak` / `resynthesize` make a `WindowedCodec` per call: none compiles again."""
    codes = windowed.encode(waveform)
    list(windowed.decode_chunks(codes))
    compiled = dict(windowed._functions)
    other = WindowedCodec(codec, window_seconds=2 * WINDOW_SECONDS)
    np.testing.assert_array_equal(other.encode(waveform), codes)
    list(other.decode_chunks(codes))
    assert other._functions is windowed._functions
    assert all(other._functions[key] is function for key, function in compiled.items())
    assert set(other._functions) == set(compiled)
