"""Table 1 as markdown, acceptance checks and a plot; writing and recording evaluation rows."""

import json
import os
import time

import numpy as np

from keras_soundstorm.evaluation.aggregate import wer_ratio_interval
from keras_soundstorm.utils.files import atomic_write_text
from keras_soundstorm.utils.preset_files import record_in_metadata


def table1_markdown(rows):
    """The rows of `evaluate_table1` as a markdown table."""
    lines = [
        "| voices | system | voice preservation | acoustic consistency | speaker identified "
        "(any rate / same timbre) | MCD (dB) | level-1 token acc. | WER | real-time factor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        accuracy = "-" if row["level1_accuracy"] is None else f"{row['level1_accuracy']:.1%}"
        lines.append(
            f"| {row['group']} | {row['system']} | {row['voice_preservation']:.3f} | "
            f"{row['acoustic_consistency']:.3f} | {row['speaker_identified']:.0%} "
            f"({row['speaker_identified_any_rate']:.0%} / "
            f"{row['speaker_identified_same_timbre']:.0%}) | "
            f"{row['mcd_db']:.2f} | {accuracy} | {row['wer']:.1%} | "
            f"{row['real_time_factor']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def table1_checks(rows):
    """Acceptance ratios per voice group, as markdown lines.

    Targets: voice preservation with a prompt >= 0.9 x the codec's, the
    prompt's voice identified in >= 90% of cases, WER with a prompt <= 1.3 x
    the codec's (with its bootstrap interval when the rows hold per-utterance
    `word_errors`).
    """
    lines = []
    for group in dict.fromkeys(row["group"] for row in rows):
        by_system = {row["system"]: row for row in rows if row["group"] == group}
        codec, prompted = by_system["codec"], by_system["soundstorm, 3 s prompt"]
        unprompted = by_system["soundstorm, no prompt"]
        ratio = prompted["voice_preservation"] / codec["voice_preservation"]
        wer_ratio = prompted["wer"] / max(codec["wer"], 1e-9)
        interval = ""
        if prompted.get("word_errors") and codec.get("word_errors"):
            low, high = wer_ratio_interval(prompted["word_errors"], codec["word_errors"])
            interval = f", 95% bootstrap interval over sentences {low:.2f}-{high:.2f}"
        lines.append(
            f"- {group}: voice preservation with prompt / codec = {ratio:.2f} (target >= 0.9); "
            f"without prompt {unprompted['voice_preservation']:.3f} vs with "
            f"{prompted['voice_preservation']:.3f}; prompt voice identified in "
            f"{prompted['speaker_identified']:.0%} (up to rate: "
            f"{prompted['speaker_identified_any_rate']:.0%}, same timbre: "
            f"{prompted['speaker_identified_same_timbre']:.0%}; target >= 90%; "
            f"eSpeak's own {by_system['original']['speaker_identified']:.0%} / "
            f"{by_system['original']['speaker_identified_same_timbre']:.0%}); "
            "WER with prompt / codec = "
            f"{wer_ratio:.2f} (target <= 1.3{interval})."
        )
    return "\n".join(lines) + "\n"


def plot_table1(rows, path):
    """Bars of voice preservation, speaker identification and WER per system: a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys(row["group"] for row in rows))
    systems = list(dict.fromkeys(row["system"] for row in rows))
    metrics = [
        ("voice_preservation", "voice preservation (cosine)"),
        ("speaker_identified", "speaker identified (fraction)"),
        ("wer", "word error rate"),
    ]
    figure, axes = plt.subplots(1, len(metrics), figsize=(13, 3.8))
    width = 0.8 / len(groups)
    positions = np.arange(len(systems))
    for axis, (key, label) in zip(axes, metrics):
        for k, group in enumerate(groups):
            values = [
                next(r[key] for r in rows if r["group"] == group and r["system"] == s)
                for s in systems
            ]
            axis.bar(positions + k * width, values, width, label=group)
        axis.set_xticks(positions + width * (len(groups) - 1) / 2)
        axis.set_xticklabels([s.replace("soundstorm, ", "SoundStorm\n") for s in systems])
        axis.set_title(label)
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def evaluation_record(rows, command):
    """What a preset's `metadata.json` stores under `evaluation`: command, date, rows."""
    return {
        "command": command,
        "date": time.strftime("%Y-%m-%d"),
        "rows": [{k: v for k, v in row.items() if v is not None} for row in rows],
    }


def record_evaluation(preset_dir, rows, command):
    """Stores `evaluation_record(rows, command)` in the preset's `metadata.json`."""
    record_in_metadata(preset_dir, "evaluation", evaluation_record(rows, command))


def write_report(output_dir, name, rows, markdown, plot):
    """Writes `<name>.md`, `<name>.json` (the rows) and `<name>.png` (`plot(rows, path)`)."""
    os.makedirs(output_dir, exist_ok=True)
    atomic_write_text(os.path.join(output_dir, f"{name}.md"), markdown)
    atomic_write_text(os.path.join(output_dir, f"{name}.json"), json.dumps(rows, indent=2))
    plot(rows, os.path.join(output_dir, f"{name}.png"))
    print(markdown)
    print(f"Wrote {name}.md, {name}.json, {name}.png to {output_dir}")
