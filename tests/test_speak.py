"""`kss.pipelines.speak` and `dialogue` end to end with tiny random models of the converted chain.

A tiny TextToSemantic (USLM's AR architecture), a tiny SoundStorm with the
converted checkpoint's options and a tiny SpeechTokenizer-like codec with
random weights; the symbol table is made from the test sentences' own
phonemes. Random weights check the mechanics: lengths, the prompt removed,
pieces continuing each other, turn order and times, seeds.
"""

import json
import re

import numpy as np
import pytest

import keras_soundstorm as kss
from keras_soundstorm import audio, cli, pipelines
from keras_soundstorm.codecs import SpeechTokenizer
from keras_soundstorm.text import SymbolTable, TextFrontend, text_to_symbols

RATE, HOP = 16000, 20  # 800 Hz frames
PROMPT_TEXT = "This is my voice."
TEXTS = [
    PROMPT_TEXT, "Hello there.", "How are you today?", "Fine, thanks!", "Good morning, Bob.",
    "I am Alice.",
]  # fmt: skip
OPTIONS = dict(
    prompt_seconds=0.01,
    window_seconds=0.05,
    max_piece_symbols=200,
    progress=False,
    steps_per_level=(2, 1),
)


def _random_weights(model, seed):
    rng = np.random.default_rng(seed)
    for variable in model.variables:
        if variable.dtype.startswith("float"):
            variable.assign(rng.normal(0.0, 0.3, variable.shape).astype("float32"))


@pytest.fixture(scope="module")
def table():
    symbols = sorted({s for text in TEXTS for s in text_to_symbols(text)})
    return SymbolTable({symbol: index for index, symbol in enumerate(symbols)})


@pytest.fixture(scope="module")
def chain(table):
    backbone = kss.TextToSemanticBackbone(
        **{**kss.TEXT_TO_SEMANTIC_CONFIGS["tiny"], "text_vocabulary_size": 64}
    )
    text_to_semantic = kss.TextToSemantic(backbone, symbol_table=table)
    codec = SpeechTokenizer(
        sample_rate=RATE, channels=4, latent_dim=16, semantic_dim=8, strides=(5, 4),
        num_levels=3, codebook_size=32, lstm_layers=1,
    )  # fmt: skip
    _random_weights(codec, 0)
    soundstorm = kss.SoundStormBackbone(
        num_levels=2, codebook_size=32, conditioning_vocabulary_size=32,
        conditioning_rate_ratio=1, hidden_dim=16, num_layers=1, num_heads=2,
        intermediate_dim=32, conv_kernel_size=4, conv_expansion_factor=2,
        conv_norm_type="channel_norm", attention_bias=False, even_kernel_padding="left",
    )  # fmt: skip
    model = kss.SoundStorm(soundstorm, head_projection=True)
    return text_to_semantic, model, codec, TextFrontend(table)


def _voice(seconds=0.05, rate=RATE, seed=3):
    return (0.3 * np.random.default_rng(seed).normal(size=int(seconds * rate))).astype("float32")


def _expected_semantic(text_to_semantic, frontend, context_text, text, prompt, seed):
    tokens = text_to_semantic.generate(
        frontend(context_text + " " + text), prompt_semantic=prompt, seed=seed
    )
    tokens = np.asarray(tokens)
    return tokens[: np.argmax(tokens < 0) if (tokens < 0).any() else len(tokens)]


@pytest.mark.slow
def test_speak_removes_the_prompt_and_is_reproducible(chain):
    text_to_semantic, model, codec, frontend = chain
    voice = _voice(rate=8000)  # any rate in: resampled to the codec's
    result = pipelines.speak(
        text_to_semantic, model, codec, "Hello there.", voice, PROMPT_TEXT, prompt_rate=8000,
        seed=5, **OPTIONS,
    )  # fmt: skip
    frames = len(result.codes)
    assert frames > 0 and result.sample_rate == RATE
    assert result.waveform.shape == (frames * HOP,) == (result.num_samples,)
    assert result.pieces == [{"text": "Hello there.", "start": 0, "end": frames}]
    # The codes are the new text's only: the text-to-semantic model's continuation of the prompt.
    prompt = pipelines.speech.Speaker(text_to_semantic, model, codec, 0.01, 0.05).voice(
        voice, PROMPT_TEXT, 8000
    )
    expected = _expected_semantic(
        text_to_semantic, frontend, PROMPT_TEXT, "Hello there.", prompt.codes[:, 0], 5
    )
    np.testing.assert_array_equal(result.codes[:, 0], expected)
    assert result.codes[:, 1:].min() >= 0 and result.codes.max() < 32
    again = pipelines.speak(
        text_to_semantic, model, codec, "Hello there.", voice, PROMPT_TEXT, prompt_rate=8000,
        seed=5, **OPTIONS,
    )  # fmt: skip
    np.testing.assert_array_equal(again.codes, result.codes)
    np.testing.assert_array_equal(again.waveform, result.waveform)
    other = pipelines.speak(
        text_to_semantic, model, codec, "Hello there.", voice, PROMPT_TEXT, prompt_rate=8000,
        seed=6, **OPTIONS,
    )  # fmt: skip
    assert other.codes.shape != result.codes.shape or (other.codes != result.codes).any()


@pytest.mark.slow
def test_long_text_is_split_at_sentences_and_pieces_continue(chain):
    text_to_semantic, model, codec, frontend = chain
    text = "Hello there. How are you today? Fine, thanks!"
    options = {**OPTIONS, "max_piece_symbols": 20}
    result = pipelines.speak(
        text_to_semantic, model, codec, text, _voice(), PROMPT_TEXT, seed=1, **options
    )
    texts = [piece["text"] for piece in result.pieces]
    assert texts == ["Hello there.", "How are you today?", "Fine, thanks!"]
    assert [p["start"] for p in result.pieces[1:]] == [p["end"] for p in result.pieces[:-1]]
    assert result.pieces[-1]["end"] == len(result.codes)
    assert result.waveform.shape == (len(result.codes) * HOP,)
    first, second = result.pieces[0], result.pieces[1]
    assert first["end"] > 0
    # Piece 2 continues piece 1: its text and semantic tokens are the prompt.
    expected = _expected_semantic(
        text_to_semantic, frontend, first["text"], second["text"],
        result.codes[first["start"] : first["end"], 0], 2,
    )  # fmt: skip
    np.testing.assert_array_equal(result.codes[second["start"] : second["end"], 0], expected)


def test_split_text_groups_sentences_within_the_budget(table):
    frontend = TextFrontend(table)
    text = "Hello there. How are you today? Fine, thanks!"
    assert pipelines.split_text(text, frontend, 1000) == [text]
    assert pipelines.split_text(text, frontend, 20) == [
        "Hello there.", "How are you today?", "Fine, thanks!",
    ]  # fmt: skip
    # A sentence over the budget is split at its comma.
    assert pipelines.split_text("Fine, thanks!", frontend, 5) == ["Fine,", "thanks!"]
    assert pipelines.split_text("Hello there. ... !", frontend, 100) == ["Hello there."]


@pytest.mark.slow
def test_dialogue_turns_in_order_with_times(chain):
    text_to_semantic, model, codec, _ = chain
    speakers = {
        "A": (_voice(seed=1), RATE, PROMPT_TEXT),
        "B": (_voice(seed=2), RATE, "I am Alice."),
    }
    script = "A: Hello there.\n\n# a comment\nB: Good morning, Bob.\nA: Fine, thanks!\n"
    result = pipelines.dialogue(
        text_to_semantic, model, codec, script, speakers, pause_seconds=0.01, seed=4, **OPTIONS
    )
    turns = result.turns
    assert [(t["speaker"], t["text"]) for t in turns] == [
        ("A", "Hello there."), ("B", "Good morning, Bob."), ("A", "Fine, thanks!"),
    ]  # fmt: skip
    assert turns[0]["start"] == 0.0
    for previous, turn in zip(turns, turns[1:]):
        assert turn["start"] == pytest.approx(previous["end"] + 0.01)
    assert turns[-1]["end"] == pytest.approx(len(result.waveform) / RATE)
    # Each turn's audio is that speaker's speech: the turn spoken alone gives the same samples.
    alone = pipelines.speak(
        text_to_semantic, model, codec, "Good morning, Bob.", _voice(seed=2), "I am Alice.",
        seed=4 + 1000, **OPTIONS,
    )  # fmt: skip
    start = int(round(turns[1]["start"] * RATE))
    turn = result.waveform[start : start + alone.num_samples]
    # Same codes; TensorFlow's oneDNN kernels may round the decoded floats differently.
    np.testing.assert_allclose(turn, alone.waveform, rtol=0, atol=1e-5 * np.abs(turn).max())
    again = pipelines.dialogue(
        text_to_semantic, model, codec, script, speakers, pause_seconds=0.01, seed=4, **OPTIONS
    )
    np.testing.assert_array_equal(again.waveform, result.waveform)


@pytest.mark.parametrize(
    "text, prompt_text, match",
    [
        ("", PROMPT_TEXT, "`text` must be a non-empty string"),
        ("   ", PROMPT_TEXT, "`text` must be a non-empty string"),
        ("?! ...", PROMPT_TEXT, "nothing speakable"),
        ("Hello there.", "", "needs its transcript"),
        ("Hello there.", None, "needs its transcript"),
    ],
)
def test_speak_refuses_bad_inputs(chain, text, prompt_text, match):
    text_to_semantic, model, codec, _ = chain
    with pytest.raises(ValueError, match=match):
        pipelines.speak(text_to_semantic, model, codec, text, _voice(), prompt_text, **OPTIONS)


@pytest.mark.parametrize(
    "script, speakers, match",
    [
        ("C: Hello there.", None, "Script line 1 .* no known speaker"),
        ("A Hello there.", None, "Script line 1 .* no known speaker"),
        ("A:   ", None, "no text"),
        ("\n# nothing\n", None, "no lines"),
        ("B: Hello there.", {"B": (_voice(), RATE, "")}, "Speaker 'B' has no transcript"),
    ],
)
def test_dialogue_refuses_bad_scripts(chain, script, speakers, match):
    text_to_semantic, model, codec, _ = chain
    speakers = speakers or {"A": (_voice(), RATE, PROMPT_TEXT)}
    with pytest.raises(ValueError, match=match):
        pipelines.dialogue(text_to_semantic, model, codec, script, speakers, **OPTIONS)


@pytest.fixture(scope="module")
def presets(chain, tmp_path_factory):
    text_to_semantic, model, codec, _ = chain
    folder = tmp_path_factory.mktemp("presets")
    text_to_semantic.save_to_preset(str(folder / "t2s"))
    model.save_to_preset(str(folder / "model"))
    codec.save_to_preset(str(folder / "codec"))
    audio.save(str(folder / "a.wav"), _voice(rate=22050, seed=1), 22050, clip=True)
    audio.save(str(folder / "b.wav"), _voice(seed=2), RATE, clip=True)
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Stand-ins for the presets: the refusals below happen before any preset is read."""
    folder = tmp_path_factory.mktemp("folders")
    for name in ("t2s", "model", "codec"):
        (folder / name).mkdir()
    audio.save(str(folder / "a.wav"), _voice(seed=1), RATE, clip=True)
    return folder


def _chain_flags(folder, output):
    return [
        "--text-to-semantic", str(folder / "t2s"), "--model", str(folder / "model"),
        "--codec", str(folder / "codec"), "--output", str(output), "--prompt-seconds", "0.01",
        "--window-seconds", "0.05", "--steps", "2,1", "--seed", "3",
    ]  # fmt: skip


@pytest.mark.slow
def test_cli_speak_and_dialogue_write_their_files(presets, tmp_path, capsys):
    output = tmp_path / "new" / "speech.wav"
    cli.main(
        ["speak", "--text", "Hello there. Fine, thanks!", "--prompt", str(presets / "a.wav"),
         "--prompt-text", PROMPT_TEXT, *_chain_flags(presets, output)]
    )  # fmt: skip
    assert "piece(s)" in capsys.readouterr().out
    waveform, rate = audio.load(str(output))
    assert rate == RATE and len(waveform) > 0 and len(waveform) % HOP == 0
    script = tmp_path / "dialogue.txt"
    script.write_text("A: Hello there.\nB: Good morning, Bob.\n")
    output = tmp_path / "dialogue.wav"
    cli.main(
        ["dialogue", "--script", str(script), "--speaker", "A", str(presets / "a.wav"),
         PROMPT_TEXT, "--speaker", "B", str(presets / "b.wav"), "I am Alice.",
         "--pause-seconds", "0.01", *_chain_flags(presets, output)]
    )  # fmt: skip
    waveform, _ = audio.load(str(output))
    turns = json.loads((tmp_path / "dialogue.json").read_text())["turns"]
    assert [t["speaker"] for t in turns] == ["A", "B"]
    assert turns[1]["start"] == pytest.approx(turns[0]["end"] + 0.01)
    assert turns[-1]["end"] == pytest.approx(len(waveform) / RATE)


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--text", "  "], "--text must be a non-empty string"),
        (["--text", "?!"], "nothing speakable"),
        (["--text", "Hello there.", "--prompt-text", ""], "--prompt-text must be a non-empty"),
        (["--text", "Hello there.", "--output-dir"], "is a directory"),
    ],
)
def test_cli_speak_refuses_bad_inputs_in_one_line(folders, tmp_path, extra, match):
    flags = ["--prompt", str(folders / "a.wav"), "--prompt-text", PROMPT_TEXT]
    output = tmp_path / "out.wav"
    if extra[-1] == "--output-dir":
        extra, output = extra[:-1], tmp_path
    with pytest.raises(SystemExit) as error:
        cli.main(["speak", *flags, *_chain_flags(folders, output), *extra])
    message = str(error.value)
    assert message.startswith("keras-soundstorm speak: error:") and "\n" not in message
    assert re.search(match, message), message
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize(
    "script, speakers, match",
    [
        ("A: Hello there.\nC: Hi.\n", None, "line 2 .* no known speaker"),
        ("A: ?!\n", None, "nothing speakable"),
        ("A: Hello there.\n", ["--speaker", "A", "{a}", " "], "'A' has no transcript"),
        ("A: Hello there.\n", [], "at least one --speaker"),
    ],
)
def test_cli_dialogue_refuses_bad_inputs_in_one_line(folders, tmp_path, script, speakers, match):
    path = tmp_path / "script.txt"
    path.write_text(script)
    if speakers is None:
        speakers = ["--speaker", "A", "{a}", PROMPT_TEXT]
    speakers = [flag.format(a=folders / "a.wav") for flag in speakers]
    argv = ["dialogue", "--script", str(path), *speakers]
    with pytest.raises(SystemExit) as error:
        cli.main(argv + _chain_flags(folders, tmp_path / "out.wav"))
    message = str(error.value)
    assert message.startswith("keras-soundstorm dialogue: error:") and "\n" not in message
    assert re.search(match, message), message
    assert not (tmp_path / "out.wav").exists() and not (tmp_path / "out.json").exists()
