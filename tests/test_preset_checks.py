"""Loading a SoundStorm backbone preset the KerasHub way runs the same checks as
`SoundStormBackbone.from_preset` (issue 22 item 2): sha256, config against
weights, unknown config keys, and the warning for a preset without checksums.
"""

import json
import re

import keras_hub
import numpy as np
import pytest
from conftest import make_backbone

import keras_soundstorm as kss
from keras_soundstorm.utils import preset_files


@pytest.fixture(scope="module")
def backbone():
    return make_backbone()


@pytest.fixture()
def preset(backbone, tmp_path):
    path = tmp_path / "backbone"
    backbone.save_to_preset(path)
    return path


def _edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


LOADERS = {
    "keras_hub": keras_hub.models.Backbone.from_preset,
    "kss": kss.SoundStormBackbone.from_preset,
}


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_a_sound_preset_loads_the_same_weights(loader, backbone, preset):
    loaded = LOADERS[loader](str(preset))
    assert isinstance(loaded, kss.SoundStormBackbone)
    for a, b in zip(backbone.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_a_corrupted_weight_file_is_refused(loader, preset):
    path = preset / "model.weights.h5"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*sha256"):
        LOADERS[loader](str(preset))


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_unknown_config_keys_are_refused(loader, preset):
    _edit_json(preset / "config.json", lambda c: c["config"].update(bogus_key=1))
    with pytest.raises(ValueError, match="unknown config keys.*bogus_key"):
        LOADERS[loader](str(preset))


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_a_config_that_does_not_match_the_weights_is_refused(loader, preset):
    def more_layers(config):
        config["config"]["num_layers"] += 1

    _edit_json(preset / "config.json", more_layers)
    # The sha256 covers weight files only: the edited config passes it.
    with pytest.raises(ValueError, match="does not match the config"):
        LOADERS[loader](str(preset))


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_a_preset_without_checksums_loads_with_a_warning(loader, preset):
    _edit_json(preset / "metadata.json", lambda m: m.pop("weights_sha256"))
    with pytest.warns(preset_files.UnverifiedPresetWarning, match=re.escape(str(preset))):
        LOADERS[loader](str(preset))
