"""Intelligibility: word error rate, and speech recognition with PocketSphinx.

Still used by the eSpeak Table 1 (`evaluation.table1`), the decoding sweep
(`evaluation.decoding_sweep`) and `examples/tune_decoding.py`, whose recorded
numbers were measured with it. New evaluations, and `evaluate_test_set`, use
Whisper (`evaluation.whisper_asr`), which needs no language model built from
the references.

`SpeechRecognizer` runs the English acoustic model and CMU dictionary that the
`pocketsphinx` wheel ships, with a small back-off n-gram language model built
from the sentences being evaluated (so its vocabulary is theirs). PocketSphinx
is imported on first use.

How restrictive the language model is decides how much the audio must carry.
Measured on original eSpeak audio with an LM built from all 408 corpus
sentences (659 words): on 10 held-out sentences x 2 US voices (en-us m3, f2)
order 3 gives 10% WER, order 2 15%, order 1 (any sequence of the words) 56%;
on 20 held-out-sentence pairs of the corpus (mixed accents, mostly female
voices) 41%, 50% and 80%. The default, order 3, keeps rates away from 100%,
so that comparisons between systems (e.g. generated vs codec-reconstructed
speech) are not saturated; it favours word sequences seen in the sentences,
so compare systems with the same recognizer, not with other papers' WERs.
(PocketSphinx's grammar search is no option: a JSGF loop over a few hundred
words takes minutes per utterance.)

Example:

```python
recognizer = SpeechRecognizer(SENTENCES)
text = recognizer.transcribe(waveform, sample_rate=16000)
word_error_rate(reference_texts, [text, ...])
```
"""

import collections
import functools
import math
import os
import re
import tempfile
import threading

import numpy as np

from keras_soundstorm import audio
from keras_soundstorm.evaluation._checks import check_sample_rate, check_waveform, require

RECOGNIZER_SAMPLE_RATE = 16000
DITHER_LSB = 8.0  # standard deviation in 16-bit steps: -72 dBFS
_DITHER_SEED = 0
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_VARIANT_SUFFIX = re.compile(r"\(\d+\)$")


def normalize_words(text):
    """Lower-cased words of `text`, punctuation dropped (in-word apostrophes kept).

    `"Don't stop, Bob!"` -> `["don't", "stop", "bob"]`.
    """
    if not isinstance(text, str):
        raise ValueError(f"Text must be a string; got {type(text).__name__}.")
    return _WORD.findall(text.lower())


def _edit_distance(reference, hypothesis):
    """Levenshtein distance between two word lists (unit costs)."""
    previous = list(range(len(hypothesis) + 1))
    for i, reference_word in enumerate(reference, 1):
        current = [i]
        for j, hypothesis_word in enumerate(hypothesis, 1):
            current.append(
                min(
                    previous[j] + 1,  # deletion
                    current[j - 1] + 1,  # insertion
                    previous[j - 1] + (reference_word != hypothesis_word),
                )
            )
        previous = current
    return previous[-1]


def word_errors(reference, hypothesis):
    """`(substitutions + deletions + insertions, reference word count)`."""
    reference_words = normalize_words(reference)
    hypothesis_words = normalize_words(hypothesis)
    return _edit_distance(reference_words, hypothesis_words), len(reference_words)


def word_error_rate(reference, hypothesis):
    """Word error rate: word edits / reference words, after `normalize_words`.

    Args:
        reference: a string, or a list of strings (one per utterance).
        hypothesis: same type and length as `reference`.

    Returns:
        float >= 0 (may exceed 1 with many insertions). For lists, the corpus
        rate: total edits over total reference words.
    """
    if isinstance(reference, str) != isinstance(hypothesis, str):
        raise ValueError(
            "`reference` and `hypothesis` must both be strings or both be lists of "
            f"strings; got {type(reference).__name__} and {type(hypothesis).__name__}."
        )
    if isinstance(reference, str):
        reference, hypothesis = [reference], [hypothesis]
    reference, hypothesis = list(reference), list(hypothesis)
    if len(reference) != len(hypothesis):
        raise ValueError(
            f"`reference` has {len(reference)} texts but `hypothesis` has {len(hypothesis)}."
        )
    errors = [word_errors(r, h) for r, h in zip(reference, hypothesis)]
    total_words = sum(count for _, count in errors)
    if total_words == 0:
        raise ValueError("The reference has no words: word error rate is undefined.")
    return sum(edits for edits, _ in errors) / total_words


def ngram_language_model(sentences, order=3, discount=0.5):
    """A back-off n-gram language model in ARPA format (a string).

    Absolute discounting: a seen n-gram gets `(count - discount) / count(history)`,
    and the mass taken off goes to the next lower order (weighted so that each
    history's distribution sums to one). Unigrams are maximum likelihood.

    Args:
        sentences: list of strings; words as `normalize_words` gives them.
        order: 1, 2 or 3.
        discount: in (0, 1).
    """
    if isinstance(order, bool) or order not in (1, 2, 3):
        raise ValueError(f"`order` must be 1, 2 or 3; got {order!r}.")
    if not 0.0 < discount < 1.0:
        raise ValueError(f"`discount` must be in (0, 1); got {discount!r}.")
    if isinstance(sentences, str):
        raise ValueError("`sentences` must be a list of strings, not one string.")
    counts = [collections.Counter() for _ in range(order + 1)]  # counts[n][ngram]
    for sentence in sentences:
        words = normalize_words(sentence)
        if not words:
            continue
        tokens = ("<s>", *words, "</s>")
        for n in range(1, order + 1):
            for start in range(len(tokens) - n + 1):
                counts[n][tokens[start : start + n]] += 1
    if not counts[1]:
        raise ValueError("`sentences` hold no words to build a language model from.")

    total = sum(c for gram, c in counts[1].items() if gram != ("<s>",))
    probability = [{} for _ in range(order + 1)]  # explicit probabilities
    probability[1] = {gram: c / total for gram, c in counts[1].items() if gram != ("<s>",)}
    backoff = [{} for _ in range(order + 1)]
    for n in range(2, order + 1):
        followers = collections.defaultdict(list)
        for gram, c in counts[n].items():
            followers[gram[:-1]].append((gram, c))
        for history, grams in followers.items():
            history_count = sum(c for _, c in grams)
            seen_lower = 0.0
            for gram, c in grams:
                probability[n][gram] = (c - discount) / history_count
                seen_lower += probability[n - 1][gram[1:]]
            reserved = discount * len(grams) / history_count
            backoff[n - 1][history] = reserved / max(1.0 - seen_lower, 1e-12)

    lines = ["\\data\\"]
    lines += [f"ngram {n}={len(counts[n])}" for n in range(1, order + 1)]
    for n in range(1, order + 1):
        lines += ["", f"\\{n}-grams:"]
        for gram in sorted(counts[n]):
            p = probability[n].get(gram)
            line = f"{-99.0 if p is None else math.log10(p):.6f} {' '.join(gram)}"
            if n < order:
                line += f" {math.log10(backoff[n].get(gram, 1.0)):.6f}"
            lines.append(line)
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


@functools.cache
def _cmu_dictionary():
    """PocketSphinx's CMU dictionary: {word: [phones, ...]} (variants in order)."""
    pocketsphinx = require("pocketsphinx", "Speech recognition")
    pronunciations = collections.defaultdict(list)
    with open(pocketsphinx.get_model_path("en-us/cmudict-en-us.dict"), encoding="utf-8") as file:
        for line in file:
            entry, _, phones = line.strip().partition(" ")
            if phones:
                pronunciations[_VARIANT_SUFFIX.sub("", entry)].append(phones.strip())
    return dict(pronunciations)


class SpeechRecognizer:
    """English speech recognition restricted to the words of given sentences.

    PocketSphinx's bundled US-English acoustic model, with an
    `ngram_language_model` of `sentences` and the CMU dictionary's entries for
    their words (all pronunciation variants). A word missing from the
    dictionary is spelled as two dictionary words if it splits into two
    (e.g. "snowdrops" = "snow" + "drops"), or taken from `pronunciations`.

    Args:
        sentences: list of strings: the language model's training text.
        order: n-gram order, 1 (any word sequence) to 3.
        pronunciations: optional dict `{word: "ARPABET PHONES"}`, for words
            the dictionary lacks (or to override it).
        discount: the language model's absolute discount (see
            `ngram_language_model`): the smaller, the less probability is left
            for word sequences the sentences do not hold.
        pad_seconds: silence added before and after every utterance (it
            becomes dither): PocketSphinx often loses an utterance's last
            word when the audio stops right after it, as eSpeak's does.

    Example:

    ```python
    recognizer = SpeechRecognizer(["The sun rose slowly over the quiet hills."])
    recognizer.transcribe(waveform, sample_rate=16000)  # "the sun rose ..."
    ```
    """

    def __init__(self, sentences, order=3, pronunciations=None, discount=0.5, pad_seconds=0.0):
        pocketsphinx = require("pocketsphinx", "Speech recognition")
        arpa = ngram_language_model(sentences, order=order, discount=discount)
        if not isinstance(pad_seconds, int | float) or isinstance(pad_seconds, bool):
            raise ValueError(f"`pad_seconds` must be a number >= 0; got {pad_seconds!r}.")
        if pad_seconds < 0:
            raise ValueError(f"`pad_seconds` must be >= 0; got {pad_seconds!r}.")
        self.order = order
        self.pad_seconds = float(pad_seconds)
        self.vocabulary = sorted({w for s in sentences for w in normalize_words(s)})
        lexicon = self._lexicon({k.lower(): v for k, v in (pronunciations or {}).items()})
        # A dictionary of just these words: loading all of CMUdict (135k words)
        # makes PocketSphinx set up its search ~500x slower (~10 s).
        with tempfile.TemporaryDirectory(prefix="keras-soundstorm-asr-") as folder:
            lm_path = os.path.join(folder, "vocabulary.arpa")
            dict_path = os.path.join(folder, "vocabulary.dict")
            with open(lm_path, "w", encoding="utf-8") as file:
                file.write(arpa)
            with open(dict_path, "w", encoding="utf-8") as file:
                for word, variants in lexicon.items():
                    for k, phones in enumerate(variants):
                        file.write(f"{word}{f'({k + 1})' if k else ''} {phones}\n")
            self._decoder = pocketsphinx.Decoder(lm=lm_path, dict=dict_path, loglevel="FATAL")
        self._lock = threading.Lock()

    def _lexicon(self, pronunciations):
        cmu = _cmu_dictionary()
        phone_set = {phone for variants in cmu.values() for v in variants for phone in v.split()}
        for word, phones in pronunciations.items():
            unknown = set(phones.split()) - phone_set if isinstance(phones, str) else {phones}
            if unknown or not isinstance(phones, str) or not phones.split():
                raise ValueError(
                    f"Pronunciation of {word!r} must be a string of ARPABET phones from "
                    f"{sorted(phone_set)}; got {phones!r}."
                )
        lexicon, missing = {}, []
        for word in self.vocabulary:
            if word in pronunciations:
                lexicon[word] = [pronunciations[word]]
            elif word in cmu:
                lexicon[word] = cmu[word]
            else:
                # Longest first part first: "snowdrops" -> "snow drops".
                splits = [
                    (word[:i], word[i:])
                    for i in range(len(word) - 2, 1, -1)
                    if word[:i] in cmu and word[i:] in cmu
                ]
                if splits:
                    first, second = splits[0]
                    lexicon[word] = [f"{cmu[first][0]} {cmu[second][0]}"]
                else:
                    missing.append(word)
        if missing:
            raise ValueError(
                f"No pronunciation for {missing}: these words are not in PocketSphinx's "
                "CMU dictionary. Pass them as `pronunciations={word: 'ARPABET PHONES'}`, "
                "e.g. {'snowdrops': 'S N OW D R AA P S'}."
            )
        return lexicon

    def transcribe(self, waveform, sample_rate):
        """The words heard in `waveform` `[N]`, lower case, space separated.

        Audio is resampled to 16 kHz, scaled down if louder than full scale
        (recognition normalizes level anyway) and dithered: white noise at
        -72 dBFS, from a fixed seed so results are repeatable. eSpeak puts
        digital silence (exact zeros) between words, which PocketSphinx's
        log-energy features handle badly; dither turns it into a quiet room
        and took the 3-gram WER on original eSpeak audio from ~29% to ~9%.
        It also puts every system on the same footing, since codec or model
        output never holds exact zeros. Returns "" if no word is heard.
        """
        waveform = check_waveform(waveform, allow_silent=True)
        sample_rate = check_sample_rate(sample_rate)
        waveform = audio.resample(waveform, sample_rate, RECOGNIZER_SAMPLE_RATE)
        if self.pad_seconds:
            pad = np.zeros(int(round(self.pad_seconds * RECOGNIZER_SAMPLE_RATE)), waveform.dtype)
            waveform = np.concatenate([pad, waveform, pad])
        peak = float(np.max(np.abs(waveform)))
        if peak > 1.0:
            waveform = waveform / peak
        pcm = waveform * 32767.0 + DITHER_LSB * _dither(waveform.shape[0])
        pcm = np.clip(np.round(pcm), -32768, 32767).astype("<i2")  # dither's overshoot only
        with self._lock:
            self._decoder.start_utt()
            self._decoder.process_raw(pcm.tobytes(), no_search=False, full_utt=True)
            self._decoder.end_utt()
            hypothesis = self._decoder.hyp()
        return " ".join(normalize_words(hypothesis.hypstr)) if hypothesis else ""


def _dither(num_samples):
    return np.random.default_rng(_DITHER_SEED).standard_normal(num_samples)


def sentence_groups(sentence_ids, group_size=8):
    """Fixed small groups of sentences: `{sentence_id: group}`, a group a tuple of ids.

    The ids, ascending, are cut into consecutive runs of `group_size`; a last,
    shorter run is filled up with the ids just before it (so the last two
    groups overlap). A sentence's group depends only on `sentence_ids` and
    `group_size`, and always holds the sentence.

    Args:
        sentence_ids: distinct ints, at least `group_size` of them unless
            there are fewer in all (then one group holds them all).
        group_size: int >= 1.
    """
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"`group_size` must be a positive int; got {group_size!r}.")
    ids = sorted(int(i) for i in sentence_ids)
    if not ids or len(set(ids)) != len(ids):
        raise ValueError(f"`sentence_ids` must be distinct and not empty; got {sentence_ids!r}.")
    groups = {}
    for start in range(0, len(ids), group_size):
        group = tuple(ids[max(0, min(start, len(ids) - group_size)) :][:group_size])
        for sentence_id in ids[start : start + group_size]:
            groups[sentence_id] = group
    return groups


class GroupedSpeechRecognizer:
    """Recognition with a language model of a small group of sentences, the reference among them.

    A sensitive intelligibility test: every utterance of a sentence is
    recognised with a `SpeechRecognizer` of the same `group_size` sentences
    (`sentence_groups` of `sentences`'s ids), which holds the sentence. The
    language model then leaves the recogniser little to guess, so eSpeak's
    own renderings are recognised with few errors, and errors measure what
    the audio fails to carry rather than what the recogniser confuses. A
    recogniser with an n-gram model of hundreds of sentences misrecognises
    a third of eSpeak's renderings; compare systems with the same groups.

    Measured on the 80 held-out-sentence utterances of `evaluate` (40
    sentences x one training and one held-out voice each, eSpeak's
    renderings): groups of 8, 3-gram, discount 0.5, no padding: 25.7% WER
    (one model of the 40 sentences: 30.9%); discount 0.01: 19.0%; and 0.5 s
    of padding: 13.2% (1 s: 17.4%). Most remaining errors are in female and
    high-pitched voices, which PocketSphinx's acoustic model hears worst.

    Args:
        sentences: dict `{sentence_id: text}`: every sentence that may be
            transcribed (groups are formed among them).
        group_size: sentences per language model.
        order, discount, pad_seconds, pronunciations: see `SpeechRecognizer`.

    Example:

    ```python
    recognizer = GroupedSpeechRecognizer({i: SENTENCES[i] for i in ids})
    recognizer.transcribe(waveform, 16000, sentence_id=ids[0])
    ```
    """

    def __init__(
        self,
        sentences,
        group_size=8,
        order=3,
        discount=0.01,
        pad_seconds=0.5,
        pronunciations=None,
    ):
        if not isinstance(sentences, dict):
            raise ValueError(
                f"`sentences` must be a dict {{sentence_id: text}}; got {type(sentences).__name__}."
            )
        self.sentences = dict(sentences)
        self.group_size = group_size
        self.groups = sentence_groups(self.sentences, group_size)
        self._options = {
            "order": order,
            "discount": discount,
            "pad_seconds": pad_seconds,
            "pronunciations": pronunciations,
        }
        self._recognizers = {}
        self._lock = threading.Lock()

    def group(self, sentence_id):
        """The ids of the sentences whose language model recognises `sentence_id`'s speech."""
        if sentence_id not in self.groups:
            raise ValueError(
                f"Sentence {sentence_id!r} is not among the recogniser's {len(self.groups)} "
                "sentences."
            )
        return self.groups[sentence_id]

    def recognizer(self, sentence_id):
        """The `SpeechRecognizer` of `sentence_id`'s group (built once per group)."""
        group = self.group(sentence_id)
        with self._lock:
            if group not in self._recognizers:
                texts = [self.sentences[i] for i in group]
                self._recognizers[group] = SpeechRecognizer(texts, **self._options)
            return self._recognizers[group]

    def transcribe(self, waveform, sample_rate, sentence_id):
        """The words heard in `waveform`, which speaks (or should) sentence `sentence_id`."""
        return self.recognizer(sentence_id).transcribe(waveform, sample_rate)
