"""`keras-soundstorm export`: a SoundStorm or TextToSemantic preset as a SavedModel in a
TF Serving layout (the preset's task.json says which)."""

import os

from keras_soundstorm.cli.checks import check_output, check_preset, require

# Flags that apply to one kind of preset only.
SOUNDSTORM_FLAGS = ("steps_per_level",)
TEXT_TO_SEMANTIC_FLAGS = ("max_new_tokens", "temperature", "top_k", "top_p")


def next_version(model_dir):
    """TF Serving's layout is MODEL_DIR/<int version>/: one past the highest present."""
    present = (
        [int(n) for n in os.listdir(model_dir) if n.isdigit()] if os.path.isdir(model_dir) else []
    )
    return max(present, default=0) + 1


def preset_task(preset):
    """`(task class, local preset)`: `TextToSemantic` for a text-to-semantic
    preset (its task.json, or config.json for a backbone-only save), else `SoundStorm`."""
    from keras_soundstorm.models.soundstorm import SoundStorm
    from keras_soundstorm.models.text_to_semantic import TextToSemantic
    from keras_soundstorm.utils import preset_files
    from keras_soundstorm.utils.preset_registry import SHIPPED_PRESETS

    if preset in SHIPPED_PRESETS and not os.path.isdir(preset):
        return SoundStorm, preset  # the shipped models are SoundStorms (and codecs)
    local = preset_files.download_preset(preset)
    names = [
        preset_files.registered_name(os.path.join(local, name)) or ""
        for name in ("task.json", "config.json")
    ]
    if any(n.split(">")[-1] in ("TextToSemantic", "TextToSemanticBackbone") for n in names):
        return TextToSemantic, local
    return SoundStorm, local


def export(args):
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
    cls, preset = preset_task(args.preset)
    text_to_semantic = cls.__name__ == "TextToSemantic"
    other = SOUNDSTORM_FLAGS if text_to_semantic else TEXT_TO_SEMANTIC_FLAGS
    given = [f"--{n.replace('_', '-')}" for n in other if getattr(args, n, None) is not None]
    if given:
        raise ValueError(
            f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply to "
            f"--preset {args.preset!r}, a {cls.__name__} preset."
        )
    model = cls.from_preset(preset)
    if text_to_semantic:
        options = {n: getattr(args, n) for n in TEXT_TO_SEMANTIC_FLAGS}
        options = {n: value for n, value in options.items() if value is not None}
        model.export_saved_model(path, **options)
    else:
        model.export_saved_model(path, steps_per_level=args.steps_per_level)
    print(f"Wrote SavedModel {path} ({cls.__name__}, signature serving_default).")
