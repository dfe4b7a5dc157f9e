"""Peak memory of long-audio encode + decode through the full-size SpeechTokenizer architecture.

What `kss.pipelines.resynthesize` does to a source, minus SoundStorm: encode
the waveform in windows (`kss.codecs.windowed.WindowedCodec`), then decode the
codes window by window, streaming the audio to a WAV file. Weights are random
(the public architecture's shapes; nothing is downloaded). Each length runs in
its own subprocess so that every peak RSS (`ru_maxrss`) is its own.

    python examples/benchmark_long_audio.py --minutes 1 10            # windowed
    python examples/benchmark_long_audio.py --minutes 1 --mode whole  # codec.encode / decode

Prints one JSON line per length: peak RSS (MB), RSS after building the codec,
encode and decode seconds, real-time factor.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def _rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_one(minutes, mode, window_seconds):
    import numpy as np

    from keras_soundstorm import audio
    from keras_soundstorm.codecs import SpeechTokenizer
    from keras_soundstorm.codecs.windowed import WindowedCodec

    codec = SpeechTokenizer()  # the public speechtokenizer_hubert_avg architecture
    rng = np.random.default_rng(0)
    for variable in codec.variables:
        scale = 0.5 / np.sqrt(max(1, np.prod(variable.shape[:-1])))
        variable.assign((scale * rng.standard_normal(variable.shape)).astype("float32"))
    samples = int(minutes * 60 * codec.sample_rate)
    # Noise made in 1-minute blocks: the source itself is part of the peak (4 bytes per sample).
    waveform = np.empty(samples, "float32")
    for start in range(0, samples, 960_000):
        n = min(960_000, samples - start)
        waveform[start : start + n] = 0.1 * rng.standard_normal(n)
    built_rss = _rss_mb()
    output = os.path.join(tempfile.mkdtemp(), "out.wav")
    start = time.perf_counter()
    if mode == "whole":
        codes = codec.encode(waveform[None])[0]
        encoded = time.perf_counter()
        decoded = codec.decode(codes[None])[0]
        audio.save(output, decoded, codec.sample_rate, clip=True)
    else:
        windowed = WindowedCodec(codec, window_seconds=window_seconds)
        codes = windowed.encode(waveform)
        encoded = time.perf_counter()
        with audio.WavWriter(output, codec.sample_rate, clip=True) as writer:
            for chunk in windowed.decode_chunks(codes):
                writer.write(chunk)
    end = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    os.remove(output)
    return {
        "minutes": minutes,
        "mode": mode,
        "window_seconds": window_seconds if mode == "windowed" else None,
        "frames": int(codes.shape[0]),
        "rss_after_build_mb": round(built_rss),
        "peak_rss_mb": round(peak),
        "encode_s": round(encoded - start, 1),
        "decode_s": round(end - encoded, 1),
        "real_time_factor": round((end - start) / (minutes * 60), 3),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--mode", choices=["windowed", "whole"], default="windowed")
    parser.add_argument("--window-seconds", type=float, default=20.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.minutes[0], args.mode, args.window_seconds)), flush=True)
        return
    for minutes in args.minutes:
        command = [sys.executable, __file__, "--child", "--minutes", str(minutes)]
        command += ["--mode", args.mode, "--window-seconds", str(args.window_seconds)]
        result = subprocess.run(command, capture_output=True, text=True)
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        if result.returncode or not lines:
            print(result.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"{minutes} min run failed (exit {result.returncode}).")
        print(lines[-1], flush=True)


if __name__ == "__main__":
    main()
