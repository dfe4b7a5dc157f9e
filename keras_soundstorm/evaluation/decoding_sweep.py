"""Choosing decoding settings on the tuning sentences: a sweep, a rule, a plot.

The tuning sentences (`TUNING_SENTENCES`, splits `"tuning"` and
`"tuning_heldout_voices"`) are neither trained on nor in Table 1, and their
voices are not Table 1's, so settings chosen on them leave the test rows
untouched. Every setting is scored the way Table 1 scores its
`soundstorm, 3 s prompt` row (3 s voice prompt, seed, measures), next to the
codec's reconstruction of eSpeak's rendering.
"""

import hashlib
import json
import os

import numpy as np

from keras_soundstorm.evaluation.aggregate import pooled_wer, setting_name
from keras_soundstorm.evaluation.table1 import timbre_identified
from keras_soundstorm.utils.files import atomic_write_text

TUNING_SPLITS = {"training voices": "tuning", "held-out voices": "tuning_heldout_voices"}
CODEC = "codec"


def _score(speech, sentence_id, text, voice, prompt_embedding, prompt_embeddings, tools):
    errors_of, speaker_embedding, cosine_similarity, rate = tools
    embedding = speaker_embedding(speech, rate)
    return {
        "word_errors": list(errors_of(speech, text, sentence_id)),
        "voice_preservation": float(cosine_similarity(prompt_embedding, embedding)),
        "timbre_identified": float(timbre_identified(embedding, voice, prompt_embeddings)),
    }


def _word_errors_function(asr, recognizer, corpus, tuning_ids, group_size, rate):
    """`errors_of(speech, text, sentence_id) -> (errors, words)` of the chosen recognizer."""
    if asr == "pocketsphinx":
        from keras_soundstorm.evaluation.asr import GroupedSpeechRecognizer, word_errors

        grouped = GroupedSpeechRecognizer(
            {i: corpus.sentences[i] for i in tuning_ids}, group_size=group_size
        )

        def errors_of(speech, text, sentence_id):
            return word_errors(text, grouped.transcribe(speech, rate, sentence_id))

        errors_of.model_name = "pocketsphinx"
        return errors_of
    if asr != "whisper":
        raise ValueError(f"`asr` must be 'whisper' or 'pocketsphinx'; got {asr!r}.")
    from keras_soundstorm.evaluation.whisper_asr import WhisperRecognizer, whisper_word_errors

    whisper = WhisperRecognizer() if recognizer is None else recognizer

    def errors_of(speech, text, sentence_id):
        return whisper_word_errors(text, whisper.transcribe(speech, rate))

    errors_of.model_name = whisper.model_name
    return errors_of


def weights_fingerprint(layer):
    """The first 16 hex digits of the sha256 of a layer's weights, in order."""
    from keras import ops

    digest = hashlib.sha256()
    for weight in layer.weights:
        digest.update(ops.convert_to_numpy(weight).tobytes())
    return digest.hexdigest()[:16]


def _read_cache(cache_path, context):
    """Finished rows `{(group, setting): row}` of a cache made in the same `context`."""
    if cache_path is None or not os.path.exists(cache_path):
        return {}
    with open(cache_path) as file:
        cached = json.load(file)
    if not isinstance(cached, dict) or cached.get("context") != context:
        old = cached.get("context", {}) if isinstance(cached, dict) else {}
        differ = sorted(k for k in context if old.get(k) != context[k])
        raise ValueError(
            f"{cache_path} holds a sweep of other {differ or 'format'} (model, codec, seed, "
            "utterances or language-model groups): delete it or write to another folder."
        )
    return {(row["group"], row["setting"]): row for row in cached["rows"]}


def _summary(group, name, setting, items):
    errors = [item["word_errors"] for item in items]
    return {
        "group": group,
        "setting": name,
        "decoding": setting,
        "wer": pooled_wer(errors),
        "word_errors": errors,
        "voice_preservation": float(np.mean([item["voice_preservation"] for item in items])),
        "timbre_identified": float(np.mean([item["timbre_identified"] for item in items])),
        "num_utterances": len(items),
    }


def sweep_decoding(
    model,
    codec,
    corpus,
    settings,
    num_sentences=None,
    seed=0,
    group_size=8,
    cache_path=None,
    progress=True,
    asr="whisper",
    recognizer=None,
):
    """Scores each decoding setting on the tuning sentences; returns rows.

    Args:
        settings: list of dicts of decoding settings (`guidance_scale`,
            `temperature`, `top_k`, `choice_temperature`, `steps_per_level`),
            each one sweep point; a setting left out takes the package's
            default (`DECODING_DEFAULTS`), never the model's stored one, so
            a point means the same whatever the preset holds.
        num_sentences: tuning sentences per voice group; None: all (24).
        group_size: with `asr="pocketsphinx"`, sentences per language model
            of the WER (among the tuning sentences; see
            `asr.GroupedSpeechRecognizer`).
        cache_path: a JSON file of finished rows: a rerun skips the settings
            it holds (the sweep resumes after an interruption). A cache of
            another model, codec, seed, utterance set or group size is a
            ValueError, never reused.
        asr: `"whisper"` (default: Whisper base, `whisper_asr`, no language
            model) or `"pocketsphinx"` (the earlier grouped-language-model
            WER, with which the shipped decoding was chosen).
        recognizer: the `WhisperRecognizer` to use (default: Whisper base).

    Returns a list of dicts, a `"codec"` row and one per setting for each
    voice group: `group`, `setting` (`setting_name`), `decoding`, `wer`,
    `word_errors` (per utterance, the same utterance order in every row),
    `voice_preservation`, `timbre_identified`, `num_utterances`.
    """
    from tqdm.auto import tqdm

    from keras_soundstorm.evaluation.speaker import cosine_similarity, speaker_embedding
    from keras_soundstorm.models.soundstorm.decoding_settings import DECODING_DEFAULTS
    from keras_soundstorm.models.soundstorm.prompting import speak, voice_prompt

    if not isinstance(settings, list | tuple) or not settings:
        raise ValueError(f"`settings` must be a non-empty list of dicts; got {settings!r}.")
    full_settings = []
    for setting in settings:
        if not isinstance(setting, dict):
            raise ValueError(f"Every setting must be a dict of decoding options; got {setting!r}.")
        # Checked now: a bad setting fails before hours of work.
        full_settings.append(model.decoding_settings(**{**DECODING_DEFAULTS, **setting}))
    tuning_ids = corpus.split_sentence_ids("tuning")
    if num_sentences is None:
        num_sentences = len(tuning_ids)
    if isinstance(num_sentences, bool) or not isinstance(num_sentences, int) or num_sentences < 1:
        raise ValueError(f"`num_sentences` must be None or an int >= 1; got {num_sentences!r}.")
    rate = corpus.sample_rate
    errors_of = _word_errors_function(asr, recognizer, corpus, tuning_ids, group_size, rate)
    tools = (errors_of, speaker_embedding, cosine_similarity, rate)
    pairs = {
        group: corpus.split(split, voices_per_sentence=1)[:num_sentences]
        for group, split in TUNING_SPLITS.items()
    }
    voices = [voice for group_pairs in pairs.values() for _, voice in group_pairs]
    prompts = {voice: voice_prompt(corpus, voice) for voice in voices}
    prompt_embeddings = {voice: speaker_embedding(p.waveform, rate) for voice, p in prompts.items()}

    context = {
        "model_weights": weights_fingerprint(model),
        "codec_weights": weights_fingerprint(codec),
        "seed": seed,
        "group_size": group_size,
        "asr": asr if asr == "pocketsphinx" else f"whisper {errors_of.model_name}",
        "utterances": {group: [list(pair) for pair in p] for group, p in pairs.items()},
    }
    done = _read_cache(cache_path, context)

    def save():
        if cache_path is not None:
            os.makedirs(os.path.dirname(os.path.abspath(cache_path)), exist_ok=True)
            record = {"context": context, "rows": list(done.values())}
            atomic_write_text(cache_path, json.dumps(record, indent=1))

    points = [(CODEC, None)] + [(setting_name(s), f) for s, f in zip(settings, full_settings)]
    stored_decoding = model.decoding
    for name, setting in points:
        for group, group_pairs in pairs.items():
            if (group, name) in done:
                continue
            items = []
            for sentence_id, voice in tqdm(
                group_pairs, desc=f"{name} | {group}", disable=not progress
            ):
                target = corpus.utterance(sentence_id, voice)
                if setting is None:
                    speech = codec.decode(codec.encode(target.waveform[None]))[0]
                else:
                    # Through the stored decoding: a None setting (no top-k,
                    # the paper's steps) then means None, not "the model's".
                    model.decoding = setting
                    try:
                        speech = speak(
                            model, codec, target.phoneme_ids, prompt=prompts[voice], seed=seed
                        ).waveform
                    finally:
                        model.decoding = stored_decoding
                items.append(
                    _score(
                        speech,
                        sentence_id,
                        target.text,
                        voice,
                        prompt_embeddings[voice],
                        prompt_embeddings,
                        tools,
                    )
                )
            done[(group, name)] = {**_summary(group, name, setting, items), "asr": context["asr"]}
            save()
    wanted = [(group, name) for name, _ in points for group in pairs]
    return [done[key] for key in wanted]


def choose_decoding(rows, minimum_ratio=0.9):
    """The setting with the lowest WER over both voice groups, among those that keep the voice.

    A setting is eligible when, in every voice group, its voice preservation
    and its timbre identification are within `1 - minimum_ratio` of the best
    setting's (`>= minimum_ratio x best` for a positive best; the codec row
    is not a candidate). Of the eligible ones, the lowest WER (errors / words
    over both groups) wins; ties go to the setting listed first. If no
    setting comes within the margin at both measures in every group, the
    highest mean voice preservation over the groups wins.

    Returns `(name, decoding dict)`.
    """
    groups = list(dict.fromkeys(row["group"] for row in rows))
    candidates = list(dict.fromkeys(row["setting"] for row in rows if row["setting"] != CODEC))
    if not candidates:
        raise ValueError("`rows` hold no decoding setting to choose from.")
    table = {(row["group"], row["setting"]): row for row in rows}

    def eligible(name):
        for group in groups:
            for key in ("voice_preservation", "timbre_identified"):
                best = max(table[(group, other)][key] for other in candidates)
                if table[(group, name)][key] < best - (1 - minimum_ratio) * abs(best):
                    return False
        return True

    def wer_over_groups(name):
        return pooled_wer([e for g in groups for e in table[(g, name)]["word_errors"]])

    def mean_preservation(name):
        return np.mean([table[(g, name)]["voice_preservation"] for g in groups])

    chosen = min((n for n in candidates if eligible(n)), key=wer_over_groups, default=None)
    if chosen is None:
        chosen = max(candidates, key=mean_preservation)
    return chosen, dict(table[(groups[0], chosen)]["decoding"])


def sweep_markdown(rows, chosen=None):
    """The sweep as a markdown table, ratios to the codec row of the same voice group."""
    codec = {row["group"]: row for row in rows if row["setting"] == CODEC}
    lines = [
        "| voices | setting | WER | WER / codec | voice preservation | VP / codec "
        "| timbre identified | utterances |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        reference = codec[row["group"]]
        mark = " **(chosen)**" if row["setting"] == chosen else ""
        lines.append(
            f"| {row['group']} | {row['setting']}{mark} | {row['wer']:.1%} | "
            f"{row['wer'] / max(reference['wer'], 1e-9):.2f} | {row['voice_preservation']:.3f} | "
            f"{row['voice_preservation'] / reference['voice_preservation']:.2f} | "
            f"{row['timbre_identified']:.0%} | {row['num_utterances']} |"
        )
    return "\n".join(lines) + "\n"


def _by_whisper(rows):
    return all(str(row.get("asr", "")).startswith("whisper") for row in rows)


def plot_guidance_sweep(rows, path, chosen=None):
    """WER, voice preservation and timbre identification vs guidance scale: a PNG.

    One line per voice group and family of settings that differ only in
    `guidance_scale` (labelled by the settings that vary between families);
    the codec's values are dashed; the `chosen` setting is ringed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys(row["group"] for row in rows))
    settings = [row for row in rows if row["setting"] != CODEC]
    varying = sorted(
        key
        for key in settings[0]["decoding"]
        if key != "guidance_scale" and len({str(r["decoding"][key]) for r in settings}) > 1
    )
    metrics = [
        ("wer", "WER (Whisper)" if _by_whisper(rows) else "WER (8-sentence LM)"),
        ("voice_preservation", "voice preservation"),
        ("timbre_identified", "timbre identified"),
    ]
    figure, axes = plt.subplots(1, len(metrics), figsize=(4.4 * len(metrics), 4.4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    markers = "osD^v<>p"
    for axis, (key, label) in zip(axes, metrics):
        for k, group in enumerate(groups):
            families = {}
            for row in settings:
                if row["group"] == group:
                    family = setting_name({name: row["decoding"][name] for name in varying})
                    scale = float(row["decoding"]["guidance_scale"])
                    families.setdefault(family, []).append((scale, row[key], row["setting"]))
            for j, (family, points) in enumerate(families.items()):
                points.sort()
                axis.plot(
                    [p[0] for p in points],
                    [p[1] for p in points],
                    f"{markers[j % len(markers)]}-",
                    color=colors[k % len(colors)],
                    alpha=1.0 if j == 0 else 0.6,
                    label=group if not varying else f"{group}, {family}",
                )
                for scale, value, name in points:
                    if name == chosen:
                        axis.plot(scale, value, "o", ms=13, mfc="none", color="black")
            codec_row = next(r for r in rows if r["group"] == group and r["setting"] == CODEC)
            axis.axhline(codec_row[key], color=colors[k % len(colors)], ls="--", lw=1)
        axis.set_xlabel("guidance scale w")
        axis.set_title(label)
    handles, labels = axes[0].get_legend_handles_labels()
    footnote = "dashed: the codec; ringed: the chosen setting" if chosen else "dashed: the codec"
    figure.legend(handles, labels, loc="lower center", ncol=2, fontsize=7, title=footnote)
    figure.tight_layout(rect=(0, 0.08 + 0.035 * (len(labels) // 2), 1, 1))
    figure.savefig(path, dpi=90)
    plt.close(figure)
