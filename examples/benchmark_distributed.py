"""Data-parallel training throughput on N virtual JAX devices against 1 device.

Runs on CPU with `--xla_force_host_platform_device_count=N` (set here before JAX
starts), times `train_on_batch` of the same global batch (a) on one device and
(b) split over the N devices with `keras.distribution.DataParallel` (and, with
`--model-parallel M`, (c) a `(N/M, M)` mesh with SoundStorm's layout map).
Virtual devices share the machine's cores, so expect no speed-up on CPU: the
point is that the distributed step runs and shards; on TPUs/GPUs the same
code splits the work. The last line of stdout is a one-line JSON summary.

Usage:
```
python examples/benchmark_distributed.py --devices 8 --config tiny --steps 10
```
"""

import argparse
import json
import os
import statistics
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=8, help="virtual CPU devices")
    parser.add_argument("--model-parallel", type=int, default=0, help="also time a (N/M, M) mesh")
    parser.add_argument("--config", default="tiny", help="a name in kss.CONFIGS")
    parser.add_argument("--batch-size", type=int, default=16, help="global batch")
    parser.add_argument("--frames", type=int, default=100, help="frames per example")
    parser.add_argument("--steps", type=int, default=10, help="timed steps (after 2 warm-up)")
    args = parser.parse_args(argv)
    if args.devices < 1 or args.batch_size % args.devices:
        parser.error(f"--batch-size ({args.batch_size}) must be a multiple of --devices.")
    return args


def time_training(config, distribution, batch, steps):
    """Builds a SoundStorm under `distribution` and times `steps` training steps.

    Returns a dict: seconds per step (median), the first step (compile)
    and how many devices hold the embedding table.
    """
    import keras

    import keras_soundstorm as kss

    keras.distribution.set_distribution(distribution)
    try:
        keras.utils.set_random_seed(0)
        model = kss.SoundStorm(kss.SoundStormBackbone(**config), seed=0)
        model.compile()
        start = time.perf_counter()
        model.train_on_batch(batch)
        first_step = time.perf_counter() - start
        model.train_on_batch(batch)
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            model.train_on_batch(batch)  # returns host floats: waits for the step
            times.append(time.perf_counter() - start)
        sharding = model.backbone.code_embedding.embeddings.value.sharding
        return {
            "step_seconds": statistics.median(times),
            "first_step_seconds": first_step,
            "devices": len(sharding.device_set),
        }
    finally:
        keras.distribution.set_distribution(None)


def main(argv=None):
    args = parse_args(argv)
    os.environ["KERAS_BACKEND"] = "jax"
    flag = f"--xla_force_host_platform_device_count={args.devices}"
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flag).strip()
    import keras

    import keras_soundstorm as kss
    from keras_soundstorm import distribution
    from keras_soundstorm.data import toy

    devices = keras.distribution.list_devices()
    if len(devices) != args.devices:
        raise SystemExit(
            f"JAX sees {len(devices)} devices, not {args.devices}: "
            "was JAX initialized before this script set XLA_FLAGS?"
        )
    config = kss.CONFIGS[args.config]
    batch = toy.toy_batch(args.batch_size, args.frames, config, seed=0)
    settings = [
        ("1 device", distribution.jax_distribution(devices=devices[:1], set_global=False)),
        (
            f"{args.devices} devices data-parallel",
            distribution.jax_distribution(set_global=False),
        ),
    ]
    if args.model_parallel:
        settings.append(
            (
                f"{args.devices // args.model_parallel}x{args.model_parallel} model-parallel",
                distribution.jax_distribution(args.model_parallel, config=config, set_global=False),
            )
        )
    results = {}
    for name, setting in settings:
        result = time_training(config, setting, batch, args.steps)
        result["examples_per_second"] = args.batch_size / result["step_seconds"]
        results[name] = result
        print(
            f"{name:>28}: {1000 * result['step_seconds']:7.1f} ms/step, "
            f"{result['examples_per_second']:7.1f} examples/s "
            f"({args.frames} frames each), first step {result['first_step_seconds']:.1f} s, "
            f"weights on {result['devices']} device(s)"
        )
    baseline = results["1 device"]["step_seconds"]
    summary = {
        "config": args.config,
        "batch_size": args.batch_size,
        "frames": args.frames,
        "cpu_count": os.cpu_count(),
        "results": results,
        "speedup_vs_1_device": {name: baseline / r["step_seconds"] for name, r in results.items()},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
