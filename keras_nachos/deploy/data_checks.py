"""Checks of the arrays the deployment side is handed.

The images a runtime runs and the representative data an int8 conversion
calibrates on: of the model's input shape, numeric (`check_inputs`),
non-empty where they must be, and finite. NaN images would otherwise
predict a class (int8 quantisation turns NaN into some integer), and NaN
representative data crash TensorFlow's converter.
"""

import numpy as np

from keras_nachos.data_utils import check_inputs
from keras_nachos.errors import invalid_value


def check_finite(x, argument="x"):
    """Raises unless every value of the numeric array `x` is finite.

    Args:
        x: Numpy array (or array-like) of numbers.
        argument: Name of the argument, for the error message.

    Example:

    >>> check_finite(np.zeros((2, 3)), "x")  # Finite: no error.
    >>> check_finite(np.array([0.0, np.nan]), "x")  # doctest: +SKIP
    ValueError: Invalid value received for argument `x`. Expected finite
    values (no NaN or infinity). Received: x=an array of shape (2,) with 1
    NaN and 0 infinite values
    """
    x = np.asarray(x)
    if x.dtype.kind not in "fc":  # Integers and booleans are finite.
        return
    finite = np.isfinite(x)
    if finite.all():
        return
    nan = int(np.isnan(x).sum())
    infinite = int(x.size - finite.sum()) - nan
    raise invalid_value(
        argument, "finite values (no NaN or infinity)",
        f"an array of shape {x.shape} with {nan} NaN and {infinite} infinite "
        "values",
    )


def check_samples(x, input_shape, argument):
    """Checks input samples: the model's input shape, numeric, at least one,
    finite.

    Args:
        x: Array of input samples.
        input_shape: The model's input shape, batch dimension first.
        argument: Name of the argument, for the error message.

    Returns:
        `x` as a numpy array.
    """
    check_inputs(x, input_shape, argument)
    x = np.asarray(x)
    if len(x) == 0:
        raise invalid_value(argument, "a non-empty array of inputs",
                            f"an empty array of shape {x.shape}")
    check_finite(x, argument)
    return x
