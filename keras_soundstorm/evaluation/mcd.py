"""Mel-cepstral distortion (MCD), in numpy.

Mel cepstra here are the DCT of the natural-log mel-band amplitude spectrum
(25 ms Hann windows every 10 ms, 40 HTK-mel bands from 0 Hz to Nyquist),
scaled so that `c_n` follows the real-cepstrum convention
`ln|X(mel)| = c_0 + 2 * sum_n c_n cos(n * mel)`: the convention under which the
standard MCD formula

    MCD = 10 / ln(10) * sqrt(2 * sum_{n=1..order} (c_n - c'_n)^2)   [dB]

measures a log-spectral distance. `c_0` (loudness) is excluded, so a gain
change costs nothing. Values are comparable between systems scored by this
function, not with numbers from other toolkits (SPTK/WORLD mel-cepstra).

Frames are aligned by dynamic time warping by default (the usual choice when
the synthesized timing may differ); `alignment="truncate"` compares frame `t`
with frame `t` (for codec reconstructions and other time-aligned outputs,
where DTW would hide timing errors). Leading and trailing silence (frames
more than 50 dB below the loudest frame) is trimmed first, since padding
lengths are arbitrary.

Example:

```python
mel_cepstral_distortion(reference, synthesized, sample_rate=16000)  # e.g. 4.2
```
"""

import math

import numpy as np

from keras_soundstorm.evaluation._checks import check_sample_rate, check_waveform
from keras_soundstorm.utils.mel import mel_filterbank

WINDOW_SECONDS = 0.025
HOP_SECONDS = 0.010
NUM_MELS = 40
SILENCE_DB = 50.0
_AMPLITUDE_FLOOR = 1e-5  # -100 dBFS: keeps log(0) out of digital silence
_MCD_SCALE = 10.0 / math.log(10.0) * math.sqrt(2.0)
ALIGNMENTS = ("dtw", "truncate")


def _frames(waveform, window, hop):
    """`[N] -> [T, window]`, zero-padding the end to whole frames (T >= 1)."""
    num_frames = 1 + max(0, math.ceil((waveform.shape[0] - window) / hop))
    padded = np.pad(waveform, (0, (num_frames - 1) * hop + window - waveform.shape[0]))
    starts = np.arange(num_frames)[:, None] * hop
    return padded[starts + np.arange(window)[None, :]]


def _analyse(waveform, sample_rate, num_coefficients, num_mels):
    """(mel cepstra `[T, num_coefficients + 1]` with c0, frame energy in dB `[T]`)."""
    window = int(round(WINDOW_SECONDS * sample_rate))
    hop = int(round(HOP_SECONDS * sample_rate))
    fft_size = 1 << (window - 1).bit_length()
    frames = _frames(waveform, window, hop) * np.hanning(window + 2)[1:-1]
    power = np.abs(np.fft.rfft(frames, fft_size, axis=-1)) ** 2
    mel_power = power @ mel_filterbank(num_mels, fft_size, sample_rate)
    log_amplitude = 0.5 * np.log(np.maximum(mel_power, _AMPLITUDE_FLOOR**2))
    # DCT-II with 1/K: inverts ln|X_k| = c0 + 2 sum_n c_n cos(pi n (k + 1/2) / K).
    k = np.arange(num_mels) + 0.5
    n = np.arange(num_coefficients + 1)
    basis = np.cos(np.pi * n[:, None] * k[None, :] / num_mels) / num_mels
    cepstra = log_amplitude @ basis.T
    energy_db = 10.0 * np.log10(np.maximum(power.sum(axis=-1), 1e-20))
    return cepstra, energy_db


def mel_cepstrum(waveform, sample_rate, num_coefficients=13, num_mels=NUM_MELS):
    """Mel cepstra of a waveform: float64 `[T, num_coefficients + 1]` (c0 first).

    Args:
        waveform: float `[N]`, mono.
        sample_rate: int, Hz.
        num_coefficients: cepstral order (coefficients after c0).
        num_mels: mel bands; must exceed `num_coefficients`.
    """
    waveform = check_waveform(waveform, allow_silent=True)
    sample_rate = check_sample_rate(sample_rate)
    _check_orders(num_coefficients, num_mels)
    return _analyse(waveform, sample_rate, num_coefficients, num_mels)[0]


def _check_orders(num_coefficients, num_mels):
    for name, value in (("num_coefficients", num_coefficients), ("num_mels", num_mels)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"`{name}` must be a positive int; got {value!r}.")
    if num_coefficients >= num_mels:
        raise ValueError(
            f"`num_coefficients` ({num_coefficients}) must be smaller than `num_mels` "
            f"({num_mels}): a {num_mels}-band spectrum has {num_mels - 1} cepstra after c0."
        )


def _speech_span(energy_db):
    """(first, last + 1) of the frames within SILENCE_DB of the loudest one."""
    loud = np.flatnonzero(energy_db > energy_db.max() - SILENCE_DB)
    return int(loud[0]), int(loud[-1]) + 1


def dtw_path(cost):
    """Minimum-cost monotonic alignment of a cost matrix `[T1, T2]`.

    Steps (1, 0), (0, 1) and (1, 1); the path runs from (0, 0) to
    (T1 - 1, T2 - 1). Anti-diagonals are filled one at a time, each in one
    vectorized step, so the Python loop runs T1 + T2 times.

    Returns:
        int arrays `(i, j)` of the path's frame pairs, in order.
    """
    cost = np.asarray(cost, dtype="float64")
    if cost.ndim != 2 or 0 in cost.shape:
        raise ValueError(f"`cost` must be a non-empty matrix [T1, T2]; got shape {cost.shape}.")
    rows, cols = cost.shape
    total = np.full((rows + 1, cols + 1), np.inf)
    total[0, 0] = 0.0
    for diagonal in range(2, rows + cols + 1):
        i = np.arange(max(1, diagonal - cols), min(rows, diagonal - 1) + 1)
        j = diagonal - i
        best = np.minimum(np.minimum(total[i - 1, j], total[i, j - 1]), total[i - 1, j - 1])
        total[i, j] = cost[i - 1, j - 1] + best
    path = [(rows, cols)]
    i, j = rows, cols
    while (i, j) != (1, 1):
        moves = ((i - 1, j - 1), (i - 1, j), (i, j - 1))
        i, j = min(moves, key=lambda move: total[move])
        path.append((i, j))
    path = np.array(path[::-1]) - 1
    return path[:, 0], path[:, 1]


def _frame_distances(cepstra_a, cepstra_b, rows_per_block=256):
    """Euclidean distances `[T1, T2]`, exact (no |a|^2 + |b|^2 - 2ab cancellation)."""
    blocks = [
        np.sqrt(np.sum((block[:, None, :] - cepstra_b[None, :, :]) ** 2, axis=-1))
        for block in np.split(cepstra_a, range(rows_per_block, len(cepstra_a), rows_per_block))
    ]
    return np.concatenate(blocks)


def mel_cepstral_distortion(
    reference,
    synthesized,
    sample_rate,
    alignment="dtw",
    num_coefficients=13,
    num_mels=NUM_MELS,
    trim_silence=True,
):
    """Mean mel-cepstral distortion (dB) of `synthesized` against `reference`.

    0 for identical audio; grows as the spectral envelopes differ (c1..cK, so
    overall loudness does not count).

    Args:
        reference: float `[N]`, mono, not silent.
        synthesized: float `[M]`, mono, same `sample_rate`.
        sample_rate: int, Hz.
        alignment: `"dtw"` (average over the warping path) or `"truncate"`
            (frame t against frame t, over the shorter length; with
            `trim_silence`, both are cut at the reference's speech span so
            they stay aligned).
        num_coefficients: cepstral order K (c1..cK are compared).
        num_mels: mel bands of the analysis.
        trim_silence: drop leading/trailing frames more than 50 dB below the
            loudest frame (each signal on its own under DTW).

    Returns:
        float, dB.
    """
    reference = check_waveform(reference, name="reference")
    synthesized = check_waveform(synthesized, name="synthesized", allow_silent=True)
    sample_rate = check_sample_rate(sample_rate)
    _check_orders(num_coefficients, num_mels)
    if alignment not in ALIGNMENTS:
        raise ValueError(f"Unknown `alignment` {alignment!r}; accepted: {ALIGNMENTS}.")
    ref_cepstra, ref_energy = _analyse(reference, sample_rate, num_coefficients, num_mels)
    syn_cepstra, syn_energy = _analyse(synthesized, sample_rate, num_coefficients, num_mels)
    if trim_silence:
        start, stop = _speech_span(ref_energy)
        ref_cepstra = ref_cepstra[start:stop]
        if alignment == "truncate":
            syn_cepstra = syn_cepstra[start:stop]
        elif np.any(synthesized):
            syn_start, syn_stop = _speech_span(syn_energy)
            syn_cepstra = syn_cepstra[syn_start:syn_stop]
    if syn_cepstra.shape[0] == 0:
        raise ValueError(
            "`synthesized` ends before the reference's speech starts; nothing to compare "
            "frame by frame (use alignment='dtw' or trim_silence=False)."
        )
    ref_cepstra, syn_cepstra = ref_cepstra[:, 1:], syn_cepstra[:, 1:]
    if alignment == "truncate":
        length = min(ref_cepstra.shape[0], syn_cepstra.shape[0])
        difference = ref_cepstra[:length] - syn_cepstra[:length]
    else:
        cost = _frame_distances(ref_cepstra, syn_cepstra)
        i, j = dtw_path(cost)
        difference = ref_cepstra[i] - syn_cepstra[j]
    return float(_MCD_SCALE * np.mean(np.sqrt(np.sum(difference**2, axis=1))))
