"""Preset directories on disk: checks before loading, records in metadata.json."""

import collections
import contextvars
import hashlib
import inspect
import json
import os
import warnings

from keras_soundstorm.utils import files
from keras_soundstorm.utils.files import atomic_write_text

# metadata.json key: {weight file name: sha256 hex digest}, written at save time.
CHECKSUMS_KEY = "weights_sha256"


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


def check_preset(preset, cls, task, load_weights=True):
    """Clear errors for a local preset directory that cannot be loaded as `cls`.

    Repairs what a killed save left (`files.recover_directory`), then checks
    the files are there (a task preset needs its task.weights.h5 too), the
    configs name `cls`, take only keys `cls` accepts and agree with each other,
    and (`load_weights`) that each weight file matches the sha256 recorded in
    metadata.json (see `verify_checksums` for presets without checksums).
    Handles (`kaggle://`, `hf://`) are left to KerasHub. Returns `preset` as a str.
    """
    preset = os.fspath(preset)
    if "://" in preset:
        return preset
    files.recover_directory(preset)
    if not os.path.isdir(preset):
        raise ValueError(
            f"Preset {preset!r} is neither a shipped preset of {cls.__name__} "
            f"(`{cls.__name__}.presets`) nor an existing directory. Pass a shipped preset's "
            "name, a directory written by `save_to_preset` or a kaggle:// or hf:// handle."
        )
    required = ["config.json", "metadata.json", "model.weights.h5"]
    if task:
        required += ["task.json", "task.weights.h5"]
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
                data = json.load(f)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"{name} in preset {preset!r} is not valid JSON: {error}"
                ) from None
        if not isinstance(data, dict):
            raise ValueError(
                f"{name} in preset {preset!r} must hold a JSON object with the "
                f"{want!r} config; got {type(data).__name__}."
            )
        found = data.get("registered_name")
        if found != want:
            raise ValueError(f"Preset {preset!r} holds a {found!r} in {name}, not a {want!r}.")
    _check_configs(preset, cls, task)
    if load_weights:
        verify_checksums(preset)
    return preset


def _has_sharded_weights(preset):
    return os.path.exists(os.path.join(preset, "model.weights.json"))


def download_preset(handle):
    """A `kaggle://owner/model/keras/variant[/version]` or `hf://owner/name` handle -> local dir.

    Uses `kagglehub` / `huggingface_hub` (both come with keras-hub); needs the
    internet: when the hub cannot be reached, a one-line ValueError names the
    handle and says so. Other strings are returned unchanged.
    """
    handle = os.fspath(handle)
    scheme, _, rest = handle.partition("://")
    if not rest:
        return handle
    if scheme not in ("kaggle", "hf"):
        raise ValueError(
            f"Preset handle {handle!r} has an unknown scheme {scheme!r}; use kaggle://, hf:// "
            "or a local directory."
        )
    try:
        if scheme == "kaggle":
            import kagglehub

            return kagglehub.model_download(rest)
        import huggingface_hub

        return huggingface_hub.snapshot_download(repo_id=rest)
    except Exception as error:
        if not _is_unreachable(error):
            raise
        host = "Kaggle" if scheme == "kaggle" else "the Hugging Face Hub"
        raise ValueError(
            f"Preset handle {handle!r} cannot be downloaded: the network is unreachable "
            f"({host} did not answer: {type(error).__name__}). Connect, or download it "
            "elsewhere and pass its local directory."
        ) from None


def _is_unreachable(error):
    """Whether `error` (from kagglehub / huggingface_hub) means no connection to the hub."""
    unreachable = [ConnectionError, TimeoutError]
    try:
        import requests

        unreachable += [requests.exceptions.ConnectionError, requests.exceptions.Timeout]
    except ImportError:
        pass
    try:
        import httpx

        unreachable.append(httpx.TransportError)
    except ImportError:
        pass
    try:
        # What huggingface_hub raises when it cannot connect and has no cached copy.
        from huggingface_hub.errors import LocalEntryNotFoundError

        unreachable.append(LocalEntryNotFoundError)
    except ImportError:
        pass
    return isinstance(error, tuple(unreachable))


# --- What a save may replace -------------------------------------------------


def registered_name(path):
    """`registered_name` of JSON file `path`, or None (missing, unreadable, not a dict)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data.get("registered_name") if isinstance(data, dict) else None


def preset_kind(cls, task):
    """The `files.DirectoryKind` of a preset of `cls` (a save of `cls` may replace it).

    A task preset is recognised by its task.json, other presets by their
    config.json (and no task.json: a backbone save does not replace a task's preset).
    """
    want = f"keras_soundstorm>{cls.__name__}"
    if task:
        description = f"{cls.__name__} preset (task.json of {want})"

        def matches(path):
            return registered_name(os.path.join(path, "task.json")) == want

    else:
        description = f"{cls.__name__} preset (config.json of {want})"

        def matches(path):
            return registered_name(
                os.path.join(path, "config.json")
            ) == want and not os.path.exists(os.path.join(path, "task.json"))

    return files.DirectoryKind(description, matches)


# --- Checksums ---------------------------------------------------------------


def file_sha256(path):
    """The hex sha256 of file `path`."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _weight_files(preset_dir):
    return sorted(
        name
        for name in os.listdir(preset_dir)
        if name.endswith(".h5") or name.endswith(".weights.json")
    )


def _read_metadata(preset_dir):
    path = os.path.join(preset_dir, "metadata.json")
    try:
        with open(path) as f:
            metadata = json.load(f)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path!r} is not valid JSON: {error}") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"{path!r} must hold a JSON object; got {type(metadata).__name__}.")
    return metadata


def record_checksums(preset_dir):
    """Records the sha256 of each weight file of `preset_dir` in its metadata.json
    (`weights_sha256: {file name: hex digest}`), merged into what is there."""
    preset_dir = os.fspath(preset_dir)
    path = os.path.join(preset_dir, "metadata.json")
    metadata = _read_metadata(preset_dir) if os.path.exists(path) else {}
    metadata[CHECKSUMS_KEY] = {
        name: file_sha256(os.path.join(preset_dir, name)) for name in _weight_files(preset_dir)
    }
    atomic_write_text(path, json.dumps(metadata, indent=2) + "\n")


class UnverifiedPresetWarning(UserWarning):
    """A preset was loaded whose weight files have no recorded sha256."""


def verify_checksums(preset_dir):
    """Checks each weight file against the sha256 recorded in metadata.json.

    Returns True when checked. Raises ValueError naming a file that is
    missing or does not match, or a checksum map that is not a mapping.

    A preset whose checksum map is missing or empty is loaded with an
    `UnverifiedPresetWarning` naming it (and False is returned), not refused:
    presets saved before checksums were recorded (every SpeechTokenizer preset
    before 0.x, SoundStream presets of the first releases, KerasHub's own
    `save_to_preset`) are otherwise sound, and refusing them would strand
    users' models; re-saving the model with `save_to_preset` records the map.
    Weight files present but absent from a non-empty map get the same warning.
    """
    preset_dir = os.fspath(preset_dir)
    recorded = _read_metadata(preset_dir).get(CHECKSUMS_KEY)
    if recorded is None or recorded == {}:
        state = "no" if recorded is None else "an empty"
        warnings.warn(
            f"Preset {preset_dir!r} has {state} `{CHECKSUMS_KEY}` map in its metadata.json: "
            "its weight files cannot be verified. Re-save it with `save_to_preset` to record "
            "their sha256.",
            UnverifiedPresetWarning,
            stacklevel=3,
        )
        return False
    if not isinstance(recorded, dict):
        raise ValueError(
            f"`{CHECKSUMS_KEY}` in {os.path.join(preset_dir, 'metadata.json')!r} must map "
            f"file names to sha256 digests; got {recorded!r}."
        )
    for name, digest in sorted(recorded.items()):
        path = os.path.join(preset_dir, name)
        if not os.path.isfile(path):
            raise ValueError(
                f"Weights file {path!r} is missing; its sha256 is recorded in metadata.json."
            )
        found = file_sha256(path)
        if found != digest:
            raise ValueError(
                f"Weights file {path!r} does not match the sha256 recorded in metadata.json "
                f"(recorded {digest[:16]}..., found {found[:16]}...): it is corrupted or was "
                "changed after the preset was saved."
            )
    unlisted = sorted(set(_weight_files(preset_dir)) - set(recorded))
    if unlisted:
        warnings.warn(
            f"Preset {preset_dir!r} has weight files without a recorded sha256: "
            f"{', '.join(unlisted)}; they cannot be verified.",
            UnverifiedPresetWarning,
            stacklevel=3,
        )
    return True


# --- Configs and weights that disagree ---------------------------------------

_BASE_CONFIG_KEYS = {"name", "trainable", "dtype"}


def _accepted_keys(cls):
    parameters = inspect.signature(cls.__init__).parameters.values()
    named = {p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)} - {
        "self"
    }
    # Keys of an older naming that `cls.from_config` still migrates.
    return named | _BASE_CONFIG_KEYS | set(getattr(cls, "legacy_config_keys", ()))


def check_config_keys(preset, name, config, cls):
    """ValueError naming keys of `config` (from file `name`) that `cls` does not take."""
    if not isinstance(config, dict):
        raise ValueError(
            f"`config` in {name} of preset {preset!r} must be a JSON object; got {config!r}."
        )
    unknown = sorted(set(config) - _accepted_keys(cls))
    if unknown:
        raise ValueError(
            f"{name} in preset {preset!r} has unknown config keys {unknown}; "
            f"{cls.__name__} accepts {sorted(_accepted_keys(cls))}."
        )


def _check_configs(preset, cls, task):
    config_class = getattr(cls, "backbone_cls", cls)
    configs = {}
    for name in ["config.json"] + (["task.json"] if task else []):
        with open(os.path.join(preset, name)) as f:
            configs[name] = json.load(f).get("config")
    check_config_keys(preset, "config.json", configs["config.json"], config_class)
    if not task:
        return
    check_config_keys(preset, "task.json", configs["task.json"], cls)
    backbone = (configs["task.json"].get("backbone") or {}).get("config")
    check_config_keys(preset, "task.json (its backbone)", backbone, config_class)
    for key in sorted(set(backbone) | set(configs["config.json"])):
        if key in _BASE_CONFIG_KEYS:
            continue
        a, b = configs["config.json"].get(key), backbone.get(key)
        if a != b:
            raise ValueError(
                f"Preset {preset!r} is inconsistent: `{key}` is {a!r} in config.json but "
                f"{b!r} in task.json's backbone. Re-save the model with `save_to_preset`."
            )


def _h5_shapes(path):
    import h5py

    shapes = []
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda _, item: (
                shapes.append(tuple(item.shape)) if isinstance(item, h5py.Dataset) else None
            )
        )
    return shapes


# Set while `load_checked_weights` loads a file, so that `load_preset_weights`
# (called by the model's `load_weights`) does not check it a second time.
_LOADING_CHECKED = contextvars.ContextVar("loading_checked_weights", default=False)


def load_checked_weights(preset, name, variables, load):
    """Loads weight file `name` of `preset` with `load(path)` after checking that
    it holds exactly `variables` (their number and shapes).

    Any failure is a ValueError naming the file: one that does not match the
    config (edited config.json, a file of another preset) or cannot be read.
    """
    path = os.path.join(os.fspath(preset), name)
    try:
        if name.endswith(".h5"):
            found = collections.Counter(_h5_shapes(path))
            wanted = collections.Counter(tuple(v.shape) for v in variables)
            if found != wanted:
                extra = sorted((found - wanted).elements())[:4]
                absent = sorted((wanted - found).elements())[:4]
                raise ValueError(
                    f"Weights file {path!r} does not match the config of preset "
                    f"{os.fspath(preset)!r}: the file holds {sum(found.values())} variables, "
                    f"the config builds {sum(wanted.values())} (shapes only in the file: "
                    f"{extra}; only in the model: {absent}). Was config.json edited, or the "
                    "weights copied from another preset?"
                )
        token = _LOADING_CHECKED.set(True)
        try:
            load(path)
        finally:
            _LOADING_CHECKED.reset(token)
    except (OSError, ValueError, KeyError) as error:
        if path in str(error):
            raise
        raise ValueError(
            f"Cannot load weights file {path!r} of preset {os.fspath(preset)!r}: {error}"
        ) from error


def load_backbone_weights(preset, backbone):
    """Loads a KerasHub backbone's weights (one file or shards) from local `preset`."""
    if os.path.exists(os.path.join(preset, "model.weights.h5")):
        load_checked_weights(preset, "model.weights.h5", backbone.weights, backbone.load_weights)
    else:
        load_checked_weights(preset, "model.weights.json", backbone.weights, backbone.load_weights)


def checked_config(config, cls):
    """`config` after `check_config_keys` (a ValueError naming unknown keys)."""
    check_config_keys("a preset", "config.json", config, cls)
    return config


def load_preset_weights(model, filepath, load):
    """`load(filepath)` into `model`, with the preset checks if `filepath` is in a preset.

    For a model's `load_weights`: `keras_hub.models.Backbone.from_preset`
    loads weights through it without calling the model's own `from_preset`.
    When `filepath`'s folder is a preset of `type(model)` (its config.json
    names that class), this runs what `from_preset` runs: the preset check
    (files, config keys, sha256) and the check that the file matches the
    model's variables. Other paths, and loads already checked, go straight
    to `load`.
    """
    preset = os.path.dirname(os.path.abspath(os.fspath(filepath)))
    want = f"keras_soundstorm>{type(model).__name__}"
    if _LOADING_CHECKED.get() or registered_name(os.path.join(preset, "config.json")) != want:
        return load(filepath)
    check_preset(preset, type(model), task=False)
    return load_checked_weights(preset, os.path.basename(filepath), model.weights, load)
