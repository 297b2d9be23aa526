"""Type tests for values read from JSON (``bool`` is not a number)."""
import math
import numbers


def is_int(value):
    """An integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value):
    """A finite real number, not a bool."""
    if is_int(value):
        return True
    return isinstance(value, numbers.Real) and not isinstance(
        value, bool) and math.isfinite(value)
