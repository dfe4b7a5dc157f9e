"""`keras-soundstorm evaluate --test-set`: end to end on a tiny folder, and its error lines."""

import json
import os
import re

import pytest
from test_whisper_evaluation import _tiny_espeak_pair, _write_plain

from keras_soundstorm.cli.main import main

pytest.importorskip("faster_whisper", reason="the evaluation extra is not installed")


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    """A tiny random eSpeak-phoneme SoundStorm and its SoundStream, saved as presets."""
    folder = tmp_path_factory.mktemp("presets")
    model, codec = _tiny_espeak_pair()
    model.save_to_preset(folder / "model")
    codec.save_to_preset(folder / "codec")
    return str(folder / "model"), str(folder / "codec")


def _evaluate(presets, test_set, output, *extra):
    model, codec = presets
    argv = ["evaluate", "--model", model, "--codec", codec, "--test-set", str(test_set)]
    return main([*argv, "--output", str(output), *extra])


def _error_line(capsys_or_error):
    text = str(capsys_or_error.value.code)
    assert "\n" not in text and text.startswith("keras-soundstorm evaluate: error: ")
    return text


@pytest.mark.slow
def test_evaluate_test_set_command_end_to_end(tmp_path, presets, capsys):
    folder = _write_plain(tmp_path / "set")
    output = tmp_path / "out"
    flags = ("--max-utterances", "2", "--seed", "3", "--prompt-seconds", "1")
    _evaluate(presets, folder, output, *flags)
    printed = capsys.readouterr().out
    assert "original: WER" in printed and "soundstorm, 3 s prompt: WER" in printed
    rows = json.loads((output / "test_set.json").read_text())
    assert [row["system"] for row in rows] == [
        "original",
        "codec",
        "soundstorm, no prompt",
        "soundstorm, 3 s prompt",
    ]
    assert all(row["num_utterances"] == 2 for row in rows)
    assert rows[0]["wer"] < 0.5  # Whisper base hears eSpeak's own rendering
    settings = json.loads((output / "settings.json").read_text())
    assert settings["seed"] == 3 and settings["recognizer"] == "base"
    assert settings["prompt_seconds"] == 1.0
    assert (output / "test_set.png").is_file() and (output / "test_set.md").is_file()
    assert len(os.listdir(output / "utterances")) == 2
    # Resume: the same command reads the cache back and gives the same rows.
    _evaluate(presets, folder, output, *flags)
    assert json.loads((output / "test_set.json").read_text()) == rows
    # Another seed in the same folder is refused, on one line naming the flag.
    with pytest.raises(SystemExit) as error:
        _evaluate(presets, folder, output, "--max-utterances", "2", "--seed", "4")
    assert "other settings" in _error_line(error)


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda d: (os.makedirs(d / "x"), d)[1], "No transcripts found"),
        (lambda d: _write_plain(d, {"spk_a": ["Hello there."]}), "only one utterance"),
        (lambda d: d / "missing", "--test-set .*no such directory"),
    ],
)
def test_evaluate_bad_test_set_gives_one_error_line(tmp_path, presets, make, expected):
    folder = make(tmp_path / "set")
    with pytest.raises(SystemExit) as error:
        _evaluate(presets, folder, tmp_path / "out")
    assert re.search(expected, _error_line(error))


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--max-utterances", "0"], "--max-utterances must be >= 1"),
        (["--num-sentences", "3"], "--num-sentences apply only to the eSpeak"),
        (["--codec-only"], "--codec-only and --num-sentences apply only"),
    ],
)
def test_evaluate_test_set_flag_errors(tmp_path, presets, extra, expected):
    os.makedirs(tmp_path / "set")
    with pytest.raises(SystemExit) as error:
        _evaluate(presets, tmp_path / "set", tmp_path / "out", *extra)
    assert expected in _error_line(error)


def test_max_utterances_needs_test_set(tmp_path):
    with pytest.raises(SystemExit) as error:
        main(["evaluate", "--max-utterances", "2", "--output", str(tmp_path / "out")])
    assert "--max-utterances applies only with --test-set" in _error_line(error)
