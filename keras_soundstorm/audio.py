"""Audio files in and out: `load`, `save` and a band-limited `resample`.

Decoding goes through tensorflow-io where its kernels load (they are built for
one TensorFlow release: tensorflow-io 0.37.1 needs TensorFlow 2.17.x). Anywhere
else, core TensorFlow decodes 16-bit PCM WAV and the windowed-sinc `resample`
below converts rates; the first `load` then warns once, naming what is missing.

This module needs only numpy (and TensorFlow inside `load`); it imports nothing
else from `keras_soundstorm`, so it can be used on its own.

Example:

```python
import numpy as np
from keras_soundstorm import audio

audio.save("tone.wav", 0.5 * np.sin(np.arange(16000) / 8.0), sample_rate=16000)
waveform, sample_rate = audio.load("tone.wav", sample_rate=24000)  # [24000]
```
"""

import functools
import math
import os
import tempfile
import threading
import warnings
import wave

import numpy as np

# `save` refuses more channels: a wider array is almost surely channels-first.
MAX_CHANNELS = 8

_TFIO_LOCK = threading.Lock()
_tfio_available = None
_warned_fallback = False

# Magic bytes of the containers we recognise; everything else is "not audio".
_WAV_MAGIC = (b"RIFF", b"RIFX", b"RF64")
_OTHER_AUDIO_MAGIC = {
    b"fLaC": "FLAC",
    b"OggS": "Ogg",
    b"ID3": "MP3",
    b"\xff\xfb": "MP3",
    b"\xff\xf3": "MP3",
    b"\xff\xf2": "MP3",
}


def tensorflow_io_available():
    """Whether tensorflow-io imports *and* its kernels load (checked once).

    tensorflow-io imports fine against a TensorFlow it was not built for, and
    only fails at its first op; so this runs a tiny op and caches the answer.
    """
    global _tfio_available
    with _TFIO_LOCK:
        if _tfio_available is None:
            _tfio_available = _probe_tensorflow_io()
        return _tfio_available


def _probe_tensorflow_io():
    try:
        with warnings.catch_warnings():
            # A mismatched build warns at import that its plugins did not load.
            warnings.simplefilter("ignore")
            import tensorflow as tf
            import tensorflow_io as tfio

            tfio.audio.resample(tf.zeros([4, 1]), rate_in=2, rate_out=1)
        return True
    except Exception:  # ImportError, NotImplementedError (kernels), ...
        return False


def _warn_fallback_once():
    global _warned_fallback
    if _warned_fallback:
        return
    _warned_fallback = True
    warnings.warn(
        "keras_soundstorm.audio: tensorflow-io is not installed or its kernels do "
        "not load with this TensorFlow (tensorflow-io 0.37.1 needs TensorFlow "
        "2.17.x). Falling back to core TensorFlow: only 16-bit PCM WAV files can "
        "be decoded (FLAC, MP3, Ogg and 8/24/32-bit WAV need tensorflow-io), and "
        "sample rates are converted by keras_soundstorm's built-in windowed-sinc "
        "resampler.",
        RuntimeWarning,
        stacklevel=3,
    )


def load(path, sample_rate=None):
    """Reads an audio file as a mono float waveform.

    Args:
        path: file to read. WAV always; FLAC, MP3 and Ogg Vorbis where
            tensorflow-io works.
        sample_rate: if given, the waveform is resampled to this rate (Hz).

    Returns:
        `(waveform, sample_rate)`: float32 `[N]` in `[-1, 1]` (channels are
        averaged; resampling can overshoot full scale by a hair, so its output
        is clipped to `[-1, 1]`) and the rate of the returned waveform.

    Raises:
        ValueError: the file is missing, empty, corrupt, not audio, holds
            NaN/inf or float samples outside `[-1, 1]`, or its format needs
            tensorflow-io and that is unavailable. The message names the file.
    """
    path = os.fspath(path)
    if sample_rate is not None:
        sample_rate = _check_rate(sample_rate, "sample_rate")
    if not os.path.isfile(path):
        raise ValueError(f"Cannot load audio {path!r}: no such file.")
    with open(path, "rb") as f:
        head = f.read(12)
    if not head:
        raise ValueError(f"Cannot load audio {path!r}: the file is empty (0 bytes).")
    if tensorflow_io_available():
        samples, file_rate = _decode_with_tensorflow_io(path)
    else:
        _warn_fallback_once()
        samples, file_rate = _decode_with_core_tensorflow(path, head)
    waveform = _to_mono_float(samples, path)
    if sample_rate is None or sample_rate == file_rate:
        return waveform, file_rate
    if tensorflow_io_available():
        waveform = _resample_with_tensorflow_io(waveform, file_rate, sample_rate)
    else:
        waveform = resample(waveform, file_rate, sample_rate)
    return np.clip(waveform, -1.0, 1.0).astype("float32"), sample_rate


def _decode_with_core_tensorflow(path, head):
    """16-bit PCM WAV through `tf.audio.decode_wav`. Returns ([N, C], rate)."""
    if head[:4] not in _WAV_MAGIC or head[8:12] != b"WAVE":
        kind = _other_audio_kind(head)
        if kind:
            raise ValueError(
                f"Cannot load audio {path!r}: it is {kind}, and decoding {kind} "
                "needs tensorflow-io, which is unavailable here (tensorflow-io "
                "0.37.1 works with TensorFlow 2.17.x). Convert it to 16-bit PCM WAV."
            )
        raise ValueError(f"Cannot load audio {path!r}: not a WAV file (bad header).")
    import tensorflow as tf

    try:
        samples, rate = tf.audio.decode_wav(tf.io.read_file(path))
    except tf.errors.OpError as error:
        raise ValueError(
            f"Cannot load audio {path!r}: core TensorFlow reads only 16-bit PCM "
            f"WAV and this file is corrupt or another WAV flavour "
            f"({error.message.strip()})."
        ) from None
    return samples.numpy(), int(rate.numpy())


def _decode_with_tensorflow_io(path):
    """Any format tensorflow-io knows. Returns ([N, C] float in [-1, 1], rate)."""
    import tensorflow as tf
    import tensorflow_io as tfio

    try:
        audio_tensor = tfio.audio.AudioIOTensor(path)
        samples = audio_tensor.to_tensor().numpy()
        rate = int(audio_tensor.rate.numpy())
    except (tf.errors.OpError, ValueError, TypeError) as error:
        message = getattr(error, "message", str(error)).strip()
        raise ValueError(f"Cannot load audio {path!r}: corrupt or not audio ({message}).") from None
    # Integer PCM is scaled to [-1, 1); 24-bit PCM arrives left-aligned in int32.
    if samples.dtype == np.uint8:
        samples = (samples.astype("float32") - 128.0) / 128.0
    elif samples.dtype == np.int16:
        samples = samples.astype("float32") / 2.0**15
    elif samples.dtype == np.int32:
        samples = (samples.astype("float64") / 2.0**31).astype("float32")
    elif samples.dtype != np.float32:
        samples = samples.astype("float32")
    return samples, rate


def _resample_with_tensorflow_io(waveform, rate_in, rate_out):
    import tensorflow as tf
    import tensorflow_io as tfio

    resampled = tfio.audio.resample(
        tf.constant(waveform[:, None]), rate_in=rate_in, rate_out=rate_out
    )
    return resampled.numpy()[:, 0]


def _other_audio_kind(head):
    for magic, kind in _OTHER_AUDIO_MAGIC.items():
        if head.startswith(magic):
            return kind
    return None


def _to_mono_float(samples, path):
    """[N, C] float samples -> float32 [N], checked."""
    samples = np.asarray(samples, dtype="float32")
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.shape[0] == 0 or samples.shape[1] == 0:
        raise ValueError(f"Cannot load audio {path!r}: it contains no samples.")
    if not np.all(np.isfinite(samples)):
        raise ValueError(f"Cannot load audio {path!r}: it contains NaN or inf samples.")
    peak = float(np.max(np.abs(samples)))
    if peak > 1.0:
        raise ValueError(
            f"Cannot load audio {path!r}: float samples must lie in [-1, 1]; "
            f"this file peaks at {peak:.4g}."
        )
    return samples.mean(axis=1).astype("float32")


def save(path, waveform, sample_rate, clip=False):
    """Writes a 16-bit PCM WAV file atomically (temp file, then `os.replace`).

    Args:
        path: destination; its folder must exist.
        waveform: float `[N]` (mono) or `[N, C]` (channels last, `C` at most
            `MAX_CHANNELS` = 8) in `[-1, 1]`. Integer arrays are rejected
            (their scale is ambiguous: divide 16-bit PCM by 32768 first), and
            so is a 2-D array with more than 8 columns, such as a
            channels-first `[2, N]` array: pass its transpose.
        sample_rate: int, Hz.
        clip: if True, values outside `[-1, 1]` are clipped; by default they
            raise a ValueError.
    """
    path = os.fspath(path)
    sample_rate = _check_rate(sample_rate, "sample_rate")
    waveform = np.asarray(waveform)
    pcm = _to_pcm16(waveform, clip)
    if pcm.shape[0] == 0 or pcm.shape[1] == 0:
        raise ValueError(f"`waveform` is empty (shape {waveform.shape}); nothing to save.")
    folder = os.path.dirname(os.path.abspath(path))
    handle, temp_path = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".wav")
    try:
        with os.fdopen(handle, "wb") as file, wave.open(file, "wb") as writer:
            writer.setnchannels(pcm.shape[1])
            writer.setsampwidth(2)
            writer.setframerate(sample_rate)
            writer.writeframes(pcm.tobytes())
        os.replace(temp_path, path)
    except BaseException:
        if os.path.exists(temp_path):
            os.remove(temp_path)
        raise


class WavWriter:
    """Writes a 16-bit PCM WAV file chunk by chunk; the file appears only when complete.

    Samples go to a temporary file beside `path`, which replaces `path` when
    the `with` block ends without an error (an error removes it and leaves any
    old `path` untouched). Memory does not grow with the file's length.

    Args:
        path: destination; its folder must exist.
        sample_rate: int, Hz.
        channels: int in `[1, MAX_CHANNELS]`.
        clip: if True, samples outside `[-1, 1]` are clipped; by default they
            raise a ValueError.

    Example:
    ```python
    with audio.WavWriter("long.wav", 16000) as writer:
        for chunk in chunks:  # float [n] in [-1, 1]
            writer.write(chunk)
    ```
    """

    def __init__(self, path, sample_rate, channels=1, clip=False):
        self.path = os.fspath(path)
        self.sample_rate = _check_rate(sample_rate, "sample_rate")
        if (
            isinstance(channels, bool)
            or not isinstance(channels, int)
            or not (1 <= channels <= MAX_CHANNELS)
        ):
            raise ValueError(f"`channels` must be an int in [1, {MAX_CHANNELS}]; got {channels!r}.")
        self.channels = channels
        self.clip = bool(clip)
        self.frames_written = 0
        self._temp_path = None
        self._writer = None

    def __enter__(self):
        folder = os.path.dirname(os.path.abspath(self.path))
        handle, self._temp_path = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".wav")
        self._file = os.fdopen(handle, "wb")
        self._writer = wave.open(self._file, "wb")
        self._writer.setnchannels(self.channels)
        self._writer.setsampwidth(2)
        self._writer.setframerate(self.sample_rate)
        return self

    def write(self, chunk):
        """Appends float samples `[n]` (mono) or `[n, channels]`."""
        if self._writer is None:
            raise ValueError("`WavWriter.write` is only valid inside its `with` block.")
        pcm = _to_pcm16(chunk, self.clip, self.channels)
        self._writer.writeframes(pcm.tobytes())
        self.frames_written += len(pcm)

    def __exit__(self, error_type, error, traceback):
        try:
            self._writer.close()  # patches the header's lengths
            self._file.close()
            if error_type is None:
                if not self.frames_written:
                    raise ValueError(f"No samples were written to {self.path!r}.")
                os.replace(self._temp_path, self.path)
        finally:
            self._writer = None
            if os.path.exists(self._temp_path):
                os.remove(self._temp_path)
        return False


def _to_pcm16(waveform, clip, channels=None):
    """Checked float `[N]` / `[N, C]` in [-1, 1] -> int16 `[N, C]` (see `save`)."""
    waveform = np.asarray(waveform)
    if waveform.dtype.kind in "iu":
        raise ValueError(
            f"`waveform` must hold float samples in [-1, 1]; got integers ({waveform.dtype}). "
            "For 16-bit PCM pass `waveform / 32768`."
        )
    if waveform.dtype.kind != "f" or waveform.ndim not in (1, 2):
        raise ValueError(
            "`waveform` must be a float array [N] or [N, channels]; got "
            f"dtype {waveform.dtype} and shape {waveform.shape}."
        )
    if waveform.ndim == 1:
        waveform = waveform[:, None]
    if waveform.shape[1] > MAX_CHANNELS:
        raise ValueError(
            f"`waveform` of shape {waveform.shape} would have {waveform.shape[1]} channels; "
            f"`save` takes [N] or channels-last [N, channels] with at most {MAX_CHANNELS} "
            "channels. For a channels-first [channels, N] array pass `waveform.T`."
        )
    if channels is not None and waveform.shape[1] != channels:
        raise ValueError(f"`waveform` has {waveform.shape[1]} channels; expected {channels}.")
    waveform = waveform.astype("float64")
    if not np.all(np.isfinite(waveform)):
        raise ValueError("`waveform` contains NaN or inf; cannot save it.")
    peak = float(np.max(np.abs(waveform))) if waveform.size else 0.0
    if peak > 1.0:
        if not clip:
            raise ValueError(
                f"`waveform` must lie in [-1, 1]; its peak is {peak:.4g}. Scale it "
                "down, or pass clip=True to clip it."
            )
        waveform = np.clip(waveform, -1.0, 1.0)
    # Decoders divide by 2**15; +1.0 itself becomes the largest int16, 32767.
    return np.clip(np.round(waveform * 32768.0), -32768, 32767).astype("<i2")


def _check_rate(rate, name):
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer) or rate <= 0:
        raise ValueError(f"`{name}` must be a positive int (Hz); got {rate!r}.")
    return int(rate)


def resample(waveform, rate_in, rate_out, zero_crossings=48, rolloff=0.94, beta=9.0):
    """Band-limited rate conversion with a Kaiser-windowed sinc filter.

    The filter cuts at `rolloff` times the lower of the two Nyquist rates, so
    content the new rate cannot hold is removed instead of aliased. With the
    defaults the passband is flat to within 0.1 dB up to 90% of the lower
    Nyquist rate and content above the output Nyquist rate is attenuated by
    more than 90 dB (measured with sines, 22.05/44.1/48 kHz -> 16 kHz).

    Args:
        waveform: float `[..., N]`; time on the last axis.
        rate_in: int, Hz, of `waveform`.
        rate_out: int, Hz, wanted.
        zero_crossings: sinc lobes kept on each side (filter length).
        rolloff: cutoff as a fraction of the lower Nyquist rate.
        beta: Kaiser window shape (higher: more stopband rejection, wider
            transition band).

    Returns:
        float32 `[..., ceil(N * rate_out / rate_in)]`.
    """
    rate_in = _check_rate(rate_in, "rate_in")
    rate_out = _check_rate(rate_out, "rate_out")
    waveform = np.asarray(waveform, dtype="float64")
    if waveform.ndim == 0:
        raise ValueError("`waveform` must have a time axis (last); got a scalar.")
    if rate_in == rate_out or waveform.shape[-1] == 0:
        return waveform.astype("float32")
    divisor = math.gcd(rate_in, rate_out)
    up, down = rate_out // divisor, rate_in // divisor
    batch_shape, num_in = waveform.shape[:-1], waveform.shape[-1]
    signals = waveform.reshape(-1, num_in)
    num_out = -(-num_in * up // down)
    design = _SincFilter(up, down, zero_crossings, rolloff, beta)
    if up * (down + 2 * design.half) <= 4_000_000:
        weights = _block_weights(up, down, zero_crossings, rolloff, beta)
        output = _resample_by_blocks(signals, weights, design)
    else:
        output = _resample_per_sample(signals, design)
    return output[:, :num_out].reshape(*batch_shape, num_out).astype("float32")


class _SincFilter:
    """Kaiser-windowed sinc, in units of input samples.

    Output sample n sits at input time n * down / up = base + phase / up and
    reads inputs base + taps, weighted by kernel(phase / up - taps).
    """

    def __init__(self, up, down, zero_crossings, rolloff, beta):
        self.up, self.down, self.beta = up, down, beta
        self.cutoff = 0.5 * rolloff * min(1.0, up / down)  # cycles per input sample
        self.half_width = zero_crossings / (2.0 * self.cutoff)
        self.half = int(math.ceil(self.half_width))  # K
        self.taps = np.arange(-self.half + 1, self.half + 1)  # [2K]

    def kernel(self, offsets):
        ratio = np.clip(offsets / self.half_width, -1.0, 1.0)
        window = np.i0(self.beta * np.sqrt(1.0 - ratio**2)) / np.i0(self.beta)
        return 2.0 * self.cutoff * np.sinc(2.0 * self.cutoff * offsets) * window

    def phase_weights(self, phase):
        """Filters for integer phases: [len(phase), 2K]."""
        return self.kernel(phase[:, None] / self.up - self.taps[None, :])


@functools.lru_cache(maxsize=16)
def _block_weights(up, down, zero_crossings, rolloff, beta):
    """[down + 2K, up]: column r filters the block of inputs for output r."""
    design = _SincFilter(up, down, zero_crossings, rolloff, beta)
    r = np.arange(up)
    weights = np.zeros((down + 2 * design.half, up))
    rows = ((r * down) // up)[:, None] + design.taps[None, :] + design.half
    weights[rows, r[:, None]] = design.phase_weights((r * down) % up)
    weights.setflags(write=False)
    return weights


def _resample_by_blocks(signals, weights, design):
    """Few phases: every `up` outputs, the pattern repeats `down` inputs later.

    Output m * up + r reads the inputs of block m (which starts at m * down),
    so all outputs are one product [blocks, down + 2K] @ [down + 2K, up].
    """
    up, down, half = design.up, design.down, design.half
    num_signals, num_in = signals.shape
    num_blocks = -(-num_in * up // down) // up + 1
    length = down + 2 * half
    padded = np.pad(signals, ((0, 0), (half, num_blocks * down + half - num_in)))
    blocks = np.lib.stride_tricks.sliding_window_view(padded, length, axis=1)
    blocks = np.ascontiguousarray(blocks[:, ::down][:, :num_blocks])
    # A 2-D product: numpy's batched (3-D) matmul does not use BLAS.
    return (blocks.reshape(-1, length) @ weights).reshape(num_signals, -1)


def _resample_per_sample(signals, design):
    """Many phases (e.g. 16000 -> 16001): one filter evaluation per output."""
    up, down, half = design.up, design.down, design.half
    num_out = -(-signals.shape[1] * up // down)
    padded = np.pad(signals, ((0, 0), (half, half + 1)))
    output = np.empty((signals.shape[0], num_out))
    for start in range(0, num_out, 8192):
        n = np.arange(start, min(start + 8192, num_out), dtype=np.int64)
        index = (n * down // up)[:, None] + design.taps[None, :] + half
        weights = design.phase_weights(n * down % up)
        output[:, start : start + len(n)] = (padded[:, index] * weights).sum(axis=-1)
    return output
