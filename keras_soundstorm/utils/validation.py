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
