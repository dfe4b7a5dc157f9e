"""The floor of a decoding step: the text-to-semantic model's weight matmuls alone.

One generated token of the full-size text-to-semantic model (USLM's AR stage:
12 layers x 1024, feed-forward 4096) multiplies one row vector by every
weight matrix once: per layer `[1, 1024] x [1024, 3072]` (q, k, v),
`[1024, 1024]` (output), `[1024, 4096]` and `[4096, 1024]` (feed-forward),
151 M weights, 0.6 GB in float32. This script times exactly that chain, with
nothing else (no attention, no cache, no norms beyond one rescale per layer to
keep the numbers finite), in one compiled loop of `--tokens` steps per
framework. On a CPU it is bound by streaming the weights from memory, so it is
the per-token time no implementation of this model can beat on that core in
that dtype; a full decode's time over it says how much is left to gain.

    taskset -c 0 python examples/benchmark_matvec_floor.py --framework jax
    taskset -c 0 python examples/benchmark_matvec_floor.py --framework torch --dtype bfloat16

Prints one JSON line: median and minimum ms per token over `--repeats` runs
(wall and process CPU). Pin it to one core and run each framework with one
thread (`XLA_FLAGS=--xla_cpu_multi_thread_eigen=false`, `OMP_NUM_THREADS=1`,
`TF_NUM_INTRAOP_THREADS=1`) to compare with `benchmark_text_to_semantic.py`.
"""

import argparse
import json
import statistics
import time

import numpy as np

LAYERS, WIDTH, FEED_FORWARD = 12, 1024, 4096
SHAPES = ((WIDTH, 3 * WIDTH), (WIDTH, WIDTH), (WIDTH, FEED_FORWARD), (FEED_FORWARD, WIDTH))


def _weights():
    rng = np.random.default_rng(0)
    return [
        [(rng.standard_normal(shape) * 0.02).astype("float32") for shape in SHAPES]
        for _ in range(LAYERS)
    ]


def _jax(weights, x, tokens, dtype):
    import jax
    import jax.numpy as jnp

    weights = [[jnp.asarray(w, dtype) for w in layer] for layer in weights]

    @jax.jit
    def run(weights, x):
        def step(_, x):
            for qkv, out, up, down in weights:
                x = x + (x @ qkv)[:, :WIDTH] @ out
                x = x + jax.nn.relu(x @ up) @ down
                x = x / jnp.linalg.norm(x.astype("float32")).astype(dtype)
            return x

        return jax.lax.fori_loop(0, tokens, step, x)

    x = jnp.asarray(x, dtype)
    return lambda: jax.block_until_ready(run(weights, x))


def _tensorflow(weights, x, tokens, dtype):
    import tensorflow as tf

    weights = [[tf.constant(w, dtype) for w in layer] for layer in weights]

    @tf.function(autograph=False)
    def run(x):
        def step(i, x):
            for qkv, out, up, down in weights:
                x = x + (x @ qkv)[:, :WIDTH] @ out
                x = x + tf.nn.relu(x @ up) @ down
                x = x / tf.cast(tf.norm(tf.cast(x, "float32")), dtype)
            return i + 1, x

        return tf.while_loop(lambda i, x: i < tokens, step, (0, x))[1]

    x = tf.constant(x, dtype)
    return lambda: run(x).numpy()


def _torch(weights, x, tokens, dtype):
    import torch

    dtype = getattr(torch, dtype)
    weights = [[torch.from_numpy(w).to(dtype) for w in layer] for layer in weights]
    start = torch.from_numpy(x).to(dtype)

    @torch.no_grad()
    def run():
        x = start
        for _ in range(tokens):
            for qkv, out, up, down in weights:
                x = x + (x @ qkv)[:, :WIDTH] @ out
                x = x + torch.relu(x @ up) @ down
                x = x / x.float().norm().to(dtype)
        return x

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=("jax", "tensorflow", "torch"), required=True)
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    build = {"jax": _jax, "tensorflow": _tensorflow, "torch": _torch}[args.framework]
    x = np.random.default_rng(1).standard_normal((1, WIDTH)).astype("float32")
    run = build(_weights(), x, args.tokens, args.dtype)
    run()  # compile
    wall, cpu = [], []
    for _ in range(args.repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append((time.perf_counter() - start_wall) * 1000 / args.tokens)
        cpu.append((time.process_time() - start_cpu) * 1000 / args.tokens)
    row = {
        "framework": args.framework,
        "dtype": args.dtype,
        "weights": LAYERS * sum(a * b for a, b in SHAPES),
        "tokens": args.tokens,
        "ms_per_token_wall": round(statistics.median(wall), 1),
        "ms_per_token_wall_min": round(min(wall), 1),
        "ms_per_token_cpu": round(statistics.median(cpu), 1),
    }
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
