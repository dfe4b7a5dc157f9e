"""The presets shipped with the package, loadable by name.

The weights live in the repository's `saved_models/` and are installed as
package data (`keras_soundstorm/shipped_presets` links to that folder), so a
name resolves to a local directory with or without a clone.
"""

import json
import os

SHIPPED_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "shipped_presets")

# name -> the class it loads as, and a one-line description.
SHIPPED_PRESETS = {
    "soundstorm_espeak_small": {
        "class_name": "SoundStorm",
        "description": (
            "SoundStorm, 4 Conformer layers, hidden 192, 4 levels x 1024 codes of "
            "soundstream_espeak_16khz, conditioned on 25 Hz eSpeak phonemes (r = 2)."
        ),
    },
    "soundstream_espeak_16khz": {
        "class_name": "SoundStream",
        "description": (
            "SoundStream codec, 16 kHz, 50 Hz frames, 4 RVQ levels x 1024 codes "
            "(0.5-2 kbps); STFT encoder, iSTFT decoder."
        ),
    },
}

# Classes that load a preset of another class (a backbone from its task's preset).
_LOADABLE_AS = {"SoundStormBackbone": "SoundStorm", "TextToSemanticBackbone": "TextToSemantic"}


def shipped_preset_path(name):
    """The local directory of shipped preset `name`."""
    return os.path.join(SHIPPED_DIR, name)


def resolve_preset(preset, class_name):
    """A shipped preset's name -> its local directory; other values unchanged (as str).

    Raises ValueError for a shipped name of another class (a codec's name
    given to `SoundStorm.from_preset`).
    """
    preset = os.fspath(preset)
    entry = SHIPPED_PRESETS.get(preset)
    if entry is None or os.path.isdir(preset):
        return preset
    wanted = _LOADABLE_AS.get(class_name, class_name)
    if entry["class_name"] != wanted:
        raise ValueError(
            f"Preset {preset!r} is a {entry['class_name']}, not a {class_name}; "
            f"{class_name} presets: {sorted(list_presets(class_name))}."
        )
    path = shipped_preset_path(preset)
    if not os.path.isdir(path):
        raise ValueError(
            f"Shipped preset {preset!r} is not installed (looked in {path}); reinstall "
            "keras-soundstorm."
        )
    return path


def list_presets(class_name):
    """`{name: {description, class_name, path, parameter_count, trained_on, metadata}}`.

    `metadata` is the preset's whole `metadata.json` (its `training` record and
    `evaluation` rows).
    """
    wanted = _LOADABLE_AS.get(class_name, class_name)
    listing = {}
    for name, entry in SHIPPED_PRESETS.items():
        if entry["class_name"] != wanted:
            continue
        path = shipped_preset_path(name)
        metadata = {}
        metadata_path = os.path.join(path, "metadata.json")
        if os.path.isfile(metadata_path):
            with open(metadata_path) as f:
                metadata = json.load(f)
        listing[name] = {
            **entry,
            "path": path,
            "parameter_count": metadata.get("parameter_count"),
            "trained_on": metadata.get("training", {}).get("trained_on"),
            "metadata": metadata,
        }
    return listing


class classproperty:
    """A read-only property of a class (`SoundStorm.presets`)."""

    def __init__(self, getter):
        self.getter = getter

    def __get__(self, instance, owner):
        return self.getter(owner)
