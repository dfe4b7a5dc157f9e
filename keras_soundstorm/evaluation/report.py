"""Table 1 as markdown, acceptance checks and a plot; writing and recording evaluation rows."""

import json
import os
import time

import numpy as np

from keras_soundstorm.evaluation.aggregate import wer_ratio_interval
from keras_soundstorm.utils.files import atomic_write_text
from keras_soundstorm.utils.preset_files import record_in_metadata


def _lm_label(rows, key, default):
    sizes = {row.get(key) for row in rows}
    return f"{sizes.pop()}-sentence" if len(sizes) == 1 and None not in sizes else default


def table1_markdown(rows):
    """The rows of `evaluate_table1` as a markdown table.

    `WER (n-sentence LM)` is the sensitive measure (`wer`: a language model
    of a group of n sentences holding the one spoken); `WER (m-sentence LM)`
    the earlier one (`wer_corpus_lm`: one model of all m evaluated sentences).
    """
    if rows and rows[0].get("asr") == "whisper":
        return _whisper_table1_markdown(rows)
    group_lm = _lm_label(rows, "lm_group_size", "grouped")
    corpus_lm = _lm_label(rows, "corpus_lm_sentences", "all-sentence")
    lines = [
        "| voices | system | voice preservation | acoustic consistency | timbre identified "
        f"| MCD (dB) | level-1 token acc. | WER ({group_lm} LM) | WER ({corpus_lm} LM) "
        "| real-time factor |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        accuracy = "-" if row["level1_accuracy"] is None else f"{row['level1_accuracy']:.1%}"
        corpus_wer = "-" if row.get("wer_corpus_lm") is None else f"{row['wer_corpus_lm']:.1%}"
        lines.append(
            f"| {row['group']} | {row['system']} | {row['voice_preservation']:.3f} | "
            f"{row['acoustic_consistency']:.3f} | {row['timbre_identified']:.0%} | "
            f"{row['mcd_db']:.2f} | {accuracy} | {row['wer']:.1%} | {corpus_wer} | "
            f"{row['real_time_factor']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def _with_interval(row, key, spec):
    low, high = row[f"{key}_interval"]
    return f"{row[key]:{spec}} ({low:{spec}}-{high:{spec}})"


def _whisper_table1_markdown(rows):
    """Whisper rows of `evaluate_table1`: each value with its 95% bootstrap interval."""
    lines = [
        "| voices | system | WER (Whisper base) | DNSMOS OVRL | DNSMOS SIG | DNSMOS BAK "
        "| voice preservation | acoustic consistency | timbre identified | MCD (dB) "
        "| level-1 token acc. | real-time factor | utterances |",
        "|---" * 13 + "|",
    ]
    for row in rows:
        accuracy = "-" if row["level1_accuracy"] is None else f"{row['level1_accuracy']:.1%}"
        cells = [
            _with_interval(row, "wer", ".1%"),
            _with_interval(row, "dnsmos_ovrl", ".2f"),
            _with_interval(row, "dnsmos_sig", ".2f"),
            _with_interval(row, "dnsmos_bak", ".2f"),
            _with_interval(row, "voice_preservation", ".3f"),
            _with_interval(row, "acoustic_consistency", ".3f"),
            _with_interval(row, "timbre_identified", ".0%"),
            _with_interval(row, "mcd_db", ".2f"),
            accuracy,
            f"{row['real_time_factor']:.3f}",
            str(row["num_utterances"]),
        ]
        lines.append(f"| {row['group']} | {row['system']} | " + " | ".join(cells) + " |")
    return (
        "\n".join(lines) + "\n\nIn brackets: 95% bootstrap intervals over the group's utterances.\n"
    )


def _wer_ratio(prompted, codec, key):
    """`"r (95% bootstrap interval over sentences lo-hi)"` of two rows' WER under `key`."""
    ratio = prompted[f"wer{key}"] / max(codec[f"wer{key}"], 1e-9)
    text = f"{ratio:.2f}"
    if prompted.get(f"word_errors{key}") and codec.get(f"word_errors{key}"):
        low, high = wer_ratio_interval(prompted[f"word_errors{key}"], codec[f"word_errors{key}"])
        text += f" (95% bootstrap interval over sentences {low:.2f}-{high:.2f})"
    return text


def table1_checks(rows):
    """Acceptance ratios per voice group, as markdown lines.

    Targets: voice preservation with a prompt >= 0.9 x the codec's; timbre
    identified with a prompt >= 0.9 x the codec's; WER with a prompt <= 1.5 x
    the codec's with the sensitive (grouped) language model, with its paired
    bootstrap interval when the rows hold per-utterance `word_errors`. Also
    quotes eSpeak's own WER and, if present, the ratio with the corpus-wide
    language model.
    """
    lines = []
    for group in dict.fromkeys(row["group"] for row in rows):
        by_system = {row["system"]: row for row in rows if row["group"] == group}
        codec, prompted = by_system["codec"], by_system["soundstorm, 3 s prompt"]
        unprompted, original = by_system["soundstorm, no prompt"], by_system["original"]
        ratio = prompted["voice_preservation"] / codec["voice_preservation"]
        timbre = prompted["timbre_identified"] / max(codec["timbre_identified"], 1e-9)
        line = (
            f"- {group}: voice preservation with prompt / codec = {ratio:.2f} (target >= 0.9); "
            f"without prompt {unprompted['voice_preservation']:.3f} vs with "
            f"{prompted['voice_preservation']:.3f}; timbre identified with prompt / codec = "
            f"{timbre:.2f} (target >= 0.9; {prompted['timbre_identified']:.0%} vs "
            f"{codec['timbre_identified']:.0%}, without prompt "
            f"{unprompted['timbre_identified']:.0%}, eSpeak's own "
            f"{original['timbre_identified']:.0%}); WER with prompt / codec = "
            f"{_wer_ratio(prompted, codec, '')} (target <= 1.5; eSpeak's own WER "
            f"{original['wer']:.1%}, codec {codec['wer']:.1%}, with prompt "
            f"{prompted['wer']:.1%}, without {unprompted['wer']:.1%})"
        )
        if prompted.get("wer_corpus_lm") is not None and codec.get("wer_corpus_lm") is not None:
            line += (
                "; with the corpus-wide language model: "
                f"{_wer_ratio(prompted, codec, '_corpus_lm')}"
            )
        lines.append(line + ".")
    return "\n".join(lines) + "\n"


def plot_table1(rows, path):
    """Bars of voice preservation, timbre identification and both WERs per system: a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys(row["group"] for row in rows))
    systems = list(dict.fromkeys(row["system"] for row in rows))
    metrics = [
        ("voice_preservation", "voice preservation (cosine)"),
        ("timbre_identified", "timbre identified (fraction)"),
        ("wer", f"WER, {_lm_label(rows, 'lm_group_size', 'grouped')} LM"),
    ]
    whisper = all(row.get("asr") == "whisper" for row in rows)
    if whisper:
        metrics[2] = ("wer", "WER, Whisper base")
        metrics.append(("dnsmos_ovrl", "DNSMOS OVRL"))
    if all(row.get("wer_corpus_lm") is not None for row in rows):
        label = _lm_label(rows, "corpus_lm_sentences", "all-sentence")
        metrics.append(("wer_corpus_lm", f"WER, {label} LM"))
    figure, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.8))
    width = 0.8 / len(groups)
    positions = np.arange(len(systems))
    for axis, (key, label) in zip(axes, metrics):
        for k, group in enumerate(groups):
            values = [
                next(r[key] for r in rows if r["group"] == group and r["system"] == s)
                for s in systems
            ]
            errors = None
            if whisper:
                chosen = [
                    next(r for r in rows if r["group"] == group and r["system"] == s)
                    for s in systems
                ]
                errors = np.maximum(
                    [
                        [r[key] - r[f"{key}_interval"][0] for r in chosen],
                        [r[f"{key}_interval"][1] - r[key] for r in chosen],
                    ],
                    0,
                )
            axis.bar(positions + k * width, values, width, yerr=errors, capsize=2, label=group)
        axis.set_xticks(positions + width * (len(groups) - 1) / 2)
        axis.set_xticklabels(
            [s.replace("soundstorm, ", "SoundStorm\n") for s in systems], fontsize=8
        )
        axis.set_title(label)
    wer_axes = axes[2:3] if whisper else axes[2:]
    top = max(axis.get_ylim()[1] for axis in wer_axes)
    for axis in wer_axes:  # the WER panels share a scale
        axis.set_ylim(0, top)
    axes[0].legend(loc="lower left", fontsize=8)
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
