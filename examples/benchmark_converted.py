"""Times `generate` with the architecture of the public SpeechTokenizer-SoundStorm checkpoints.

The model is the one `kss.convert.soundstorm_speechtokenizer` builds for the
public files (12 layers x 1024, 8 heads x 128, feed-forward x4, convolution
kernel 31 with expansion 2, channel norm, Q=7 levels of C=1024 codes,
conditioned on 1024 semantic ids at the same 50 Hz rate; 351 M parameters),
its config inferred by the converter from tensor shapes alone, with random
weights: speed does not depend on them. Steps per level are the reference's
inference defaults (soundstorm-pytorch `SoundStorm(steps=18)`,
`generate(num_full_sampling_levels=1)`: 18 passes on the first level, 1 on
each other), 24 passes in all.

    python examples/benchmark_converted.py --backend tensorflow --seconds 5 --repeats 2
    python examples/benchmark_converted.py --peer --seconds 5 --repeats 2   # soundstorm-pytorch

Run one backend per process. Each run prints one JSON line and, with `--csv`,
appends it as a row. The first call (compilation included) is reported apart
from the timed repeats, whose median is the result; each time is given as wall
seconds and as the process's CPU seconds (all its threads), which on a shared
machine is the fairer comparison: pin each run to one core (`taskset -c 1`).

With `--matmul-peak` the same process then times a 2048^3 float32 matmul
(median of 7, process CPU seconds) on its backend (the peer: torch) and
reports the arithmetic floor of the call, `flop_per_frame_pass(frames) *
frames * passes / peak` (0.68 GFLOP per frame per pass at 150 frames, the
issue's count; 0.74 at 1500, where attention's scores grow), and the fraction
of that peak the call reached.
"""

import argparse
import csv
import json
import os
import statistics
import sys
import time

FRAME_RATE = 50
STEPS_PER_LEVEL = (18, 1, 1, 1, 1, 1, 1)
WIDTH, LAYERS, HEADS, LEVELS, CODEBOOK, VOCABULARY, KERNEL = 1024, 12, 8, 7, 1024, 1024, 31


def append_csv_row(path, row):
    """Appends `row` (a dict) to the CSV at `path`, with a header if the file is new."""
    new = not os.path.exists(path)
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def randomise_weights(layer, seed=0):
    """Assigns `layer` random weights (std 0.5 / sqrt(fan-in)) and returns it.

    For codecs (e.g. `SpeechTokenizer()`), whose zero-initialised weights
    would decode silence: speed and memory do not depend on the values.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    for variable in layer.variables:
        scale = 0.5 / np.sqrt(max(1, np.prod(variable.shape[:-1])))
        variable.assign((scale * rng.standard_normal(variable.shape)).astype("float32"))
    return layer


def _checkpoint_shapes():
    """Zero-stride arrays named and shaped as the public checkpoints' tensors the config reads."""
    import numpy as np

    def empty(*shape):
        return np.lib.stride_tricks.as_strided(np.zeros(1, "float32"), shape, (0,) * len(shape))

    shapes = {
        "net.code_embeds.weight": empty(LEVELS * (CODEBOOK + 1), WIDTH),
        "semantic_token_emb.weight": empty(VOCABULARY, WIDTH),
        "net.to_logits.2.weight": empty(LEVELS, WIDTH, CODEBOOK),
    }
    for index in range(LAYERS):
        layer = f"net.conformer.layers.{index}."
        shapes[layer + "post_norm.weight"] = empty(WIDTH)
        shapes[layer + "ff1.fn.fn.net.0.weight"] = empty(4 * WIDTH, WIDTH)
        shapes[layer + "conv.net.4.conv.weight"] = empty(2 * WIDTH, 1, KERNEL)
    return shapes


def _time(call, repeats):
    """Wall and process CPU seconds of the first call and of `repeats` more."""
    timings = []
    for _ in range(1 + repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        timings.append((time.perf_counter() - wall, time.process_time() - cpu))
    return timings[0], timings[1:]


def flop_per_frame_pass(frames):
    """Matmul FLOPs of one frame in one pass over `frames` frames (multiply-adds x 2).

    Per block: q, k, v and output projections 4 d^2, two feed-forwards 16 d^2,
    the convolution module's pointwise convolutions 6 d^2 (d -> 4d before the
    GLU, 2d -> d after), attention scores and values 2 * frames * d; then the
    7 level heads' d x C (as the issue counts them; ours compute one).
    """
    per_block = 26 * WIDTH**2 + 2 * frames * WIDTH
    return 2 * (LAYERS * per_block + LEVELS * WIDTH * CODEBOOK)


def matmul_peak_flops(backend, size=2048, repeats=7):
    """Float32 matmul FLOP per process CPU second on `backend` ("torch" for the peer)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size)).astype("float32") for _ in range(2))
    if backend == "peer":
        import torch

        a, b = torch.from_numpy(a), torch.from_numpy(b)
        matmul = lambda: torch.matmul(a, b).sum().item()  # noqa: E731
    else:
        import keras

        a, b = keras.ops.convert_to_tensor(a), keras.ops.convert_to_tensor(b)
        matmul = lambda: keras.ops.convert_to_numpy(keras.ops.matmul(a, b))  # noqa: E731
    matmul()  # warm up
    times = []
    for _ in range(repeats):
        start = time.process_time()
        matmul()
        times.append(time.process_time() - start)
    return 2 * size**3 / statistics.median(times)


def _ours(frames, repeats, bucket_frames=None):
    import numpy as np

    import keras_soundstorm as kss

    config = kss.convert.soundstorm_speechtokenizer_config(_checkpoint_shapes(), num_heads=HEADS)
    model = kss.SoundStorm(kss.SoundStormBackbone(**config), head_projection=True)
    conditioning = np.random.default_rng(0).integers(0, VOCABULARY, (1, frames)).astype("int32")

    def call():
        codes = model.generate(
            conditioning=conditioning,
            steps_per_level=STEPS_PER_LEVEL,
            seed=0,
            bucket_frames=bucket_frames,
        )
        assert codes.shape == (1, frames, LEVELS)

    first, runs = _time(call, repeats)
    import keras

    return keras.backend.backend(), model.count_params(), first, runs


def build_peer(steps):
    """`(ConformerWrapper, SoundStorm)` of soundstorm-pytorch with the converted architecture."""
    import torch

    from keras_soundstorm.convert.peers import stub_soundstorm_pytorch_imports

    stub_soundstorm_pytorch_imports()
    import soundstorm_pytorch

    torch.manual_seed(0)
    net = soundstorm_pytorch.ConformerWrapper(
        codebook_size=CODEBOOK,
        num_quantizers=LEVELS,
        conformer=dict(
            dim=WIDTH, depth=LAYERS, heads=HEADS, dim_head=WIDTH // HEADS, ff_mult=4,
            conv_expansion_factor=2, conv_kernel_size=KERNEL, attn_flash=False,
        ),
    )  # fmt: skip
    model = soundstorm_pytorch.SoundStorm(
        net,
        steps=steps,
        num_semantic_token_ids=VOCABULARY,
        wav2vec_target_sample_hz=16000,
        wav2vec_downsample_factor=320,
        codec_target_sample_hz=16000,
        codec_downsample_factor=320,
    ).eval()
    return net, model


def _peer(frames, repeats):
    import torch

    net, model = build_peer(STEPS_PER_LEVEL[0])
    conditioning = torch.randint(0, VOCABULARY, (1, frames))

    def call():
        codes = model.generate(cond_semantic_token_ids=conditioning, num_full_sampling_levels=1)
        assert codes.numel() == frames * LEVELS  # [(n q)]: one example is squeezed

    params = sum(p.numel() for p in model.parameters())
    first, runs = _time(call, repeats)
    return "torch", params, first, runs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("jax", "tensorflow", "torch"))
    parser.add_argument("--peer", action="store_true", help="time soundstorm-pytorch instead")
    parser.add_argument("--seconds", type=float, default=30.0, help="audio to generate")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls after the first")
    parser.add_argument(
        "--bucket-frames",
        type=int,
        help="ours: `generate`'s bucket_frames (default: its default, which pads 150 frames "
        "to 256 on JAX and TensorFlow)",
    )
    parser.add_argument(
        "--matmul-peak", action="store_true", help="also measure the matmul peak and the floor"
    )
    parser.add_argument("--csv", help="append the result as a row of this CSV file")
    args = parser.parse_args(argv)
    if args.peer == bool(args.backend):
        parser.error("give exactly one of --backend and --peer")
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    frames = round(args.seconds * FRAME_RATE)
    implementation = "soundstorm-pytorch 0.2.0" if args.peer else "keras-soundstorm"
    if args.peer:
        backend, params, first, runs = _peer(frames, args.repeats)
    else:
        backend, params, first, runs = _ours(frames, args.repeats, args.bucket_frames)
    runs = runs or [first]
    median = statistics.median(wall for wall, _ in runs)
    median_cpu = statistics.median(cpu for _, cpu in runs)
    row = {
        "implementation": implementation,
        "backend": backend,
        "audio_seconds": frames / FRAME_RATE,
        "frames": frames,
        "steps_per_level": "-".join(map(str, STEPS_PER_LEVEL)),
        "passes": sum(STEPS_PER_LEVEL),
        "bucket_frames": "" if args.peer else (args.bucket_frames or "default"),
        "parameters": params,
        "first_call_s": round(first[0], 2),
        "first_call_cpu_s": round(first[1], 2),
        "runs_s": " ".join(f"{wall:.2f}" for wall, _ in runs),
        "median_s": round(median, 2),
        "median_cpu_s": round(median_cpu, 2),
        "real_time_factor": round(frames / FRAME_RATE / median, 4),
        "cores": len(os.sched_getaffinity(0)),
        "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "command": "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:]),
    }
    row.update(matmul_peak_gflops="", floor_cpu_s="", fraction_of_peak="")
    if args.matmul_peak:
        peak = matmul_peak_flops("peer" if args.peer else backend)
        floor = flop_per_frame_pass(frames) * frames * sum(STEPS_PER_LEVEL) / peak
        row["matmul_peak_gflops"] = round(peak / 1e9, 1)
        row["floor_cpu_s"] = round(floor, 2)
        row["fraction_of_peak"] = round(floor / median_cpu, 3)
    print(json.dumps(row), flush=True)
    if args.csv:
        append_csv_row(args.csv, row)


if __name__ == "__main__":
    main()
