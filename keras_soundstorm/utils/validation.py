"""Argument checks that name the argument and what is accepted."""

import numbers


def require_int(name, value, minimum=None, maximum=None):
    """Returns `value` as a Python int, or raises ValueError naming `name`.

    Accepts Python and numpy integers (not bools, floats or strings) within
    `[minimum, maximum]` (either bound may be None).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"`{name}` must be an int; got {value!r}.")
    value = int(value)
    if minimum is not None and value < minimum:
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"`{name}` must be an int {bound}; got {value}.")
    if maximum is not None and value > maximum:
        bound = f"<= {maximum}" if minimum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"`{name}` must be an int {bound}; got {value}.")
    return value
