"""Tuning-sentence scores of SoundStorm checkpoints vs training steps: a learning curve (resumable).

    python examples/decoding_learning_curve.py --codec saved_models/soundstream_espeak_16khz \
        --output examples/results/learning_curve \
        --checkpoint 2200:outputs/history_presets/steps_2200 \
        --checkpoint 21700:saved_models/soundstorm_espeak_small

Each `STEPS:PRESET` is scored by `sweep_decoding` with the same decoding
(default: plain decoding, w = 0) on the tuning sentences with a 3 s prompt,
for training and held-out voices, next to the codec. Plots WER, voice
preservation and timbre identification vs training steps, with the codec's
values, to show whether more training would reach a target. Each checkpoint's
rows are kept in `OUTPUT/steps_<N>.json`: a rerun resumes.
"""

import argparse
import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from keras_soundstorm.evaluation.decoding_sweep import CODEC, sweep_decoding  # noqa: E402
from keras_soundstorm.evaluation.loading import load_for_evaluation  # noqa: E402
from keras_soundstorm.utils.files import atomic_write_text  # noqa: E402

METRICS = (
    ("wer", "WER (8-sentence LM)"),
    ("voice_preservation", "voice preservation"),
    ("timbre_identified", "timbre identified"),
)


def plot_curve(points, path):
    """`points`: `[(steps, rows)]`; one panel per metric, one line per voice group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys(row["group"] for _, rows in points for row in rows))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    figure, axes = plt.subplots(1, len(METRICS), figsize=(4.4 * len(METRICS), 3.6))
    for axis, (key, label) in zip(axes, METRICS):
        for k, group in enumerate(groups):
            model_points = [
                (steps, row[key])
                for steps, rows in points
                for row in rows
                if row["group"] == group and row["setting"] != CODEC
            ]
            axis.plot(*zip(*model_points), "o-", color=colors[k], label=f"SoundStorm, {group}")
            codec = [r[key] for r in points[-1][1] if r["group"] == group and r["setting"] == CODEC]
            axis.axhline(codec[0], color=colors[k], ls="--", lw=1, label=f"codec, {group}")
        axis.set_xlabel("training steps (batch 8)")
        axis.set_title(label)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--codec", required=True, help="SoundStream preset")
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument(
        "--checkpoint", action="append", required=True, help="STEPS:PRESET (repeat)"
    )
    parser.add_argument("--guidance-scale", type=float, default=0.0)
    parser.add_argument("--num-sentences", type=int, default=None, help="per voice group")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    points = []
    for item in args.checkpoint:
        steps, _, preset = item.partition(":")
        if not steps.isdigit() or not preset:
            parser.error(f"--checkpoint must be STEPS:PRESET, e.g. 2200:path; got {item!r}")
        model, codec, corpus = load_for_evaluation(preset, args.codec)
        setting = {"guidance_scale": args.guidance_scale}
        rows = sweep_decoding(
            model,
            codec,
            corpus,
            [setting],
            num_sentences=args.num_sentences,
            seed=args.seed,
            cache_path=os.path.join(args.output, f"steps_{steps}.json"),
        )
        points.append((int(steps), rows))
    points.sort(key=lambda point: point[0])
    lines = [
        "| steps | voices | WER | voice preservation | timbre identified |",
        "|---|---|---|---|---|",
    ]
    codec_rows = [row for row in points[0][1] if row["setting"] == CODEC]
    model_rows = [(s, r) for s, rows in points for r in rows if r["setting"] != CODEC]
    for name, row in [("codec", r) for r in codec_rows] + model_rows:
        lines.append(
            f"| {name} | {row['group']} | {row['wer']:.1%} | "
            f"{row['voice_preservation']:.3f} | {row['timbre_identified']:.0%} |"
        )
    markdown = "\n".join(lines) + "\n"
    atomic_write_text(os.path.join(args.output, "learning_curve.md"), markdown)
    atomic_write_text(
        os.path.join(args.output, "learning_curve.json"),
        json.dumps([{"steps": s, "rows": r} for s, r in points], indent=1),
    )
    plot_curve(points, os.path.join(args.output, "learning_curve.png"))
    print(markdown)


if __name__ == "__main__":
    main()
