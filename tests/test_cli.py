"""The `keras-soundstorm` commands run as a user runs them; bad input is one error line."""

import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import make_backbone

import keras_soundstorm as kss
from keras_soundstorm import cli

BACKEND = keras.backend.backend()


def run_cli(*args):
    """Runs the CLI in a fresh process on this test run's backend."""
    return subprocess.run(
        [sys.executable, "-m", "keras_soundstorm.cli", "--backend", BACKEND, *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_info_prints_versions_and_the_shipped_presets():
    result = run_cli("info")
    assert result.returncode == 0, result.stderr
    assert f"keras-soundstorm {kss.__version__}" in result.stdout
    assert f"backend {BACKEND}" in result.stdout
    for name, entry in {**kss.SoundStorm.presets, **kss.codecs.SoundStream.presets}.items():
        assert name in result.stdout
        assert f"{entry['parameter_count']:,} parameters" in result.stdout


def test_info_of_a_shipped_preset_prints_its_config(capsys):
    cli.main(["info", "soundstorm_espeak_small"])
    out = capsys.readouterr().out
    model = kss.SoundStorm.from_preset("soundstorm_espeak_small")
    assert f'"hidden_dim": {model.backbone.hidden_dim}' in out
    assert f"parameters: {model.count_params():,}" in out


def test_generate_writes_exactly_the_output_path(tmp_path, capsys):
    model = kss.SoundStorm(make_backbone())
    model.save_to_preset(tmp_path / "preset")
    backbone = model.backbone
    conditioning = (
        np.arange(12, dtype="int32").reshape(2, 6) % backbone.conditioning_vocabulary_size
    )
    np.save(tmp_path / "conditioning.npy", conditioning)
    output = tmp_path / "codes"  # no .npy suffix: written as given
    args = ["generate", "--preset", str(tmp_path / "preset")]
    args += ["--conditioning", str(tmp_path / "conditioning.npy"), "--output", str(output)]
    cli.main(args + ["--seed", "3", "--steps-per-level", "2,1,1,1"])
    assert f"Wrote {output}: codes (2, 12, 4)" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == ["codes", "conditioning.npy", "preset"]
    codes = np.load(output)
    expected = model.generate(conditioning=conditioning, steps_per_level=(2, 1, 1, 1), seed=3)
    np.testing.assert_array_equal(codes, expected)


def test_generate_bad_input_is_one_error_line(tmp_path):
    model = kss.SoundStorm(make_backbone())
    model.save_to_preset(tmp_path / "preset")
    too_large = np.full((1, 6), model.backbone.conditioning_vocabulary_size, "int32")
    np.save(tmp_path / "conditioning.npy", too_large)
    args = ["generate", "--preset", str(tmp_path / "preset")]
    args += ["--conditioning", str(tmp_path / "conditioning.npy"), "--output", "unused.npy"]
    with pytest.raises(SystemExit, match="keras-soundstorm generate: error: .*conditioning"):
        cli.main(args)


# --- bad input: one `keras-soundstorm <cmd>: error: ...` line, before any work (issue 15) ---
# Argument checks around Keras' backend-neutral files: run on one backend (backend_independent).

TINY = dict(kss.CONFIGS["tiny"], hidden_dim=32, num_layers=1, num_heads=2, intermediate_dim=64)


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    path = tmp_path_factory.mktemp("preset") / "preset"
    kss.SoundStorm(kss.SoundStormBackbone(**TINY)).save_to_preset(path)
    return str(path)


def layout(tmp_path):
    """Files the cases use: a regular file, a JSON list, null, a config missing keys."""
    (tmp_path / "file.txt").write_text("not a directory")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "null.json").write_text("null")
    partial = {k: v for k, v in TINY.items() if k != "num_heads"}
    (tmp_path / "partial.json").write_text(json.dumps(partial))
    (tmp_path / "unknown.json").write_text(json.dumps(dict(TINY, colour="blue")))
    (tmp_path / "tiny.json").write_text(json.dumps(TINY))
    (tmp_path / "existing_dir").mkdir()


def train(tmp, *extra, config="{tmp}/tiny.json", output="{tmp}/out"):
    return ["train", "--config", config, "--output", output, "--epochs", "1", *extra]


CASES = {
    "dtype bogus": (["--dtype", "bogus", *train("")], "--dtype 'bogus'"),
    "train config is a list": (train("", config="{tmp}/list.json"), "JSON object"),
    "train config is null": (train("", config="{tmp}/null.json"), "JSON object"),
    "train config missing keys": (train("", config="{tmp}/partial.json"), "missing.*num_heads"),
    "train config unknown keys": (train("", config="{tmp}/unknown.json"), "unknown.*colour"),
    "train config missing file": (train("", config="{tmp}/nope.json"), "--config"),
    "train max-frames 0": (train("", "--max-frames", "0"), "--max-frames must be an int >= 1"),
    "train steps-per-epoch 0": (train("", "--steps-per-epoch", "0"), "--steps-per-epoch"),
    "train batch-size 0": (train("", "--batch-size", "0"), "--batch-size"),
    "train output under a file": (train("", output="{tmp}/file.txt/out"), "--output.*file"),
    "train output is a file": (train("", output="{tmp}/file.txt"), "--output.*existing file"),
    "train data matches nothing": (train("", "--data", "{tmp}/none-*.tfrecord"), "--data"),
    "generate missing conditioning": (
        [
            "generate",
            "--preset",
            "{preset}",
            "--conditioning",
            "{tmp}/no.npy",
            "--output",
            "{tmp}/c",
        ],
        "--conditioning.*no such file",
    ),
    "generate missing preset": (
        ["generate", "--preset", "{tmp}/nopreset", "--output", "{tmp}/c"],
        "--preset.*no such directory",
    ),
    "generate output under a file": (
        ["generate", "--preset", "{preset}", "--num-frames", "4", "--output", "{tmp}/file.txt/c"],
        "--output",
    ),
    "generate output is a directory": (
        ["generate", "--preset", "{preset}", "--num-frames", "4", "--output", "{tmp}/existing_dir"],
        "--output.*directory",
    ),
    "generate temperature 0": (
        ["generate", "--preset", "{preset}", "--temperature", "0", "--output", "{tmp}/c"],
        "--temperature",
    ),
    "generate top-k 0": (
        ["generate", "--preset", "{preset}", "--top-k", "0", "--output", "{tmp}/c"],
        "--top-k",
    ),
    "export version 0": (
        ["export", "--preset", "{preset}", "--output", "{tmp}/m", "--version", "0"],
        "--version",
    ),
    "export version -1": (
        ["export", "--preset", "{preset}", "--output", "{tmp}/m", "--version", "-1"],
        "--version",
    ),
    "export onto a file": (
        ["export", "--preset", "{preset}", "--output", "{tmp}/file.txt"],
        "--output.*existing file",
    ),
    "demo onto a file": (["demo", "--output", "{tmp}/file.txt"], "--output.*existing file"),
    "quickstart onto a file": (
        ["quickstart", "--output", "{tmp}/file.txt"],
        "--output.*existing file",
    ),
    "evaluate onto a file": (["evaluate", "--output", "{tmp}/file.txt"], "--output.*existing"),
    "tokenize rate-ratio 0": (
        ["tokenize", "--codec", "soundstream_espeak_16khz", "--espeak", "train"]
        + ["--output", "{tmp}/t", "--rate-ratio", "0"],
        "--rate-ratio",
    ),
    "tokenize num-shards 0": (
        ["tokenize", "--codec", "soundstream_espeak_16khz", "--espeak", "train"]
        + ["--output", "{tmp}/t", "--num-shards", "0"],
        "--num-shards",
    ),
    "tokenize voices-per-sentence 0": (
        ["tokenize", "--codec", "soundstream_espeak_16khz", "--espeak", "train"]
        + ["--output", "{tmp}/t", "--voices-per-sentence", "0"],
        "--voices-per-sentence",
    ),
    "tokenize missing audio dir": (
        ["tokenize", "--codec", "soundstream_espeak_16khz", "--audio-dir", "{tmp}/noaudio"]
        + ["--output", "{tmp}/t"],
        "--audio-dir",
    ),
    "tokenize output under a file": (
        ["tokenize", "--codec", "soundstream_espeak_16khz", "--espeak", "train"]
        + ["--output", "{tmp}/file.txt/t"],
        "--output",
    ),
}


@pytest.mark.backend_independent
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_cli_input_is_one_error_line_and_writes_nothing(tmp_path, preset, case):
    layout(tmp_path)
    args, message = CASES[case]
    args = [a.format(tmp=tmp_path, preset=preset) for a in args]
    before = sorted(os.listdir(tmp_path))
    command = next(a for a in args if a in cli.COMMANDS)
    try:
        with pytest.raises(SystemExit) as raised:
            cli.main(args)
    finally:
        keras.config.set_dtype_policy("float32")
    text = str(raised.value.code)
    assert text.startswith(f"keras-soundstorm {command}: error: "), text
    assert "\n" not in text and "Traceback" not in text, text
    assert re.search(message, text), text
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.backend_independent
def test_an_error_in_a_real_process_is_one_line_on_stderr(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "keras_soundstorm.cli", "--backend", BACKEND, "--dtype", "bogus"]
        + ["train", "--output", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "keras-soundstorm" in line]
    assert lines == ["keras-soundstorm train: error: " + lines[0].split(": error: ")[1]]
    assert "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.backend_independent
def test_tokenize_espeak_takes_the_shipped_codec(tmp_path, monkeypatch):
    """The documented command with the shipped codec (frame_rate 50.0), on one utterance."""
    from keras_soundstorm.data import EspeakCorpus

    split = EspeakCorpus.split
    monkeypatch.setattr(EspeakCorpus, "split", lambda self, *a, **k: split(self, *a, **k)[:1])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    output = str(tmp_path / "tokens")
    cli.main(
        ["tokenize", "--codec", "soundstream_espeak_16khz", "--espeak", "heldout_both"]
        + ["--output", output, "--num-shards", "1"]
    )
    assert os.path.exists(output + ".json")


def _numeric_flags(parser, prefix=()):
    """`(argv prefix, flag, "float" or "int")` of every number flag of every command."""
    import argparse

    from keras_soundstorm.cli import parser as parser_module

    kinds = {float: "float", int: "int"}
    kinds[getattr(parser_module, "finite_float", float)] = "float"
    kinds[getattr(parser_module, "integer", int)] = "int"
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _numeric_flags(sub, prefix + (name,))
        elif action.type in kinds and action.option_strings:
            yield prefix, action.option_strings[0], kinds[action.type]


NUMERIC_FLAGS = list(_numeric_flags(cli.build_parser()))


def test_every_numeric_flag_is_checked():
    """Every int / float flag uses the parser's own types (argparse's `float`
    took nan and inf)."""
    floats = {flag for _, flag, kind in NUMERIC_FLAGS if kind == "float"}
    assert {"--temperature", "--guidance-scale", "--learning-rate", "--prompt-seconds"} <= floats
    assert len(NUMERIC_FLAGS) >= 25
    source = open(os.path.join(os.path.dirname(cli.__file__), "parser.py")).read()
    assert "type=int," not in source and "type=float" not in source


@pytest.mark.parametrize("prefix, flag, kind", NUMERIC_FLAGS)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "many", "1.5e"])
def test_numeric_flags_refuse_nan_inf_and_words_in_one_line(prefix, flag, kind, value, capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main([*prefix, f"{flag}={value}"])
    assert raised.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    expected = "a finite number" if kind == "float" else "an int"
    assert f"argument {flag}: takes {expected}" in lines[0] and repr(value) in lines[0]


def _touch(path, text=""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_resynthesize_and_convert_check_the_output_before_any_work(tmp_path):
    """They loaded the models (or parsed the checkpoint) first and failed there,
    or after the work on the output path."""
    (tmp_path / "model").mkdir()
    (tmp_path / "codec").mkdir()
    existing_dir = tmp_path / "a_directory"
    existing_dir.mkdir()
    existing_file = _touch(tmp_path / "a_file")
    source, prompt = _touch(tmp_path / "s.wav"), _touch(tmp_path / "p.wav")
    resynthesize = [
        "resynthesize",
        "--model",
        str(tmp_path / "model"),
        "--codec",
        str(tmp_path / "codec"),
        "--source",
        source,
        "--prompt",
        prompt,
        "--output",
        str(existing_dir),
    ]
    cases = [
        resynthesize,
        [
            "convert", "speechtokenizer", "--config", _touch(tmp_path / "config.json", "{"),
            "--checkpoint", _touch(tmp_path / "ckpt.pt"), "--output", existing_file,
        ],
        [
            "convert", "soundstorm-speechtokenizer", "--checkpoint", _touch(tmp_path / "ss.pt"),
            "--output", existing_file,
        ],
    ]  # fmt: skip
    for argv in cases:
        with pytest.raises(SystemExit, match=f"keras-soundstorm {argv[0]}: error: --output"):
            cli.main(argv)
    with pytest.raises(SystemExit, match="error: --source .*no such file"):
        cli.main(resynthesize[:5] + ["--source", "missing.wav"] + resynthesize[7:])


def test_tune_decoding_checks_its_output_and_flags_before_loading(tmp_path):
    script = os.path.join(os.path.dirname(__file__), "..", "examples", "tune_decoding.py")
    (tmp_path / "model").mkdir()
    (tmp_path / "codec").mkdir()
    base = [sys.executable, script, "--model", str(tmp_path / "model")]
    base += ["--codec", str(tmp_path / "codec")]
    env = dict(os.environ, KERAS_BACKEND=BACKEND)
    for extra, message in [
        (["--output", _touch(tmp_path / "a_file")], "--output .* is an existing file"),
        (["--output", str(tmp_path / "out"), "--temperatures", "1,nan"], "--temperatures"),
    ]:
        result = subprocess.run(base + extra, capture_output=True, text=True, env=env, timeout=600)
        assert result.returncode == 2, result.stderr[-2000:]
        # TensorFlow's import logs aside, one line.
        lines = [line for line in result.stderr.splitlines() if "error:" in line]
        assert len(lines) == 1, result.stderr[-2000:]
        assert re.search(message, lines[0]), lines[0]


@pytest.mark.parametrize("handle", ["hf://someone/a-model", "kaggle://someone/a/keras/v"])
def test_an_unreachable_hub_handle_is_one_line_naming_it(handle, monkeypatch, tmp_path):
    """Without a network, the hubs' own errors (a connection error, or a long
    multi-line "check your internet connection" message) came through."""
    import huggingface_hub
    import kagglehub
    import requests
    from huggingface_hub.errors import LocalEntryNotFoundError

    def no_hf(**kwargs):
        raise LocalEntryNotFoundError("An error happened while trying to locate the files\n...")

    def no_kaggle(*args, **kwargs):
        raise requests.exceptions.ConnectionError("Max retries exceeded (NameResolutionError)")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_hf)
    monkeypatch.setattr(kagglehub, "model_download", no_kaggle)
    message = f"{handle!r} cannot be downloaded: the network is unreachable"
    with pytest.raises(ValueError, match=message):
        kss.SoundStorm.from_preset(handle)
    with pytest.raises(ValueError, match=message):
        kss.codecs.load_codec(handle)
    np.save(tmp_path / "c.npy", np.zeros((1, 4), "int32"))
    argv = ["generate", "--preset", handle, "--conditioning", str(tmp_path / "c.npy")]
    with pytest.raises(SystemExit) as raised:
        cli.main(argv + ["--output", str(tmp_path / "out.npy")])
    text = str(raised.value)
    assert "\n" not in text and message in text, text


def test_tokenize_loads_any_codec_caps_shards_and_has_the_overwrite_flag(tmp_path, capsys):
    """It loaded every --codec as a SoundStream, wrote empty shards when
    --num-shards exceeded the files, and its error said `overwrite=True`, a flag
    it did not have."""
    from keras_soundstorm import audio
    from keras_soundstorm.codecs import SpeechTokenizer

    codec = SpeechTokenizer(
        sample_rate=16000, channels=4, latent_dim=16, semantic_dim=8, strides=(5, 4),
        num_levels=3, codebook_size=32, lstm_layers=1,
    )  # fmt: skip
    codec.encode(np.zeros((1, 80), "float32"))
    codec.save_to_preset(str(tmp_path / "codec"))
    rng = np.random.default_rng(0)
    (tmp_path / "audio").mkdir()
    for i in range(2):
        waveform = (0.1 * rng.normal(size=800 + 160 * i)).astype("float32")
        audio.save(str(tmp_path / "audio" / f"{i}.wav"), waveform, 16000, clip=True)
    output = tmp_path / "records" / "tok"
    argv = ["tokenize", "--codec", str(tmp_path / "codec"), "--audio-dir", str(tmp_path / "audio")]
    argv += ["--output", str(output), "--num-shards", "10"]
    cli.main(argv)
    assert "--num-shards 10 capped at the 2 examples" in capsys.readouterr().out
    shards = sorted(p for p in os.listdir(output.parent) if p.endswith(".tfrecord"))
    assert shards == ["tok-00000-of-00002.tfrecord", "tok-00001-of-00002.tfrecord"]
    with pytest.raises(SystemExit, match="already exist .*pass --overwrite"):
        cli.main(argv)
    cli.main(argv + ["--overwrite"])


@pytest.mark.slow
@pytest.mark.skipif(BACKEND == "torch", reason="torch cannot export a SavedModel")
def test_export_of_a_text_to_semantic_preset_and_its_rest_example(tmp_path, capsys):
    """`export` reads the preset's task: a TextToSemantic gets its own SavedModel."""
    import tensorflow as tf

    # USLM's vocabularies (the README's payload holds USLM ids), tiny widths.
    sizes = dict(kss.TEXT_TO_SEMANTIC_CONFIGS["tiny"], text_vocabulary_size=512)
    model = kss.TextToSemantic(kss.TextToSemanticBackbone(**dict(sizes, codebook_size=1024)))
    model.save_to_preset(tmp_path / "t2s")
    preset, output = str(tmp_path / "t2s"), str(tmp_path / "m")
    for flag in (["--steps-per-level", "2,1"], ["--max-new-tokens", "0"]):
        with pytest.raises(SystemExit) as raised:
            cli.main(["export", "--preset", preset, "--output", output, *flag])
        assert flag[0] in str(raised.value.code) and "\n" not in str(raised.value.code)
    assert not os.path.exists(output)
    cli.main(["export", "--preset", preset, "--output", output, "--max-new-tokens", "8"])
    cli.main(["export", "--preset", preset, "--output", output, "--top-k", "1"])
    assert "Wrote SavedModel" in capsys.readouterr().out
    assert sorted(os.listdir(output)) == ["1", "2"]
    here = os.path.dirname(__file__)
    with open(os.path.join(here, "..", "examples", "serving_request_text_to_semantic.json")) as f:
        request = json.load(f)
    assert request["signature_name"] == "serving_default"
    inputs = {name: np.asarray(value, "int32") for name, value in request["inputs"].items()}
    serve = tf.saved_model.load(os.path.join(output, "1")).signatures["serving_default"]
    served = serve(**{name: tf.constant(value) for name, value in inputs.items()})
    expected = model.generate(
        inputs["text_ids"],
        inputs["prompt_semantic"],
        text_lengths=inputs["text_lengths"],
        prompt_lengths=inputs["prompt_lengths"],
        seed=int(inputs["seed"]),
        max_length=8,
    )
    np.testing.assert_array_equal(served["tokens"].numpy(), expected)
    # A SoundStorm preset takes no text-to-semantic flag.
    soundstorm = str(tmp_path / "soundstorm")
    kss.SoundStorm(make_backbone()).save_to_preset(soundstorm)
    with pytest.raises(SystemExit, match="--top-p does not apply to --preset .* SoundStorm"):
        cli.main(["export", "--preset", soundstorm, "--output", output, "--top-p", "0.5"])
    assert sorted(os.listdir(output)) == ["1", "2"]
