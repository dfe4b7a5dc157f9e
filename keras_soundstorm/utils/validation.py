"""Argument checks that name the argument and what is accepted."""

import math
import numbers


def require_int(name, value, minimum=None, maximum=None):
    """Returns `value` as a Python int, or raises ValueError naming `name`.

    Accepts Python and numpy integers (not bools, floats or strings) within
    `[minimum, maximum]` (either bound may be None).
    """
    if minimum is not None and maximum is not None:
        accepted = f"an int in [{minimum}, {maximum}]"
    elif minimum is not None:
        accepted = f"an int >= {minimum}"
    elif maximum is not None:
        accepted = f"an int <= {maximum}"
    else:
        accepted = "an int"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"`{name}` must be {accepted}; got {value!r}.")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"`{name}` must be {accepted}; got {value}.")
    return value


def require_real(name, value, minimum=None, exclusive_minimum=False, accepted=None):
    """Returns `value` as a finite Python float, or raises ValueError naming `name`.

    Accepts Python and numpy reals (not bools, strings or None), finite and
    `>= minimum` (`> minimum` if `exclusive_minimum`). `accepted` overrides the
    description of what is accepted in the message.
    """
    if accepted is None:
        accepted = "a finite number"
        if minimum is not None:
            accepted += f" {'>' if exclusive_minimum else '>='} {minimum:g}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"`{name}` must be {accepted}; got {value!r}.")
    value = float(value)
    too_small = minimum is not None and (value <= minimum if exclusive_minimum else value < minimum)
    if not math.isfinite(value) or too_small:
        raise ValueError(f"`{name}` must be {accepted}; got {value!r}.")
    return value


def check_waveform(name, waveform, rate_name=None, rate=None, min_samples=1):
    """Checks a float waveform `[N]` or `[N, channels]` and its sample rate.

    Raises ValueError naming `name` (or `rate_name`) for: integer (PCM) or
    non-numeric arrays (convert to float in [-1, 1] first, e.g.
    `pcm / 32768`), a channels-first `[channels, N]` array (more channels than
    samples), other ranks, non-finite samples, fewer than `min_samples`
    samples, and a `rate` that is not an int > 0 (`rate` None: not checked).
    Returns the waveform as a numpy array (not copied or converted).
    """
    import numpy as np

    if rate is not None:
        require_int(rate_name or "sample_rate", rate, minimum=1)
    array = np.asarray(waveform)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.floating):
        hint = " (integer PCM? divide by 32768 for int16)" if array.dtype.kind in "iu" else ""
        raise ValueError(
            f"`{name}` must be a float waveform [N] or [N, channels] in [-1, 1]; got dtype "
            f"{array.dtype}{hint}."
        )
    if array.ndim not in (1, 2):
        raise ValueError(
            f"`{name}` must be a waveform [N] or [N, channels]; got shape {array.shape}."
        )
    if array.ndim == 2 and array.shape[0] < array.shape[1]:
        raise ValueError(
            f"`{name}` has shape {array.shape}: channels-first? It must be [N, channels] "
            f"(samples first); pass `{name}.T`."
        )
    if len(array) < min_samples:
        raise ValueError(f"`{name}` holds {len(array)} samples; it needs at least {min_samples}.")
    if not np.isfinite(array).all():
        raise ValueError(f"`{name}` holds NaN or inf samples.")
    return array
