"""Atomic writes: a file or directory appears whole or not at all.

Directory saves (`atomic_directory`: presets, SavedModel exports) follow this
protocol, for a target `<parent>/<name>`:

1. Refuse a target we could lose data in: a regular file, or a non-empty
   directory that is not of the caller's kind (`DirectoryKind`: e.g. a
   SoundStorm preset, a SavedModel). We never delete what we did not write.
2. Write everything into `<parent>/.<name>.staging-<pid>-<random>`.
3. Swap: rename the old target to `<parent>/.<name>.previous-<pid>-<random>`,
   rename the staging folder to the target, then delete the previous folder.

A process killed at any step leaves one of three states, and the next save
AND the next load of that target (`recover_directory`) restore or clean up:

- killed while writing: the target is intact; the stale `.<name>.staging-*`
  folder is removed;
- killed between the two renames: the target is missing; the
  `.<name>.previous-*` folder (the old, complete target) is restored as
  the target and the staging folder removed;
- killed while deleting the previous folder: the target is the new, complete
  one; the rest of `.<name>.previous-*` is removed.

Only folders named after that target whose writing process (`<pid>`) is no
longer running are touched, so a save in progress elsewhere is left alone.
"""

import contextlib
import contextvars
import os
import re
import shutil
import tempfile

_staging_dirs = contextvars.ContextVar("staging_dirs", default=())


class DirectoryKind:
    """What a directory a save may replace holds.

    `description`: e.g. "SoundStorm preset (task.json of keras_soundstorm>SoundStorm)".
    `matches(path) -> bool`: whether directory `path` is of this kind.
    """

    def __init__(self, description, matches):
        self.description = description
        self.matches = matches

    def __repr__(self):
        return f"DirectoryKind({self.description!r})"


# What a SavedModel export may replace: a SavedModel (with its saved_model.pb).
SAVED_MODEL = DirectoryKind(
    "SavedModel export (a directory with saved_model.pb)",
    lambda path: os.path.isfile(os.path.join(path, "saved_model.pb")),
)


def _leftovers(target):
    """`[(path, role, pid)]` of the staging / previous folders of `target`."""
    parent, name = os.path.split(target)
    pattern = re.compile(re.escape(f".{name}.") + r"(staging|previous)-(\d+)-[^/]*\Z")
    found = []
    try:
        entries = os.listdir(parent)
    except OSError:
        return found
    for entry in entries:
        match = pattern.match(entry)
        if match:
            found.append((os.path.join(parent, entry), match.group(1), int(match.group(2))))
    return found


def _is_running(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_directory(target):
    """Repairs what a killed `atomic_directory` save of `target` left (see the module doc).

    Restores the newest `.<name>.previous-*` when `target` is missing, and
    removes the other staging / previous folders of `target` whose process has
    exited. Returns the path restored, or None.
    """
    target = os.path.abspath(os.fspath(target))
    leftovers = [item for item in _leftovers(target) if not _is_running(item[2])]
    restored = None
    if not os.path.lexists(target):
        previous = [path for path, role, _ in leftovers if role == "previous"]
        if previous:
            restored = max(previous, key=os.path.getmtime)
            os.rename(restored, target)
    for path, _, _ in leftovers:
        if path != restored:
            shutil.rmtree(path, ignore_errors=True)
    return restored


def _check_replaceable(target, kind):
    if not os.path.lexists(target):
        return
    what = kind.description if kind is not None else "directory of the same kind"
    if not os.path.isdir(target):
        raise ValueError(
            f"Cannot save to {target!r}: it is a regular file (or not a directory), "
            f"and a save writes a directory. Pass a new or empty directory, or an "
            f"existing {what}; the file was left untouched."
        )
    if os.listdir(target) and (kind is None or not kind.matches(target)):
        raise ValueError(
            f"Cannot save to {target!r}: the directory is not empty and is not a {what}, "
            "so replacing it would delete files we did not write. Pass a new or empty "
            f"directory, or an existing {what}; nothing was changed."
        )


@contextlib.contextmanager
def atomic_directory(target, kind=None):
    """Yields a staging directory that replaces `target` only on success.

    `kind`: a `DirectoryKind`; a non-empty `target` must match it (else a
    ValueError, before anything is written). A save that dies half-way
    leaves the previous `target` untouched, and a process killed during the
    swap leaves folders the next save or load repairs (see the module doc).
    Nested uses (a task saving its backbone into its own staging directory)
    write in place.
    """
    target = os.path.abspath(os.fspath(target))
    if _staging_dirs.get() and target in _staging_dirs.get():
        yield target
        return
    recover_directory(target)
    _check_replaceable(target, kind)
    parent, name = os.path.split(target)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{name}.staging-{os.getpid()}-", dir=parent)
    token = _staging_dirs.set(_staging_dirs.get() + (staging,))
    try:
        yield staging
        _staging_dirs.reset(token)
        token = None
        if os.path.lexists(target):
            _check_replaceable(target, kind)
            backup = tempfile.mkdtemp(prefix=f".{name}.previous-{os.getpid()}-", dir=parent)
            os.rmdir(backup)
            os.rename(target, backup)
            try:
                os.rename(staging, target)
            except BaseException:
                os.rename(backup, target)
                raise
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.rename(staging, target)
    except BaseException:
        if token is not None:
            _staging_dirs.reset(token)
        shutil.rmtree(staging, ignore_errors=True)
        raise


def atomic_write_text(path, text):
    """Writes `text` to `path` through a temporary file and `os.replace`."""
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path, data):
    """Writes `data` to `path` through a temporary file and `os.replace`."""
    path = os.fspath(path)
    temp_path = f"{path}.tmp-{os.getpid()}"
    try:
        with open(temp_path, "wb") as f:
            f.write(data)
        os.replace(temp_path, path)
    except BaseException:
        if os.path.exists(temp_path):
            os.remove(temp_path)
        raise


def check_writable(label, path, kind):
    """Fails unless `path` can be written as a `kind` ("file" or "directory").

    For checks before any work: the nearest existing ancestor must be a
    writable directory, and an existing `path` must be of the same kind (an
    existing file is never replaced by a directory, nor a directory by a
    file). `label` names the argument in the ValueError (e.g. "`output`").
    """
    path = os.path.abspath(path)
    if os.path.exists(path):
        if kind == "file" and os.path.isdir(path):
            raise ValueError(f"{label} {path!r} is a directory; expected a file path.")
        if kind == "directory" and not os.path.isdir(path):
            raise ValueError(f"{label} {path!r} is an existing file; expected a directory.")
    parent = path if kind == "directory" and os.path.isdir(path) else os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(f"{label} {path!r} cannot be written: {parent!r} is a file.")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as error:
        raise ValueError(
            f"{label} {path!r} cannot be written: {parent!r} is not writable "
            f"({error.strerror or error})."
        ) from None
