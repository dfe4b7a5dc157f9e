"""Table-1 statistics: per-utterance scores to a row, and a paired bootstrap of a WER ratio."""

import statistics

import numpy as np

MEAN_KEYS = (
    "voice_preservation",
    "acoustic_consistency",
    "timbre_identified",
    "mcd_db",
)


def pooled_wer(word_errors):
    """WER over utterances: total errors / total reference words of `(errors, words)` pairs."""
    return sum(e for e, _ in word_errors) / sum(w for _, w in word_errors)


def table1_row(group, system, items):
    """One row of Table 1 from one system's per-utterance scores.

    Args:
        items: dicts with the keys of `MEAN_KEYS` and `level1_accuracy`
            (None for systems without tokens), `word_errors` (a
            `(word errors, reference words)` pair), optionally
            `word_errors_corpus_lm` (another recogniser's pair), and
            `real_time_factor`.

    Returns a dict: `group`, `system`, the means of `MEAN_KEYS`,
    `level1_accuracy` (mean, or None), `wer` (total errors / total words),
    `word_errors` (per utterance), `wer_corpus_lm` and
    `word_errors_corpus_lm` likewise if the items have them,
    `real_time_factor` (median), `num_utterances`.
    """
    accuracies = [item["level1_accuracy"] for item in items]
    row = {
        "group": group,
        "system": system,
        **{key: float(np.mean([item[key] for item in items])) for key in MEAN_KEYS},
        "level1_accuracy": None if accuracies[0] is None else float(np.mean(accuracies)),
    }
    for suffix in ("", "_corpus_lm"):
        if f"word_errors{suffix}" not in items[0]:
            continue
        pairs = [list(item[f"word_errors{suffix}"]) for item in items]
        row[f"wer{suffix}"] = pooled_wer(pairs)
        # Per utterance, in the same sentence order in every row of the
        # group: what `wer_ratio_interval` resamples.
        row[f"word_errors{suffix}"] = pairs
    return {
        **row,
        "real_time_factor": statistics.median(item["real_time_factor"] for item in items),
        "num_utterances": len(items),
    }


def wer_ratio_interval(errors, reference_errors, level=0.95, num_resamples=2000, seed=0):
    """Paired bootstrap interval of WER(errors) / WER(reference_errors) over utterances.

    Args:
        errors, reference_errors: per-utterance `(word errors, reference
            words)` pairs of two systems on the same utterances, in the same
            order (a row's `word_errors`).
        level: coverage of the central interval.

    Returns `(low, high)`; resamples whose reference has no error are left
    out (their ratio is undefined). 24 sentences give a wide interval: it
    says how far a ratio measured on them can be trusted.
    """
    errors = np.asarray(errors, dtype="float64")
    reference = np.asarray(reference_errors, dtype="float64")
    if errors.ndim != 2 or errors.shape[1] != 2 or errors.shape != reference.shape:
        raise ValueError(
            "`errors` and `reference_errors` must be equally long lists of (errors, words) "
            f"pairs; got shapes {errors.shape} and {reference.shape}."
        )
    if not 0 < level < 1:
        raise ValueError(f"`level` must be in (0, 1); got {level}.")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(errors), (num_resamples, len(errors)))
    wer = errors[picks, 0].sum(axis=1) / errors[picks, 1].sum(axis=1)
    reference_wer = reference[picks, 0].sum(axis=1) / reference[picks, 1].sum(axis=1)
    defined = reference_wer > 0
    if not np.any(defined):
        return float("nan"), float("nan")
    ratios = wer[defined] / reference_wer[defined]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return float(low), float(high)


def setting_name(setting):
    """A setting's stable name: `"guidance_scale=1.0, temperature=0.8"`; `"defaults"` if empty."""
    if not setting:
        return "defaults"
    return ", ".join(f"{key}={setting[key]}" for key in sorted(setting))
