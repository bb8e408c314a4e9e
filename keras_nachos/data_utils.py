"""Turning user data into arrays."""

import numpy as np

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
        return data[0], np.asarray(data[1])
    raise invalid_value(
        argument,
        "a tuple (x, y) of arrays or a tf.data.Dataset of (x, y) batches",
        type(data).__name__,
    )
