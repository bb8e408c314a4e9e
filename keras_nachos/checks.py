"""Argument checks in Keras' wording, shared by every public entry point.

Each check raises, before any work, a `ValueError` (bad value) or a
`TypeError` (bad type) that names the argument and the value received:
"Invalid value received for argument `pool_size`. Expected a positive
integer. Received: pool_size=0". Booleans are never accepted as numbers, and
NaN fails every range.
"""

import math
import numbers

import numpy as np

from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value


def is_integer(value):
    """Whether `value` is an integer (a Python or numpy int, not a bool)."""
    return isinstance(value, numbers.Integral) and not isinstance(
        value, (bool, np.bool_)
    )


def is_real(value):
    """Whether `value` is a real number (int or float, not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(
        value, (bool, np.bool_)
    )


def check_int(name, value, min_value=None, expected=None):
    """Checks an integer argument (`>= min_value` when given); returns it."""
    expected = expected or (
        "an integer" if min_value is None
        else "a positive integer" if min_value == 1
        else "a non-negative integer" if min_value == 0
        else f"an integer >= {min_value}"
    )
    if not is_integer(value):
        raise invalid_value(name, expected, value)
    if min_value is not None and value < min_value:
        raise invalid_value(name, expected, value)
    return int(value)


def check_float(name, value, low=None, high=None, low_open=False,
                high_open=False, expected=None):
    """Checks a real number in a range (bounds optional); returns a float."""
    if expected is None:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        if low is not None and high is not None:
            expected = f"a float in {left}{low:g}, {high:g}{right}"
        elif low is not None:
            expected = (
                f"a float > {low:g}" if low_open else f"a float >= {low:g}"
            )
        else:
            expected = "a float"
    if not is_real(value):
        raise invalid_value(name, expected, value)
    number = float(value)
    inside = not math.isnan(number)
    if low is not None:
        inside = inside and (number > low if low_open else number >= low)
    if high is not None:
        inside = inside and (number < high if high_open else number <= high)
    if not inside:
        raise invalid_value(name, expected, value)
    return number


def check_bool(name, value):
    """Checks a boolean argument (Python or numpy bool); returns a bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise invalid_type(name, "a boolean", value)
    return bool(value)


def check_ints(name, values, min_value=1, odd=False, allow_empty=False):
    """Checks a list or tuple of integers (each `>= min_value`); returns a tuple."""
    kind = (
        "odd positive integers" if odd
        else "positive integers" if min_value == 1
        else f"integers >= {min_value}"
    )
    expected = f"a {'' if allow_empty else 'non-empty '}list of {kind}"
    if not isinstance(values, (list, tuple)):
        raise invalid_value(name, expected, values)
    if not values and not allow_empty:
        raise invalid_value(name, expected, values)
    if not all(
        is_integer(v) and v >= min_value and (not odd or v % 2 == 1)
        for v in values
    ):
        raise invalid_value(name, expected, values)
    return tuple(int(v) for v in values)


def check_choice(name, value, choices):
    """Checks that `value` is one of `choices`; returns it."""
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(f'"{c}"' for c in choices)
        raise invalid_value(name, f"one of {listed}", value)
    return value


def check_callable(name, value, allow_none=True):
    """Checks a callable argument (or `None`); returns it."""
    if value is None and allow_none:
        return value
    if not callable(value):
        raise invalid_type(
            name, "a callable" + (" or None" if allow_none else ""), value
        )
    return value
