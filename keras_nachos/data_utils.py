"""Turning user data into arrays, and checking it against a model's input."""

import numpy as np

from keras_nachos.checks import check_int
from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value


def dataset_arrays(data, argument="data"):
    """Materialises `(x, y)` from a tuple of arrays or a dataset of batches.

    A `tf.data.Dataset` of `(x, y)` batches is read once, so inputs and
    labels stay aligned even when the dataset shuffles.
    """
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):
        xs, ys = [], []
        for element in data:  # one pass: x and y stay aligned
            if not isinstance(element, (tuple, list)) or len(element) < 2:
                raise invalid_value(
                    argument,
                    "a tf.data.Dataset of (x, y) batches",
                    data.element_spec,
                )
            xs.append(np.asarray(element[0]))
            ys.append(np.asarray(element[1]))
        if not xs:
            raise invalid_value(argument, "a non-empty dataset", data)
        return np.concatenate(xs), np.concatenate(ys)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data[0], np.asarray(data[1]).reshape(-1)
        if len(y) != len(x):
            raise invalid_value(
                argument,
                f"a tuple (x, y) with one label per sample ({len(x)})",
                f"({len(x)} samples, {len(y)} labels)",
            )
        return x, y
    raise invalid_value(
        argument,
        "a tuple (x, y) of arrays or a tf.data.Dataset of (x, y) batches",
        type(data).__name__,
    )


def inputs_and_labels(x, y):
    """Materialises `(x, y)` from arrays or a dataset of `(x, y)` batches."""
    import tensorflow as tf

    if isinstance(x, tf.data.Dataset):
        return dataset_arrays(x, "x")
    if y is None:
        raise invalid_value("y", "labels for the array `x`", y)
    y = np.asarray(y).reshape(-1)
    if len(y) != len(x):
        raise invalid_value(
            "y", f"{len(x)} labels, one per sample of `x`", f"{len(y)} labels"
        )
    return x, y


def check_batch_size(batch_size, argument="batch_size"):
    """Raises unless `batch_size` is a positive integer."""
    check_int(argument, batch_size, min_value=1)


def _describe(shape):
    return "(" + ", ".join("n" if d is None else str(d) for d in shape) + ")"


def check_inputs(x, input_shape, argument="x"):
    """Raises unless `x` holds samples of the model's input shape.

    Args:
        x: Numpy array, tensor, or `tf.data.Dataset` of inputs or of
            `(inputs, labels)` batches.
        input_shape: The model's input shape, batch dimension first (`None`
            entries accept any size).
        argument: Name of the argument, for the error message.
    """
    import tensorflow as tf

    expected = tuple(input_shape)[1:]
    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        if isinstance(spec, (tuple, list)):
            spec = spec[0]
        if not isinstance(spec, tf.TensorSpec):
            raise invalid_value(
                argument,
                "a tf.data.Dataset of input batches or of (inputs, labels) "
                "batches",
                x.element_spec,
            )
        shape = tuple(spec.shape)
        dtype_ok = spec.dtype.is_floating or spec.dtype.is_integer
        what = f"a dataset of batches of shape {_describe(shape)}"
    else:
        if not tf.is_tensor(x):
            try:
                x = np.asarray(x)
            except (TypeError, ValueError):
                raise invalid_type(
                    argument, "an array of inputs", x
                ) from None
            dtype_ok = np.issubdtype(x.dtype, np.number) or x.dtype == bool
        else:
            dtype_ok = x.dtype.is_floating or x.dtype.is_integer
        shape = (None,) + tuple(x.shape)[1:]
        what = f"an array of shape {tuple(x.shape)} and dtype {x.dtype}"
    rank_ok = len(shape) == len(expected) + 1
    dims_ok = rank_ok and all(
        want is None or got is None or int(got) == int(want)
        for got, want in zip(shape[1:], expected)
    )
    if not (rank_ok and dims_ok and dtype_ok):
        raise invalid_value(
            argument,
            f"numeric inputs of shape {_describe((None,) + expected)}, the "
            "model's input shape (resize or reshape the data to it)",
            what,
        )
