"""SoundStorm's Fig. 3: generation runtime against audio length, beside soundstorm-pytorch.

keras-soundstorm times `generate` of a SoundStorm preset (default: the shipped
`soundstorm_espeak_small`, its stored decoding steps) on random conditioning;
soundstorm-pytorch 0.2.0 (`--peer`) times the same architecture (width, depth,
heads, feed-forward, convolution kernel, levels, codebook, conditioning
vocabulary and rate) with random weights, the same passes per level
(`steps` = the first level's, `num_full_sampling_levels=1`): speed does not
depend on the weights. Both run without classifier-free guidance (the
shipped decoding's guidance doubles the batch; soundstorm-pytorch has none),
so both do the same passes. Codec decoding is not included in either.

Each implementation runs in its own process and appends one JSON line per
length to `--output` (lengths already there are skipped: a killed run
resumes); `--plot` draws every line of that file into a PNG:

    python examples/figure_runtime.py --output examples/results/figure3_runtime.jsonl
    python examples/figure_runtime.py --peer --output examples/results/figure3_runtime.jsonl
    python examples/figure_runtime.py --plot examples/results/figure3_runtime.png \
        --output examples/results/figure3_runtime.jsonl

Times are wall seconds (median of `--repeats` calls after a first, compiling
one) and the process's CPU seconds; on a shared machine CPU seconds are the
fairer comparison, and the load average is stored with every line.
"""

import argparse
import json
import os
import statistics
import sys
import time

DEFAULT_LENGTHS = (2, 5, 10, 20, 30)


def _time(call, repeats):
    """(wall, cpu) seconds of a first call and of `repeats` more."""
    timings = []
    for _ in range(1 + repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        timings.append((time.perf_counter() - wall, time.process_time() - cpu))
    return timings[0], timings[1:]


def _load(preset):
    import keras_soundstorm as kss

    model = kss.SoundStorm.from_preset(preset)
    backbone = model.backbone
    steps = model.decoding.get("steps_per_level")
    if steps is None:
        from keras_soundstorm.models.soundstorm.decoding import default_steps_per_level

        steps = default_steps_per_level(backbone.num_levels)
    return model, backbone, tuple(int(s) for s in steps)


def _ours(model, backbone, steps, frames, rng):
    ratio = backbone.conditioning_rate_ratio
    conditioning = rng.integers(0, backbone.conditioning_vocabulary_size, (1, frames // ratio))

    def call():
        codes = model.generate(
            conditioning=conditioning.astype("int32"),
            steps_per_level=steps,
            guidance_scale=0.0,
            seed=0,
        )
        assert codes.shape == (1, frames, backbone.num_levels)

    return call


def _peer_model(backbone, steps):
    import torch

    from keras_soundstorm.convert.peers import stub_soundstorm_pytorch_imports

    stub_soundstorm_pytorch_imports()
    import soundstorm_pytorch

    if any(s != 1 for s in steps[1:]):
        raise ValueError(
            f"soundstorm-pytorch samples levels after the first in 1 pass; got {steps}."
        )
    torch.manual_seed(0)
    width, heads = backbone.hidden_dim, backbone.num_heads
    net = soundstorm_pytorch.ConformerWrapper(
        codebook_size=backbone.codebook_size,
        num_quantizers=backbone.num_levels,
        conformer=dict(
            dim=width, depth=backbone.num_layers, heads=heads, dim_head=width // heads,
            ff_mult=backbone.intermediate_dim // width,
            conv_expansion_factor=backbone.conv_expansion_factor,
            conv_kernel_size=backbone.conv_kernel_size, attn_flash=False,
        ),
    )  # fmt: skip
    # Conditioning at 1/ratio of the code rate, repeated as keras-soundstorm does.
    ratio = backbone.conditioning_rate_ratio
    return soundstorm_pytorch.SoundStorm(
        net,
        steps=steps[0],
        num_semantic_token_ids=backbone.conditioning_vocabulary_size,
        wav2vec_target_sample_hz=16000,
        wav2vec_downsample_factor=320 * ratio,
        codec_target_sample_hz=16000,
        codec_downsample_factor=320,
    ).eval()


def _peer(peer_model, backbone, frames, rng):
    import torch

    ratio = backbone.conditioning_rate_ratio
    conditioning = torch.from_numpy(
        rng.integers(0, backbone.conditioning_vocabulary_size, (1, frames // ratio))
    )

    def call():
        with torch.no_grad():
            codes = peer_model.generate(
                cond_semantic_token_ids=conditioning, num_full_sampling_levels=1
            )
        assert codes.numel() == frames * backbone.num_levels

    return call


def _done(path, implementation, backend, preset):
    """Lengths `path` already holds for this implementation, backend and preset."""
    if not os.path.exists(path):
        return set()
    with open(path) as file:
        rows = [json.loads(line) for line in file if line.strip()]
    return {
        r["audio_seconds"]
        for r in rows
        if (r["implementation"], r["backend"], r["preset"]) == (implementation, backend, preset)
    }


def measure(args):
    import numpy as np

    model, backbone, steps = _load(args.preset)
    frame_rate = 50  # the eSpeak codec's and SpeechTokenizer's code rate (16 kHz / 320)
    if args.peer:
        import torch

        implementation = f"soundstorm-pytorch {_version('soundstorm-pytorch')}"
        backend = f"torch {torch.__version__}"
        peer_model = _peer_model(backbone, steps)
        parameters = sum(p.numel() for p in peer_model.parameters())
    else:
        import keras

        implementation, backend = "keras-soundstorm", keras.backend.backend()
        parameters = model.count_params()
    done = _done(args.output, implementation, backend, args.preset)
    ratio = backbone.conditioning_rate_ratio
    for seconds in args.lengths:
        frames = int(round(seconds * frame_rate / ratio)) * ratio
        if frames / frame_rate in done:
            continue
        rng = np.random.default_rng(0)
        if args.peer:
            call = _peer(peer_model, backbone, frames, rng)
        else:
            call = _ours(model, backbone, steps, frames, rng)
        first, runs = _time(call, args.repeats)
        runs = runs or [first]
        row = {
            "implementation": implementation,
            "backend": backend,
            "preset": args.preset,
            "parameters": int(parameters),
            "audio_seconds": frames / frame_rate,
            "frames": frames,
            "steps_per_level": list(steps),
            "guidance_scale": 0.0,
            "first_call_s": round(first[0], 3),
            "median_s": round(statistics.median(w for w, _ in runs), 3),
            "median_cpu_s": round(statistics.median(c for _, c in runs), 3),
            "runs_s": [round(w, 3) for w, _ in runs],
            "load_average": [round(x, 1) for x in os.getloadavg()],
            "command": "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:]),
        }
        print(json.dumps(row), flush=True)
        with open(args.output, "a") as file:  # one line per length: resumable
            file.write(json.dumps(row) + "\n")


def _version(package):
    from importlib.metadata import version

    return version(package)


def plot(jsonl_path, png_path):
    """Runtime (wall and CPU seconds) against audio length, one line per implementation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(jsonl_path) as file:
        rows = [json.loads(line) for line in file if line.strip()]
    if not rows:
        raise ValueError(f"{jsonl_path!r} holds no measurement.")
    figure, axes = plt.subplots(1, 2, figsize=(9.5, 3.8))
    names = sorted({(r["implementation"], r["backend"]) for r in rows})
    for implementation, backend in names:
        mine = sorted(
            (r for r in rows if (r["implementation"], r["backend"]) == (implementation, backend)),
            key=lambda r: r["audio_seconds"],
        )
        lengths = [r["audio_seconds"] for r in mine]
        for axis, key in zip(axes, ("median_s", "median_cpu_s")):
            axis.plot(lengths, [r[key] for r in mine], "o-", label=f"{implementation} ({backend})")
    steps = "-".join(map(str, rows[0]["steps_per_level"]))
    for axis, title in zip(axes, ("wall seconds", "process CPU seconds")):
        axis.set_xlabel("generated audio (s)")
        axis.set_title(f"{title} (steps {steps})", fontsize=10)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("generation time (s)")
    axes[0].legend(fontsize=8)
    figure.suptitle(f"Runtime against length: {rows[0]['preset']} architecture", fontsize=10)
    figure.tight_layout()
    figure.savefig(png_path, dpi=90)
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="soundstorm_espeak_small")
    parser.add_argument("--peer", action="store_true", help="time soundstorm-pytorch instead")
    parser.add_argument("--lengths", type=float, nargs="+", default=list(DEFAULT_LENGTHS))
    parser.add_argument("--repeats", type=int, default=2, help="timed calls after the first")
    parser.add_argument("--output", required=True, help="JSON-lines file (appended, resumable)")
    parser.add_argument("--plot", help="draw --output into this PNG instead of measuring")
    args = parser.parse_args(argv)
    if args.repeats < 0 or any(length <= 0 for length in args.lengths):
        parser.error("--repeats must be >= 0 and --lengths positive")
    if args.plot:
        plot(args.output, args.plot)
    else:
        measure(args)


if __name__ == "__main__":
    main()
