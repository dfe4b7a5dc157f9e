"""A table like SoundStorm's Table 1, on held-out sentences of the eSpeak corpus."""

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
from keras_soundstorm.prompting import speak, voice_prompt

SYSTEMS = ("original", "codec", "soundstorm, no prompt", "soundstorm, 3 s prompt")


def _embedding_cache(sample_rate):
    """`embed(waveform)` that embeds each array object once (systems share prompts)."""
    cache = {}

    def embed(waveform):
        key = id(waveform)
        if key not in cache:
            # Keeping the array alive keeps its id from being reused.
            cache[key] = (waveform, speaker_embedding(waveform, sample_rate))
        return cache[key][1]

    return embed


def _systems_for(model, codec, corpus, sentence_id, voice, seed):
    """Every system's speech of one sentence: dict name -> (audio, prompt audio, codes, secs)."""
    target = corpus.utterance(sentence_id, voice)
    prompt = voice_prompt(corpus, voice, exclude_sentence_ids=[sentence_id])
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

    Rows (`SYSTEMS`), for training voices and for held-out voices:

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
    - `speaker_identified`: how often the speech's nearest voice, among the
      embeddings of all voices of its group (one 3 s prompt each), is the
      voice; `speaker_identified_any_rate`: the voice up to speaking rate
      (same accent, variant and pitch); `speaker_identified_same_timbre`: the
      voice's timbre (same variant and pitch, any accent or rate). eSpeak's
      accents share their variants' synthesizer settings, so to a speaker
      encoder a voice's accent and rate twins are near-duplicates and even
      eSpeak's own renderings are often matched with one of them;
    - `mcd_db`: MCD against eSpeak's rendering (dB, DTW-aligned);
    - `level1_accuracy`: generated level-1 tokens equal to the codec's tokens
      of eSpeak's rendering, frame by frame (the phonemes fix the timing;
      None for eSpeak and the codec);
    - `wer`: PocketSphinx with an n-gram language model of the evaluated
      sentences only; `word_errors`: its per-utterance `(errors, words)`;
    - `real_time_factor`: median compute seconds per second of speech;
    - `num_utterances`.

    Args:
        num_candidate_voices: identify speakers among only the first n voices
            of each group (plus the evaluated ones); None: all of them.
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
                speaker_embedding(voice_prompt(corpus, v).waveform, rate)
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
        rows.extend(table1_row(group, system, items) for system, items in scores.items())
    return rows


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
    model, codec, corpus = load_for_evaluation(model_preset, codec_preset)
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
        record_evaluation(model_preset, rows, command)
    markdown = table1_markdown(rows) + "\n" + table1_checks(rows)
    write_report(output_dir, "table1", rows, markdown, plot_table1)
    return rows
