"""Returning freed heap memory to the operating system between windows of a long job."""

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim():
    """glibc's `malloc_trim`, or None (another C library, or not Linux)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def release_free_heap():
    """Hands the C heap's free pages back to the OS (glibc `malloc_trim(0)`; else a no-op).

    A windowed job allocates and frees the same large buffers once per
    window, from several threads; glibc keeps what is freed in per-thread
    arenas, so the process's resident memory creeps up with the number of
    windows although nothing is alive. Trimming after each window keeps the
    peak set by one window. Costs about a millisecond.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
