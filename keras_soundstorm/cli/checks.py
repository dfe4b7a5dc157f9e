"""Checks of the CLI's path and preset flags, run before any work.

Rules on values (ints, decoding settings, generation inputs) are checked by
the Python functions the commands call; `main` shows the argument names in
their messages as the flags that set them.
"""

import os

from keras_soundstorm.utils.files import check_writable


def require(flag, value, minimum=1):
    """`flag`'s int `value` (None: unset) must be >= `minimum`."""
    if value is not None and value < minimum:
        raise ValueError(f"{flag} must be >= {minimum}; got {value}.")


def check_input_file(flag, path):
    if path is not None and not os.path.isfile(path):
        what = "a directory" if os.path.isdir(path) else "no such file"
        raise ValueError(f"{flag} {path!r}: {what}; expected a file.")


def check_input_dir(flag, path):
    if not os.path.isdir(path):
        what = "a file" if os.path.exists(path) else "no such directory"
        raise ValueError(f"{flag} {path!r}: {what}; expected a directory.")


def check_preset(flag, preset):
    """A preset directory, a shipped preset's name or a `kaggle://` / `hf://` handle."""
    from keras_soundstorm.utils.preset_registry import SHIPPED_PRESETS

    if "://" in preset or preset in SHIPPED_PRESETS or os.path.isdir(preset):
        return
    what = "a file, not a preset directory" if os.path.exists(preset) else "no such directory"
    raise ValueError(
        f"{flag} {preset!r}: {what}; give a preset directory or a shipped preset "
        f"({', '.join(sorted(SHIPPED_PRESETS))})."
    )


def check_output(flag, path, kind):
    """`path` can be written as a `kind` ("file" or "directory"): see `files.check_writable`."""
    check_writable(flag, path, kind)
