"""examples/benchmark.py and benchmark_speak.py run end to end on tiny models (speed unasserted)."""

import csv
import importlib.util
import json
import os

import keras
import pytest
from conftest import make_backbone

import keras_soundstorm as kss

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")
SCRIPT = os.path.join(EXAMPLES, "benchmark.py")


def _benchmark_module(path=SCRIPT, name="benchmark_script"):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _quick_args(*extra):
    return [
        "--backend",
        keras.backend.backend(),
        "--frames",
        "32",
        "--train-batch-size",
        "1",
        "--repeats",
        "1",
        "--matmul-size",
        "32",
        *extra,
    ]


def test_benchmark_times_generate_training_and_a_length_sweep(tmp_path, capsys):
    benchmark = _benchmark_module()
    args = _quick_args("--config", "tiny", "--sweep", "--max-frames", "250")
    summary = benchmark.main([*args, "--output-dir", str(tmp_path)])

    assert summary["config"] == "tiny"
    assert summary["generate"]["frames"] == 32 and summary["generate"]["median_s"] > 0
    assert summary["train"]["batch_size"] == 1 and summary["train"]["median_s"] > 0
    assert [row["frames"] for row in summary["sweep"]] == [250]
    tag = f"{keras.backend.backend()}_float32"
    with open(tmp_path / f"sweep_{tag}.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(row["frames"]) for row in rows] == [250]
    assert float(rows[0]["median_s"]) > 0
    # The last line of stdout is the JSON summary.
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last_line)["num_params"] == summary["num_params"]


def test_benchmark_times_a_preset_with_its_weights(tmp_path):
    model = kss.SoundStorm(make_backbone())
    preset = str(tmp_path / "preset")
    model.save_to_preset(preset)
    benchmark = _benchmark_module()
    summary = benchmark.main(_quick_args("--preset", preset, "--skip-train"))
    assert summary["config"] == preset
    assert summary["num_params"] == model.count_params()
    assert "train" not in summary and summary["generate"]["median_s"] > 0


def test_benchmark_rejects_bad_arguments():
    benchmark = _benchmark_module()
    with pytest.raises(ValueError, match="--frames"):
        benchmark.main(_quick_args("--frames", "0"))
    with pytest.raises(ValueError, match="--config"):
        benchmark.main(_quick_args("--config", "enormous", "--skip-train"))


@pytest.mark.slow
def test_benchmark_speak_times_each_stage_of_a_tiny_chain(tmp_path):
    benchmark = _benchmark_module(os.path.join(EXAMPLES, "benchmark_speak.py"), "benchmark_speak")
    table = tmp_path / "speak.csv"
    row = benchmark.main(
        ["--backend", keras.backend.backend(), "--tiny", "--seconds", "1", "--repeats", "0",
         "--csv", str(table)]
    )  # fmt: skip
    assert row["models"] == "tiny" and row["semantic_tokens"] == 50 and row["audio_seconds"] == 1
    assert row["pieces"] == 1 and row["median_s"] > 0
    stages = ("text_to_semantic", "soundstorm", "codec_and_rest")
    assert all(row[f"first_{stage}_s"] > 0 for stage in stages)
    assert sum(row[f"{stage}_s"] for stage in stages) == pytest.approx(row["median_s"], abs=0.05)
    with open(table) as f:
        assert [int(r["semantic_tokens"]) for r in csv.DictReader(f)] == [50]
