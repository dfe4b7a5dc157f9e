"""The shipped presets (saved_models/) load by name, fit together, and run the README's demo."""

import json
import os
import subprocess
import sys

import pytest

from keras_soundstorm import demo
from keras_soundstorm.utils.preset_registry import SHIPPED_DIR, shipped_preset_path

MODEL_DIR = shipped_preset_path(demo.DEFAULT_MODEL)
CODEC_DIR = shipped_preset_path(demo.DEFAULT_CODEC)

pytest.importorskip("espeakng_loader")


def test_presets_are_small_and_say_how_they_were_made():
    sizes = [
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(SHIPPED_DIR)
        for name in names
    ]
    assert sum(sizes) < 40 * 2**20
    for preset in (MODEL_DIR, CODEC_DIR):
        with open(os.path.join(preset, "metadata.json")) as f:
            training = json.load(f)["training"]
        assert training["training_wall_time_minutes"] > 0
        assert training["training_command"].startswith("python examples/train_")
        assert "eSpeak corpus" in training["trained_on"]


def test_demo_command_runs_on_the_shipped_presets(tmp_path):
    """The README's main job, in a fresh process on this test run's backend."""
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_soundstorm.cli",
            "--backend",
            backend,
            "demo",
            "--output",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Speaker similarity to the prompt: generated" in result.stdout
    assert "Real-time factor" in result.stdout
    for name in ("prompt.wav", "generated.wav", "reference.wav", "spectrograms.png"):
        assert os.path.getsize(tmp_path / name) > 1000


def test_shipped_codec_scores_what_its_metadata_says():
    """The codec's recorded evaluation holds for the weights that are shipped.

    `metadata.json["evaluation"]` has the 20-sentence means of
    `evaluate --codec-only`; the first 3 sentences per group must score within
    0.05 of them at every bitrate (the shipped codec's are within 0.02, or
    above; an untrained SEANet codec scores 0.48-0.50, a trained one 0.50-0.55).
    """
    pytest.importorskip("resemblyzer")
    from keras_soundstorm.codecs import SoundStream
    from keras_soundstorm.data import EspeakCorpus
    from keras_soundstorm.evaluation.codec_quality import evaluate_codec

    with open(os.path.join(CODEC_DIR, "metadata.json")) as f:
        recorded = {
            (row["group"], row["num_levels"]): row["speaker_cosine"]
            for row in json.load(f)["evaluation"]["rows"]
        }
    codec = SoundStream.from_preset(demo.DEFAULT_CODEC)
    corpus = EspeakCorpus(codec.sample_rate, int(codec.frame_rate), frame_multiple=2)
    rows = evaluate_codec(codec, corpus, num_sentences=3, progress=False)
    assert len(rows) == len(recorded) == 2 * codec.num_levels
    for row in rows:
        assert row["speaker_cosine"] >= recorded[(row["group"], row["num_levels"])] - 0.05, row


def test_shipped_presets_record_their_evaluation():
    for preset in (MODEL_DIR, CODEC_DIR):
        with open(os.path.join(preset, "metadata.json")) as f:
            evaluation = json.load(f)["evaluation"]
        assert evaluation["command"].startswith("keras-soundstorm evaluate")
        assert evaluation["rows"] and all("group" in row for row in evaluation["rows"])


def test_presets_are_listed_and_load_by_name():
    import keras_soundstorm as kss
    from keras_soundstorm.codecs import SoundStream

    listing = kss.SoundStorm.presets
    assert list(listing) == ["soundstorm_espeak_small"]
    assert list(SoundStream.presets) == ["soundstream_espeak_16khz"]
    assert list(kss.SoundStormBackbone.presets) == ["soundstorm_espeak_small"]
    entry = listing["soundstorm_espeak_small"]
    assert entry["description"] and "eSpeak corpus" in entry["trained_on"]
    assert entry["metadata"]["evaluation"]["rows"]
    model = kss.SoundStorm.from_preset("soundstorm_espeak_small")
    assert model.backbone.count_params() == entry["parameter_count"]  # as KerasHub counts
    backbone = kss.SoundStormBackbone.from_preset("soundstorm_espeak_small")
    assert backbone.count_params() == model.backbone.count_params()
    codec = SoundStream.from_preset("soundstream_espeak_16khz")
    assert (
        codec.count_params() == SoundStream.presets["soundstream_espeak_16khz"]["parameter_count"]
    )
    with pytest.raises(ValueError, match="is a SoundStream, not a SoundStorm"):
        kss.SoundStorm.from_preset("soundstream_espeak_16khz")
    with pytest.raises(ValueError, match="is a SoundStorm, not a SoundStream"):
        SoundStream.from_preset("soundstorm_espeak_small")
    with pytest.raises(ValueError, match="neither a shipped preset"):
        kss.SoundStorm.from_preset("soundstorm_espeak_large")
