"""Atomic writes: a file or directory appears whole or not at all."""

import contextlib
import contextvars
import os
import shutil
import tempfile

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
