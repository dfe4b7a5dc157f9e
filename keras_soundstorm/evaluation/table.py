"""A table like SoundStorm's Table 1, on held-out sentences of the eSpeak corpus.

Rows (systems), for training voices and for held-out voices:

- `original`: eSpeak's rendering of the sentence in the voice;
- `codec`: that rendering encoded and decoded by the codec (all levels);
- `soundstorm, no prompt`: SoundStorm from the sentence's phonemes alone;
- `soundstorm, 3 s prompt`: SoundStorm continuing a 3 s prompt of the voice
  (other sentences, see `prompting.voice_prompt`).

Columns:

- voice preservation: cosine of speaker embeddings (resemblyzer) of the 3 s
  eSpeak prompt and the system's speech of the sentence;
- acoustic consistency: the same cosine between the prompt as the system
  renders it (eSpeak / the codec / SoundStorm's decoded prompt; for the
  unprompted row the codec's) and the speech that follows it;
- speaker identified: how often the speech's nearest voice, among the
  embeddings of all voices of its group (one 3 s prompt each), is the voice;
  how often it is the voice up to speaking rate (same accent, variant and
  pitch); and how often it has the voice's timbre (same variant and pitch,
  any accent or rate). eSpeak's accents share their variants' synthesizer
  settings, so to a speaker encoder a voice's accent and rate twins are
  near-duplicates and even eSpeak's own renderings are often matched with
  one of them;
- MCD against eSpeak's rendering (dB, DTW-aligned);
- level-1 token accuracy: generated level-1 tokens equal to the codec's
  tokens of eSpeak's rendering, frame by frame (the phonemes fix the timing);
- WER: PocketSphinx with an n-gram language model of the evaluated
  sentences only;
- real-time factor: median compute seconds per second of speech.
"""

import json
import os
import statistics
import time

import numpy as np

from keras_soundstorm import prompting
from keras_soundstorm.data.espeak import Voice
from keras_soundstorm.evaluation.codec_quality import (
    EVALUATION_SPLITS,
    codec_markdown,
    evaluate_codec,
    plot_codec_rows,
)
from keras_soundstorm.evaluation.mcd import mel_cepstral_distortion
from keras_soundstorm.evaluation.speaker import cosine_similarity, speaker_embedding
from keras_soundstorm.models.presets import atomic_write_text, record_in_metadata

SYSTEMS = ("original", "codec", "soundstorm, no prompt", "soundstorm, 3 s prompt")


def _load(model_preset, codec_preset):
    import keras_soundstorm as kss
    from keras_soundstorm.codecs import SoundStream
    from keras_soundstorm.data import EspeakCorpus

    codec = SoundStream.from_preset(codec_preset)
    model = None if model_preset is None else kss.SoundStorm.from_preset(model_preset)
    ratio = 2 if model is None else model.backbone.conditioning_rate_ratio
    corpus = EspeakCorpus(codec.sample_rate, int(codec.frame_rate), frame_multiple=ratio)
    if model is not None:
        prompting.check_compatible(model, codec, corpus)
    return model, codec, corpus


def _evaluation_record(rows, command):
    return {
        "command": command,
        "date": time.strftime("%Y-%m-%d"),
        "rows": [{k: v for k, v in row.items() if v is not None} for row in rows],
    }


def run_codec_evaluation(codec_preset, output_dir, num_sentences=20, record=False):
    """Codec reconstructions at every bitrate: writes `codec.md`, `codec.png`, `codec.json`.

    `record=True` also stores the rows in the preset's `metadata.json`
    (key `evaluation`).
    """
    _, codec, corpus = _load(None, codec_preset)
    rows = evaluate_codec(codec, corpus, num_sentences=num_sentences)
    if record:
        command = f"keras-soundstorm evaluate --codec-only --num-sentences {num_sentences}"
        record_in_metadata(codec_preset, "evaluation", _evaluation_record(rows, command))
    os.makedirs(output_dir, exist_ok=True)
    markdown = codec_markdown(rows)
    atomic_write_text(os.path.join(output_dir, "codec.md"), markdown)
    atomic_write_text(os.path.join(output_dir, "codec.json"), json.dumps(rows, indent=2))
    plot_codec_rows(rows, os.path.join(output_dir, "codec.png"))
    print(markdown)
    print(f"Wrote codec.md, codec.json, codec.png to {output_dir}")
    return rows


def _embed(waveform, sample_rate):
    return speaker_embedding(waveform, sample_rate)


def _embedding_cache(sample_rate):
    """`embed(waveform)` that embeds each array object once (systems share prompts)."""
    cache = {}

    def embed(waveform):
        key = id(waveform)
        if key not in cache:
            # Keeping the array alive keeps its id from being reused.
            cache[key] = (waveform, _embed(waveform, sample_rate))
        return cache[key][1]

    return embed


def _systems_for(model, codec, corpus, sentence_id, voice, seed):
    """Every system's speech of one sentence: dict name -> (audio, prompt audio, codes, secs)."""
    target = corpus.utterance(sentence_id, voice)
    prompt = prompting.voice_prompt(corpus, voice, exclude_sentence_ids=[sentence_id])
    start = time.perf_counter()
    corpus.synthesize(target.text, voice)
    espeak_seconds = time.perf_counter() - start

    start = time.perf_counter()
    both = np.concatenate([prompt.waveform, target.waveform])
    codes = codec.encode(both[None])
    rebuilt = codec.decode(codes)[0]
    codec_seconds = time.perf_counter() - start
    split = len(prompt.waveform)
    rebuilt_prompt, rebuilt_target = rebuilt[:split], rebuilt[split:]
    reference_codes = {
        "prompted": codes[0, split // codec.hop_length :],
        "unprompted": codec.encode(target.waveform[None])[0],
    }
    unprompted = prompting.speak(model, codec, target.phoneme_ids, prompt=None, seed=seed)
    prompted = prompting.speak(model, codec, target.phoneme_ids, prompt=prompt, seed=seed)
    systems = {
        "original": (target.waveform, prompt.waveform, None, espeak_seconds),
        "codec": (rebuilt_target, rebuilt_prompt, None, codec_seconds),
        "soundstorm, no prompt": (
            unprompted.waveform,
            rebuilt_prompt,
            unprompted.codes,
            unprompted.seconds,
        ),
        "soundstorm, 3 s prompt": (
            prompted.waveform,
            prompted.prompt_waveform,
            prompted.codes,
            prompted.seconds,
        ),
    }
    references = {
        "soundstorm, no prompt": reference_codes["unprompted"],
        "soundstorm, 3 s prompt": reference_codes["prompted"],
    }
    return target, prompt, systems, references


def _same_speaker(voice_a, voice_b):
    """Same accent, variant and pitch (speaking rate may differ)."""
    a, b = Voice.parse(voice_a), Voice.parse(voice_b)
    return (a.language, a.variant, a.pitch) == (b.language, b.variant, b.pitch)


def _same_timbre(voice_a, voice_b):
    """Same variant and pitch (accent and speaking rate may differ)."""
    a, b = Voice.parse(voice_a), Voice.parse(voice_b)
    return (a.variant, a.pitch) == (b.variant, b.pitch)


def evaluate_table1(
    model, codec, corpus, num_sentences=20, seed=0, num_candidate_voices=None, progress=True
):
    """Scores every system on held-out sentences; returns a list of row dicts.

    Args:
        num_candidate_voices: identify speakers among only the first n voices
            of each group (plus the evaluated ones); None: all of them.

    Each row: `group`, `system`, `voice_preservation`, `acoustic_consistency`,
    `speaker_identified`, `speaker_identified_any_rate`,
    `speaker_identified_same_timbre`, `mcd_db`,
    `level1_accuracy` (None for eSpeak and the codec), `wer`,
    `real_time_factor`, `num_utterances`.
    """
    from tqdm.auto import tqdm

    from keras_soundstorm.evaluation.asr import SpeechRecognizer, word_errors

    sentence_ids = corpus.split_sentence_ids("heldout_sentences")[:num_sentences]
    recognizer = SpeechRecognizer([corpus.sentences[i] for i in sentence_ids])
    rate = corpus.sample_rate
    rows = []
    for group, split in EVALUATION_SPLITS.items():
        pairs = corpus.split(split, voices_per_sentence=1)[:num_sentences]
        candidates = [voice.name for voice in corpus.split_voices(split)]
        if num_candidate_voices is not None:
            evaluated = {str(voice) for _, voice in pairs}
            candidates = [
                v for k, v in enumerate(candidates) if k < num_candidate_voices or v in evaluated
            ]
        candidate_embeddings = np.stack(
            [
                _embed(prompting.voice_prompt(corpus, v).waveform, rate)
                for v in tqdm(candidates, desc=f"voice prints, {group}", disable=not progress)
            ]
        )
        scores = {system: [] for system in SYSTEMS}
        for sentence_id, voice in tqdm(pairs, desc=f"Table 1, {group}", disable=not progress):
            target, prompt, systems, references = _systems_for(
                model, codec, corpus, sentence_id, voice, seed
            )
            embed = _embedding_cache(rate)
            prompt_embedding = embed(prompt.waveform)
            for system, (speech, prompt_audio, codes, seconds) in systems.items():
                embedding = embed(speech)
                nearest = candidates[int(np.argmax(candidate_embeddings @ embedding))]
                accuracy = None
                if codes is not None:
                    accuracy = float(np.mean(codes[:, 0] == references[system][:, 0]))
                scores[system].append(
                    {
                        "voice_preservation": cosine_similarity(prompt_embedding, embedding),
                        "acoustic_consistency": cosine_similarity(embed(prompt_audio), embedding),
                        "speaker_identified": float(nearest == voice),
                        "speaker_identified_any_rate": float(_same_speaker(nearest, voice)),
                        "speaker_identified_same_timbre": float(_same_timbre(nearest, voice)),
                        "mcd_db": mel_cepstral_distortion(target.waveform, speech, rate),
                        "level1_accuracy": accuracy,
                        "word_errors": word_errors(
                            target.text, recognizer.transcribe(speech, rate)
                        ),
                        "real_time_factor": seconds * rate / len(speech),
                    }
                )
        for system, items in scores.items():
            errors = sum(item["word_errors"][0] for item in items)
            words = sum(item["word_errors"][1] for item in items)
            accuracies = [item["level1_accuracy"] for item in items]
            rows.append(
                {
                    "group": group,
                    "system": system,
                    **{
                        key: float(np.mean([item[key] for item in items]))
                        for key in (
                            "voice_preservation",
                            "acoustic_consistency",
                            "speaker_identified",
                            "speaker_identified_any_rate",
                            "speaker_identified_same_timbre",
                            "mcd_db",
                        )
                    },
                    "level1_accuracy": None
                    if accuracies[0] is None
                    else float(np.mean(accuracies)),
                    "wer": errors / words,
                    # Per utterance, in the same sentence order in every row of
                    # the group: what `wer_ratio_interval` resamples.
                    "word_errors": [list(item["word_errors"]) for item in items],
                    "real_time_factor": statistics.median(
                        item["real_time_factor"] for item in items
                    ),
                    "num_utterances": len(items),
                }
            )
    return rows


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


def table1_checks(rows):
    """The issue's acceptance ratios per voice group, as markdown lines."""
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
    metrics = [
        ("voice_preservation", "voice preservation (cosine)"),
        ("speaker_identified", "speaker identified (fraction)"),
        ("wer", "word error rate"),
    ]
    figure, axes = plt.subplots(1, len(metrics), figsize=(13, 3.8))
    width = 0.8 / len(groups)
    positions = np.arange(len(SYSTEMS))
    for axis, (key, label) in zip(axes, metrics):
        for k, group in enumerate(groups):
            values = [
                next(r[key] for r in rows if r["group"] == group and r["system"] == s)
                for s in SYSTEMS
            ]
            axis.bar(positions + k * width, values, width, label=group)
        axis.set_xticks(positions + width * (len(groups) - 1) / 2)
        axis.set_xticklabels([s.replace("soundstorm, ", "SoundStorm\n") for s in SYSTEMS])
        axis.set_title(label)
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def run_table1(
    model_preset,
    codec_preset,
    output_dir,
    num_sentences=20,
    seed=0,
    num_candidate_voices=None,
    record=False,
):
    """Runs `evaluate_table1`; writes `table1.md`, `table1.json`, `table1.png`.

    `record=True` also stores the rows in the SoundStorm preset's
    `metadata.json` (key `evaluation`).
    """
    model, codec, corpus = _load(model_preset, codec_preset)
    rows = evaluate_table1(
        model,
        codec,
        corpus,
        num_sentences=num_sentences,
        seed=seed,
        num_candidate_voices=num_candidate_voices,
    )
    if record:
        command = f"keras-soundstorm evaluate --num-sentences {num_sentences} --seed {seed}"
        record_in_metadata(model_preset, "evaluation", _evaluation_record(rows, command))
    os.makedirs(output_dir, exist_ok=True)
    markdown = table1_markdown(rows) + "\n" + table1_checks(rows)
    atomic_write_text(os.path.join(output_dir, "table1.md"), markdown)
    atomic_write_text(os.path.join(output_dir, "table1.json"), json.dumps(rows, indent=2))
    plot_table1(rows, os.path.join(output_dir, "table1.png"))
    print(markdown)
    print(f"Wrote table1.md, table1.json, table1.png to {output_dir}")
    return rows
