"""`keras-soundstorm export`: `SoundStorm.export_saved_model` into a TF Serving layout."""

import os

from keras_soundstorm.cli.checks import check_output, check_preset, require


def next_version(model_dir):
    """TF Serving's layout is MODEL_DIR/<int version>/: one past the highest present."""
    present = (
        [int(n) for n in os.listdir(model_dir) if n.isdigit()] if os.path.isdir(model_dir) else []
    )
    return max(present, default=0) + 1


def export(args):
    from keras_soundstorm.models.soundstorm import SoundStorm

    check_preset("--preset", args.preset)
    require("--version", args.version)
    check_output("--output", args.output, "directory")
    version = args.version or next_version(args.output)
    path = os.path.join(args.output, str(version))
    if os.path.exists(path):
        raise ValueError(
            f"--output {args.output!r} already has version {version} ({path}); pass another "
            "--version, or none for the next free one."
        )
    model = SoundStorm.from_preset(args.preset)
    model.export_saved_model(path, steps_per_level=args.steps_per_level)
    print(f"Wrote SavedModel {path} (signature serving_default).")
