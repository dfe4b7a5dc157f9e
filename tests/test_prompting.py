"""Voice prompts, prompted generation, the demo and the Table-1 evaluation (tiny presets)."""

import json
import os
import wave

import numpy as np
import pytest

import keras_soundstorm as kss
from keras_soundstorm import cli, demo
from keras_soundstorm.codecs import SoundStream
from keras_soundstorm.data import SENTENCES, EspeakCorpus
from keras_soundstorm.evaluation import aggregate, codec_runner, report, table1
from keras_soundstorm.evaluation.codec_quality import EVALUATION_SPLITS
from keras_soundstorm.evaluation.speaker import cosine_similarity, speaker_embedding
from keras_soundstorm.models.soundstorm import prompting

pytest.importorskip("espeakng_loader")

VOICE = "en-us+m3/p50/r150"


@pytest.fixture(scope="module")
def corpus():
    return EspeakCorpus(frame_multiple=2)


@pytest.fixture(scope="module")
def tiny_presets(tmp_path_factory, corpus):
    """A tiny untrained codec and SoundStorm that fit the corpus, saved as presets."""
    folder = tmp_path_factory.mktemp("presets")
    codec = SoundStream(channels=2, latent_dim=8, num_levels=2, codebook_size=16, seed=0)
    backbone = kss.SoundStormBackbone(
        num_levels=2,
        codebook_size=16,
        conditioning_vocabulary_size=corpus.phoneme_vocabulary_size,
        conditioning_rate_ratio=2,
        hidden_dim=16,
        num_layers=1,
        num_heads=2,
        intermediate_dim=32,
        conv_kernel_size=3,
    )
    model = kss.SoundStorm(backbone, seed=0)
    codec.save_to_preset(str(folder / "codec"), metadata={"training": {"steps": 0}})
    model.save_to_preset(str(folder / "model"), metadata={"training": {"steps": 0}})
    return str(folder / "model"), str(folder / "codec")


def test_voice_prompt_is_exactly_three_seconds_of_other_sentences(corpus):
    prompt = prompting.voice_prompt(corpus, VOICE)
    assert len(prompt.phoneme_ids) == 150
    assert len(prompt.waveform) == 150 * corpus.hop_length
    assert prompt.voice == VOICE
    again = prompting.voice_prompt(corpus, VOICE)
    np.testing.assert_array_equal(prompt.waveform, again.waveform)
    train_ids = set(corpus.split_sentence_ids("train"))
    first = next(i for i in train_ids if corpus.sentences[i] in prompt.text)
    excluded = prompting.voice_prompt(corpus, VOICE, exclude_sentence_ids=[first])
    assert corpus.sentences[first] not in excluded.text
    with pytest.raises(ValueError, match="seconds"):
        prompting.voice_prompt(corpus, VOICE, seconds=0)
    with pytest.raises(ValueError, match="Unknown voice"):
        prompting.voice_prompt(corpus, "en-us+robot/p50/r150")


def test_speak_continues_the_prompt(tiny_presets, corpus):
    model = kss.SoundStorm.from_preset(tiny_presets[0])
    codec = SoundStream.from_preset(tiny_presets[1])
    prompting.check_compatible(model, codec, corpus)
    prompt = prompting.voice_prompt(corpus, VOICE)
    target = corpus.utterance(corpus.split_sentence_ids("heldout_sentences")[0], VOICE)
    result = prompting.speak(model, codec, target.phoneme_ids, prompt=prompt, seed=3)
    assert result.codes.shape == (len(target.phoneme_ids), 2)
    assert result.waveform.shape == target.waveform.shape
    assert result.prompt_waveform.shape == prompt.waveform.shape
    assert result.real_time_factor == pytest.approx(result.seconds * 16000 / len(result.waveform))
    unprompted = prompting.speak(model, codec, target.phoneme_ids, seed=3)
    assert unprompted.prompt_waveform.size == 0
    assert unprompted.codes.shape == result.codes.shape
    with pytest.raises(ValueError, match="multiple of 2"):
        prompting.speak(model, codec, target.phoneme_ids[:-1])


def test_check_compatible_names_every_mismatch(corpus):
    codec = SoundStream(channels=2, latent_dim=8, num_levels=3, codebook_size=16)
    model = kss.SoundStorm(
        kss.SoundStormBackbone(
            num_levels=2,
            codebook_size=16,
            conditioning_vocabulary_size=32,
            conditioning_rate_ratio=2,
            hidden_dim=16,
            num_layers=1,
            num_heads=2,
            intermediate_dim=32,
        )
    )
    with pytest.raises(ValueError, match="levels") as error:
        prompting.check_compatible(model, codec, corpus)
    assert "conditioning vocabulary" in str(error.value)


def test_demo_writes_audio_and_spectrograms(tiny_presets, tmp_path):
    messages = []
    summary = demo.run_demo(
        str(tmp_path),
        model_preset=tiny_presets[0],
        codec_preset=tiny_presets[1],
        print_fn=messages.append,
    )
    for name in ("prompt", "generated", "reference"):
        with wave.open(str(tmp_path / f"{name}.wav")) as file:
            assert file.getframerate() == 16000 and file.getnframes() > 0
    assert os.path.getsize(tmp_path / "spectrograms.png") > 10_000
    assert summary["similarity_reference_to_prompt"] > 0.7  # eSpeak, same voice
    # An untrained model does not speak in the prompt's voice as well as eSpeak does.
    assert summary["similarity_generated_to_prompt"] < summary["similarity_reference_to_prompt"]
    assert any("Real-time factor" in m for m in messages)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--voice", "en-us+robot/p50/r150"], "Unknown voice 'en-us+robot/p50/r150'. "),
        (["--text", "   "], "non-empty English sentence"),
        (["--text", "word " * 200], "takes up to 20 s"),
        (["--model", "/no/such/preset"], "--model '/no/such/preset': no such directory"),
    ],
)
def test_demo_rejects_bad_input_with_a_message(tiny_presets, tmp_path, arguments, message):
    defaults = ["--model", tiny_presets[0], "--codec", tiny_presets[1]]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--output", str(tmp_path), *defaults, *arguments])
    assert message in str(exit_info.value)
    assert "keras-soundstorm demo: error" in str(exit_info.value)


def test_unknown_voice_message_lists_the_voices(tiny_presets, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--voice", "nobody", "--model", tiny_presets[0]])
    assert "en-us" in str(exit_info.value) and "m3" in str(exit_info.value)


def test_timbre_identified_needs_the_own_prompt_nearest_among_other_variants():
    own, twin, other = "en-us+m3/p50/r150", "en-gb-x-rp+m3/p65/r180", "en-us+f2/p50/r150"
    prompts = {own: np.array([1.0, 0.0, 0.0]), twin: np.array([0.0, 1.0, 0.0])}
    prompts[other] = np.array([0.0, 0.0, 1.0])
    # Nearer its own prompt than the other variant's: identified, even though
    # its accent/pitch/rate twin (same variant "m3") is nearer still.
    embedding = np.array([0.5, 0.8, 0.3])
    assert table1.timbre_identified(embedding, own, prompts)
    # Nearer another variant's prompt than its own: not identified.
    assert not table1.timbre_identified(np.array([0.5, 0.1, 0.7]), own, prompts)
    assert not table1.timbre_identified(np.array([0.6, 0.0, 0.6]), own, prompts)  # a tie
    with pytest.raises(ValueError, match="other than"):
        table1.timbre_identified(embedding, own, {own: prompts[own], twin: prompts[twin]})
    with pytest.raises(ValueError, match="No prompt"):
        table1.timbre_identified(embedding, "en-us+m1/p50/r150", prompts)


def test_table1_rows_markdown_and_plot(tiny_presets, corpus, tmp_path):
    rows = table1.run_table1(
        tiny_presets[0],
        tiny_presets[1],
        str(tmp_path),
        num_sentences=1,
        group_size=4,
        asr="pocketsphinx",
    )
    assert [(r["group"], r["system"]) for r in rows] == [
        (group, system) for group in EVALUATION_SPLITS for system in table1.SYSTEMS
    ]
    original = rows[0]
    assert original["mcd_db"] == pytest.approx(0.0, abs=1e-6)
    # eSpeak's rendering against the 3 s eSpeak prompt, embedded here independently.
    split = EVALUATION_SPLITS[original["group"]]
    sentence_id, voice = corpus.split(split, voices_per_sentence=1)[0]
    prompt = prompting.voice_prompt(corpus, voice, exclude_sentence_ids=[sentence_id])
    expected = cosine_similarity(
        speaker_embedding(prompt.waveform, 16000),
        speaker_embedding(corpus.utterance(sentence_id, voice).waveform, 16000),
    )
    assert original["voice_preservation"] == pytest.approx(expected, abs=1e-6)
    assert original["acoustic_consistency"] == original["voice_preservation"]  # same prompt
    originals = {row["group"]: row for row in rows if row["system"] == "original"}
    stored_decoding = kss.SoundStorm.from_preset(tiny_presets[0]).decoding
    for row in rows:
        has_tokens = row["system"].startswith("soundstorm")
        assert (row["level1_accuracy"] is not None) == has_tokens
        assert ("decoding" in row) == has_tokens
        if has_tokens:
            assert row["decoding"] == stored_decoding
        if has_tokens:  # an untrained model does not keep the voice as eSpeak does
            assert row["voice_preservation"] < originals[row["group"]]["voice_preservation"]
        assert row["timbre_identified"] in (0.0, 1.0)  # one utterance
        assert (row["lm_group_size"], row["corpus_lm_sentences"]) == (4, 1)
        for suffix in ("", "_corpus_lm"):
            assert len(row[f"word_errors{suffix}"]) == row["num_utterances"]
            errors, words = np.sum(row[f"word_errors{suffix}"], axis=0)
            assert row[f"wer{suffix}"] == pytest.approx(errors / words)
    # eSpeak's rendering is nearer its own prompt than the other group's
    # voice (another variant, by the held-out rule).
    assert all(row["timbre_identified"] == 1.0 for row in originals.values())
    assert json.loads((tmp_path / "table1.json").read_text()) == rows
    markdown = (tmp_path / "table1.md").read_text()
    assert "| held-out voices | soundstorm, 3 s prompt |" in markdown
    assert "| timbre identified |" in markdown
    assert "WER (4-sentence LM) | WER (1-sentence LM) |" in markdown
    assert "Decoding: steps_per_level=None, temperature=1.0," in markdown
    assert "target >= 0.9" in markdown and "eSpeak's own WER" in markdown
    assert os.path.getsize(tmp_path / "table1.png") > 10_000


def test_table1_with_whisper_has_intervals_and_resumes(tiny_presets, corpus, tmp_path):
    pytest.importorskip("faster_whisper", reason="the evaluation extra is not installed")
    from keras_soundstorm.evaluation.whisper_asr import WhisperRecognizer

    model = kss.SoundStorm.from_preset(tiny_presets[0])
    codec = SoundStream.from_preset(tiny_presets[1])
    kwargs = dict(num_sentences=2, recognizer=WhisperRecognizer("tiny.en"), progress=False)
    cache = tmp_path / "cache"
    rows = table1.evaluate_table1(model, codec, corpus, cache_dir=str(cache), **kwargs)
    assert [(r["group"], r["system"]) for r in rows] == [
        (group, system) for group in EVALUATION_SPLITS for system in table1.SYSTEMS
    ]
    for row in rows:
        assert row["asr"] == "whisper" and row["num_utterances"] == 2
        assert "wer_corpus_lm" not in row and len(row["transcripts"]) == 2
        errors, words = np.sum(row["word_errors"], axis=0)
        assert row["wer"] == pytest.approx(errors / words)
        for key in ("wer", *table1.INTERVAL_KEYS):
            low, high = row[f"{key}_interval"]
            assert low - 1e-9 <= row[key] <= high + 1e-9
        assert 1.0 <= row["dnsmos_ovrl"] <= 5.0

    # Whisper hears eSpeak's sentences (tiny.en misreads ~45% of their words, see
    # docs/whisper_validation.md) far better than an untrained model's noise.
    def pooled(system):
        pairs = [p for row in rows if row["system"] == system for p in row["word_errors"]]
        return aggregate.pooled_wer(pairs)

    assert pooled("original") < 0.8
    assert pooled("original") < pooled("soundstorm, no prompt")
    assert len(os.listdir(cache / "utterances")) == 4  # 2 sentences x 2 voice groups
    # Resume: a cached utterance is read back, not recomputed (a marked entry shows it).
    first = sorted((cache / "utterances").iterdir())[0]
    record = json.loads(first.read_text())
    record["original"]["word_errors"] = [77, record["original"]["word_errors"][1]]
    first.write_text(json.dumps(record))
    again = table1.evaluate_table1(model, codec, corpus, cache_dir=str(cache), **kwargs)
    assert any(e == 77 for row in again for e, _ in row["word_errors"])
    # The rows of a run cut short, from its cache alone.
    cached = table1.table1_rows_from_cache(str(cache), model.decoding)
    assert [(r["group"], r["system"], r["num_utterances"]) for r in cached] == [
        (r["group"], r["system"], r["num_utterances"]) for r in again
    ]
    assert [r["wer"] for r in cached] == pytest.approx([r["wer"] for r in again])
    assert [r["dnsmos_ovrl"] for r in cached] == pytest.approx([r["dnsmos_ovrl"] for r in again])
    with pytest.raises(ValueError, match="other settings"):
        table1.evaluate_table1(model, codec, corpus, cache_dir=str(cache), seed=1, **kwargs)
    markdown = report.table1_markdown(rows)
    assert "| WER (Whisper base) | DNSMOS OVRL |" in markdown and "95% bootstrap" in markdown
    assert "WER with prompt / codec" in report.table1_checks(rows)
    report.plot_table1(rows, str(tmp_path / "table1.png"))
    assert os.path.getsize(tmp_path / "table1.png") > 10_000
    with pytest.raises(ValueError, match="asr"):
        table1.evaluate_table1(model, codec, corpus, asr="vosk")


def test_wer_ratio_interval_is_a_paired_bootstrap():
    codec = [(1, 10), (2, 8), (0, 5), (3, 12), (1, 9)]
    doubled = [(2 * e, w) for e, w in codec]
    assert aggregate.wer_ratio_interval(doubled, codec) == pytest.approx((2.0, 2.0))
    rng = np.random.default_rng(0)
    noisy = [(int(rng.integers(0, 5)), w) for _, w in codec]
    low, high = aggregate.wer_ratio_interval(noisy, codec)
    point = sum(e for e, _ in noisy) / sum(e for e, _ in codec)
    assert low < point < high
    assert aggregate.wer_ratio_interval(noisy, codec) == (low, high)  # seeded
    narrower = aggregate.wer_ratio_interval(noisy, codec, level=0.5)
    assert low <= narrower[0] <= narrower[1] <= high
    assert np.isnan(aggregate.wer_ratio_interval(noisy, [(0, w) for _, w in codec])[0])


@pytest.mark.parametrize(
    "errors, reference, level, match",
    [
        ([(1, 2)], [(1, 2), (0, 3)], 0.95, "equally long"),
        ([1, 2], [1, 2], 0.95, "pairs"),
        ([(1, 2)], [(1, 2)], 1.5, "level"),
    ],
)
def test_wer_ratio_interval_rejects_bad_input(errors, reference, level, match):
    with pytest.raises(ValueError, match=match):
        aggregate.wer_ratio_interval(errors, reference, level=level)


def test_table1_checks_quote_the_interval_when_rows_have_word_errors():
    def row(system, wer, word_errors=None, wer_corpus_lm=None):
        return {
            "group": "g",
            "system": system,
            "voice_preservation": 0.8,
            "timbre_identified": 0.5,
            "wer": wer,
            **({"word_errors": word_errors} if word_errors else {}),
            **({"wer_corpus_lm": wer_corpus_lm} if wer_corpus_lm else {}),
        }

    codec = [(1, 10), (2, 10)]
    rows = [
        row("original", 0.05),
        row("codec", 0.15, codec, 0.3),
        row("soundstorm, no prompt", 0.3),
        row("soundstorm, 3 s prompt", 0.3, [(2, 10), (4, 10)], 0.45),
    ]
    checks = report.table1_checks(rows)
    assert (
        "WER with prompt / codec = 2.00 (95% bootstrap interval over sentences 2.00-2.00) "
        "(target <= 1.5; eSpeak's own WER 5.0%" in checks
    )
    assert "with the corpus-wide language model: 1.50." in checks
    assert "timbre identified with prompt / codec = 1.00" in checks
    rows[1].pop("word_errors")  # rows recorded before the per-utterance errors existed
    assert "WER with prompt / codec = 2.00 (target <= 1.5;" in report.table1_checks(rows)


def test_codec_evaluation_covers_every_bitrate(tiny_presets, tmp_path):
    rows = codec_runner.run_codec_evaluation(tiny_presets[1], str(tmp_path), num_sentences=1)
    assert [(r["group"], r["num_levels"]) for r in rows] == [
        (g, k) for g in EVALUATION_SPLITS for k in (1, 2)
    ]
    assert rows[1]["bitrate_bps"] == 2 * 4 * 50
    assert "| training voices | 2 | 0.4 kbps |" in (tmp_path / "codec.md").read_text()
    assert os.path.getsize(tmp_path / "codec.png") > 10_000


def test_decoding_sweep_scores_resumes_and_chooses(tiny_presets, corpus, tmp_path, monkeypatch):
    from keras_soundstorm.evaluation import decoding_sweep
    from keras_soundstorm.models.soundstorm.decoding_settings import DECODING_DEFAULTS

    model, codec, _ = table1.load_for_evaluation(*tiny_presets)
    model.set_decoding(top_k=4)  # stored settings must not leak into a sweep point
    spoken = []
    real_speak = prompting.speak

    def speak(model, codec, phoneme_ids, prompt=None, seed=0, **kwargs):
        spoken.append(dict(model.decoding))
        return real_speak(model, codec, phoneme_ids, prompt=prompt, seed=seed, **kwargs)

    monkeypatch.setattr(prompting, "speak", speak)
    used = []
    real_utterance = corpus.utterance
    monkeypatch.setattr(
        corpus, "utterance", lambda i, v: used.append((i, v)) or real_utterance(i, v)
    )
    settings = [{"temperature": 1.0}, {"temperature": 0.5, "top_k": 3}]
    cache = str(tmp_path / "rows.json")
    sweep = dict(num_sentences=1, group_size=4, cache_path=cache, asr="pocketsphinx")
    rows = decoding_sweep.sweep_decoding(model, codec, corpus, settings, **sweep)
    groups = list(decoding_sweep.TUNING_SPLITS)
    names = ["codec", "temperature=1.0", "temperature=0.5, top_k=3"]
    assert [(r["group"], r["setting"]) for r in rows] == [(g, n) for n in names for g in groups]
    # Every point is its settings over the package defaults, not over the stored top_k=4.
    assert [(d["temperature"], d["top_k"]) for d in spoken] == [(1.0, None)] * 2 + [(0.5, 3)] * 2
    assert rows[2]["decoding"] == {**DECODING_DEFAULTS, "temperature": 1.0}
    assert model.decoding["top_k"] == 4  # restored
    # Utterances are tuning sentences (ids after SENTENCES) in both voice groups;
    # prompts are training sentences; no held-out (Table 1) sentence is used.
    targets = [(i, v) for i, v in used if i not in set(corpus.split_sentence_ids("train"))]
    assert {i for i, _ in targets} == {len(SENTENCES)}
    assert {v.split("+")[1][:2] in ("m7", "f5") for _, v in targets} == {False, True}
    assert not {i for i, _ in used} & set(corpus.split_sentence_ids("heldout_sentences"))
    for row in rows:
        errors, words = np.sum(row["word_errors"], axis=0)
        assert row["num_utterances"] == 1 and row["wer"] == pytest.approx(errors / words)
        assert -1 <= row["voice_preservation"] <= 1 and row["timbre_identified"] in (0.0, 1.0)
    # A rerun reads finished points from the cache and computes none of them again.
    monkeypatch.setattr(prompting, "speak", lambda *a, **k: pytest.fail("regenerated"))
    monkeypatch.setattr(codec, "decode", lambda *a, **k: pytest.fail("decoded again"))
    again = decoding_sweep.sweep_decoding(model, codec, corpus, settings, **sweep)
    assert again == json.loads(json.dumps(rows))
    # A cache of other utterances (or model, seed, ...) is refused, not reused.
    with pytest.raises(ValueError, match="other.*utterances.*delete it"):
        decoding_sweep.sweep_decoding(
            model, codec, corpus, settings, **{**sweep, "num_sentences": 2}
        )
    decoding_sweep.plot_guidance_sweep(rows, str(tmp_path / "sweep.png"))
    assert (tmp_path / "sweep.png").stat().st_size > 1000
    assert "| held-out voices | codec |" in decoding_sweep.sweep_markdown(rows)
    with pytest.raises(ValueError, match="guidance_scale.*conditioning dropout"):
        decoding_sweep.sweep_decoding(model, codec, corpus, [{"guidance_scale": 1.0}])
    with pytest.raises(ValueError, match="Unknown decoding settings"):
        decoding_sweep.sweep_decoding(model, codec, corpus, [{"temprature": 1.0}])


def _sweep_row(group, setting, wer, preservation, timbre, decoding=None):
    errors = [[round(wer * 10), 10]]
    return {
        "group": group,
        "setting": setting,
        "decoding": decoding if decoding is not None else {"guidance_scale": float(setting)},
        "wer": wer,
        "word_errors": errors,
        "voice_preservation": preservation,
        "timbre_identified": timbre,
    }


def test_choose_decoding_takes_lowest_wer_that_keeps_the_voice():
    from keras_soundstorm.evaluation.decoding_sweep import choose_decoding

    rows = [
        _sweep_row(group, *values)
        for group in ("training voices", "held-out voices")
        for values in (("codec", 0.1, 0.85, 0.6, {}), ("0", 0.4, 0.84, 0.5), ("1", 0.2, 0.83, 0.5))
    ]
    assert choose_decoding(rows) == ("1", {"guidance_scale": 1.0})
    # Guidance that halves the WER but loses the voice in one group is not eligible.
    rows.append(_sweep_row("training voices", "3", 0.1, 0.83, 0.5))
    rows.append(_sweep_row("held-out voices", "3", 0.1, 0.70, 0.5))
    assert choose_decoding(rows)[0] == "1"
    rows[-1]["voice_preservation"] = 0.80
    rows[-1]["timbre_identified"] = 0.2  # keeps the voice's similarity, loses its timbre
    assert choose_decoding(rows)[0] == "1"
    rows[-1]["timbre_identified"] = 0.5
    assert choose_decoding(rows)[0] == "3"
    # When nothing keeps the voice, the best mean voice preservation wins.
    for row in rows:
        if row["setting"] != "codec":
            row["timbre_identified"] = {"0": 0.9, "1": 0.1, "3": 0.1}[row["setting"]]
            row["voice_preservation"] = {"0": 0.5, "1": 0.9, "3": 0.8}[row["setting"]]
    assert choose_decoding(rows)[0] == "1"
    with pytest.raises(ValueError, match="no decoding setting"):
        choose_decoding([r for r in rows if r["setting"] == "codec"])


def test_set_decoding_is_saved_with_the_preset(tiny_presets, tmp_path):
    model = kss.SoundStorm.from_preset(tiny_presets[0])
    model.set_decoding(temperature=0.7, top_k=5)
    assert model.decoding["temperature"] == 0.7 and model.decoding["top_k"] == 5
    model.set_decoding(temperature=0.9)  # other settings keep their values
    assert model.decoding["top_k"] == 5
    model.save_to_preset(str(tmp_path / "tuned"))
    loaded = kss.SoundStorm.from_preset(str(tmp_path / "tuned"))
    assert loaded.decoding == model.decoding
    with pytest.raises(ValueError, match="top_k"):
        model.set_decoding(top_k=0)
    assert model.decoding["top_k"] == 5  # a refused change changes nothing


def test_tune_decoding_script_stores_the_choice_in_the_preset(tiny_presets, tmp_path):
    import shutil
    import subprocess
    import sys

    preset = str(tmp_path / "model")
    shutil.copytree(tiny_presets[0], preset)
    script = os.path.join(os.path.dirname(__file__), "..", "examples", "tune_decoding.py")
    output = str(tmp_path / "sweep")
    command = [sys.executable, script, "--model", preset, "--codec", tiny_presets[1]]
    command += ["--output", output, "--temperatures", "1.0,0.5", "--top-ks", "4"]
    command += ["--steps-per-level", "none/2,1"]
    command += ["--num-sentences", "1", "--write-preset"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads((tmp_path / "sweep" / "sweep_rows.json").read_text())["rows"]
    assert len(rows) == 2 * (1 + 4)  # the codec and 2 x 2 settings, per voice group
    schedules = {str(row["decoding"] and row["decoding"]["steps_per_level"]) for row in rows}
    assert schedules == {"None", "[2, 1]"}
    metadata = json.loads((tmp_path / "model" / "metadata.json").read_text())
    sweep = metadata["decoding_sweep"]
    assert metadata["training"] == {"steps": 0}  # kept
    assert "--temperatures 1.0,0.5" in sweep["command"]
    chosen = next(r for r in sweep["rows"] if r["setting"] == sweep["chosen"])
    loaded = kss.SoundStorm.from_preset(preset)
    for key, value in chosen["decoding"].items():
        assert loaded.decoding[key] == value
    assert (tmp_path / "sweep" / "decoding_sweep.png").stat().st_size > 1000
    markdown = (tmp_path / "sweep" / "decoding_sweep.md").read_text()
    assert f"{sweep['chosen']} **(chosen)**" in markdown
