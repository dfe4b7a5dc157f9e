"""Whisper WER, text normalisation, DNSMOS, test-set reading and `evaluate_test_set`."""

import json
import os

import numpy as np
import pytest
from conftest import TINY

import keras_soundstorm as kss
from keras_soundstorm import audio
from keras_soundstorm.data import PHONEME_INVENTORY, synthesize
from keras_soundstorm.evaluation import (
    WhisperRecognizer,
    dnsmos,
    evaluate_test_set,
    normalize_english,
    read_test_set,
    whisper_word_error_rate,
    whisper_word_errors,
)

pytest.importorskip("faster_whisper", reason="the evaluation extra is not installed")

VOICE = "en-us+m3/p50/r150"
SENTENCES = {
    "spk_a": ["The sun rose slowly over the quiet hills.", "Could you pass me the salt, please?"],
    "spk_b": ["I left my umbrella on the train.", "The children built a castle of sand."],
}
SPEAKER_VOICES = {"spk_a": "en-us+m3/p50/r170", "spk_b": "en-us+f2/p50/r170"}


@pytest.fixture(scope="module")
def recognizer():
    """The lighter model, for tests that do not judge the recognizer itself."""
    return WhisperRecognizer("tiny.en")


# --- Normalisation -----------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Mr. Smith paid $20, didn't he?", "mister smith paid $20 did not he"),
        ("It's twenty-one degrees.", "it is 21 degrees"),
        ("two hundred and five", "205"),
        ("a hundred and first", "a 101st"),
        ("nineteen sixty", "1960"),
        ("one oh one", "101"),
        ("three point one four", "3.14"),
        ("two and a half", "2.5"),
        ("the twenty first century", "the 21st century"),
        ("the twelfth night", "the 12th night"),
        ("the nineties", "the 90s"),
        ("double seven", "77"),
        ("fifty per cent", "50%"),
        ("five dollars and twenty cents", "$5.20"),
        ("$20 million", "$20000000"),
        ("1,000 people", "1000 people"),
        ("twelve thousand three hundred forty five", "12345"),
        ("one day", "one day"),
        ("Oh, I see.", "oh i see"),
        ("[music] Hello (laughs) um THERE!", "hello there"),
        ("Café Olé", "cafe ole"),
        ("The colour grey", "the color gray"),
        ("I'm here; we're there, won't you?", "i am here we are there will not you"),
        ("minus five", "-5"),
    ],
)
def test_normalize_english(text, expected):
    assert normalize_english(text) == expected


def test_normalisation_makes_spelling_conventions_no_error():
    assert whisper_word_errors("He paid twenty-one dollars.", "he paid $21") == (0, 3)
    assert whisper_word_errors("It is ten percent", "It's 10%.") == (0, 3)
    assert whisper_word_errors("the cat sat", "the hat sat down") == (2, 3)
    assert whisper_word_error_rate(["a b c d", "e f"], ["a b x d", "e f"]) == pytest.approx(1 / 6)
    with pytest.raises(ValueError, match="text"):
        normalize_english(3)


# --- Recognizer and MOS ------------------------------------------------------


def test_whisper_transcribes_an_espeak_sentence():
    recognizer = WhisperRecognizer()  # the default, Whisper base
    text = "I left my umbrella on the train this morning."
    utterance = synthesize(text, VOICE, sample_rate=22050, frame_rate=50)
    heard = recognizer.transcribe(utterance.waveform, 22050)
    assert normalize_english(heard) == normalize_english(text)
    batch = recognizer.transcribe_batch([utterance.waveform], 22050)
    assert batch == [heard]
    with pytest.raises(ValueError, match="model"):
        WhisperRecognizer("large")


def test_dnsmos_scores_clean_speech_above_noisy_speech():
    clean = synthesize("The children built a castle out of wet sand.", VOICE).waveform
    noise = np.random.default_rng(0).standard_normal(len(clean))
    noisy = np.clip(clean + 0.05 * noise, -1, 1)
    clean_scores, noisy_scores = dnsmos(clean, 16000), dnsmos(noisy, 16000)
    assert set(clean_scores) == {"sig", "bak", "ovrl", "p808"}
    assert clean_scores["ovrl"] > noisy_scores["ovrl"] + 0.2
    assert clean_scores["bak"] > noisy_scores["bak"] + 0.5
    with pytest.raises(ValueError, match="silent"):
        dnsmos(np.zeros(16000), 16000)


# --- Test sets ---------------------------------------------------------------


def _write_plain(folder, speakers=SENTENCES):
    for speaker, texts in speakers.items():
        os.makedirs(folder / speaker, exist_ok=True)
        for k, text in enumerate(texts):
            waveform = synthesize(text, SPEAKER_VOICES[speaker]).waveform
            audio.save(str(folder / speaker / f"u{k}.wav"), waveform, 16000)
            (folder / speaker / f"u{k}.txt").write_text(text + "\n")
    return folder


def _write_librispeech(folder):
    import soundfile

    for number, (speaker, texts) in enumerate(SENTENCES.items()):
        chapter = folder / str(100 + number) / "7"
        os.makedirs(chapter)
        lines = []
        for k, text in enumerate(texts):
            utterance_id = f"{100 + number}-7-{k:04d}"
            waveform = synthesize(text, SPEAKER_VOICES[speaker]).waveform
            soundfile.write(str(chapter / f"{utterance_id}.flac"), waveform, 16000)
            lines.append(f"{utterance_id} {text.upper().rstrip('.?')}")
        (chapter / f"{100 + number}-7.trans.txt").write_text("\n".join(lines) + "\n")
    return folder


def test_read_test_set_in_both_layouts(tmp_path):
    plain = read_test_set(_write_plain(tmp_path / "plain"))
    assert [u.utterance_id for u in plain] == ["spk_a/u0", "spk_a/u1", "spk_b/u0", "spk_b/u1"]
    assert [u.speaker for u in plain] == ["spk_a", "spk_a", "spk_b", "spk_b"]
    assert plain[1].text == SENTENCES["spk_a"][1]
    libri = read_test_set(_write_librispeech(tmp_path / "libri"))
    assert [u.speaker for u in libri] == ["100", "100", "101", "101"]
    assert libri[0].path.endswith("100-7-0000.flac")
    assert libri[0].text == "THE SUN ROSE SLOWLY OVER THE QUIET HILLS"
    waveform = kss.evaluation.load_test_audio(libri[0], 8000)
    assert waveform.dtype == np.float32 and abs(len(waveform) - len(
        synthesize(SENTENCES["spk_a"][0], SPEAKER_VOICES["spk_a"]).waveform
    ) / 2) <= 1  # fmt: skip


def _tiny_espeak_pair():
    codec = kss.codecs.SoundStream(
        channels=4, latent_dim=8, strides=(8, 16), num_levels=2, codebook_size=16,
        dilations=(1,), fft_sizes=(32,), seed=0,
    )  # fmt: skip
    config = {**TINY, "num_levels": 2, "codebook_size": 16}
    config["conditioning_vocabulary_size"] = len(PHONEME_INVENTORY)
    return kss.SoundStorm(kss.SoundStormBackbone(**config)), codec


@pytest.fixture(scope="module")
def espeak_pair():
    return _tiny_espeak_pair()


def _tiny_semantic_pair():
    codec = kss.codecs.SpeechTokenizer(
        filters=4, latent_dim=8, semantic_dim=8, strides=(8, 16), num_levels=3, codebook_size=16,
        lstm_layers=1,
    )  # fmt: skip
    config = {**TINY, "num_levels": 2, "codebook_size": 16}
    config.update(conditioning_vocabulary_size=16, conditioning_rate_ratio=1)
    return kss.SoundStorm(kss.SoundStormBackbone(**config)), codec


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda d: d, "is not a directory"),
        (lambda d: (os.makedirs(d / "x"), d)[1], "No transcripts found"),
        (lambda d: _broken_audio(d), "Cannot read audio"),
        (lambda d: _write_plain(d, {"spk_a": SENTENCES["spk_a"][:1]}), "only one utterance"),
        (lambda d: _missing_flac(d), "no 1-2-0001.flac"),
    ],
)
def test_bad_test_sets_give_one_clear_error(tmp_path, make, expected, recognizer, espeak_pair):
    model, codec = espeak_pair
    folder = make(tmp_path / "set")
    with pytest.raises(ValueError, match=expected) as error:
        evaluate_test_set(model, codec, folder, tmp_path / "out", recognizer=recognizer)
    assert "\n" not in str(error.value)


def _broken_audio(folder):
    os.makedirs(folder / "spk")
    for k in range(2):
        (folder / "spk" / f"u{k}.wav").write_bytes(b"RIFF....WAVEnot really audio")
        (folder / "spk" / f"u{k}.txt").write_text("hello there")
    return folder


def _missing_flac(folder):
    os.makedirs(folder / "1" / "2")
    (folder / "1" / "2" / "1-2.trans.txt").write_text("1-2-0001 HELLO THERE\n")
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["plain", "librispeech"])
def test_evaluate_test_set_end_to_end_and_resume(tmp_path, layout, recognizer):
    folder = (_write_plain if layout == "plain" else _write_librispeech)(tmp_path / "set")
    model, codec = _tiny_espeak_pair() if layout == "plain" else _tiny_semantic_pair()
    output = tmp_path / "out"
    kwargs = dict(prompt_seconds=1.0, recognizer=recognizer, num_resamples=200, progress=False)
    rows = evaluate_test_set(model, codec, folder, output, max_utterances=2, **kwargs)
    assert [row["system"] for row in rows] == list(kss.evaluation.test_set_systems.SYSTEMS)
    for row in rows:
        assert row["num_utterances"] == 2 and len(row["word_errors"]) == 2
        assert row["wer_interval"][0] <= row["wer"] <= row["wer_interval"][1]
        for key in ("dnsmos_ovrl", "voice_preservation", "acoustic_consistency"):
            if row[key] is not None:
                low, high = row[f"{key}_interval"]
                assert low - 1e-9 <= row[key] <= high + 1e-9
    original = rows[0]
    assert original["wer"] < 0.5  # Whisper hears eSpeak's own rendering
    assert original["voice_preservation"] > 0.6
    assert original["dnsmos_ovrl"] > 1.5
    for name in ("test_set.md", "test_set.json", "test_set.png", "settings.json"):
        assert (output / name).is_file()
    assert json.loads((output / "test_set.json").read_text()) == rows
    cached = sorted(os.listdir(output / "utterances"))
    assert len(cached) == 2

    # Resume: cached utterances are read back, not recomputed (a marked cache entry shows it).
    first = output / "utterances" / cached[0]
    record = json.loads(first.read_text())
    record["systems"]["original"]["word_errors"] = [
        99,
        record["systems"]["original"]["word_errors"][1],
    ]
    first.write_text(json.dumps(record))
    again = evaluate_test_set(model, codec, folder, output, max_utterances=2, **kwargs)
    assert again[0]["word_errors"][0][0] == 99 or any(e == 99 for e, _ in again[0]["word_errors"])
    assert again[1:] == rows[1:]
    with pytest.raises(ValueError, match="other settings"):
        evaluate_test_set(model, codec, folder, output, max_utterances=2, seed=1, **kwargs)
