"""Speed benchmark of SoundStorm generation and training on one backend.

Times, with random weights of a named config (default "small": 6 layers,
hidden 512, 8 heads, Q=12, C=1024):

(a) `model.generate` of `--frames` frames (default 1500 = 30 s at 50 Hz) with
    the paper's schedule (16, 1 x 11) = 27 passes; the first call (tracing and
    compilation) is reported apart from the median of `--repeats` timed calls;
(b) a training step (`train_on_batch`) on `--train-batch-size` x `--frames`;
(c) with `--sweep`, generate at 250 ... 15000 frames (capped by
    `--max-frames`), written to a CSV and a log-log PNG (the paper's Figure 3);
(d) with `--memory-sweep`, the peak memory (max RSS) of one `generate` per
    length (`--sweep-frames`, default the sweep's), each in a fresh child
    process, written to `memory_sweep.csv` / `.png` with the machine and the
    command. `--memory-steps one` uses one pass per level: peak memory does not
    depend on the number of passes, only on the length (attention runs in
    query chunks, so it grows linearly; `--attention-chunk-size 0` measures
    the one-shot T x T attention instead).

Efficiency is reported against this machine's matmul peak, measured at start
with a square `keras.ops.matmul` in float32 and bfloat16 on the same backend.
The last line of stdout is a one-line JSON summary.

Usage:
```
python examples/benchmark.py --backend torch --dtype mixed_bfloat16
python examples/benchmark.py --backend jax --dtype float32 --sweep --max-frames 4000
python examples/benchmark.py --memory-sweep --sweep-frames 1000,4000,15000 --memory-steps one
```
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

FRAME_RATE = 50  # codec frames per second of audio (the paper: SoundStream, 50 Hz)
SWEEP_FRAMES = (250, 500, 1000, 2000, 4000, 8000, 15000)
RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "benchmark_results")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("jax", "tensorflow", "torch"), default="tensorflow")
    parser.add_argument(
        "--dtype", choices=("float32", "mixed_bfloat16", "bfloat16"), default="float32"
    )
    parser.add_argument("--config", default="small", help="a key of kss.CONFIGS")
    parser.add_argument(
        "--preset", help="time a SoundStorm preset (architecture and weights), not --config"
    )
    parser.add_argument("--frames", type=int, default=1500, help="frames of (a) and (b)")
    parser.add_argument("--batch-size", type=int, default=1, help="generate batch size")
    parser.add_argument("--train-batch-size", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after the first")
    parser.add_argument("--bucket-frames", type=int, default=128, help="see `generate`")
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--skip-generate", action="store_true")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--sweep", action="store_true", help="(c): generate at several lengths")
    parser.add_argument("--max-frames", type=int, default=None, help="cap of the sweep")
    parser.add_argument("--sweep-repeats", type=int, default=1, help="timed calls per sweep length")
    parser.add_argument("--output-dir", default=RESULTS_DIR, help="CSV / PNG of the sweep")
    parser.add_argument(
        "--memory-sweep",
        action="store_true",
        help="(d): peak RSS of one generate per length, each in a child process",
    )
    parser.add_argument(
        "--sweep-frames",
        type=_frame_list,
        default=None,
        help="comma-separated lengths of (d) (default: the sweep's, capped by --max-frames)",
    )
    parser.add_argument(
        "--memory-steps",
        choices=("default", "one"),
        default="default",
        help="(d): the paper's schedule, or one pass per level (same peak memory, faster)",
    )
    parser.add_argument(
        "--attention-chunk-size",
        type=int,
        default=None,
        help="the backbone's attention_chunk_size (default: its default; 0: one-shot attention)",
    )
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--codec", action="store_true", help="also time codec encode/decode")
    parser.add_argument("--codec-preset", help="SoundStream preset for --codec (default: random)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="intra-op threads (default: the backend's). On a shared, loaded CPU "
        "1 thread avoids OpenMP spin-waiting on descheduled threads.",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.attention_chunk_size is not None and args.attention_chunk_size < 0:
        raise ValueError(f"`--attention-chunk-size` must be >= 0; got {args.attention_chunk_size}.")
    for name in ("frames", "batch_size", "train_batch_size", "repeats", "matmul_size"):
        if getattr(args, name) < 1:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"`{flag}` must be >= 1; got {getattr(args, name)}.")
    return args


def _frame_list(text):
    try:
        frames = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        frames = []
    if not frames or min(frames) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated frame counts >= 1, e.g. 1000,4000; got {text!r}"
        )
    return frames


def set_threads(backend, threads):
    """Limits intra-op threads; must run before the backend is imported."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if backend == "jax":
        multi = "true" if threads > 1 else "false"
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "") + f" --xla_cpu_multi_thread_eigen={multi}"
        ).strip()
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
    elif backend == "torch":
        import torch

        torch.set_num_threads(threads)


def machine_load():
    """The 1-minute load average (other people's processes share the CPU)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def synchronize(x):
    """Waits for `x` to be computed (JAX dispatches asynchronously)."""
    if hasattr(x, "block_until_ready"):
        x.block_until_ready()
    return x


def median_time(function, repeats, warmup=1):
    """(first-call seconds, median seconds of `repeats` calls)."""
    start = time.perf_counter()
    for _ in range(warmup):
        synchronize(function())
    first = (time.perf_counter() - start) / max(warmup, 1)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        synchronize(function())
        times.append(time.perf_counter() - start)
    return first, statistics.median(times), times


def matmul_peak(size, dtype, repeats=5, time_budget=5.0):
    """FLOP/s of a square `size`^3 `keras.ops.matmul` in `dtype`."""
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    a = keras.ops.convert_to_tensor(rng.standard_normal((size, size)).astype("float32"))
    b = keras.ops.convert_to_tensor(rng.standard_normal((size, size)).astype("float32"))
    a, b = keras.ops.cast(a, dtype), keras.ops.cast(b, dtype)
    # CPUs without native bf16 can take minutes here: stop repeating after ~5 s.
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        synchronize(keras.ops.matmul(a, b))
        times.append(time.perf_counter() - start)
        if sum(times) > time_budget:
            break
    timed = times[1:] or times  # the first call warms up
    return 2 * size**3 / statistics.median(timed)


def build_model(config_name, dtype, seed, preset=None, attention_chunk_size=None):
    """`attention_chunk_size`: None keeps the default, 0 means one-shot attention."""
    import keras

    import keras_soundstorm as kss

    overrides = {}
    if attention_chunk_size is not None:
        overrides["attention_chunk_size"] = attention_chunk_size or None
    if preset:
        model = kss.SoundStorm.from_preset(preset, dtype=dtype, **overrides)
        model.compile()
        return model
    if config_name not in kss.CONFIGS:
        raise ValueError(f"`--config` must be one of {sorted(kss.CONFIGS)}; got {config_name!r}.")
    keras.utils.set_random_seed(seed)
    backbone = kss.SoundStormBackbone(**kss.CONFIGS[config_name], **overrides, dtype=dtype)
    model = kss.SoundStorm(backbone, seed=seed)
    model.compile()
    return model


def random_conditioning(backbone, batch_size, frames, seed):
    import numpy as np

    r = backbone.conditioning_rate_ratio
    if frames % r:
        raise ValueError(f"`frames` must be a multiple of the rate ratio {r}; got {frames}.")
    rng = np.random.default_rng(seed)
    vocabulary = max(backbone.conditioning_vocabulary_size, 1)
    return rng.integers(0, vocabulary, (batch_size, frames // r)).astype("int32")


def time_generate(model, frames, batch_size, repeats, bucket_frames, seed):
    """Times `generate` with the default (16, 1, ..., 1) schedule."""
    backbone = model.backbone
    conditioning = random_conditioning(backbone, batch_size, frames, seed)
    kwargs = {"conditioning": conditioning} if backbone.is_conditional else {}
    if not backbone.is_conditional:
        kwargs["num_frames"] = [frames] * batch_size

    def run():
        return model.generate(**kwargs, seed=seed, bucket_frames=bucket_frames)

    first, median, times = median_time(run, repeats)
    return {"first_call_s": first, "median_s": median, "times_s": times}


def time_train_step(model, frames, batch_size, repeats, seed):
    """Times `train_on_batch` on random codes (masking is inside the step)."""
    import numpy as np

    backbone = model.backbone
    rng = np.random.default_rng(seed)
    batch = {
        "codes": rng.integers(
            0, backbone.codebook_size, (batch_size, frames, backbone.num_levels)
        ).astype("int32"),
        "padding_mask": np.ones((batch_size, frames), "bool"),
    }
    if backbone.is_conditional:
        batch["conditioning"] = random_conditioning(backbone, batch_size, frames, seed)

    def run():
        return model.train_on_batch(batch, return_dict=True)

    first, median, times = median_time(run, repeats)
    return {"first_call_s": first, "median_s": median, "times_s": times}


def benchmark_codec(args):
    """Encode / decode throughput of a SoundStream codec (seconds of audio per second).

    Uses `--codec-preset` if given, else the default 16 kHz / 50 Hz codec with
    random weights (speed does not depend on the weights).
    """
    from keras_soundstorm.codecs import SoundStream, codec_throughput

    if args.codec_preset:
        codec = SoundStream.from_preset(args.codec_preset)
    else:
        codec = SoundStream(seed=args.seed)
    result = codec_throughput(codec, seconds=10.0, repeats=args.repeats)
    print(
        f"codec: encode {result['encode_realtime_factor']:.1f}x real time, "
        f"decode {result['decode_realtime_factor']:.1f}x real time"
    )
    return result


def peak_rss_bytes():
    """This process's peak resident memory so far (Linux reports KiB, macOS bytes)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def memory_child(args):
    """Run in a child process: one `generate` of `args.memory_child` frames, then its peak RSS.

    Prints one JSON line: frames, peak RSS before and after generate, seconds.
    """
    frames = args.memory_child
    model = build_model(args.config, args.dtype, args.seed, args.preset, args.attention_chunk_size)
    backbone = model.backbone
    before = peak_rss_bytes()
    conditioning = random_conditioning(backbone, args.batch_size, frames, args.seed)
    kwargs = {"conditioning": conditioning} if backbone.is_conditional else {}
    if not backbone.is_conditional:
        kwargs["num_frames"] = [frames] * args.batch_size
    if args.memory_steps == "one":
        kwargs["steps_per_level"] = (1,) * backbone.num_levels
    start = time.perf_counter()
    codes = model.generate(**kwargs, seed=args.seed, bucket_frames=args.bucket_frames)
    seconds = time.perf_counter() - start
    assert codes.shape[1] == frames, codes.shape
    result = {
        "frames": frames,
        "model_rss_bytes": before,
        "peak_rss_bytes": peak_rss_bytes(),
        "generate_s": seconds,
    }
    print("MEMORY_CHILD " + json.dumps(result), flush=True)
    return result


def memory_sweep(args, argv, lengths):
    """Peak RSS of one `generate` per length, each in a fresh child process.

    Writes `memory_sweep.csv` (rewritten after every length, so a long sweep
    keeps what it measured) and `memory_sweep.png` to `args.output_dir`.
    A child that fails (e.g. killed by the OS for memory) is recorded with
    its exit code and no peak.
    """
    import csv
    import platform

    os.makedirs(args.output_dir, exist_ok=True)
    csv_path = os.path.join(args.output_dir, "memory_sweep.csv")
    command = " ".join(["python", "examples/benchmark.py", *argv])
    machine = f"{cpu_name()}, {os.cpu_count()} CPUs, {platform.machine()}"
    chunk = "default" if args.attention_chunk_size is None else args.attention_chunk_size
    rows = []
    for frames in lengths:
        child = [sys.executable, os.path.abspath(__file__), *argv, "--memory-child", str(frames)]
        start = time.perf_counter()
        proc = subprocess.run(child, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        lines = [line for line in proc.stdout.splitlines() if line.startswith("MEMORY_CHILD ")]
        result = json.loads(lines[-1].split(" ", 1)[1]) if lines else {}
        peak = result.get("peak_rss_bytes")
        rows.append(
            {
                "backend": args.backend,
                "dtype": args.dtype,
                "config": args.preset or args.config,
                "attention_chunk_size": chunk,
                "passes": args.memory_steps,
                "batch_size": args.batch_size,
                "frames": frames,
                "audio_seconds": frames / FRAME_RATE,
                "model_rss_gb": round(result["model_rss_bytes"] / 1e9, 3) if result else "",
                "peak_rss_gb": round(peak / 1e9, 3) if peak else "",
                "generate_s": round(result["generate_s"], 1) if result else "",
                "exit_code": proc.returncode,
                "machine": machine,
                "command": command,
            }
        )
        status = f"peak RSS {peak / 1e9:.2f} GB" if peak else f"failed (exit {proc.returncode})"
        print(f"  {frames} frames: {status}, {wall:.0f} s wall", flush=True)
        if not peak:
            print("\n".join(proc.stderr.strip().splitlines()[-5:]), flush=True)
        with open(csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(sorted(rows, key=lambda row: row["frames"]))
    png_path = plot_memory_sweep(sorted(rows, key=lambda row: row["frames"]), args.output_dir)
    print(f"  wrote {csv_path}" + (f" and {png_path}" if png_path else ""))
    return rows


def plot_memory_sweep(rows, output_dir):
    """`memory_sweep.png`: peak RSS (GB) against length; None without matplotlib."""
    measured = [row for row in rows if row["peak_rss_gb"] != ""]
    if not measured:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot written.")
        return None
    first = measured[0]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(
        [row["frames"] for row in measured],
        [row["peak_rss_gb"] for row in measured],
        "o-",
        label=f"{first['config']}, chunk {first['attention_chunk_size']}",
    )
    ax.axhline(8, color="gray", linestyle=":", label="8 GB")
    ax.set_xlabel("frames (50 per second of audio)")
    ax.set_ylabel("peak RSS of the process (GB)")
    ax.set_title(f"Peak memory of generate ({first['backend']}, {first['dtype']})")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    png_path = os.path.join(output_dir, "memory_sweep.png")
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return png_path


def write_sweep(rows, output_dir, tag, label, num_passes):
    """Writes the sweep as `sweep_<tag>.csv` and a log-log `sweep_<tag>.png`; returns the paths.

    `label` names the model in the legend; `num_passes` (per generate) goes in the title.
    """
    import csv

    os.makedirs(output_dir, exist_ok=True)
    csv_path = os.path.join(output_dir, f"sweep_{tag}.csv")
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    png_path = None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot written.")
        return csv_path, png_path
    audio = [row["audio_seconds"] for row in rows]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.loglog(audio, [row["median_s"] for row in rows], "o-", label=f"{label} ({tag})")
    ax.loglog(audio, audio, ":", color="gray", label="real time")
    ax.set_xlabel("audio length (s)")
    ax.set_ylabel("generation time (s)")
    ax.set_title(f"Generation time vs length ({num_passes} passes)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    png_path = os.path.join(output_dir, f"sweep_{tag}.png")
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return csv_path, png_path


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    args = parse_args(argv)
    # The backend must be chosen before keras is imported anywhere.
    os.environ["KERAS_BACKEND"] = args.backend
    if args.threads:
        set_threads(args.backend, args.threads)
    import keras

    import keras_soundstorm as kss
    from keras_soundstorm.models.soundstorm.decoding import default_steps_per_level
    from keras_soundstorm.models.soundstorm.flops import flops_per_pass

    if keras.backend.backend() != args.backend:
        raise RuntimeError(
            f"keras was imported with backend {keras.backend.backend()!r} before "
            f"this script could select {args.backend!r}."
        )
    if args.memory_child is not None:
        return memory_child(args)
    tag = f"{args.backend}_{args.dtype}"
    summary = {
        "backend": args.backend,
        "dtype": args.dtype,
        "config": args.preset or args.config,
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads": args.threads,
        "load_start": machine_load(),
        "versions": {"keras": keras.__version__, "keras_soundstorm": kss.__version__},
    }
    print(
        f"backend={args.backend} dtype={args.dtype} config={summary['config']} cpu={summary['cpu']}"
    )
    print(f"load average (1 min) at start: {summary['load_start']:.2f}")

    if args.memory_sweep:
        lengths = args.sweep_frames or [
            n for n in SWEEP_FRAMES if args.max_frames is None or n <= args.max_frames
        ]
        print(f"(d) peak memory of one generate at {lengths} frames, a child process each:")
        summary["memory_sweep"] = [
            {k: row[k] for k in ("frames", "peak_rss_gb", "exit_code")}
            for row in memory_sweep(args, list(argv), lengths)
        ]
        print(json.dumps(summary, default=float))
        return summary

    # Built first, so that a bad --config / --preset fails before the ~10 s peak measurement.
    model = build_model(args.config, args.dtype, args.seed, args.preset, args.attention_chunk_size)
    peaks = {}
    for dtype in ("float32", "bfloat16"):
        peaks[dtype] = matmul_peak(args.matmul_size, dtype)
        print(f"matmul peak {dtype} ({args.matmul_size}^3): {peaks[dtype] / 1e9:.0f} GFLOP/s")
    summary["peak_flops"] = peaks

    def efficiency(flop_per_s):
        return {dtype: flop_per_s / peak for dtype, peak in peaks.items()}

    backbone = model.backbone
    num_passes = sum(default_steps_per_level(backbone.num_levels))
    summary["num_params"] = model.count_params()
    print(f"parameters: {summary['num_params'] / 1e6:.1f} M, passes per generate: {num_passes}")

    def generate_report(frames, repeats):
        audio_seconds = frames / FRAME_RATE
        timing = time_generate(
            model, frames, args.batch_size, repeats, args.bucket_frames, args.seed
        )
        flops = flops_per_pass(backbone, frames, args.batch_size)
        flop_per_s = flops * num_passes / timing["median_s"]
        report = {
            "frames": frames,
            "audio_seconds": audio_seconds,
            "batch_size": args.batch_size,
            **timing,
            "realtime_factor": args.batch_size * audio_seconds / timing["median_s"],
            "wall_per_audio": timing["median_s"] / (args.batch_size * audio_seconds),
            "flops_per_pass": flops,
            "flop_per_s": flop_per_s,
            "fraction_of_peak": efficiency(flop_per_s),
            "load": machine_load(),
        }
        print(
            f"generate {frames} frames ({audio_seconds:.0f} s audio, batch {args.batch_size}): "
            f"first call {timing['first_call_s']:.2f} s, median {timing['median_s']:.2f} s "
            f"of {[round(t, 2) for t in timing['times_s']]}"
        )
        print(
            f"  real-time factor {report['realtime_factor']:.2f}x "
            f"(wall/audio {report['wall_per_audio']:.3f}); "
            f"{flops / 1e9:.1f} GFLOP/pass, {flop_per_s / 1e9:.0f} GFLOP/s = "
            f"{report['fraction_of_peak']['float32']:.0%} of fp32 peak, "
            f"{report['fraction_of_peak']['bfloat16']:.0%} of bf16 peak "
            f"(load {report['load']:.2f})"
        )
        return report

    if not args.skip_generate:
        print(f"(a) generate, {args.repeats} timed runs after the first:")
        summary["generate"] = generate_report(args.frames, args.repeats)

    if not args.skip_train:
        print(f"(b) train step, batch {args.train_batch_size} x {args.frames} frames:")
        timing = time_train_step(model, args.frames, args.train_batch_size, args.repeats, args.seed)
        # Forward + backward ~ 3 forward passes (the head of one level per example).
        flops = 3 * flops_per_pass(backbone, args.frames, args.train_batch_size)
        flop_per_s = flops / timing["median_s"]
        summary["train"] = {
            "frames": args.frames,
            "batch_size": args.train_batch_size,
            **timing,
            "flops_per_step": flops,
            "flop_per_s": flop_per_s,
            "fraction_of_peak": efficiency(flop_per_s),
            "load": machine_load(),
        }
        print(
            f"  first call {timing['first_call_s']:.2f} s, median {timing['median_s']:.2f} s "
            f"of {[round(t, 2) for t in timing['times_s']]}; {flops / 1e9:.0f} GFLOP/step, "
            f"{flop_per_s / 1e9:.0f} GFLOP/s = {flop_per_s / peaks['float32']:.0%} of fp32 peak, "
            f"{flop_per_s / peaks['bfloat16']:.0%} of bf16 peak (load {machine_load():.2f})"
        )

    if args.sweep:
        lengths = [n for n in SWEEP_FRAMES if args.max_frames is None or n <= args.max_frames]
        print(f"(c) sweep over {lengths} frames:")
        rows = []
        for frames in lengths:
            report = generate_report(frames, args.sweep_repeats)
            rows.append(
                {
                    "backend": args.backend,
                    "dtype": args.dtype,
                    "frames": frames,
                    "audio_seconds": report["audio_seconds"],
                    "first_call_s": round(report["first_call_s"], 4),
                    "median_s": round(report["median_s"], 4),
                    "realtime_factor": round(report["realtime_factor"], 3),
                    "gflop_per_s": round(report["flop_per_s"] / 1e9, 1),
                    "load": round(report["load"], 2),
                }
            )
        csv_path, png_path = write_sweep(
            rows, args.output_dir, tag, os.path.basename(summary["config"]), num_passes
        )
        print(f"  wrote {csv_path}" + (f" and {png_path}" if png_path else ""))
        summary["sweep"] = [{k: row[k] for k in ("frames", "median_s")} for row in rows]

    if args.codec:
        summary["codec"] = benchmark_codec(args)

    summary["load_end"] = machine_load()
    print(json.dumps(summary, default=float))
    return summary


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
