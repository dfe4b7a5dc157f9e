"""SoundStorm's Fig. 4: quality against the number of first-level decoding iterations.

For each number of first-level iterations (default 1, 2, 4, 8, 16, 32; every
other level one iteration, as in the paper), SoundStorm continues a 3 s
prompt and the speech is scored: WER with Whisper base, DNSMOS OVRL, and
voice preservation (cosine of speaker embeddings of the prompt and the
speech), each with a 95% bootstrap interval over utterances. The codec's
resynthesis of the same utterances is drawn as a reference line.

Two sources of utterances:

- default, an eSpeak pair (`--model`/`--codec` presets, e.g. the shipped
  ones): held-out sentences of the eSpeak corpus, `--sentences` per voice
  group (training voices, held-out voices), each continuing a 3 s eSpeak
  prompt of its voice (`prompting.voice_prompt`);
- `--test-set DIR`: any model / codec pair on a folder of recordings; one
  `kss.evaluation.evaluate_test_set` run per iteration count (its
  `soundstorm, 3 s prompt` and `codec` rows), in `--work-dir/steps_N`.

Every utterance's scores are kept in `--work-dir` as they are computed (a
killed run resumes). Writes `<output>.json` (the numbers) and `<output>.png`:

    python examples/figure_iterations.py --output examples/results/figure4_iterations \
        --work-dir outputs/figure4 --sentences 8
"""

import argparse
import json
import os
import re

import numpy as np

DEFAULT_ITERATIONS = (1, 2, 4, 8, 16, 32)
MEASURES = (
    ("wer", "WER (Whisper base)"),
    ("dnsmos_ovrl", "DNSMOS OVRL"),
    ("voice_preservation", "voice preservation"),
)


def _steps(model, iterations):
    return (iterations,) + (1,) * (model.backbone.num_levels - 1)


def _read(path):
    try:
        with open(path) as file:
            return json.load(file)
    except (OSError, ValueError):
        return None


def _write(path, record):
    from keras_soundstorm.utils.files import atomic_write_text

    atomic_write_text(path, json.dumps(record, indent=1))


def _score(speech, text, prompt_embedding, rate, recognizer):
    from keras_soundstorm.evaluation.mos import dnsmos
    from keras_soundstorm.evaluation.speaker import cosine_similarity, speaker_embedding
    from keras_soundstorm.evaluation.whisper_asr import whisper_word_errors

    transcript = recognizer.transcribe(speech, rate)
    return {
        "transcript": transcript,
        "word_errors": list(whisper_word_errors(text, transcript)),
        "dnsmos_ovrl": dnsmos(speech, rate)["ovrl"],
        "voice_preservation": float(
            cosine_similarity(prompt_embedding, speaker_embedding(speech, rate))
        ),
    }


def cached_records(iterations, work_dir, seed):
    """`{"codec": [record], N: [record]}` of the cached utterances scored at every count."""
    records = {"codec": [], **{n: [] for n in iterations}}
    for name in sorted(os.listdir(work_dir)):
        cached = _read(os.path.join(work_dir, name)) if name.endswith(f"seed{seed}.json") else None
        if cached is None or any(k not in cached for k in ["codec", *map(str, iterations)]):
            continue
        records["codec"].append(cached["codec"])
        for n in iterations:
            records[n].append(cached[str(n)])
    if not records["codec"]:
        raise ValueError(f"{work_dir!r} holds no utterance scored at every count {iterations}.")
    return records


def espeak_records(model_preset, codec_preset, iterations, sentences, work_dir, seed):
    """`{"codec": [record], N: [record]}` on eSpeak held-out sentences (cached in `work_dir`)."""
    from tqdm.auto import tqdm

    from keras_soundstorm.evaluation.codec_quality import EVALUATION_SPLITS
    from keras_soundstorm.evaluation.loading import load_for_evaluation
    from keras_soundstorm.evaluation.speaker import speaker_embedding
    from keras_soundstorm.evaluation.whisper_asr import WhisperRecognizer
    from keras_soundstorm.models.soundstorm.prompting import speak, voice_prompt

    model, codec, corpus = load_for_evaluation(model_preset, codec_preset)
    recognizer = WhisperRecognizer()
    rate = corpus.sample_rate
    pairs = [
        (group, sentence_id, voice)
        for group, split in EVALUATION_SPLITS.items()
        for sentence_id, voice in corpus.split(split, voices_per_sentence=1)[:sentences]
    ]
    os.makedirs(work_dir, exist_ok=True)
    records = {"codec": [], **{n: [] for n in iterations}}
    for group, sentence_id, voice in tqdm(pairs, desc="utterances"):
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{sentence_id}-{voice}-seed{seed}")
        path = os.path.join(work_dir, f"{name}.json")
        cached = _read(path) or {}
        target = prompt = prompt_embedding = None
        for key in ["codec", *map(str, iterations)]:
            if key in cached:
                continue
            if target is None:
                target = corpus.utterance(sentence_id, voice)
                prompt = voice_prompt(corpus, voice, exclude_sentence_ids=[sentence_id])
                prompt_embedding = speaker_embedding(prompt.waveform, rate)
            if key == "codec":
                speech = codec.decode(codec.encode(target.waveform[None]))[0]
            else:
                steps = _steps(model, int(key))
                speech = speak(
                    model, codec, target.phoneme_ids, prompt=prompt, seed=seed,
                    steps_per_level=steps,
                ).waveform  # fmt: skip
            cached[key] = {
                "group": group,
                **_score(speech, target.text, prompt_embedding, rate, recognizer),
            }
            _write(path, cached)  # after every system: resumes mid-utterance
        records["codec"].append(cached["codec"])
        for n in iterations:
            records[n].append(cached[str(n)])
    settings = {"model": model_preset, "codec": codec_preset, "decoding": dict(model.decoding)}
    return records, settings, len(pairs)


def test_set_records(model_preset, codec_preset, test_set, iterations, max_utterances, work_dir,
                     seed):  # fmt: skip
    """Rows of `evaluate_test_set` per iteration count: `{"codec": row, N: row}`."""
    from keras_soundstorm.evaluation.loading import load_model_and_codec
    from keras_soundstorm.evaluation.test_set_evaluation import evaluate_test_set
    from keras_soundstorm.evaluation.whisper_asr import WhisperRecognizer

    model, codec = load_model_and_codec(model_preset, codec_preset)
    recognizer = WhisperRecognizer()
    rows = {}
    for n in iterations:
        model.set_decoding(steps_per_level=_steps(model, n))
        result = evaluate_test_set(
            model, codec, test_set, os.path.join(work_dir, f"steps_{n}"),
            max_utterances=max_utterances, seed=seed, recognizer=recognizer,
        )  # fmt: skip
        by_system = {row["system"]: row for row in result}
        rows[n] = by_system["soundstorm, 3 s prompt"]
        rows.setdefault("codec", by_system["codec"])
    settings = {"model": model_preset, "codec": codec_preset, "test_set": test_set}
    return rows, settings, rows["codec"]["num_utterances"]


def summarize_records(records, seed=0):
    """Per-record lists -> rows with each measure and its 95% bootstrap interval."""
    from keras_soundstorm.evaluation.test_set_evaluation import bootstrap_interval

    rows = {}
    for key, items in records.items():
        errors = np.array([item["word_errors"] for item in items], "float64")
        row = {"num_utterances": len(items)}
        pooled = lambda i, e=errors: e[i, 0].sum() / max(e[i, 1].sum(), 1)  # noqa: E731
        row["wer"] = float(pooled(np.arange(len(errors))))
        row["wer_interval"] = bootstrap_interval(pooled, len(errors), seed=seed)
        for measure in ("dnsmos_ovrl", "voice_preservation"):
            values = np.array([item[measure] for item in items], "float64")
            row[measure] = float(values.mean())
            row[f"{measure}_interval"] = bootstrap_interval(
                lambda i, v=values: v[i].mean(), len(values), seed=seed
            )
        rows[key] = row
    return rows


def plot(rows, iterations, title, path):
    """One panel per measure: the value (with its interval) against iterations; codec dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(MEASURES), figsize=(4.2 * len(MEASURES), 3.6))
    for axis, (key, label) in zip(axes, MEASURES):
        values = np.array([rows[n][key] for n in iterations])
        low = np.array([rows[n][f"{key}_interval"][0] for n in iterations])
        high = np.array([rows[n][f"{key}_interval"][1] for n in iterations])
        axis.plot(iterations, values, "o-", label="SoundStorm, 3 s prompt")
        axis.fill_between(iterations, low, high, alpha=0.2)
        codec = rows["codec"]
        axis.axhline(codec[key], color="gray", linestyle="--", label="codec resynthesis")
        axis.axhspan(*codec[f"{key}_interval"], color="gray", alpha=0.1)
        axis.set_xscale("log", base=2)
        axis.set_xticks(iterations)
        axis.set_xticklabels([str(n) for n in iterations])
        axis.set_xlabel("first-level iterations")
        axis.set_title(label)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="soundstorm_espeak_small", help="SoundStorm preset")
    parser.add_argument("--codec", default="soundstream_espeak_16khz", help="codec preset")
    parser.add_argument("--test-set", help="folder of recordings (else eSpeak held-out sentences)")
    parser.add_argument("--iterations", type=int, nargs="+", default=list(DEFAULT_ITERATIONS))
    parser.add_argument("--sentences", type=int, default=8, help="eSpeak: per voice group")
    parser.add_argument("--max-utterances", type=int, help="--test-set: utterances drawn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", required=True, help="per-utterance cache (resumable)")
    parser.add_argument("--output", required=True, help="writes OUTPUT.json and OUTPUT.png")
    parser.add_argument(
        "--cached-only",
        action="store_true",
        help="eSpeak: plot the utterances --work-dir holds at every count (a run cut short)",
    )
    args = parser.parse_args(argv)
    if any(n < 1 for n in args.iterations) or args.sentences < 1 or args.seed < 0:
        parser.error("--iterations and --sentences must be >= 1, --seed >= 0")
    iterations = sorted(set(args.iterations))
    if args.test_set:
        rows, settings, count = test_set_records(
            args.model, args.codec, args.test_set, iterations, args.max_utterances,
            args.work_dir, args.seed,
        )  # fmt: skip
        source = f"test set {args.test_set}"
    elif args.cached_only:
        records = cached_records(iterations, args.work_dir, args.seed)
        settings, count = {"model": args.model, "codec": args.codec}, len(records["codec"])
        rows = summarize_records(records, seed=args.seed)
        source = "eSpeak held-out sentences"
    else:
        records, settings, count = espeak_records(
            args.model, args.codec, iterations, args.sentences, args.work_dir, args.seed
        )
        rows = summarize_records(records, seed=args.seed)
        source = f"eSpeak held-out sentences, {args.sentences} per voice group"
    title = f"{args.model} / {args.codec}: {source} ({count} utterances, 3 s prompt)"
    from keras_soundstorm.utils.files import atomic_write_text

    result = {
        "title": title,
        "settings": {**settings, "iterations": iterations, "seed": args.seed},
        "rows": {str(key): row for key, row in rows.items()},
    }
    atomic_write_text(args.output + ".json", json.dumps(result, indent=1, default=str))
    plot(rows, iterations, title, args.output + ".png")
    print(json.dumps({str(k): {m: rows[k][m] for m, _ in MEASURES} for k in rows}, indent=1))


if __name__ == "__main__":
    main()
