"""Turning user data into arrays, and the one check of data at every door.

Every public entry point that takes data (`fit`, `evaluate_early_exit`,
`calibrate_thresholds`, `fit_class_means`, `NachosSearch.search`, the
supernet's training and subnets, ...) checks it here, before any work:

- inputs (`check_inputs`): numeric, of the model's (or the space's) input
  shape, and finite (NaN or infinite values are refused);
- labels (`check_labels`): class ids, integer-valued and in
  `[0, num_classes)`, one per input;
- at least one sample (`check_data`, `labelled_data`).

Labels are class ids. A one-hot matrix `(n, num_classes)` (0s and a single
1 per row) is converted to the class ids it encodes, at every door: what a
Keras user of a sparse loss or metric means by it. Any other 2-D label array
(soft labels, multi-hot rows, another width) is refused. The one exception
is `EarlyExitModel.fit` compiled with a loss that takes one-hot targets
(`categorical_crossentropy`): Keras passes the labels to that loss as they
are, and so does `fit` (`check_fit_arguments`).

A `tf.data.Dataset` is never read just to be checked: its element spec is
checked where it is given, and its values where the door reads them anyway
(`dataset_arrays` reads it once).
"""

import numpy as np

from keras_nachos.checks import check_int
from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value

# Offending values shown in an error, at most.
_SHOWN = 5


def is_dataset(x):
    """Whether `x` is a `tf.data.Dataset`."""
    import tensorflow as tf

    return isinstance(x, tf.data.Dataset)


def _labels_array(y):
    y = np.asarray(y)
    return y.reshape(-1) if y.ndim == 0 else y


def dataset_arrays(data, argument="data"):
    """Materialises `(x, y)` from a tuple of arrays or a dataset of batches.

    A `tf.data.Dataset` of `(x, y)` batches is read once, so inputs and
    labels stay aligned even when the dataset shuffles. Labels keep their
    shape (class ids or one-hot rows); `check_labels` reads them.
    """
    if is_dataset(data):
        xs, ys = [], []
        for element in data:  # one pass: x and y stay aligned
            if not isinstance(element, (tuple, list)) or len(element) < 2:
                raise invalid_value(
                    argument,
                    "a tf.data.Dataset of (x, y) batches",
                    data.element_spec,
                )
            xs.append(np.asarray(element[0]))
            ys.append(_labels_array(element[1]))
        if not xs:
            raise invalid_value(argument, "a non-empty dataset", data)
        return np.concatenate(xs), np.concatenate(ys)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data[0], _labels_array(data[1])
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
    if is_dataset(x):
        return dataset_arrays(x, "x")
    if y is None:
        raise invalid_value("y", "labels for the array `x`", y)
    y = _labels_array(y)
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


def _first(mask):
    """`(count, first index)` of the `True` entries of a 1-D mask."""
    where = np.flatnonzero(mask)
    return int(where.size), int(where[0])


def _shown(values):
    """A few distinct values, as Python numbers, for an error."""
    values = np.unique(np.asarray(values).reshape(-1))[:_SHOWN]
    return [v.item() for v in values]


def nonfinite_samples(x):
    """The samples of `x` that hold a NaN or an infinite value.

    One pass: the sum of a float array is finite exactly when every value is
    (barring an overflow of the float64 sum, then checked value by value).

    Args:
        x: Numpy array or tensor, samples first.

    Returns:
        A bool array `(n,)` (`True`: the sample holds a non-finite value),
        or `None` when every value is finite (integer arrays always are).
    """
    import tensorflow as tf

    if tf.is_tensor(x):
        if not x.dtype.is_floating:
            return None
        if bool(tf.reduce_all(tf.math.is_finite(x))):
            return None
        x = np.asarray(x)
    else:
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.inexact):
            return None
        with np.errstate(over="ignore", invalid="ignore"):
            total = np.sum(x, dtype=np.complex128 if np.iscomplexobj(x)
                           else np.float64)
        if np.isfinite(total):
            return None
    flat = x.reshape(len(x), -1) if x.ndim else x.reshape(1, 1)
    bad = ~np.isfinite(flat).all(axis=1)
    return bad if bad.any() else None


def check_finite(x, argument="x", what="inputs"):
    """Raises unless every value of the array `x` is finite.

    Args:
        x: Numpy array or tensor, samples first.
        argument: Name of the argument, for the error message.
        what: What `x` is, for the error message (`"inputs"`).
    """
    bad = nonfinite_samples(x)
    if bad is None:
        return
    count, index = _first(bad)
    sample = np.asarray(x[index] if np.ndim(x) else x).reshape(-1)
    raise invalid_value(
        argument,
        f"{what} that are finite numbers: {count} of {len(bad)} samples "
        f"hold NaN or infinite values, the first at index {index}",
        _shown(sample[~np.isfinite(sample)]),
    )


def check_inputs(x, input_shape, argument="x", what="inputs"):
    """Raises unless `x` holds finite samples of the model's input shape.

    Arrays and tensors are checked value by value too (NaN and infinite
    values are refused, in one vectorised pass); a `tf.data.Dataset` by its
    element spec only (it is not read). No sample at all is accepted (a
    prediction on nothing); doors that need samples use `check_data`.

    Args:
        x: Numpy array, tensor, or `tf.data.Dataset` of inputs or of
            `(inputs, labels)` batches.
        input_shape: The model's input shape, batch dimension first (`None`
            entries accept any size).
        argument: Name of the argument, for the error message.
        what: What `x` is, for the error message (`"inputs"`).
    """
    import tensorflow as tf

    expected = tuple(input_shape)[1:]
    if is_dataset(x):
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
        shown = f"a dataset of batches of shape {_describe(shape)}"
    else:
        if not tf.is_tensor(x):
            try:
                x = np.asarray(x)
            except (TypeError, ValueError):
                raise invalid_type(
                    argument, f"an array of {what}", x
                ) from None
            dtype_ok = np.issubdtype(x.dtype, np.number) or x.dtype == bool
        else:
            dtype_ok = x.dtype.is_floating or x.dtype.is_integer
        shape = (None,) + tuple(x.shape)[1:]
        shown = f"an array of shape {tuple(x.shape)} and dtype {x.dtype}"
    rank_ok = len(shape) == len(expected) + 1
    dims_ok = rank_ok and all(
        want is None or got is None or int(got) == int(want)
        for got, want in zip(shape[1:], expected)
    )
    if not (rank_ok and dims_ok and dtype_ok):
        raise invalid_value(
            argument,
            f"numeric {what} of shape {_describe((None,) + expected)}, the "
            "model's input shape (resize or reshape the data to it)",
            shown,
        )
    if not is_dataset(x):
        check_finite(x, argument, what)


def check_labels(y, num_classes=None, num_samples=None, argument="y",
                 what="labels"):
    """Class ids from `y`, or a `ValueError` naming `argument`.

    Args:
        y: Class ids `(n,)` or `(n, 1)` (integers, or floats with whole
            values), or one-hot rows `(n, num_classes)` (0s and a single 1
            per row), converted to the class ids they encode.
        num_classes: Integer, the class count (`None`: ids are only checked
            to be non-negative, and one-hot rows may have any width).
        num_samples: Optional integer, the number of inputs `y` labels.
        argument: Name of the argument, for the error message.
        what: What `y` is, for the error message (`"labels"`).

    Returns:
        An int64 array `(n,)` of class ids in `[0, num_classes)`.
    """
    try:
        y = _labels_array(y)
    except (TypeError, ValueError):
        raise invalid_type(argument, f"an array of {what}", y) from None
    ids = f"class ids in [0, {num_classes}) (num_classes={num_classes})" if (
        num_classes is not None) else "class ids (integers >= 0)"
    width = "num_classes" if num_classes is None else num_classes
    if y.dtype == bool:
        y = y.astype("int8")
    if not np.issubdtype(y.dtype, np.number):
        raise invalid_value(
            argument, f"{what} that are numeric {ids}", _shown(y[:_SHOWN])
        )
    if num_samples is not None and len(y) != num_samples:
        raise invalid_value(
            argument, f"{num_samples} {what}, one per sample of the inputs",
            f"{len(y)} labels",
        )
    if len(y) == 0:
        raise invalid_value(argument, f"{what} of at least one sample", y.shape)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    if y.ndim == 2 and y.shape[1] > 1 and (
            num_classes is None or y.shape[1] == num_classes):
        y = _one_hot_ids(y, argument, what)
    if y.ndim != 1:
        raise invalid_value(
            argument,
            f"{what} of shape (n,) (class ids) or (n, {width}) (one-hot rows)",
            y.shape,
        )
    if not np.issubdtype(y.dtype, np.integer):
        finite = np.isfinite(y)
        if not finite.all():
            count, index = _first(~finite)
            raise invalid_value(
                argument, f"{what} that are {ids}: {count} of {len(y)} are "
                f"NaN or infinite, the first at index {index}",
                _shown(y[~finite]),
            )
        whole = y == np.round(y)
        if not whole.all():
            count, index = _first(~whole)
            raise invalid_value(
                argument, f"{what} that are {ids}: {count} of {len(y)} are "
                f"not whole numbers, the first at index {index}",
                _shown(y[~whole]),
            )
    outside = y < 0
    if num_classes is not None:
        outside |= y >= num_classes
    if outside.any():
        count, index = _first(outside)
        raise invalid_value(
            argument, f"{what} that are {ids}: {count} of {len(y)} are "
            f"outside, the first at index {index}",
            _shown(y[outside]),
        )
    return y.astype("int64")


def _one_hot_ids(y, argument, what):
    """The class ids of one-hot rows, or a `ValueError`."""
    one_hot = ((y == 0) | (y == 1)).all(axis=1) & (y.sum(axis=1) == 1)
    if not one_hot.all():
        count, index = _first(~one_hot)
        raise invalid_value(
            argument,
            f"{what} that are class ids (n,) or one-hot rows (n, "
            f"{y.shape[1]}): 0s and a single 1 per row (soft or multi-hot "
            f"labels name no single class): {count} of {len(y)} rows are "
            f"not, the first at index {index}",
            [v.item() for v in y[index][: 2 * _SHOWN]],
        )
    return y.argmax(axis=1)


def is_one_hot(y, num_classes):
    """Whether `y` is a `(n, num_classes)` label matrix (one-hot rows)."""
    y = np.asarray(y)
    return y.ndim == 2 and y.shape[1] == num_classes and num_classes > 1


class LabelledData(tuple):
    """A pair `(x, y)` checked by `check_data` for one input shape and
    class count (`y` as class ids): checked again, it is returned as is."""

    def __new__(cls, x, y, key):
        pair = super().__new__(cls, (x, y))
        pair.key = key
        return pair

    def __reduce__(self):
        return (LabelledData, (self[0], self[1], self.key))


def _data_key(input_shape, num_classes):
    return (tuple(input_shape)[1:], num_classes)


def check_data(x, y, input_shape, num_classes, x_argument="x",
               y_argument="y", x_what="inputs", y_what="labels"):
    """Checks inputs and their labels; returns them, labels as class ids.

    Inputs: numeric, finite, of `input_shape` (`check_inputs`), at least
    one; labels: one per input, class ids in `[0, num_classes)` (one-hot
    rows converted, `check_labels`).

    Args:
        x: Array or tensor of inputs.
        y: Labels.
        input_shape: The model's input shape, batch dimension first.
        num_classes: Integer.
        x_argument, y_argument: The arguments' names, for the messages.
        x_what, y_what: What they are, for the messages.

    Returns:
        A `LabelledData`, the pair `(x, class ids)` (integer label arrays
        `(n,)` are returned as they are, others as int64 class ids).
    """
    if x is None or is_dataset(x):
        raise invalid_value(
            x_argument, f"an array of {x_what} (not a dataset)", x
        )
    check_inputs(x, input_shape, x_argument, x_what)
    if len(x) == 0:
        raise invalid_value(
            x_argument, f"{x_what} of at least one sample",
            tuple(np.shape(x)),
        )
    if y is None:
        raise invalid_value(y_argument, f"{y_what} for the {x_what}", y)
    ids = check_labels(y, num_classes, len(x), y_argument, y_what)
    if not (isinstance(y, np.ndarray) and y.ndim == 1
            and np.issubdtype(y.dtype, np.integer)):
        y = ids  # converted (one-hot rows, floats, a list, ...)
    return LabelledData(x, y, _data_key(input_shape, num_classes))


def labelled_data(data, input_shape, num_classes, argument="data"):
    """`(x, class ids)` from a pair of arrays or a dataset of `(x, y)`
    batches (read once), checked by `check_data`.

    The errors name `argument` and say which part is wrong (the inputs, the
    pair's first item, or the labels, its second). A `LabelledData` already
    checked for the same shape and classes is returned as it is.
    """
    if isinstance(data, LabelledData) and data.key == _data_key(
            input_shape, num_classes):
        return data
    batches = is_dataset(data)
    x, y = dataset_arrays(data, argument)
    first, second = (
        ("the first item of its batches", "the second item of its batches")
        if batches else ("the pair's first item", "the pair's second item")
    )
    return check_data(
        x, y, input_shape, num_classes, argument, argument,
        f"inputs ({first})", f"labels ({second})",
    )


def check_fit_arguments(arguments, input_shape, num_classes,
                        label_format="class_ids"):
    """Checks `keras.Model.fit`'s data in `arguments` (a dict, changed).

    Array inputs (`x`, and the first item of `validation_data`) are checked
    by `check_inputs` and must hold a sample, their labels by
    `check_labels` for `label_format="class_ids"` (one-hot rows are
    replaced by class ids), as one-hot rows `(n, num_classes)` for
    `"one_hot"`, or only for their count and finiteness for `None` (a loss
    whose targets are unknown). A `tf.data.Dataset` is checked by its
    element spec (it is not read); other inputs (generators, a
    `keras.utils.PyDataset`, dicts) are left to Keras.

    Args:
        arguments: Dict of `fit`'s arguments by name.
        input_shape: The model's input shape, batch dimension first.
        num_classes: Integer.
        label_format: `"class_ids"`, `"one_hot"` or `None`.
    """
    x, y = arguments.get("x"), arguments.get("y")
    if is_array_like(x):
        arguments["y"] = _fit_pair(
            x, y, input_shape, num_classes, label_format, "x", "y",
            "inputs", "labels",
        )
    elif is_dataset(x):
        check_inputs(x, input_shape, "x")
    validation = arguments.get("validation_data")
    if isinstance(validation, (tuple, list)) and len(validation) in (2, 3) \
            and is_array_like(validation[0]):
        labels = _fit_pair(
            validation[0], validation[1], input_shape, num_classes,
            label_format, "validation_data", "validation_data",
            "inputs (its first item)", "labels (its second item)",
        )
        arguments["validation_data"] = (
            (validation[0], labels) + tuple(validation[2:])
        )
    elif is_dataset(validation):
        check_inputs(validation, input_shape, "validation_data")


def is_array_like(x):
    """Whether `x` is a numpy array or a tensor (lists, dicts, datasets and
    generators are not: Keras reads those its own ways)."""
    import tensorflow as tf

    return isinstance(x, np.ndarray) or (tf.is_tensor(x) and not is_dataset(x))


def _fit_pair(x, y, input_shape, num_classes, label_format, x_argument,
              y_argument, x_what, y_what):
    """Checks `fit`'s inputs and labels; returns the labels to train on."""
    check_inputs(x, input_shape, x_argument, x_what)
    n = len(x)
    if n == 0:
        raise invalid_value(
            x_argument, f"{x_what} of at least one sample", tuple(np.shape(x))
        )
    if y is None:
        raise invalid_value(
            y_argument, f"{y_what} for the array of inputs (one per sample)",
            y,
        )
    if label_format == "class_ids":
        ids = check_labels(y, num_classes, n, y_argument, y_what)
        # Labels that were class ids already are trained on as given.
        return ids if is_one_hot(y, num_classes) else y
    labels = _labels_array(y)
    if len(labels) != n:
        raise invalid_value(
            y_argument, f"{n} {y_what}, one per sample of the inputs",
            f"{len(labels)} labels",
        )
    if label_format == "one_hot" and not is_one_hot(labels, num_classes):
        raise invalid_value(
            y_argument,
            f"{y_what} of shape (n, {num_classes}) (one-hot rows) for the "
            "categorical loss compiled (compile with "
            "sparse_categorical_crossentropy to train on class ids)",
            labels.shape,
        )
    if np.issubdtype(labels.dtype, np.number):
        check_finite(labels, y_argument, y_what)
    return y
