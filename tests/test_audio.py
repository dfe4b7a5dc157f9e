"""keras_soundstorm.audio: load/save, the core-TensorFlow fallback, tensorflow-io.

The tensorflow-io tests run only where its kernels load (tensorflow-io 0.37.1
with TensorFlow 2.17.x); elsewhere they are reported as skipped. In such a
pinned environment, without keras-hub, run this file alone with
`pytest --noconftest tests/test_audio.py`: the module is then loaded from its
file, since `keras_soundstorm/__init__.py` needs keras-hub.
"""

import importlib.util
import os
import struct
import warnings
import wave

import numpy as np
import pytest

try:
    from keras_soundstorm import audio
except ImportError:
    _path = os.path.join(os.path.dirname(__file__), "..", "keras_soundstorm", "audio.py")
    _spec = importlib.util.spec_from_file_location("keras_soundstorm_audio", _path)
    audio = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(audio)

TFIO = audio.tensorflow_io_available()
needs_tfio = pytest.mark.skipif(
    not TFIO,
    reason="tensorflow-io kernels do not load here (needs tensorflow-io 0.37.1 "
    "with TensorFlow 2.17.x)",
)


@pytest.fixture
def core_mode(monkeypatch):
    """Forces the core-TensorFlow fallback, with its warning not yet given."""
    monkeypatch.setattr(audio, "_tfio_available", False)
    monkeypatch.setattr(audio, "_warned_fallback", True)


def tone(frequency, sample_rate, seconds=1.0, amplitude=0.5):
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    return amplitude * np.sin(2 * np.pi * frequency * t)


def amplitude_at(waveform, frequency, sample_rate):
    """Amplitude of one frequency (Hann-windowed DFT bin)."""
    t = np.arange(len(waveform)) / sample_rate
    window = np.hanning(len(waveform))
    return 2 * abs(np.sum(waveform * window * np.exp(-2j * np.pi * frequency * t))) / np.sum(window)


def write_pcm16(path, samples, sample_rate, channels=1):
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(np.asarray(samples, "<i2").tobytes())


def write_float_wav(path, samples, sample_rate):
    data = np.asarray(samples, "<f4").tobytes()
    fmt = struct.pack("<IHHIIHH", 16, 3, 1, sample_rate, sample_rate * 4, 4, 32)
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + fmt
    path.write_bytes(header + b"data" + struct.pack("<I", len(data)) + data)


# === Resampler ===
@pytest.mark.parametrize("rate_in,rate_out", [(22050, 16000), (48000, 16000), (16000, 22050)])
def test_resample_keeps_a_passband_sine(rate_in, rate_out):
    frequency = 0.8 * min(rate_in, rate_out) / 2
    resampled = audio.resample(tone(frequency, rate_in), rate_in, rate_out)
    assert resampled.dtype == np.float32
    assert resampled.shape == (rate_out,)
    middle = resampled[rate_out // 4 : 3 * rate_out // 4]
    assert amplitude_at(middle, frequency, rate_out) == pytest.approx(0.5, rel=2e-3)
    # The energy sits at the right frequency: nothing left after removing it.
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(len(middle))))
    peak_hz = np.argmax(spectrum) * rate_out / len(middle)
    assert abs(peak_hz - frequency) <= rate_out / len(middle)


@pytest.mark.parametrize("frequency", [8200.0, 9000.0, 10500.0])
def test_resample_removes_content_above_the_new_nyquist(frequency):
    resampled = audio.resample(tone(frequency, 22050, amplitude=1.0), 22050, 16000)
    middle = resampled[4000:12000]
    # No alias anywhere: the whole output is > 60 dB below the input.
    assert np.sqrt(2) * np.std(middle) < 1e-3


def test_resample_with_many_phases_matches_tabulated_path():
    # 16000 -> 16001 has 16001 phases (computed per sample, not tabulated).
    resampled = audio.resample(tone(1000.0, 16000, seconds=0.5), 16000, 16001)
    assert resampled.shape == (8001,)
    middle = resampled[2000:6000]
    assert amplitude_at(middle, 1000.0, 16001) == pytest.approx(0.5, rel=2e-3)


def test_resample_batch_and_identity():
    batch = np.stack([tone(440.0, 16000, 0.1), tone(880.0, 16000, 0.1)])
    resampled = audio.resample(batch, 16000, 8000)
    assert resampled.shape == (2, 800)
    np.testing.assert_allclose(resampled[1], audio.resample(batch[1], 16000, 8000), atol=1e-7)
    np.testing.assert_array_equal(audio.resample(batch, 8000, 8000), batch.astype("float32"))
    with pytest.raises(ValueError, match="rate_out"):
        audio.resample(batch, 16000, 0)


# === save ===
def test_save_load_round_trip(tmp_path, core_mode):
    waveform = tone(440.0, 16000, 0.25, amplitude=0.9).astype("float32")
    path = tmp_path / "tone.wav"
    audio.save(path, waveform, 16000)
    loaded, rate = audio.load(path)
    assert rate == 16000 and loaded.dtype == np.float32 and loaded.shape == waveform.shape
    np.testing.assert_allclose(loaded, waveform, atol=0.5 / 32768 + 1e-7)
    with wave.open(str(path)) as reader:
        assert (reader.getsampwidth(), reader.getnchannels()) == (2, 1)
    assert os.listdir(tmp_path) == ["tone.wav"]  # no temp file left


def test_load_averages_stereo_and_resamples(tmp_path, core_mode):
    left, right = tone(300.0, 16000, 0.5, 0.6), tone(300.0, 16000, 0.5, 0.2)
    audio.save(tmp_path / "stereo.wav", np.stack([left, right], axis=-1), 16000)
    mono, _ = audio.load(tmp_path / "stereo.wav")
    np.testing.assert_allclose(mono, (left + right) / 2, atol=2e-4)
    resampled, rate = audio.load(tmp_path / "stereo.wav", sample_rate=24000)
    assert rate == 24000 and resampled.shape == (12000,)
    assert amplitude_at(resampled[3000:9000], 300.0, 24000) == pytest.approx(0.4, rel=1e-2)


def test_save_rejects_bad_waveforms_and_keeps_old_file(tmp_path):
    path = tmp_path / "keep.wav"
    audio.save(path, np.zeros(100), 16000)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="NaN or inf"):
        audio.save(path, np.array([0.0, np.nan]), 16000)
    with pytest.raises(ValueError, match=r"\[-1, 1\].*clip=True"):
        audio.save(path, np.array([0.0, 1.5]), 16000)
    with pytest.raises(ValueError, match="empty"):
        audio.save(path, np.zeros(0), 16000)
    with pytest.raises(ValueError, match="sample_rate"):
        audio.save(path, np.zeros(10), 16000.0)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.wav"]
    audio.save(path, np.array([0.0, 1.5, -3.0]), 8000, clip=True)
    with wave.open(str(path)) as reader:
        pcm = np.frombuffer(reader.readframes(3), "<i2")
    np.testing.assert_array_equal(pcm, [0, 32767, -32768])


# === load errors (core TensorFlow mode) ===
@pytest.mark.parametrize(
    "name,content,message",
    [
        ("empty.wav", b"", "empty"),
        ("text.wav", b"this is plainly not audio " * 8, "not a WAV"),
        ("truncated.wav", None, "corrupt"),
        ("song.flac", b"fLaC\x00\x00\x00\x22" + bytes(40), "FLAC.*tensorflow-io"),
        ("float.wav", "float", "16-bit PCM"),
    ],
)
def test_core_mode_bad_files_name_the_file(tmp_path, core_mode, name, content, message):
    path = tmp_path / name
    if content is None:
        write_pcm16(path, np.arange(400), 16000)
        path.write_bytes(path.read_bytes()[:30])  # cut inside the header
    elif content == "float":
        write_float_wav(path, np.zeros(100), 16000)
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        audio.load(path)
    assert str(path) in str(error.value)


def test_load_rejects_missing_and_sampleless_files(tmp_path, core_mode):
    with pytest.raises(ValueError, match="no such file"):
        audio.load(tmp_path / "missing.wav")
    write_pcm16(tmp_path / "zero.wav", np.zeros(0), 16000)
    with pytest.raises(ValueError, match="no samples") as error:
        audio.load(tmp_path / "zero.wav")
    assert "zero.wav" in str(error.value)


def test_fallback_warns_once_naming_tensorflow_io(tmp_path, monkeypatch):
    monkeypatch.setattr(audio, "_tfio_available", False)
    monkeypatch.setattr(audio, "_warned_fallback", False)
    write_pcm16(tmp_path / "a.wav", np.zeros(160), 16000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        audio.load(tmp_path / "a.wav")
        audio.load(tmp_path / "a.wav", sample_rate=8000)
    fallback = [w for w in caught if "tensorflow-io" in str(w.message)]
    assert len(fallback) == 1
    assert "WAV" in str(fallback[0].message) and "resampler" in str(fallback[0].message)


def test_tensorflow_io_availability_is_cached(monkeypatch):
    def probe_again():
        raise AssertionError("tensorflow-io probed twice")

    assert isinstance(audio.tensorflow_io_available(), bool)
    monkeypatch.setattr(audio, "_probe_tensorflow_io", probe_again)
    assert audio.tensorflow_io_available() == TFIO


# === tensorflow-io mode ===
@needs_tfio
def test_tfio_mode_round_trip_and_resample(tmp_path):
    waveform = tone(500.0, 22050, 0.5, amplitude=0.7)
    audio.save(tmp_path / "a.wav", waveform, 22050)
    loaded, rate = audio.load(tmp_path / "a.wav")
    assert rate == 22050
    np.testing.assert_allclose(loaded, waveform, atol=0.5 / 32768 + 1e-7)
    resampled, rate = audio.load(tmp_path / "a.wav", sample_rate=16000)
    assert rate == 16000 and abs(resampled.shape[0] - 8000) <= 1
    assert amplitude_at(resampled[2000:6000], 500.0, 16000) == pytest.approx(0.7, rel=1e-2)


@needs_tfio
def test_tfio_mode_decodes_flac_and_float_wav(tmp_path):
    import tensorflow as tf
    import tensorflow_io as tfio

    waveform = tone(700.0, 16000, 0.5)
    pcm = tf.constant(np.round(waveform * 32767).astype("int16")[:, None])
    (tmp_path / "a.flac").write_bytes(tfio.audio.encode_flac(pcm, rate=16000).numpy())
    loaded, rate = audio.load(tmp_path / "a.flac")
    assert rate == 16000
    np.testing.assert_allclose(loaded, waveform, atol=2.0 / 32767)
    write_float_wav(tmp_path / "f.wav", waveform, 16000)
    np.testing.assert_allclose(audio.load(tmp_path / "f.wav")[0], waveform, atol=1e-6)


@needs_tfio
@pytest.mark.parametrize(
    "name,content,message",
    [
        ("empty.wav", b"", "empty"),
        ("text.wav", b"this is plainly not audio " * 8, "corrupt or not audio"),
        ("nan.wav", "nan", "NaN"),
        ("loud.wav", "loud", r"\[-1, 1\]"),
    ],
)
def test_tfio_mode_bad_files_name_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    if content == "nan":
        write_float_wav(path, [0.0, np.nan, 0.1], 16000)
    elif content == "loud":
        write_float_wav(path, [0.0, 2.0, 0.1], 16000)
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        audio.load(path)
    assert str(path) in str(error.value)


# --- audio.save: bad arrays (issue 15, items 7 and 10) ---


def test_audio_save_rejects_channels_first_arrays(tmp_path):
    stereo = np.zeros((2, 16000), "float32")
    with pytest.raises(ValueError, match=r"channels.*waveform\.T"):
        audio.save(tmp_path / "x.wav", stereo, 16000)
    assert not (tmp_path / "x.wav").exists()
    audio.save(tmp_path / "ok.wav", stereo.T, 16000)
    loaded, rate = audio.load(tmp_path / "ok.wav")
    assert rate == 16000 and loaded.shape == (16000,)


@pytest.mark.parametrize("dtype", ["int16", "int32", "uint8", "int64"])
def test_audio_save_rejects_integer_samples(tmp_path, dtype):
    with pytest.raises(ValueError, match="float"):
        audio.save(tmp_path / "x.wav", np.zeros(100, dtype), 16000)
    assert not (tmp_path / "x.wav").exists()
