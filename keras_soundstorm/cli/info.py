"""`keras-soundstorm info`: versions, backend, shipped presets, or one preset's config.

Without a preset it imports no framework: versions come from the installed
packages' metadata and the presets from their metadata.json files.
"""

import json
import os
import sys
from importlib import metadata

from keras_soundstorm.cli.checks import check_preset


def info(args):
    from keras_soundstorm.version import __version__

    print(
        f"keras-soundstorm {__version__}, keras {_version('keras')}, keras-hub "
        f"{_version('keras-hub')}, backend {configured_backend()}"
    )
    if args.preset:
        check_preset("preset", args.preset)
        from keras_soundstorm.models.soundstorm import SoundStorm

        model = SoundStorm.from_preset(args.preset)
        print(json.dumps(model.backbone.get_config(), indent=2))
        print(f"parameters: {model.count_params():,}")
        return
    from keras_soundstorm.utils import preset_registry

    print("shipped presets (load by name with from_preset):")
    for class_name in ("SoundStorm", "SoundStream"):
        for name, entry in preset_registry.list_presets(class_name).items():
            print(f"  {name} ({class_name}, {entry['parameter_count']:,} parameters)")
            print(f"    {entry['description']}")


def _version(distribution):
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def configured_backend():
    """The backend Keras will pick, as Keras picks it (`KERAS_BACKEND`, then keras.json)."""
    if "keras" in sys.modules:  # e.g. after --dtype
        import keras

        return keras.backend.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as file:
            return json.load(file).get("backend", "tensorflow")
    except (OSError, ValueError):
        return "tensorflow"
