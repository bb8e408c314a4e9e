"""Checks of the arrays the deployment side is handed.

The images a runtime runs and the representative data an int8 conversion
calibrates on: of the model's input shape, numeric (`check_inputs`),
non-empty where they must be, and finite. NaN images would otherwise
predict a class (int8 quantisation turns NaN into some integer), and NaN
representative data crash TensorFlow's converter.
"""

import numpy as np

# The library's one finite check (re-exported here for the deployment side).
from keras_nachos.data_utils import check_finite  # noqa: F401
from keras_nachos.data_utils import check_inputs
from keras_nachos.errors import invalid_value


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
    check_inputs(x, input_shape, argument)  # Shape, numeric and finite.
    x = np.asarray(x)
    if len(x) == 0:
        raise invalid_value(argument, "a non-empty array of inputs",
                            f"an empty array of shape {x.shape}")
    return x
