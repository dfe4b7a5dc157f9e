"""A table like SoundStorm's Table 1, on held-out sentences of the eSpeak corpus."""

import json
import os
import time

import numpy as np

from keras_soundstorm.data import Voice
from keras_soundstorm.evaluation.aggregate import table1_row
from keras_soundstorm.evaluation.codec_quality import EVALUATION_SPLITS
from keras_soundstorm.evaluation.loading import load_for_evaluation
from keras_soundstorm.evaluation.mcd import mel_cepstral_distortion
from keras_soundstorm.evaluation.report import (
    plot_table1,
    record_evaluation,
    table1_checks,
    table1_markdown,
    write_report,
)
from keras_soundstorm.evaluation.speaker import cosine_similarity, speaker_embedding
from keras_soundstorm.models.soundstorm.prompting import speak, voice_prompt
from keras_soundstorm.utils.files import atomic_write_text

SYSTEMS = ("original", "codec", "soundstorm, no prompt", "soundstorm, 3 s prompt")


def _embedding_cache(sample_rate, known=()):
    """`embed(waveform)` that embeds each array object once (systems share prompts).

    `known`: `(waveform, embedding)` pairs already computed.
    """
    cache = {id(waveform): (waveform, embedding) for waveform, embedding in known}

    def embed(waveform):
        key = id(waveform)
        if key not in cache:
            # Keeping the array alive keeps its id from being reused.
            cache[key] = (waveform, speaker_embedding(waveform, sample_rate))
        return cache[key][1]

    return embed


def _systems_for(model, codec, corpus, sentence_id, voice, seed, prompt):
    """Every system's speech of one sentence: dict name -> (audio, prompt audio, codes, secs)."""
    target = corpus.utterance(sentence_id, voice)
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
    unprompted = speak(model, codec, target.phoneme_ids, prompt=None, seed=seed)
    prompted = speak(model, codec, target.phoneme_ids, prompt=prompt, seed=seed)
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
    return target, systems, references


def timbre_identified(embedding, voice, prompt_embeddings):
    """Whether `embedding` is nearer its voice's prompt than every other variant's.

    An utterance's timbre counts as identified when the cosine of its speaker
    embedding with the prompt of its own voice is higher than with the prompt
    of every voice of a different eSpeak variant (e.g. "m3" vs "f2"). Voices
    of the same variant (the voice's accent, pitch and rate twins) are not
    competitors: to a speaker encoder they are near-duplicates.

    Args:
        embedding: the utterance's speaker embedding `[D]`.
        voice: the utterance's voice (a name or `Voice`); a key of
            `prompt_embeddings`.
        prompt_embeddings: dict `{voice name: prompt embedding [D]}`: the
            evaluated voices, holding at least one other variant.

    Returns a bool.
    """
    voice = Voice.parse(voice)
    if voice.name not in prompt_embeddings:
        raise ValueError(f"No prompt embedding for the utterance's voice {voice.name!r}.")
    others = [
        other
        for name, other in prompt_embeddings.items()
        if Voice.parse(name).variant != voice.variant
    ]
    if not others:
        raise ValueError(
            f"`prompt_embeddings` holds no voice of a variant other than {voice.variant!r}: "
            "timbre identification needs one."
        )
    own = cosine_similarity(prompt_embeddings[voice.name], embedding)
    return bool(own > np.max(cosine_similarity(np.stack(others), embedding)))


ASR_CHOICES = ("whisper", "pocketsphinx")
# Columns with a 95% bootstrap interval over utterances in Whisper rows.
INTERVAL_KEYS = (
    "voice_preservation",
    "acoustic_consistency",
    "timbre_identified",
    "mcd_db",
    "dnsmos_ovrl",
    "dnsmos_sig",
    "dnsmos_bak",
)


def _whisper_row_extras(items, seed):
    """DNSMOS means and the 95% bootstrap intervals of a Whisper row's columns."""
    from keras_soundstorm.evaluation.test_set_evaluation import bootstrap_interval

    extras = {}
    for key in ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak"):
        extras[key] = float(np.mean([item[key] for item in items]))
    for key in INTERVAL_KEYS:
        values = np.array([item[key] for item in items], "float64")
        extras[f"{key}_interval"] = bootstrap_interval(
            lambda i, v=values: v[i].mean(), len(values), seed=seed
        )
    errors = np.array([item["word_errors"] for item in items], "float64")
    extras["wer_interval"] = bootstrap_interval(
        lambda i: errors[i, 0].sum() / max(errors[i, 1].sum(), 1), len(errors), seed=seed
    )
    extras["transcripts"] = [item["transcript"] for item in items]
    return extras


def _cache_file(cache_dir, group, sentence_id, voice):
    import re as regex

    name = regex.sub(r"[^A-Za-z0-9._-]+", "_", f"{group}-{sentence_id}-{voice}")
    return os.path.join(cache_dir, "utterances", f"{name}.json")


def _read_cache(path):
    try:
        with open(path) as file:
            return json.load(file)
    except (OSError, ValueError):
        return None  # missing or cut short: compute again


def evaluate_table1(
    model,
    codec,
    corpus,
    num_sentences=None,
    seed=0,
    group_size=8,
    progress=True,
    asr="whisper",
    recognizer=None,
    cache_dir=None,
):
    """Scores every system on held-out sentences; returns a list of row dicts.

    Rows (`SYSTEMS`), for training voices and for held-out voices (the
    `EVALUATION_SPLITS`, one voice per sentence):

    - `original`: eSpeak's rendering of the sentence in the voice;
    - `codec`: that rendering encoded and decoded by the codec (all levels);
    - `soundstorm, no prompt`: SoundStorm from the sentence's phonemes alone;
    - `soundstorm, 3 s prompt`: SoundStorm continuing a 3 s prompt of the
      voice (other sentences, see `prompting.voice_prompt`).

    Columns:

    - `voice_preservation`: cosine of speaker embeddings (resemblyzer) of the
      3 s eSpeak prompt and the system's speech of the sentence;
    - `acoustic_consistency`: the same cosine between the prompt as the
      system renders it (eSpeak / the codec / SoundStorm's decoded prompt; for
      the unprompted row the codec's) and the speech that follows it;
    - `timbre_identified`: how often the speech is nearer its voice's 3 s
      eSpeak prompt than the prompt of every evaluated voice (both groups) of
      another eSpeak variant (`timbre_identified`);
    - `mcd_db`: MCD against eSpeak's rendering (dB, DTW-aligned);
    - `level1_accuracy`: generated level-1 tokens equal to the codec's tokens
      of eSpeak's rendering, frame by frame (the phonemes fix the timing;
      None for eSpeak and the codec);
    - `real_time_factor`: median compute seconds per second of speech;
    - `num_utterances`;
    - `decoding` (SoundStorm rows): the model's decoding settings, which
      `generate` used.

    With `asr="whisper"` (default; `asr` in the rows):

    - `wer`: Whisper (`whisper_asr.WhisperRecognizer`, base) against the
      sentence, both normalised, pooled over utterances; `word_errors` its
      per-utterance `(errors, words)`, `transcripts` what was heard;
    - `dnsmos_ovrl`, `dnsmos_sig`, `dnsmos_bak`: DNSMOS P.835 means;
    - `<column>_interval`: 95% percentile-bootstrap interval over the group's
      utterances of `wer` and of the columns of `INTERVAL_KEYS`.

    With `asr="pocketsphinx"` (the earlier measure):

    - `wer`: PocketSphinx with a language model of `group_size` held-out
      sentences, the sentence among them (`asr.GroupedSpeechRecognizer`;
      groups fixed by sentence id); `word_errors`: its per-utterance
      `(errors, words)`;
    - `wer_corpus_lm`, `word_errors_corpus_lm`: the same with one n-gram
      language model of all evaluated sentences;
    - `lm_group_size`, `corpus_lm_sentences`: the two models' sentence counts.

    Args:
        num_sentences: held-out sentences per voice group; None: all (40).
        group_size: sentences per language model of the PocketSphinx `wer`.
        asr: `"whisper"` or `"pocketsphinx"`.
        recognizer: the `WhisperRecognizer` to use (default: Whisper base).
        cache_dir: None, or a folder where every utterance's scores are kept
            as they are computed (a killed run resumes; Whisper only).
    """
    from tqdm.auto import tqdm

    if asr not in ASR_CHOICES:
        raise ValueError(f"`asr` must be one of {ASR_CHOICES}; got {asr!r}.")
    heldout_ids = corpus.split_sentence_ids("heldout_sentences")
    if num_sentences is None:
        num_sentences = len(heldout_ids)
    if isinstance(num_sentences, bool) or not isinstance(num_sentences, int) or num_sentences < 1:
        raise ValueError(f"`num_sentences` must be None or an int >= 1; got {num_sentences!r}.")
    if cache_dir is not None and asr != "whisper":
        raise ValueError("`cache_dir` is only supported with asr='whisper'.")
    sentence_ids = heldout_ids[:num_sentences]
    if asr == "whisper":
        from keras_soundstorm.evaluation.mos import dnsmos
        from keras_soundstorm.evaluation.whisper_asr import WhisperRecognizer, whisper_word_errors

        if recognizer is None:
            recognizer = WhisperRecognizer()
    else:
        from keras_soundstorm.evaluation.asr import (
            GroupedSpeechRecognizer,
            SpeechRecognizer,
            word_errors,
        )

        corpus_recognizer = SpeechRecognizer([corpus.sentences[i] for i in sentence_ids])
        grouped_recognizer = GroupedSpeechRecognizer(
            {i: corpus.sentences[i] for i in heldout_ids}, group_size=group_size
        )
    rate = corpus.sample_rate
    pairs = {
        group: corpus.split(split, voices_per_sentence=1)[:num_sentences]
        for group, split in EVALUATION_SPLITS.items()
    }
    # The 3 s eSpeak prompt of every evaluated voice (prompts are training
    # sentences, never a held-out one): the references of timbre identification.
    prompts = {
        voice: voice_prompt(corpus, voice, exclude_sentence_ids=[sentence_id])
        for group_pairs in pairs.values()
        for sentence_id, voice in group_pairs
    }
    prompt_embeddings = {
        voice: speaker_embedding(prompt.waveform, rate)
        for voice, prompt in tqdm(prompts.items(), desc="voice prompts", disable=not progress)
    }
    if cache_dir is not None:
        os.makedirs(os.path.join(cache_dir, "utterances"), exist_ok=True)
        settings = {
            "model": f"{type(model).__name__}, {model.count_params()} parameters",
            "codec": f"{type(codec).__name__}, {codec.count_params()} parameters",
            "decoding": json.loads(json.dumps(dict(model.decoding))),
            "recognizer": getattr(recognizer, "model_name", type(recognizer).__name__),
            "seed": seed,
        }
        _check_cache_settings(cache_dir, settings)
    rows = []
    for group, group_pairs in pairs.items():
        scores = {system: [] for system in SYSTEMS}
        for sentence_id, voice in tqdm(group_pairs, desc=f"Table 1, {group}", disable=not progress):
            path = None
            if cache_dir is not None:
                path = _cache_file(cache_dir, group, sentence_id, voice)
                cached = _read_cache(path)
                if cached is not None:
                    for system in SYSTEMS:
                        scores[system].append(cached[system])
                    continue
            prompt = prompts[voice]
            target, systems, references = _systems_for(
                model, codec, corpus, sentence_id, voice, seed, prompt
            )
            prompt_embedding = prompt_embeddings[voice]
            embed = _embedding_cache(rate, known=[(prompt.waveform, prompt_embedding)])
            utterance = {}
            for system, (speech, prompt_audio, codes, seconds) in systems.items():
                embedding = embed(speech)
                accuracy = None
                if codes is not None:
                    accuracy = float(np.mean(codes[:, 0] == references[system][:, 0]))
                item = {
                    "voice_preservation": float(cosine_similarity(prompt_embedding, embedding)),
                    "acoustic_consistency": float(
                        cosine_similarity(embed(prompt_audio), embedding)
                    ),
                    "timbre_identified": float(
                        timbre_identified(embedding, voice, prompt_embeddings)
                    ),
                    "mcd_db": float(mel_cepstral_distortion(target.waveform, speech, rate)),
                    "level1_accuracy": accuracy,
                    "real_time_factor": seconds * rate / len(speech),
                }
                if asr == "whisper":
                    transcript = recognizer.transcribe(speech, rate)
                    quality = dnsmos(speech, rate)
                    item["transcript"] = transcript
                    item["word_errors"] = list(whisper_word_errors(target.text, transcript))
                    for key in ("ovrl", "sig", "bak"):
                        item[f"dnsmos_{key}"] = quality[key]
                else:
                    heard = grouped_recognizer.transcribe(speech, rate, sentence_id)
                    heard_corpus_lm = corpus_recognizer.transcribe(speech, rate)
                    item["word_errors"] = word_errors(target.text, heard)
                    item["word_errors_corpus_lm"] = word_errors(target.text, heard_corpus_lm)
                utterance[system] = item
                scores[system].append(item)
            if path is not None:
                atomic_write_text(path, json.dumps(utterance, indent=1))
        for system, items in scores.items():
            row = table1_row(group, system, items)
            row["asr"] = asr
            if asr == "whisper":
                row.update(_whisper_row_extras(items, seed))
            else:
                row["lm_group_size"] = group_size
                row["corpus_lm_sentences"] = len(sentence_ids)
            if system.startswith("soundstorm"):
                row["decoding"] = dict(model.decoding)
            rows.append(row)
    return rows


def table1_rows_from_cache(cache_dir, decoding, seed=0):
    """Whisper rows of the utterances a (maybe unfinished) run kept in `cache_dir`.

    For a run stopped short: every finished utterance of each voice group
    counts (so the groups may differ in size; `num_utterances` says).
    `decoding`: the model's decoding settings, stored in the SoundStorm rows.
    """
    folder = os.path.join(cache_dir, "utterances")
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    rows = []
    for group in EVALUATION_SPLITS:
        prefix = group.replace(" ", "_") + "-"
        records = [_read_cache(os.path.join(folder, n)) for n in names if n.startswith(prefix)]
        records = [r for r in records if r is not None]
        if not records:
            raise ValueError(f"`cache_dir` {cache_dir!r} holds no utterance of {group}.")
        for system in SYSTEMS:
            items = [record[system] for record in records]
            row = {**table1_row(group, system, items), "asr": "whisper"}
            row.update(_whisper_row_extras(items, seed))
            if system.startswith("soundstorm"):
                row["decoding"] = dict(decoding)
            rows.append(row)
    return rows


def _check_cache_settings(cache_dir, settings):
    """Refuses a cache of a run with other settings."""
    path = os.path.join(cache_dir, "settings.json")
    if os.path.exists(path):
        with open(path) as file:
            stored = json.load(file)
        if stored != settings:
            raise ValueError(
                f"`cache_dir` {cache_dir!r} holds a run with other settings: use another "
                "folder, or delete it to start again."
            )
    else:
        atomic_write_text(path, json.dumps(settings, indent=2, sort_keys=True))


def run_table1(
    model_preset,
    codec_preset,
    output_dir,
    num_sentences=None,
    seed=0,
    group_size=8,
    record=False,
    asr="whisper",
):
    """Runs `evaluate_table1`; writes `table1.md`, `table1.json`, `table1.png`.

    With Whisper, every utterance's scores are kept in `output_dir/table1_cache/`
    as they are computed: a killed run started again resumes. `record=True`
    also stores the rows in the SoundStorm preset's `metadata.json` (key
    `evaluation`).
    """
    model, codec, corpus = load_for_evaluation(model_preset, codec_preset)
    cache_dir = os.path.join(output_dir, "table1_cache") if asr == "whisper" else None
    rows = evaluate_table1(
        model,
        codec,
        corpus,
        num_sentences=num_sentences,
        seed=seed,
        group_size=group_size,
        asr=asr,
        cache_dir=cache_dir,
    )
    command = f"keras-soundstorm evaluate --seed {seed} --asr {asr}"
    if asr == "pocketsphinx":
        command += f" --lm-group-size {group_size}"
    if num_sentences is not None:
        command += f" --num-sentences {num_sentences}"
    if record:
        record_evaluation(model_preset, rows, command)
    decoding = ", ".join(f"{key}={value}" for key, value in model.decoding.items())
    markdown = (
        table1_markdown(rows)
        + "\n"
        + table1_checks(rows)
        + f"\nDecoding: {decoding}.\nCommand: `{command}`.\n"
    )
    write_report(output_dir, "table1", rows, markdown, plot_table1)
    return rows
