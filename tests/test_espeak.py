"""keras_soundstorm.data.EspeakCorpus: offline eSpeak NG speech + frame phonemes."""

import hashlib
import os
import threading

import numpy as np
import pytest

from keras_soundstorm.data import (
    PHONEME_INVENTORY,
    SENTENCES,
    TUNING_SENTENCES,
    EspeakCorpus,
    Voice,
    downsample_phonemes,
    synthesize,
)
from keras_soundstorm.data.phonemes import _VOWELS, SILENCE_ID, UNKNOWN_ID, phoneme_id
from keras_soundstorm.data.voices import LANGUAGES, SPLITS

PAUSED_TEXT = "Wait. Then, after a long pause, speak again."
VOWEL_IDS = np.array(
    [phoneme_id(stress + vowel) for vowel in _VOWELS for stress in ",'"]
    + [phoneme_id(vowel) for vowel in _VOWELS]
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return EspeakCorpus(cache_dir=tmp_path_factory.mktemp("espeak_cache"))


def frame_rms(utterance):
    hop = utterance.sample_rate // utterance.frame_rate
    return np.sqrt(np.mean(utterance.waveform.reshape(-1, hop) ** 2, axis=1))


def median_f0(waveform, sample_rate):
    """Median pitch (Hz) over loud, periodic 40 ms windows, by autocorrelation."""
    size = int(0.04 * sample_rate)
    pitches = []
    for start in range(0, len(waveform) - size, size // 2):
        x = waveform[start : start + size] - waveform[start : start + size].mean()
        if np.sqrt(np.mean(x**2)) < 0.02:
            continue
        autocorrelation = np.correlate(x, x, "full")[size - 1 :]
        low, high = sample_rate // 400, sample_rate // 60
        lag = low + int(np.argmax(autocorrelation[low:high]))
        if autocorrelation[lag] > 0.5 * autocorrelation[0]:
            pitches.append(sample_rate / lag)
    return float(np.median(pitches))


def digest(strings):
    return hashlib.sha256("\n".join(strings).encode()).hexdigest()[:16]


def test_sentences_and_inventory():
    # Ids are data: sentences may only be appended, the inventory never changes.
    assert digest(SENTENCES) == "e41542c7e695d580" and len(SENTENCES) == 408  # closed
    assert digest(TUNING_SENTENCES[:24]) == "84838901fa622169"
    assert digest(PHONEME_INVENTORY) == "42dce5d44055a456"
    assert len(SENTENCES) >= 300 and len(set(SENTENCES)) == len(SENTENCES)
    assert all(isinstance(s, str) and len(s.split()) >= 4 for s in SENTENCES)
    assert len(set(PHONEME_INVENTORY)) == len(PHONEME_INVENTORY)
    assert PHONEME_INVENTORY[0] == "<sil>" and PHONEME_INVENTORY[1] == "<unk>"
    assert EspeakCorpus(cache=False).phoneme_vocabulary_size == len(PHONEME_INVENTORY)
    assert phoneme_id("_:") == phoneme_id("_") == 0
    assert phoneme_id("'aI") == PHONEME_INVENTORY.index("'aI")
    assert phoneme_id("no-such-phoneme") == UNKNOWN_ID


def test_all_emitted_phonemes_are_in_the_inventory():
    for k, language in enumerate(LANGUAGES):
        text = " ".join(SENTENCES[k * 37 % len(SENTENCES) :][:2])
        utterance = synthesize(text, f"{language}+m1/p50/r180")
        assert UNKNOWN_ID not in utterance.phoneme_ids, language
        assert len(set(utterance.phoneme_ids.tolist())) > 10


def test_deterministic_bytes_in_any_order(corpus):
    first = synthesize("Determinism matters, even here.", "en-us+f2/p65/r150")
    synthesize("Something else entirely?", "en-gb-x-rp+m4/p35/r180")
    again = synthesize("Determinism matters, even here.", "en-us+f2/p65/r150")
    assert first.waveform.tobytes() == again.waveform.tobytes()
    np.testing.assert_array_equal(first.phoneme_ids, again.phoneme_ids)
    uncached = EspeakCorpus(cache=False).utterance(3, "en+m2/p50/r180")
    assert corpus.utterance(3, "en+m2/p50/r180").waveform.tobytes() == (uncached.waveform.tobytes())


def test_threads_get_the_same_audio():
    voices = ["en-us+m1/p50/r180", "en+f3/p35/r150", "en-029+m5/p65/r180"]
    expected = [synthesize("Threads share one engine.", v).waveform for v in voices]
    results = [None] * len(voices)

    def render(i):
        results[i] = synthesize("Threads share one engine.", voices[i]).waveform

    threads = [threading.Thread(target=render, args=(i,)) for i in range(len(voices))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_frames_align_with_audio():
    utterance = synthesize(PAUSED_TEXT, "en-us+m3/p50/r180")
    hop = 16000 // 50
    assert utterance.waveform.dtype == np.float32 and utterance.sample_rate == 16000
    assert utterance.phoneme_ids.dtype == np.int32
    assert len(utterance.phoneme_ids) * hop == len(utterance.waveform)
    rms = frame_rms(utterance)
    silent = utterance.phoneme_ids == SILENCE_ID
    spoken = ~silent
    assert silent[1:-1].sum() >= 15  # the pauses at "." and ","
    # Pause frames are quiet; phoneme frames (bar stop closures) carry energy.
    assert rms[silent].mean() < 0.005
    assert np.mean(rms[spoken] > 0.003) > 0.9
    assert rms[np.isin(utterance.phoneme_ids, VOWEL_IDS)].mean() > 0.08
    # Moving the labels by 60 ms puts silence labels on speech.
    for shift in (-3, 3):
        assert rms[np.roll(silent, shift)].mean() > 3 * rms[silent].mean()


def test_frame_multiple_and_downsampling():
    utterance = synthesize("One two three.", "en-us+m1/p50/r180", frame_multiple=4)
    assert len(utterance.phoneme_ids) % 4 == 0
    conditioning = downsample_phonemes(utterance.phoneme_ids, 2)
    np.testing.assert_array_equal(conditioning, utterance.phoneme_ids[::2])
    assert downsample_phonemes(np.arange(10).reshape(2, 5), 2).shape == (2, 3)
    with pytest.raises(ValueError, match="ratio"):
        downsample_phonemes(utterance.phoneme_ids, 0)
    other = synthesize("One two three.", "en-us+m1/p50/r180", sample_rate=24000, frame_rate=75)
    assert len(other.waveform) == len(other.phoneme_ids) * 320
    with pytest.raises(ValueError, match="divide"):
        synthesize("One.", "en-us+m1/p50/r180", sample_rate=16000, frame_rate=60)


def test_voices_are_distinct():
    corpus = EspeakCorpus(cache=False)
    names = corpus.voice_names
    assert len(names) == len(set(names)) == 576
    assert all(Voice.parse(name).name == name for name in names[:50])
    text = SENTENCES[3]
    low = synthesize(text, "en-us+m3/p35/r180").waveform
    high = synthesize(text, "en-us+m3/p65/r180").waveform
    female = synthesize(text, "en-us+f2/p50/r180").waveform
    male = synthesize(text, "en-us+m3/p50/r180").waveform
    assert median_f0(high, 16000) > 1.15 * median_f0(low, 16000)
    assert median_f0(female, 16000) > 1.4 * median_f0(male, 16000)
    slow = synthesize(text, "en-us+m3/p50/r150").waveform
    assert len(slow) > 1.1 * len(male)


def test_splits_are_disjoint_and_cover(corpus):
    pairs = {name: corpus.split(name) for name in SPLITS}
    for name, split_pairs in pairs.items():
        assert len(split_pairs) == 4 * len(corpus.split_sentence_ids(name))
        assert len(set(split_pairs)) == len(split_pairs)
    flat = [pair for split_pairs in pairs.values() for pair in split_pairs]
    assert len(set(flat)) == len(flat)
    train_sentences = set(corpus.split_sentence_ids("train"))
    heldout_sentences = set(corpus.split_sentence_ids("heldout_sentences"))
    assert not train_sentences & heldout_sentences
    assert train_sentences | heldout_sentences == set(range(len(SENTENCES)))
    assert all(i % 10 == 9 for i in heldout_sentences)
    # Tuning sentences come after SENTENCES, are new text, and pair with both voice groups.
    tuning = corpus.split_sentence_ids("tuning")
    assert tuning == corpus.split_sentence_ids("tuning_heldout_voices")
    assert tuning == list(range(len(SENTENCES), len(SENTENCES) + len(TUNING_SENTENCES)))
    assert [corpus.sentences[i] for i in tuning] == list(TUNING_SENTENCES)
    assert not set(TUNING_SENTENCES) & set(SENTENCES) and len(set(TUNING_SENTENCES)) == 24
    train_voices = {v.name for v in corpus.split_voices("train")}
    heldout_voices = {v.name for v in corpus.split_voices("heldout_voices")}
    assert not train_voices & heldout_voices and len(heldout_voices) == 96
    assert {voice for _, voice in pairs["train"]} == train_voices  # all used
    for sentence_id, voice in pairs["heldout_both"]:
        assert sentence_id in heldout_sentences and voice in heldout_voices
    assert {voice for _, voice in pairs["tuning"]} <= train_voices
    assert {voice for _, voice in pairs["tuning_heldout_voices"]} <= heldout_voices
    # At one voice per sentence, tuning voices are not Table 1's (the held-out sentences').
    for tuning_split, test_split in (
        ("tuning", "heldout_sentences"),
        ("tuning_heldout_voices", "heldout_both"),
    ):
        tuning_voices = {v for _, v in corpus.split(tuning_split, voices_per_sentence=1)}
        assert not tuning_voices & {v for _, v in corpus.split(test_split, voices_per_sentence=1)}
    assert len(corpus.split("train", voices_per_sentence=1)) == len(train_sentences)
    with pytest.raises(ValueError, match="Unknown split"):
        corpus.split("validation")


def test_bad_voice_text_and_ids(corpus):
    for voice in ["en-us+zz/p50/r180", "klingon", "en-us+m3/p120/r180", "fr+m3/p50/r180"]:
        with pytest.raises(ValueError, match="Accepted voices.*en-us\\+m3/p50/r180"):
            synthesize("Hello.", voice)
    for text in ["", "   ", "...", None]:
        with pytest.raises(ValueError, match="speak"):
            synthesize(text, "en-us+m3/p50/r180")
    with pytest.raises(ValueError, match="sentence_id"):
        corpus.utterance(len(corpus.sentences), "en-us+m3/p50/r180")
    assert corpus.sentences[len(SENTENCES)] == TUNING_SENTENCES[0]


def test_cache_round_trip_and_recovery(tmp_path):
    corpus = EspeakCorpus(cache_dir=tmp_path)
    pairs = corpus.split("heldout_both")[:2]
    rendered = corpus.utterances(pairs, progress=False)
    files = [os.path.join(root, f) for root, _, names in os.walk(tmp_path) for f in names]
    assert len(files) == 2 and all(f.endswith(".npz") for f in files)  # no temp files
    cached = corpus.utterances(pairs, progress=False)
    for a, b in zip(rendered, cached, strict=True):
        assert a.waveform.tobytes() == b.waveform.tobytes()
        np.testing.assert_array_equal(a.phoneme_ids, b.phoneme_ids)
        assert (b.text, b.voice) == (SENTENCES[a.sentence_id], a.voice)
    with open(files[0], "wb") as f:
        f.write(b"garbage")  # a damaged cache entry is rendered again
    repaired = corpus.utterances(pairs, progress=False)
    for a, b in zip(rendered, repaired, strict=True):
        assert a.waveform.tobytes() == b.waveform.tobytes()
