"""SoundStorm's Table 1 for any model / codec pair on a test set of recordings.

`evaluate_test_set` scores four systems on every utterance (see
`test_set_systems`): the original recording, the codec's resynthesis,
SoundStorm without a prompt, and SoundStorm continuing a 3 s prompt from
other utterances of the same speaker. Columns, as the paper defines them:

- WER: Whisper (`whisper_asr.WhisperRecognizer`, base by default) against the
  transcript, both normalised (`text_normalizer.normalize_english`); pooled
  over utterances (total errors / total reference words);
- MOS estimate: DNSMOS P.835 overall, signal and background (`mos.dnsmos`);
- voice preservation: cosine of speaker embeddings (resemblyzer) of the
  original prompt and the system's speech of the utterance;
- acoustic consistency: the same cosine between the prompt as the system
  renders it (the recording / the codec's resynthesis / SoundStorm's decoded
  prompt; the codec's for the unprompted row) and the speech that follows.

Each value has a 95% percentile-bootstrap interval over utterances. Every
utterance's scores are cached in `output_dir/utterances/` as soon as they
are computed, so a killed run resumes where it stopped; the report is
`test_set.md`, `test_set.json` and `test_set.png` in `output_dir`.

Example:

```python
model = kss.SoundStorm.from_preset("soundstorm_librispeech")
codec = kss.codecs.SpeechTokenizer.from_preset("speechtokenizer")
rows = kss.evaluation.evaluate_test_set(model, codec, "LibriSpeech/test-clean", "outputs/eval",
                                        max_utterances=200)
```

A command line wraps it as `evaluate_test_set_presets(model_preset, codec_preset, ...)`.
"""

import json
import os
import re
import zlib

import numpy as np

from keras_soundstorm.evaluation.report import write_report
from keras_soundstorm.evaluation.speaker import cosine_similarity, speaker_embedding
from keras_soundstorm.evaluation.test_set import (
    check_prompts_available,
    load_test_audio,
    read_test_set,
)
from keras_soundstorm.evaluation.test_set_systems import SYSTEMS, pair_kind, render_systems
from keras_soundstorm.evaluation.whisper_asr import whisper_word_errors
from keras_soundstorm.utils.files import atomic_write_text

REPORT_NAME = "test_set"
# (row key, label); each row also has `<key>_interval` = [low, high].
COLUMNS = (
    ("wer", "WER"),
    ("dnsmos_ovrl", "DNSMOS OVRL"),
    ("dnsmos_sig", "DNSMOS SIG"),
    ("dnsmos_bak", "DNSMOS BAK"),
    ("voice_preservation", "voice preservation"),
    ("acoustic_consistency", "acoustic consistency"),
)
_CACHE_VERSION = 1


def _check_count(value, name, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        accepted = "None or an int >= 1" if allow_none else "an int >= 1"
        raise ValueError(f"`{name}` must be {accepted}; got {value!r}.")
    return int(value)


def select_utterances(utterances, max_utterances, seed):
    """All utterances, or `max_utterances` of them drawn with `seed` (kept in id order)."""
    if max_utterances is None or max_utterances >= len(utterances):
        return list(utterances)
    picks = np.random.default_rng(seed).choice(len(utterances), max_utterances, replace=False)
    return [utterances[i] for i in sorted(picks)]


def _prompt_pieces(utterance, utterances, sample_rate, seed):
    """Other utterances of the speaker, in a seeded order, loaded as they are needed."""
    others = [u for u in utterances if u.speaker == utterance.speaker and u is not utterance]
    order = np.random.default_rng([seed, zlib.crc32(utterance.utterance_id.encode())])
    for index in order.permutation(len(others)):
        yield load_test_audio(others[index], sample_rate), others[index].text


def _voiced(waveform):
    return bool(np.any(np.abs(waveform) > 1e-6))


def _embedding(waveform, sample_rate):
    return speaker_embedding(waveform, sample_rate) if _voiced(waveform) else None


def _cosine(a, b):
    return None if a is None or b is None else float(cosine_similarity(a, b))


def score_utterance(model, codec, kind, utterance, utterances, recognizer, seed, prompt_seconds):
    """Every system's transcript and scores for one utterance: a JSON-ready dict."""
    from keras_soundstorm.evaluation.mos import dnsmos

    rate = codec.sample_rate
    waveform = load_test_audio(utterance, rate)
    pieces = _prompt_pieces(utterance, utterances, rate, seed)
    systems, prompt = render_systems(
        model, codec, kind, waveform, utterance.text, pieces, prompt_seconds, seed
    )
    prompt_embedding = _embedding(prompt, rate)
    scores = {}
    for system, (speech, rendered_prompt) in systems.items():
        transcript = recognizer.transcribe(speech, rate)
        embedding = _embedding(speech, rate)
        quality = dnsmos(speech, rate) if _voiced(speech) else None
        scores[system] = {
            "transcript": transcript,
            "word_errors": list(whisper_word_errors(utterance.text, transcript)),
            "dnsmos": quality,
            "voice_preservation": _cosine(prompt_embedding, embedding),
            "acoustic_consistency": _cosine(_embedding(rendered_prompt, rate), embedding),
        }
    return {
        "utterance_id": utterance.utterance_id,
        "speaker": utterance.speaker,
        "text": utterance.text,
        "seconds": len(waveform) / rate,
        "prompt_seconds": len(prompt) / rate,
        "systems": scores,
    }


def _values(records, system, key):
    """Per-utterance values of one column (None where the speech was silent)."""
    values = []
    for record in records:
        scores = record["systems"][system]
        if key.startswith("dnsmos_"):
            quality = scores["dnsmos"]
            values.append(None if quality is None else quality[key[len("dnsmos_") :]])
        else:
            values.append(scores[key])
    return values


def bootstrap_interval(statistic, num_items, num_resamples=1000, level=0.95, seed=0):
    """Percentile interval of `statistic(indices)` over resamples of `num_items` items."""
    rng = np.random.default_rng(seed)
    values = [statistic(rng.integers(0, num_items, num_items)) for _ in range(num_resamples)]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [float(low), float(high)]


def _pooled_wer(errors):
    return lambda i: errors[i, 0].sum() / max(errors[i, 1].sum(), 1)


def _mean_of(values):
    return lambda i: values[i].mean()


def summarize(records, num_resamples=1000, seed=0):
    """One row per system: each column's value, its 95% bootstrap interval, counts."""
    rows = []
    for system in SYSTEMS:
        errors = np.array([r["systems"][system]["word_errors"] for r in records], "float64")
        row = {"system": system, "num_utterances": len(records)}
        row["wer"] = float(_pooled_wer(errors)(np.arange(len(errors))))
        row["wer_interval"] = bootstrap_interval(
            _pooled_wer(errors), len(errors), num_resamples, seed=seed
        )
        row["word_errors"] = errors.astype(int).tolist()
        for key, _ in COLUMNS[1:]:
            values = np.array([v for v in _values(records, system, key) if v is not None])
            row[f"{key}_count"] = len(values)
            if len(values) == 0:
                row[key], row[f"{key}_interval"] = None, None
                continue
            row[key] = float(values.mean())
            row[f"{key}_interval"] = bootstrap_interval(
                _mean_of(values), len(values), num_resamples, seed=seed
            )
        rows.append(row)
    return rows


def _cell(row, key, percent=False):
    if row.get(key) is None:
        return "-"
    low, high = row[f"{key}_interval"]
    if percent:
        return f"{row[key]:.1%} ({low:.1%}-{high:.1%})"
    return f"{row[key]:.3f} ({low:.3f}-{high:.3f})" if key.endswith(
        ("preservation", "consistency")
    ) else f"{row[key]:.2f} ({low:.2f}-{high:.2f})"  # fmt: skip


def test_set_markdown(rows, settings=None):
    """The rows as a markdown table (value and 95% bootstrap interval over utterances)."""
    header = "| system | " + " | ".join(label for _, label in COLUMNS) + " | utterances |"
    lines = [header, "|---" * (len(COLUMNS) + 2) + "|"]
    for row in rows:
        cells = [_cell(row, key, percent=key == "wer") for key, _ in COLUMNS]
        lines.append(f"| {row['system']} | " + " | ".join(cells) + f" | {row['num_utterances']} |")
    text = "\n".join(lines) + "\n\nIn brackets: 95% bootstrap intervals over utterances.\n"
    if settings:
        text += "Settings: " + json.dumps(settings, sort_keys=True) + "\n"
    return text


def plot_test_set(rows, path):
    """Bars with 95% intervals of WER, DNSMOS OVRL, voice preservation and consistency: a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = ("wer", "dnsmos_ovrl", "voice_preservation", "acoustic_consistency")
    labels = dict(COLUMNS)
    figure, axes = plt.subplots(1, len(panels), figsize=(4.0 * len(panels), 3.6))
    positions = np.arange(len(rows))
    for axis, key in zip(axes, panels):
        values = [np.nan if row.get(key) is None else row[key] for row in rows]
        errors = np.array(
            [
                [0, 0]
                if row.get(key) is None
                else [row[key] - row[f"{key}_interval"][0], row[f"{key}_interval"][1] - row[key]]
                for row in rows
            ]
        ).T
        axis.bar(positions, values, yerr=np.maximum(errors, 0), capsize=3, color="tab:blue")
        axis.set_xticks(positions)
        axis.set_xticklabels(
            [row["system"].replace("soundstorm, ", "SoundStorm\n") for row in rows], fontsize=8
        )
        axis.set_title(labels[key])
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _fingerprint(model, codec, kind, test_set_dir, recognizer, seed, prompt_seconds):
    """What the cached scores depend on (compared on resume)."""
    return {
        "cache_version": _CACHE_VERSION,
        "test_set": os.path.abspath(os.fspath(test_set_dir)),
        "pair": kind,
        "model": f"{type(model).__name__}, {model.count_params()} parameters",
        "decoding": {k: list(v) if isinstance(v, tuple) else v for k, v in model.decoding.items()},
        "codec": f"{type(codec).__name__}, {codec.count_params()} parameters",
        "recognizer": getattr(recognizer, "model_name", type(recognizer).__name__),
        "seed": seed,
        "prompt_seconds": prompt_seconds,
    }


def _check_settings(output_dir, settings):
    path = os.path.join(output_dir, "settings.json")
    if os.path.exists(path):
        with open(path) as file:
            stored = json.load(file)
        if stored != settings:
            keys = sorted(set(stored) | set(settings))
            changed = ", ".join(k for k in keys if stored.get(k) != settings.get(k))
            raise ValueError(
                f"`output_dir` {output_dir!r} holds a run with other settings ({changed} differ): "
                "use another output_dir, or delete it to start again."
            )
    else:
        atomic_write_text(path, json.dumps(settings, indent=2, sort_keys=True))


def _cache_path(output_dir, utterance_id):
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", utterance_id)
    digest = f"{zlib.crc32(utterance_id.encode()):08x}"
    return os.path.join(output_dir, "utterances", f"{safe}-{digest}.json")


def _read_cached(path, utterance_id):
    try:
        with open(path) as file:
            record = json.load(file)
    except (OSError, ValueError):
        return None  # missing or cut short: compute again
    return record if record.get("utterance_id") == utterance_id else None


def evaluate_test_set(
    model,
    codec,
    test_set_dir,
    output_dir,
    max_utterances=None,
    seed=0,
    prompt_seconds=3.0,
    recognizer=None,
    num_resamples=1000,
    progress=True,
):
    """Table 1 of `model` / `codec` on a test set; writes the report; returns the rows.

    Args:
        model: a `kss.SoundStorm`; codec: its codec (a SpeechTokenizer for a
            converted SpeechTokenizer-SoundStorm, a SoundStream for an eSpeak
            model; see `test_set_systems`).
        test_set_dir: a folder in the LibriSpeech or the plain layout
            (`test_set.read_test_set`); every speaker needs >= 2 utterances.
        output_dir: where the per-utterance cache and the report go.
        max_utterances: evaluate this many utterances drawn with `seed`
            (None: all).
        seed: utterance draw, prompt choice and generation seed.
        prompt_seconds: length of the prompt (from other utterances of the
            speaker, joined if one is too short).
        recognizer: a `WhisperRecognizer` (default: Whisper base).
        num_resamples: bootstrap resamples of the intervals.
        progress: show a tqdm bar.

    Returns a list of row dicts (one per system: the columns of `COLUMNS`, each
    with `<column>_interval`, `<column>_count` and `num_utterances`, plus
    `word_errors` per utterance).
    """
    from tqdm.auto import tqdm

    from keras_soundstorm.evaluation.whisper_asr import WhisperRecognizer

    max_utterances = _check_count(max_utterances, "max_utterances", allow_none=True)
    num_resamples = _check_count(num_resamples, "num_resamples")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"`seed` must be an int >= 0; got {seed!r}.")
    if isinstance(prompt_seconds, bool) or not isinstance(prompt_seconds, int | float):
        raise ValueError(f"`prompt_seconds` must be a positive number; got {prompt_seconds!r}.")
    if not prompt_seconds > 0:
        raise ValueError(f"`prompt_seconds` must be a positive number; got {prompt_seconds!r}.")
    kind = pair_kind(model, codec)
    utterances = read_test_set(test_set_dir)
    check_prompts_available(utterances)
    selected = select_utterances(utterances, max_utterances, int(seed))
    if recognizer is None:
        recognizer = WhisperRecognizer()
    output_dir = os.fspath(output_dir)
    os.makedirs(os.path.join(output_dir, "utterances"), exist_ok=True)
    settings = _fingerprint(model, codec, kind, test_set_dir, recognizer, int(seed), prompt_seconds)
    _check_settings(output_dir, settings)
    records = []
    for utterance in tqdm(selected, desc="test set", unit="utt", disable=not progress):
        path = _cache_path(output_dir, utterance.utterance_id)
        record = _read_cached(path, utterance.utterance_id)
        if record is None:
            record = score_utterance(
                model, codec, kind, utterance, utterances, recognizer, int(seed), prompt_seconds
            )
            atomic_write_text(path, json.dumps(record, indent=1))
        records.append(record)
    rows = summarize(records, num_resamples=num_resamples, seed=int(seed))
    settings = {**settings, "max_utterances": max_utterances}
    write_report(output_dir, REPORT_NAME, rows, test_set_markdown(rows, settings), plot_test_set)
    return rows


def evaluate_test_set_presets(model_preset, codec_preset, test_set_dir, output_dir, **kwargs):
    """`evaluate_test_set` from preset names / directories (what a CLI command calls)."""
    from keras_soundstorm.evaluation.loading import load_model_and_codec

    model, codec = load_model_and_codec(model_preset, codec_preset)
    return evaluate_test_set(model, codec, test_set_dir, output_dir, **kwargs)
