"""Preset directories on disk: checks before loading, records in metadata.json."""

import json
import os

from keras_soundstorm.utils.files import atomic_write_text


def record_in_metadata(preset_dir, key, value):
    """Sets `metadata.json[key] = value` in a local preset, atomically.

    Used to store a preset's evaluation numbers beside its training record.
    """
    path = os.path.join(os.fspath(preset_dir), "metadata.json")
    if not os.path.isfile(path):
        raise ValueError(f"{preset_dir!r} has no metadata.json; is it a preset directory?")
    with open(path) as f:
        metadata = json.load(f)
    metadata[key] = value
    atomic_write_text(path, json.dumps(metadata, indent=2) + "\n")


def check_preset(preset, cls, task):
    """Clear errors for a local preset directory that cannot be loaded as `cls`.

    Handles (`kaggle://`, `hf://`) are left to KerasHub. Returns `preset` as a str.
    """
    preset = os.fspath(preset)
    if "://" in preset:
        return preset
    if not os.path.isdir(preset):
        raise ValueError(
            f"Preset {preset!r} is neither a shipped preset of {cls.__name__} "
            f"(`{cls.__name__}.presets`) nor an existing directory. Pass a shipped preset's "
            "name, a directory written by `save_to_preset` or a kaggle:// or hf:// handle."
        )
    required = ["config.json", "metadata.json", "model.weights.h5"]
    if task:
        required.append("task.json")
    missing = [
        name
        for name in required
        if not os.path.exists(os.path.join(preset, name))
        and not (name == "model.weights.h5" and _has_sharded_weights(preset))
    ]
    if missing:
        raise ValueError(
            f"Preset directory {preset!r} is missing {', '.join(missing)}; a "
            f"{cls.__name__} preset holds {', '.join(required)}."
        )
    # Tasks keep their backbone's config in config.json; other models their own.
    config_class = getattr(cls, "backbone_cls", cls).__name__
    expected = {"config.json": f"keras_soundstorm>{config_class}"}
    if task:
        expected["task.json"] = f"keras_soundstorm>{cls.__name__}"
    for name, want in expected.items():
        with open(os.path.join(preset, name)) as f:
            try:
                found = json.load(f).get("registered_name")
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"{name} in preset {preset!r} is not valid JSON: {error}"
                ) from None
        if found != want:
            raise ValueError(f"Preset {preset!r} holds a {found!r} in {name}, not a {want!r}.")
    return preset


def _has_sharded_weights(preset):
    return os.path.exists(os.path.join(preset, "model.weights.json"))


def download_preset(handle):
    """A `kaggle://owner/model/keras/variant[/version]` or `hf://owner/name` handle -> local dir.

    Uses `kagglehub` / `huggingface_hub` (both come with keras-hub); needs the
    internet. Other strings are returned unchanged.
    """
    handle = os.fspath(handle)
    scheme, _, rest = handle.partition("://")
    if not rest:
        return handle
    if scheme == "kaggle":
        import kagglehub

        return kagglehub.model_download(rest)
    if scheme == "hf":
        import huggingface_hub

        return huggingface_hub.snapshot_download(repo_id=rest)
    raise ValueError(
        f"Preset handle {handle!r} has an unknown scheme {scheme!r}; use kaggle://, hf:// "
        "or a local directory."
    )
