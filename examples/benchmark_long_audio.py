"""Peak memory of long-audio encode + decode through the full-size SpeechTokenizer architecture.

What `kss.pipelines.resynthesize` does to a source, minus SoundStorm: encode
the waveform in windows (`kss.codecs.windowed.WindowedCodec`), then decode the
codes window by window, streaming the audio to a WAV file. Weights are random
(the public architecture's shapes; nothing is downloaded). Each length runs in
its own subprocess so that every peak RSS (`ru_maxrss`) is its own.

    python examples/benchmark_long_audio.py --minutes 1 10            # windowed
    python examples/benchmark_long_audio.py --minutes 1 --mode whole  # codec.encode / decode

Prints one JSON line per length: peak RSS (MB), RSS after building the codec,
encode and decode seconds, real-time factor. `--trace DIR` also samples the RSS
every 0.2 s and writes `DIR/rss_<minutes>min.csv` and one PNG of every length's
RSS against the fraction of the job done, so growth over the windows shows.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmark_converted import randomise_weights  # noqa: E402


def _rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class _RssSampler(threading.Thread):
    """Samples this process's RSS every `period` seconds, with the stage it is in."""

    def __init__(self, period=0.2):
        super().__init__(daemon=True)
        self.period, self.stage, self.samples = period, "build", []
        self._finished = threading.Event()

    def run(self):
        start = time.perf_counter()
        while not self._finished.wait(self.period):
            self.samples.append((time.perf_counter() - start, self.stage, _rss_mb()))

    def stop(self):
        self._finished.set()
        self.join()


def run_one(minutes, mode, window_seconds, trace_dir=None):
    import numpy as np

    sampler = _RssSampler()
    if trace_dir:
        sampler.start()

    from keras_soundstorm import audio
    from keras_soundstorm.codecs import SpeechTokenizer
    from keras_soundstorm.codecs.windowed import WindowedCodec

    codec = randomise_weights(SpeechTokenizer())  # the public speechtokenizer_hubert_avg
    rng = np.random.default_rng(0)
    samples = int(minutes * 60 * codec.sample_rate)
    # Noise made in 1-minute blocks: the source itself is part of the peak (4 bytes per sample).
    waveform = np.empty(samples, "float32")
    for start in range(0, samples, 960_000):
        n = min(960_000, samples - start)
        waveform[start : start + n] = 0.1 * rng.standard_normal(n)
    built_rss = _rss_mb()
    output = os.path.join(tempfile.mkdtemp(), "out.wav")
    start = time.perf_counter()
    sampler.stage = "encode"
    if mode == "whole":
        codes = codec.encode(waveform[None])[0]
        encoded = time.perf_counter()
        sampler.stage = "decode"
        decoded = codec.decode(codes[None])[0]
        audio.save(output, decoded, codec.sample_rate, clip=True)
    else:
        windowed = WindowedCodec(codec, window_seconds=window_seconds)
        codes = windowed.encode(waveform)
        encoded = time.perf_counter()
        sampler.stage = "decode"
        with audio.WavWriter(output, codec.sample_rate, clip=True) as writer:
            for chunk in windowed.decode_chunks(codes):
                writer.write(chunk)
    end = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    os.remove(output)
    if trace_dir:
        sampler.stop()
        with open(os.path.join(trace_dir, f"rss_{minutes:g}min.csv"), "w") as f:
            f.write("seconds,stage,rss_mb\n")
            f.writelines(f"{t:.2f},{stage},{rss:.1f}\n" for t, stage, rss in sampler.samples)
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
    parser.add_argument("--trace", help="folder for RSS traces (CSV per length + one PNG)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = run_one(args.minutes[0], args.mode, args.window_seconds, args.trace)
        print(json.dumps(result), flush=True)
        return
    if args.trace:
        os.makedirs(args.trace, exist_ok=True)
    for minutes in args.minutes:
        command = [sys.executable, __file__, "--child", "--minutes", str(minutes)]
        command += ["--mode", args.mode, "--window-seconds", str(args.window_seconds)]
        command += ["--trace", args.trace] if args.trace else []
        result = subprocess.run(command, capture_output=True, text=True)
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        if result.returncode or not lines:
            print(result.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"{minutes} min run failed (exit {result.returncode}).")
        print(lines[-1], flush=True)
    if args.trace:
        _plot_traces(args.trace, args.minutes)


def _plot_traces(folder, lengths):
    """One PNG: RSS against the fraction of each job's run time, a line per length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4.5))
    for minutes in lengths:
        with open(os.path.join(folder, f"rss_{minutes:g}min.csv")) as f:
            rows = [line.strip().split(",") for line in f.readlines()[1:]]
        if not rows:
            continue
        end = float(rows[-1][0])
        axis.plot([float(r[0]) / end for r in rows], [float(r[2]) / 1024 for r in rows],
                  label=f"{minutes:g} min")  # fmt: skip
    axis.set_xlabel("fraction of the run (build, encode, decode)")
    axis.set_ylabel("RSS (GB)")
    axis.set_title("Long-audio coding, full-size SpeechTokenizer architecture")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(os.path.join(folder, "rss.png"), dpi=120)


if __name__ == "__main__":
    main()
