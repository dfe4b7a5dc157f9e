"""Input checks and optional-dependency imports shared by the evaluation metrics."""

import importlib

import numpy as np

INSTALL_HINT = "pip install keras-soundstorm[evaluation]"


def require(module_name, purpose):
    """Imports an optional package, or raises an ImportError saying how to get it."""
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(
            f"{purpose} needs the `{module_name}` package, which is not installed "
            f"({error}). Install the evaluation extra: {INSTALL_HINT}"
        ) from None


def check_sample_rate(sample_rate, name="sample_rate"):
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, int | np.integer)
        or sample_rate <= 0
    ):
        raise ValueError(f"`{name}` must be a positive int (Hz); got {sample_rate!r}.")
    return int(sample_rate)


def check_waveform(waveform, name="waveform", allow_silent=False):
    """A finite, non-empty 1-D float64 array; ValueError otherwise."""
    try:
        array = np.asarray(waveform, dtype="float64")
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be a 1-D array of audio samples; got {type(waveform).__name__}."
        ) from None
    if array.ndim != 1:
        raise ValueError(
            f"`{name}` must be a 1-D array of samples `[N]` (one mono utterance); "
            f"got shape {array.shape}."
        )
    if array.size == 0:
        raise ValueError(f"`{name}` is empty; it must hold at least one sample.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` contains NaN or infinite samples.")
    if not allow_silent and not np.any(array):
        raise ValueError(f"`{name}` is all zeros (silent): there is no voice to measure.")
    return array
