"""Preset files (keras_soundstorm/utils/preset_files.py, utils/files.py): saves never lose
data; presets whose weight files are missing, mismatched or corrupted are clear errors
(issue 15, items 1 and 5).

Runs on the backend named by KERAS_BACKEND. The kill tests run a real save in a
subprocess and SIGKILL it at several moments.
"""

import glob
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest
from conftest import MICRO_CODEC, TINY, make_backbone

import keras_soundstorm as kss
from keras_soundstorm.codecs import SoundStream
from keras_soundstorm.utils import files, preset_files
from keras_soundstorm.utils.preset_registry import shipped_preset_path

CAN_EXPORT = keras.backend.backend() in ("tensorflow", "jax")


@pytest.fixture(scope="module")
def model():
    return kss.SoundStorm(make_backbone(), seed=0)


@pytest.fixture(scope="module")
def codec():
    return SoundStream(**MICRO_CODEC)


def save(kind, model, codec, path):
    if kind == "soundstorm":
        model.save_to_preset(path)
    elif kind == "backbone":
        model.backbone.save_to_preset(path)
    elif kind == "codec":
        codec.save_to_preset(path)
    else:
        model.export_saved_model(path)


def load(kind, path):
    return {
        "soundstorm": kss.SoundStorm.from_preset,
        "backbone": kss.SoundStormBackbone.from_preset,
        "codec": SoundStream.from_preset,
    }[kind](path)


KINDS = ["soundstorm", "backbone", "codec"] + (["export"] if CAN_EXPORT else [])


def hidden(parent):
    return sorted(name for name in os.listdir(parent) if name.startswith("."))


def dead_pid():
    """The id of a process that has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# --- Item 1: never delete what we did not write ---------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_save_refuses_a_regular_file(kind, model, codec, tmp_path):
    target = tmp_path / "target"
    target.write_text("my notes")
    with pytest.raises(ValueError, match=re.escape(str(target)) + ".*regular file"):
        save(kind, model, codec, target)
    assert target.read_text() == "my notes"
    assert sorted(os.listdir(tmp_path)) == ["target"]


@pytest.mark.parametrize("kind", KINDS)
def test_save_refuses_a_foreign_non_empty_directory(kind, model, codec, tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    (target / "thesis.tex").write_text("years of work")
    with pytest.raises(ValueError, match=re.escape(str(target)) + ".*not empty"):
        save(kind, model, codec, target)
    assert os.listdir(target) == ["thesis.tex"]
    assert (target / "thesis.tex").read_text() == "years of work"
    assert sorted(os.listdir(tmp_path)) == ["target"]


@pytest.mark.parametrize("kind", KINDS)
def test_save_replaces_an_empty_directory_or_its_own_kind(kind, model, codec, tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    save(kind, model, codec, target)
    first = sorted(os.listdir(target))
    save(kind, model, codec, target)
    assert sorted(os.listdir(target)) == first
    assert sorted(os.listdir(tmp_path)) == ["target"]


def test_save_refuses_a_preset_of_another_kind(model, codec, tmp_path):
    model.save_to_preset(tmp_path / "storm")
    codec.save_to_preset(tmp_path / "codec")
    model.backbone.save_to_preset(tmp_path / "backbone")
    attempts = [
        (lambda: codec.save_to_preset(tmp_path / "storm"), "storm", "SoundStream preset"),
        (lambda: model.save_to_preset(tmp_path / "codec"), "codec", "SoundStorm preset"),
        (lambda: model.backbone.save_to_preset(tmp_path / "storm"), "storm", "Backbone preset"),
        (lambda: model.save_to_preset(tmp_path / "backbone"), "backbone", "SoundStorm preset"),
    ]
    if CAN_EXPORT:
        attempts.append(
            (lambda: model.export_saved_model(tmp_path / "codec"), "codec", "SavedModel")
        )
    for attempt, name, accepted in attempts:
        before = sorted(os.listdir(tmp_path / name))
        with pytest.raises(ValueError, match=accepted):
            attempt()
        assert sorted(os.listdir(tmp_path / name)) == before
    assert hidden(tmp_path) == []
    kss.SoundStorm.from_preset(tmp_path / "storm")
    SoundStream.from_preset(tmp_path / "codec")


def _interrupted_swap(tmp_path, model, pid):
    """The state a kill between the two renames leaves: the old preset moved to
    `.preset.previous-*`, the new one complete in `.preset.staging-*`, no target."""
    target = tmp_path / "preset"
    model.save_to_preset(target)
    old = model.get_weights()
    previous = tmp_path / f".preset.previous-{pid}-abc"
    os.rename(target, previous)
    staging = tmp_path / f".preset.staging-{pid}-def"
    staging.mkdir()
    (staging / "half.h5").write_bytes(b"partial")
    return target, old


@pytest.mark.parametrize("then", ["load", "save"])
def test_the_next_load_or_save_restores_a_swap_killed_half_way(then, model, tmp_path):
    target, old = _interrupted_swap(tmp_path, model, dead_pid())
    if then == "load":
        restored = kss.SoundStorm.from_preset(target)
        for a, b in zip(old, restored.get_weights()):
            np.testing.assert_array_equal(a, b)
    else:
        model.save_to_preset(target)
    assert sorted(os.listdir(tmp_path)) == ["preset"]
    kss.SoundStorm.from_preset(target)


def test_folders_of_a_live_save_and_of_other_targets_are_left_alone(model, tmp_path):
    model.save_to_preset(tmp_path / "preset")
    live = tmp_path / f".preset.staging-{os.getppid()}-xyz"
    live.mkdir()
    other = tmp_path / f".other.previous-{dead_pid()}-xyz"
    other.mkdir()
    stale = tmp_path / f".preset.previous-{dead_pid()}-xyz"
    stale.mkdir()
    kss.SoundStorm.from_preset(tmp_path / "preset")
    assert hidden(tmp_path) == sorted([live.name, other.name])


def test_the_protocol_is_documented():
    doc = files.__doc__
    for word in (".<name>.staging-", ".<name>.previous-", "load", "restore"):
        assert word in doc


KILL_SCRIPT = textwrap.dedent(
    """
    import os, shutil, signal, sys
    import keras_soundstorm as kss
    config = dict(kss.CONFIGS["tiny"], codebook_size=int(sys.argv[3]))
    model = kss.SoundStorm(kss.SoundStormBackbone(**config), seed=int(sys.argv[2]))
    moment = sys.argv[4]
    if moment != "timed":
        real_rename, real_rmtree = os.rename, shutil.rmtree
        def die():
            os.kill(os.getpid(), signal.SIGKILL)

        def rename(src, dst, *args, **kwargs):
            if moment == "between_renames" and ".staging-" in str(src):
                die()
            return real_rename(src, dst, *args, **kwargs)

        def rmtree(path, *args, **kwargs):
            if moment == "removing_previous" and ".previous-" in str(path):
                os.remove(os.path.join(path, "model.weights.h5"))
                die()
            return real_rmtree(path, *args, **kwargs)

        os.rename, shutil.rmtree = rename, rmtree
        if moment == "writing":
            save_weights = model.save_task_weights
            model.save_task_weights = lambda path: (save_weights(path), die())
    print("saving", flush=True)
    model.save_to_preset(sys.argv[1])
    print("saved", flush=True)
    """
)


def _killed_save(target, seed, codebook_size, moment, delay=0.0):
    """Runs a save of a new model (`seed`) onto `target`, killed at `moment`."""
    process = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(target), str(seed), str(codebook_size), moment],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout.readline().strip() == "saving"
    if moment == "timed":
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=600)
    return process.returncode


def _weights(preset):
    weights = [np.asarray(w) for w in kss.SoundStorm.from_preset(preset).get_weights()]
    with open(os.path.join(preset, "task.json")) as f:
        assert json.load(f)["config"]["seed"] in (0, 1)
    return weights


@pytest.mark.slow
@pytest.mark.parametrize(
    "moment, delay",
    [("writing", 0), ("between_renames", 0), ("removing_previous", 0)]
    + [("timed", delay) for delay in (0.05, 0.4, 1.0)],
)
def test_a_killed_save_never_loses_the_previous_preset(moment, delay, tmp_path):
    codebook_size = 64 if moment != "timed" else 60000
    target = tmp_path / "preset"
    config = dict(TINY, codebook_size=codebook_size)
    old_model = kss.SoundStorm(kss.SoundStormBackbone(**config), seed=0)
    old_model.save_to_preset(target)
    old = old_model.get_weights()
    returncode = _killed_save(target, 1, codebook_size, moment, delay)
    if moment != "timed":
        assert returncode == -signal.SIGKILL
    # The next load finds a whole preset: the old one, or (killed after the
    # swap) the new one; never a mix, never nothing.
    loaded = _weights(target)
    same_as_old = all(np.array_equal(a, b) for a, b in zip(old, loaded))
    if moment in ("writing", "between_renames"):
        assert same_as_old
    elif moment == "removing_previous":
        assert not same_as_old
    # ... and leaves no folders of this target behind.
    assert glob.glob(str(tmp_path / ".preset.*")) == []
    assert sorted(os.listdir(tmp_path)) == ["preset"]
    old_model.save_to_preset(target)
    assert sorted(os.listdir(tmp_path)) == ["preset"]


# --- Item 5: weight files are checked ---------------------------------------------------


def _flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _edit_json(path, change):
    with open(path) as f:
        data = json.load(f)
    change(data)
    with open(path, "w") as f:
        json.dump(data, f)


@pytest.mark.parametrize("kind", ["soundstorm", "backbone", "codec"])
def test_presets_record_and_verify_weight_checksums(kind, model, codec, tmp_path):
    preset = tmp_path / "preset"
    save(kind, model, codec, preset)
    with open(preset / "metadata.json") as f:
        recorded = json.load(f)["weights_sha256"]
    weight_files = sorted(name for name in os.listdir(preset) if name.endswith(".h5"))
    assert sorted(recorded) == weight_files
    for name in weight_files:
        assert recorded[name] == preset_files.file_sha256(preset / name)
    load(kind, preset)
    for name in weight_files:
        _flip_byte(preset / name)
        with pytest.raises(ValueError, match=re.escape(str(preset / name)) + ".*sha256"):
            load(kind, preset)
        _flip_byte(preset / name)


def test_user_metadata_is_merged_beside_the_checksums(model, codec, tmp_path):
    model.save_to_preset(tmp_path / "storm", metadata={"training": {"steps": 3}})
    codec.save_to_preset(tmp_path / "codec", metadata={"training": {"steps": 4}})
    for name, steps in (("storm", 3), ("codec", 4)):
        with open(tmp_path / name / "metadata.json") as f:
            metadata = json.load(f)
        assert metadata["training"] == {"steps": steps}
        assert "model.weights.h5" in metadata["weights_sha256"]


def test_shipped_presets_carry_checksums_that_verify():
    for name in ("soundstorm_espeak_small", "soundstream_espeak_16khz"):
        path = shipped_preset_path(name)
        with open(os.path.join(path, "metadata.json")) as f:
            recorded = json.load(f)["weights_sha256"]
        assert sorted(recorded) == sorted(n for n in os.listdir(path) if n.endswith(".h5"))
        assert preset_files.verify_checksums(path) is True


def test_presets_without_checksums_still_load(model, tmp_path):
    preset = tmp_path / "preset"
    model.save_to_preset(preset)
    _edit_json(preset / "metadata.json", lambda m: m.pop("weights_sha256"))
    kss.SoundStorm.from_preset(preset)


def test_a_soundstorm_preset_without_task_weights_is_an_error(model, tmp_path):
    preset = tmp_path / "preset"
    model.save_to_preset(preset)
    os.remove(preset / "task.weights.h5")
    with pytest.raises(ValueError, match="missing task.weights.h5"):
        kss.SoundStorm.from_preset(preset)


def _set_backbone(key, value):
    def change(data):
        config = data["config"]
        if "backbone" in config:
            config = config["backbone"]["config"]
        config[key] = value

    return change


@pytest.mark.parametrize(
    "key, value", [("num_layers", 1), ("num_layers", 3), ("intermediate_dim", 64)]
)
def test_a_config_that_disagrees_with_the_weights_is_an_error(key, value, model, tmp_path):
    preset = tmp_path / "preset"
    model.save_to_preset(preset)
    for name in ("config.json", "task.json"):
        _edit_json(preset / name, _set_backbone(key, value))
    weights = re.escape(str(preset / "model.weights.h5"))
    with pytest.raises(ValueError, match=weights + ".*does not match"):
        kss.SoundStorm.from_preset(preset)
    with pytest.raises(ValueError, match=weights + ".*does not match"):
        kss.SoundStormBackbone.from_preset(preset)


def test_config_and_task_config_must_agree(model, tmp_path):
    preset = tmp_path / "preset"
    model.save_to_preset(preset)
    _edit_json(preset / "task.json", _set_backbone("num_layers", 1))
    with pytest.raises(ValueError, match="num_layers.*config.json.*task.json"):
        kss.SoundStorm.from_preset(preset)


def test_a_codec_config_that_disagrees_with_the_weights_is_an_error(codec, tmp_path):
    preset = tmp_path / "codec"
    codec.save_to_preset(preset)
    _edit_json(preset / "config.json", lambda c: c["config"].update(codebook_size=32))
    with pytest.raises(ValueError, match=re.escape(str(preset / "model.weights.h5"))):
        SoundStream.from_preset(preset)


@pytest.mark.parametrize(
    "kind, name",
    [
        ("soundstorm", "config.json"),
        ("soundstorm", "task.json"),
        ("backbone", "config.json"),
        ("codec", "config.json"),
    ],
)
def test_unknown_config_keys_are_an_error(kind, name, model, codec, tmp_path):
    preset = tmp_path / "preset"
    save(kind, model, codec, preset)
    if name == "task.json":
        change = lambda data: data["config"].update(bogus_task_key=1)  # noqa: E731
    else:
        change = lambda data: data["config"].update(bogus_key=1)  # noqa: E731
    _edit_json(preset / name, change)
    with pytest.raises(ValueError, match=re.escape(name) + ".*unknown.*bogus"):
        load(kind, preset)


@pytest.mark.parametrize("kind", ["soundstorm", "codec"])
def test_an_unreadable_weight_file_names_the_preset(kind, model, codec, tmp_path):
    preset = tmp_path / "preset"
    save(kind, model, codec, preset)
    _edit_json(preset / "metadata.json", lambda m: m.pop("weights_sha256"))
    with open(preset / "model.weights.h5", "r+b") as f:
        f.write(b"garbage!")
    with pytest.raises(ValueError, match=re.escape(str(preset / "model.weights.h5"))):
        load(kind, preset)
