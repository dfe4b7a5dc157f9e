"""Per-component profile of one decoding pass of the converted public architecture.

Times the parts of one pass of `examples/benchmark_converted.py`'s model (12
Conformer blocks x 1024, 8 heads, feed-forward x4, convolution kernel 31 with
expansion 2 and a channel norm, Q=7 levels, random weights) on one backend, or
of the same architecture in soundstorm-pytorch 0.2.0 (`--peer`): each component
of the first block compiled on its own (jax.jit / tf.function / torch eager
under no_grad, as `generate` runs it) and timed on the frames of one call, the
median process CPU time of `--repeats`, then scaled to one pass (x 12 blocks, x 2 feed-forward
modules). What is left of a full pass (embeddings, residual adds, post norms)
and of a decoding pass (sampling, ranking, masking: `generate` time / passes
minus one forward pass, decoding exactly the profiled frames) is reported as
such; the last row is a pass of `generate` with its default length bucket
(`backend.default_bucket_frames`: 150 frames are decoded as 160 on JAX and
TensorFlow, 150 on PyTorch).

    taskset -c 0 python examples/profile_converted.py --backend jax --jsonl profile.jsonl
    taskset -c 0 python examples/profile_converted.py --peer --jsonl profile.jsonl
    python examples/profile_converted.py --report profile.jsonl   # markdown table

Run one implementation per process.
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmark_converted import (  # noqa: E402
    CODEBOOK,
    FRAME_RATE,
    HEADS,
    LAYERS,
    LEVELS,
    VOCABULARY,
    WIDTH,
    _checkpoint_shapes,
    build_peer,
)

# A short schedule for the bookkeeping estimate (passes of the first level, then 1 each).
PROFILE_STEPS = (4, 1, 1, 1, 1, 1, 1)
COMPONENTS = (
    "attention (norm, qkv, rotary, softmax, output)",
    "feed-forward x2 (norm, 1024->4096->1024)",
    "convolution module (norm, pointwise, GLU, depthwise, norm, pointwise)",
    "  of which depthwise conv k=31 on 2048 channels",
    "  of which channel norm + SiLU",
    "rest of the blocks (residuals, post norm)",
    "level head(s)",
    "embeddings and rest of the pass",
    "forward pass total",
    "decode-loop bookkeeping (sampling, ranking, masking) per pass",
    "decoding pass total",
    "decoding pass total, generate's default length bucket",
)


def _median_seconds(call, repeats):
    """Median process CPU seconds of `repeats` calls after a warm-up (compiling) call.

    CPU time, not wall time: on a shared machine a pinned process's wall time
    grows with the other jobs' load, its CPU time much less.
    """
    call()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        call()
        times.append(time.process_time() - start)
    return statistics.median(times)


def _ours(frames, repeats):
    import keras
    import numpy as np
    from keras import ops

    import keras_soundstorm as kss
    from keras_soundstorm import backend

    config = kss.convert.soundstorm_speechtokenizer_config(_checkpoint_shapes(), num_heads=HEADS)
    model = kss.SoundStorm(kss.SoundStormBackbone(**config), head_projection=True)
    block = model.backbone.get_layer("conformer_layer_0")
    rng = np.random.default_rng(0)
    x = ops.convert_to_tensor(rng.standard_normal((1, frames, WIDTH)).astype("float32"))
    wide = ops.convert_to_tensor(rng.standard_normal((1, frames, 2 * WIDTH)).astype("float32"))
    padding = ops.ones((1, frames), "bool")
    codes = ops.convert_to_tensor(rng.integers(0, CODEBOOK, (1, frames, LEVELS)).astype("int32"))
    conditioning = rng.integers(0, VOCABULARY, (1, frames)).astype("int32")
    level = ops.convert_to_tensor(0, "int32")

    def timed(function, *args, variables=None):
        compiled = backend.compiled_inference(function, variables or model.variables)
        return _median_seconds(lambda: ops.convert_to_numpy(compiled(*args)), repeats)

    def depthwise(y):
        return block._depthwise_convolution(y)

    ms = {}
    ms[COMPONENTS[0]] = LAYERS * timed(
        lambda x, m: block.self_attention(block.attention_norm(x), padding_mask=m), x, padding
    )
    ms[COMPONENTS[1]] = LAYERS * 2 * timed(lambda x: block._feed_forward(0, x, False), x)
    ms[COMPONENTS[2]] = LAYERS * timed(lambda x, m: block._convolution(x, m, False), x, padding)
    ms[COMPONENTS[3]] = LAYERS * timed(depthwise, wide)
    ms[COMPONENTS[4]] = LAYERS * timed(lambda y: block.conv_depthwise_norm(ops.silu(y)), wide)
    block_total = LAYERS * timed(lambda x, m: block(x, m), x, padding)
    ms[COMPONENTS[5]] = block_total - ms[COMPONENTS[0]] - ms[COMPONENTS[1]] - ms[COMPONENTS[2]]
    hidden = x
    ms[COMPONENTS[6]] = timed(lambda h, lv: model.level_heads(h, lv), hidden, level)
    forward = timed(
        lambda c, lv, s, m: model.logits(c, lv, s, m),
        codes,
        level,
        ops.convert_to_tensor(conditioning),
        padding,
    )
    ms[COMPONENTS[7]] = forward - block_total - ms[COMPONENTS[6]]
    ms[COMPONENTS[8]] = forward
    passes = sum(PROFILE_STEPS)

    def generate(**kwargs):
        model.generate(conditioning=conditioning, steps_per_level=PROFILE_STEPS, seed=0, **kwargs)

    # bucket_frames=frames: decoded at exactly `frames`, as the forward pass above.
    decoding = _median_seconds(lambda: generate(bucket_frames=frames), 1) / passes
    ms[COMPONENTS[9]] = decoding - forward
    ms[COMPONENTS[10]] = decoding
    ms[COMPONENTS[11]] = _median_seconds(generate, 1) / passes
    return f"keras-soundstorm {keras.backend.backend()}", ms


def _peer(frames, repeats):
    import torch

    net, model = build_peer(PROFILE_STEPS[0])
    block = net.conformer.layers[0]
    x = torch.randn(1, frames, WIDTH)
    wide = torch.randn(1, 2 * WIDTH, frames)  # channels first, as the peer's conv module
    rotary = net.conformer.rotary_emb(frames)
    codes = torch.randint(0, CODEBOOK, (1, frames * LEVELS))
    conditioning = torch.randint(0, VOCABULARY, (1, frames))

    def timed(function, *args):
        def call():
            with torch.no_grad():
                function(*args)

        return _median_seconds(call, repeats)

    conv = block.conv.net
    ms = {}
    ms[COMPONENTS[0]] = LAYERS * timed(lambda x: block.attn(x, rotary_emb=rotary), x)
    ms[COMPONENTS[1]] = LAYERS * (timed(block.ff1, x) + timed(block.ff2, x))
    ms[COMPONENTS[2]] = LAYERS * timed(block.conv, x)
    ms[COMPONENTS[3]] = LAYERS * timed(conv[4], wide)
    ms[COMPONENTS[4]] = LAYERS * timed(lambda y: conv[6](conv[5](y)), wide)
    block_total = LAYERS * timed(lambda x: block(x, rotary_emb=rotary), x)
    ms[COMPONENTS[5]] = block_total - ms[COMPONENTS[0]] - ms[COMPONENTS[1]] - ms[COMPONENTS[2]]
    ms[COMPONENTS[6]] = timed(lambda h: net.to_logits(net.heads(h)), x)
    # The peer's generate adds the semantic-token embedding to every pass's input.
    cond = model.semantic_token_emb(conditioning)
    forward = timed(lambda c: net(c, cond=cond), codes)
    ms[COMPONENTS[7]] = forward - block_total - ms[COMPONENTS[6]]
    ms[COMPONENTS[8]] = forward

    def generate():
        with torch.no_grad():
            model.generate(cond_semantic_token_ids=conditioning, num_full_sampling_levels=1)

    decoding = _median_seconds(generate, 1) / sum(PROFILE_STEPS)
    ms[COMPONENTS[9]] = decoding - forward
    ms[COMPONENTS[10]] = decoding
    ms[COMPONENTS[11]] = decoding  # the peer decodes the given length
    return "soundstorm-pytorch 0.2.0", ms


def report(path):
    """A markdown table (ms per decoding pass) of the rows in a JSON-lines file."""
    rows = [json.loads(line) for line in open(path) if line.strip()]
    names = [row["implementation"] for row in rows]
    lines = [
        "| component (ms per pass) | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for component in COMPONENTS:
        cells = [f"{row['ms'][component]:.0f}" for row in rows]
        lines.append(f"| {component} | " + " | ".join(cells) + " |")
    frames = {row["frames"] for row in rows}
    lines.append(f"\nframes: {sorted(frames)}; commands: " + "; ".join(r["command"] for r in rows))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("jax", "tensorflow", "torch"))
    parser.add_argument("--peer", action="store_true", help="profile soundstorm-pytorch")
    parser.add_argument("--seconds", type=float, default=3.0, help="audio of one call")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per component")
    parser.add_argument("--jsonl", help="append the result to this JSON-lines file")
    parser.add_argument("--report", help="print the markdown table of a JSON-lines file")
    args = parser.parse_args(argv)
    if args.report:
        print(report(args.report))
        return
    if args.peer == bool(args.backend):
        parser.error("give exactly one of --backend and --peer (or --report)")
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    frames = round(args.seconds * FRAME_RATE)
    implementation, seconds = (_peer if args.peer else _ours)(frames, args.repeats)
    row = {
        "implementation": implementation,
        "frames": frames,
        "ms": {name: round(1e3 * value, 1) for name, value in seconds.items()},
        "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "command": "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:]),
    }
    for name, value in row["ms"].items():
        print(f"{value:9.1f} ms  {name}")
    if args.jsonl:
        with open(args.jsonl, "a") as handle:
            handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
