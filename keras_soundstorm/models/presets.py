"""Model sizes, argument checks and safe preset directories."""

import contextlib
import contextvars
import json
import os
import shutil
import tempfile

# Named backbone sizes. "paper" is the paper's ~350M model; "small" is the
# benchmark config of the core issue; "tiny" is for tests and quick starts.
CONFIGS = {
    "paper": dict(
        num_levels=12,
        codebook_size=1024,
        conditioning_vocabulary_size=1024,
        conditioning_rate_ratio=2,
        hidden_dim=1024,
        num_layers=12,
        num_heads=16,
        intermediate_dim=4096,
        conv_kernel_size=5,
    ),
    "small": dict(
        num_levels=12,
        codebook_size=1024,
        conditioning_vocabulary_size=1024,
        conditioning_rate_ratio=2,
        hidden_dim=512,
        num_layers=6,
        num_heads=8,
        intermediate_dim=2048,
        conv_kernel_size=5,
    ),
    "tiny": dict(
        num_levels=4,
        codebook_size=64,
        conditioning_vocabulary_size=32,
        conditioning_rate_ratio=2,
        hidden_dim=64,
        num_layers=2,
        num_heads=4,
        intermediate_dim=128,
        conv_kernel_size=5,
    ),
}


def _require_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}; got {value!r}.")


def validate_backbone_args(
    num_levels,
    codebook_size,
    conditioning_vocabulary_size,
    conditioning_rate_ratio,
    hidden_dim,
    num_layers,
    num_heads,
    intermediate_dim,
    conv_kernel_size,
    dropout,
):
    """Raises ValueError naming the first bad constructor argument."""
    _require_int("num_levels", num_levels, 1)
    _require_int("codebook_size", codebook_size, 2)
    if conditioning_vocabulary_size is not None:
        _require_int("conditioning_vocabulary_size", conditioning_vocabulary_size, 0)
    _require_int("conditioning_rate_ratio", conditioning_rate_ratio, 1)
    for name, value in [
        ("hidden_dim", hidden_dim),
        ("num_layers", num_layers),
        ("num_heads", num_heads),
        ("intermediate_dim", intermediate_dim),
        ("conv_kernel_size", conv_kernel_size),
    ]:
        _require_int(name, value, 1)
    if hidden_dim % num_heads:
        raise ValueError(
            f"`hidden_dim` ({hidden_dim}) must be divisible by `num_heads` ({num_heads})."
        )
    if (hidden_dim // num_heads) % 2:
        raise ValueError(
            f"The head size hidden_dim / num_heads = {hidden_dim // num_heads} must be "
            "even for rotary embeddings."
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1); got {dropout}.")


_staging_dirs = contextvars.ContextVar("staging_dirs", default=())


@contextlib.contextmanager
def atomic_directory(target):
    """Yields a staging directory that replaces `target` only on success.

    A save that dies half-way leaves the previous `target` untouched (the
    staging directory sits beside it and is removed on error). Nested uses
    (a task saving its backbone into its own staging directory) write in place.
    """
    target = os.path.abspath(os.fspath(target))
    if _staging_dirs.get() and target in _staging_dirs.get():
        yield target
        return
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".staging-", dir=parent)
    token = _staging_dirs.set(_staging_dirs.get() + (staging,))
    try:
        yield staging
        _staging_dirs.reset(token)
        token = None
        backup = None
        if os.path.exists(target):
            backup = tempfile.mkdtemp(prefix=".previous-", dir=parent)
            os.rmdir(backup)
            os.rename(target, backup)
        os.rename(staging, target)
        if backup:
            shutil.rmtree(backup, ignore_errors=True)
    except BaseException:
        if token is not None:
            _staging_dirs.reset(token)
        shutil.rmtree(staging, ignore_errors=True)
        raise


def atomic_write_text(path, text):
    """Writes `text` to `path` through a temporary file and `os.replace`."""
    temp_path = f"{path}.tmp-{os.getpid()}"
    try:
        with open(temp_path, "w") as f:
            f.write(text)
        os.replace(temp_path, path)
    except BaseException:
        if os.path.exists(temp_path):
            os.remove(temp_path)
        raise


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
            f"Preset directory {preset!r} does not exist. Pass a directory written "
            "by `save_to_preset` (or a kaggle:// or hf:// handle)."
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
