"""Milliseconds per cached decoding step of the full-size text-to-semantic model.

One compiled step (`jax.jit` on JAX, `tf.function` on TensorFlow) of the
USLM-size `TextToSemanticBackbone` (random weights): one new token through
the 12 layers, attending to a key/value cache of `--slots` slots, then the
output layer. Isolates the per-token cost that `generate`'s loop repeats,
so a change to the attention or the cache layout can be measured as a
before / after at several cache sizes:

    KERAS_BACKEND=jax python examples/benchmark_decode_step.py --slots 400 600 1000

Prints one JSON line per cache size: median and minimum of `--repeats` calls
(wall ms; run it pinned to one core, e.g. `taskset -c 0`, for stable numbers).
"""

import argparse
import json
import os
import statistics
import sys
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slots", type=int, nargs="+", default=[400, 600, 1000])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    import numpy as np
    from keras import ops

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from benchmark_text_to_semantic import build_model

    from keras_soundstorm import backend

    model = build_model()
    backbone = model.backbone
    text_slots = 150

    def step(x, padding_mask, cache, index):
        hidden, cache = backbone.decoder.decode(x, padding_mask, text_slots, cache, index)
        return model.semantic_head(hidden[:, 0]), cache

    variables = backbone.variables + model.semantic_head.variables
    compiled = backend.compiled_inference(step, variables)
    x = ops.convert_to_tensor(np.random.default_rng(0).standard_normal((1, 1, 1024)), "float32")
    for slots in args.slots:
        cache = backbone.empty_cache(1, slots)
        padding_mask = ops.ones((1, slots), "bool")
        index = ops.convert_to_tensor(slots - 10, "int32")
        ops.convert_to_numpy(compiled(x, padding_mask, cache, index)[0])  # compiles
        timings = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            ops.convert_to_numpy(compiled(x, padding_mask, cache, index)[0])
            timings.append(1000 * (time.perf_counter() - start))
        row = {
            "backend": backend.name(),
            "slots": slots,
            "median_ms": round(statistics.median(timings), 1),
            "min_ms": round(min(timings), 1),
            "repeats": args.repeats,
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
