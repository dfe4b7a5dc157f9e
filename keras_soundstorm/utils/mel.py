"""Triangular HTK-mel filterbank, in numpy (used by the codec loss, MCD and the demo)."""

import numpy as np


def hz_to_mel(hz):
    """HTK mel scale: `2595 * log10(1 + hz / 700)`, float64."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, "float64") / 700.0)


def mel_to_hz(mel):
    """Inverse of `hz_to_mel`, float64."""
    return 700.0 * (10.0 ** (np.asarray(mel, "float64") / 2595.0) - 1.0)


def mel_filterbank(num_mels, fft_size, sample_rate, min_hz=0.0, max_hz=None):
    """Triangular HTK-mel filters: float64 `[fft_size // 2 + 1, num_mels]`.

    Multiply a spectrum on the right: `spectrum[..., bins] @ filterbank` gives
    `[..., num_mels]`.

    Args:
        num_mels: number of bands.
        fft_size: FFT length; bin `k` is at `k * sample_rate / fft_size` Hz.
        sample_rate: Hz.
        min_hz, max_hz: the outer edges of the first and last band
            (default 0 Hz and Nyquist).

    Filters have unit peak. A filter narrower than one FFT bin would be all
    zeros; it gets weight 1 on the bin nearest its centre instead, so no band
    is empty.
    """
    max_hz = sample_rate / 2 if max_hz is None else max_hz
    bin_hz = np.arange(fft_size // 2 + 1) * sample_rate / fft_size
    edges = mel_to_hz(np.linspace(hz_to_mel(min_hz), hz_to_mel(max_hz), num_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bin_hz - lower) / (centre - lower)
    falling = (upper - bin_hz) / (upper - centre)
    filters = np.maximum(0.0, np.minimum(rising, falling))
    for band in np.flatnonzero(filters.sum(axis=1) == 0):
        filters[band, np.argmin(np.abs(bin_hz - centre[band, 0]))] = 1.0
    return filters.T
