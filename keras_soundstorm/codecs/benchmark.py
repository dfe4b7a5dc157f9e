"""Encode / decode throughput of a codec, in seconds of audio per second."""

import time

import numpy as np


def codec_throughput(codec, seconds=10.0, batch_size=1, repeats=3, num_levels=None):
    """Times `codec.encode` and `codec.decode` on synthetic audio.

    The first call of each (compilation) is not timed; the best of `repeats`
    timed calls is reported.

    Args:
        codec: a `SoundStream`.
        seconds: length of each clip.
        batch_size: clips per call.
        repeats: timed calls of each function.
        num_levels: levels to use (default all).

    Returns: dict with `encode_realtime_factor` and `decode_realtime_factor`
    (seconds of audio processed per wall-clock second), the best times and the
    settings.
    """
    rng = np.random.default_rng(0)
    samples = int(round(seconds * codec.sample_rate))
    time_axis = np.arange(samples) / codec.sample_rate
    pitch = rng.uniform(100.0, 300.0, (batch_size, 1))
    waveform = (0.3 * np.sin(2 * np.pi * pitch * time_axis[None, :])).astype("float32")
    audio_seconds = batch_size * samples / codec.sample_rate

    def best_time(function):
        function()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        return min(times)

    codes = codec.encode(waveform, num_levels=num_levels)
    encode_time = best_time(lambda: codec.encode(waveform, num_levels=num_levels))
    decode_time = best_time(lambda: codec.decode(codes))
    import keras

    return {
        "backend": keras.backend.backend(),
        "seconds": seconds,
        "batch_size": batch_size,
        "num_levels": codes.shape[-1],
        "encode_seconds": encode_time,
        "decode_seconds": decode_time,
        "encode_realtime_factor": audio_seconds / encode_time,
        "decode_realtime_factor": audio_seconds / decode_time,
    }
