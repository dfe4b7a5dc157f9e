"""Multi-scale mel-spectrogram reconstruction loss, in backend-agnostic ops."""

import numpy as np
from keras import ops

from keras_soundstorm.utils.mel import mel_filterbank


def stft(waveform, fft_size):
    """Hann-window STFT, hop `fft_size // 4`, frames centred by zero padding.

    `waveform` float `[B, N]` -> (real, imag), each
    `[B, 1 + N // hop, fft_size // 2 + 1]`. Frames are built from four shifted
    views of hop-sized chunks (cheap to compile on every backend), and zero
    padding (not reflection) lets any `N >= 1` work.
    """
    hop = fft_size // 4
    length = ops.shape(waveform)[1]
    num_frames = 1 + length // hop
    padded = ops.pad(waveform, [[0, 0], [fft_size // 2, fft_size // 2 + hop]])
    chunks = ops.reshape(padded[:, : (num_frames + 3) * hop], (-1, num_frames + 3, hop))
    frames = ops.concatenate([chunks[:, shift : shift + num_frames] for shift in range(4)], axis=-1)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(fft_size) / fft_size)
    return ops.rfft(frames * ops.convert_to_tensor(window.astype("float32")))


def mel_magnitudes(waveform, fft_size, filterbank):
    """Mel magnitudes `[B, frames, num_mels]`, roughly in waveform amplitude units."""
    real, imag = stft(waveform, fft_size)
    magnitude = ops.sqrt(real**2 + imag**2 + 1e-10) / (fft_size / 2)
    return ops.matmul(magnitude, filterbank)


def multi_scale_mel_loss(target, prediction, sample_rate, fft_sizes, num_mels=64):
    """Mean over FFT sizes of L1(mel) + L1(log mel) between two waveforms.

    Args:
        target, prediction: float `[B, N]`.
        sample_rate: Hz.
        fft_sizes: window sizes (hop = size / 4); a size of `s` uses
            `min(num_mels, s // 4)` mel bands.

    Returns: float32 scalar.
    """
    target = ops.cast(target, "float32")
    prediction = ops.cast(prediction, "float32")
    total = 0.0
    for fft_size in fft_sizes:
        filterbank = ops.convert_to_tensor(
            mel_filterbank(min(num_mels, fft_size // 4), fft_size, sample_rate).astype("float32")
        )
        mel_target = mel_magnitudes(target, fft_size, filterbank)
        mel_prediction = mel_magnitudes(prediction, fft_size, filterbank)
        linear = ops.mean(ops.abs(mel_target - mel_prediction))
        log = ops.mean(ops.abs(ops.log(mel_target + 1e-5) - ops.log(mel_prediction + 1e-5)))
        total = total + linear + log
    return total / len(fft_sizes)


def log_magnitude_loss(target, log_magnitude, fft_size):
    """L1(magnitude) + L1(log magnitude) of a predicted STFT against `target`'s.

    Args:
        target: float `[B, N]` waveform.
        log_magnitude: float `[B, M, fft_size // 2 + 1]`, natural-log STFT
            magnitudes of frames centred `fft_size // 4` samples apart, as
            `stft` frames them (`M <= 1 + N // hop`).
        fft_size: the STFT's window.

    Magnitudes are scaled by `2 / fft_size` (as in `mel_magnitudes`) and
    floored at 1e-5 before the log, so silence does not dominate.
    Returns: float32 scalar.
    """
    real, imag = stft(ops.cast(target, "float32"), fft_size)
    num_frames = ops.shape(log_magnitude)[1]
    scale = 2.0 / fft_size
    target_magnitude = ops.sqrt(real**2 + imag**2 + 1e-10)[:, :num_frames] * scale
    magnitude = ops.exp(ops.minimum(ops.cast(log_magnitude, "float32"), 10.0)) * scale
    linear = ops.mean(ops.abs(target_magnitude - magnitude))
    log = ops.mean(ops.abs(ops.log(target_magnitude + 1e-5) - ops.log(magnitude + 1e-5)))
    return linear + log
