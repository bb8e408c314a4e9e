"""The checks of `load`'s arguments.

`check_load_arguments` runs before anything is read; `check_split_sizes` runs
on the source's training labels, before any split is drawn.
"""

import os

import numpy as np

from keras_nachos.datasets.splitting import per_class_counts
from keras_nachos.errors import invalid_value


def check_load_arguments(
    name,
    validation_split,
    data_dir,
    image_size,
    as_dataset,
    batch_size,
    shuffle,
    seed,
    download,
    max_samples,
):
    """Raises if an argument of `load` is of the wrong type or out of range.

    Takes `load`'s arguments as passed. A `data_dir` must be an existing
    directory, unless `download=True` (then tensorflow-datasets creates it).

    Raises:
        ValueError: naming the first bad argument and its value.
    """
    if not isinstance(name, str) or not name:
        raise invalid_value(
            "name",
            '"fashion_mnist", "digits" or a tensorflow-datasets name',
            name,
        )
    if (
        not isinstance(validation_split, (int, float, np.floating))
        or isinstance(validation_split, bool)
        or not 0 <= validation_split < 1  # False for NaN too.
    ):
        raise invalid_value(
            "validation_split", "a float in [0, 1)", validation_split
        )
    if image_size is not None and not (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(_is_int(side) and side > 0 for side in image_size)
    ):
        raise invalid_value(
            "image_size",
            "None or a tuple (height, width) of two positive integers",
            image_size,
        )
    for argument, value in [
        ("as_dataset", as_dataset),
        ("shuffle", shuffle),
        ("download", download),
    ]:
        if not isinstance(value, (bool, np.bool_)):
            raise invalid_value(argument, "a boolean", value)
    if not _is_int(batch_size) or batch_size < 1:
        raise invalid_value("batch_size", "a positive integer", batch_size)
    if not _is_int(seed) or seed < 0:
        raise invalid_value("seed", "a non-negative integer", seed)
    if max_samples is not None and (
        not _is_int(max_samples) or max_samples < 1
    ):
        raise invalid_value(
            "max_samples", "None or a positive integer", max_samples
        )
    if data_dir is not None:
        _check_data_dir(data_dir, download)


def check_split_sizes(name, y_train, validation_split, max_samples):
    """Rejects a `max_samples` or `validation_split` that empties a class.

    Runs on the source's training labels before any split is drawn, with the
    same per-class counts as `stratified_split`.

    Args:
        name: String, the dataset's name (for the message).
        y_train: Integer array, the source's training labels.
        validation_split: Float, as passed to `load`.
        max_samples: Integer or `None`, as passed to `load`.

    Raises:
        ValueError: naming `max_samples` or `validation_split`.
    """
    sizes = np.unique(y_train, return_counts=True)[1]
    num_train = len(y_train)
    if max_samples is not None and max_samples < num_train:
        sizes = sizes - per_class_counts(sizes, num_train - max_samples)
        num_train = max_samples
        if not sizes.all():
            raise invalid_value(
                "max_samples",
                "None or an integer large enough to keep at least one "
                f"training example of each of the {len(sizes)} classes of "
                f"{name!r}",
                max_samples,
            )
    if validation_split > 0:
        num_validation = int(round(validation_split * num_train))
        if num_validation == 0:
            raise invalid_value(
                "validation_split",
                "0, or a float in (0, 1) large enough that the validation "
                f"split gets at least one of the {num_train} training "
                "examples",
                validation_split,
            )
        if not (sizes - per_class_counts(sizes, num_validation)).all():
            raise invalid_value(
                "validation_split",
                "a float in [0, 1) small enough to leave at least one "
                f"training example of each of the {len(sizes)} classes "
                f"({num_train} training examples before validation)",
                validation_split,
            )


def _check_data_dir(data_dir, download):
    if not isinstance(data_dir, (str, os.PathLike)):
        raise invalid_value("data_dir", "None or a directory path", data_dir)
    path = os.fspath(data_dir)
    if not isinstance(path, str) or not path:
        raise invalid_value("data_dir", "None or a directory path", data_dir)
    if os.path.exists(path) and not os.path.isdir(path):
        raise invalid_value(
            "data_dir",
            f"None or a directory, but {path} is a file, not a directory",
            data_dir,
        )
    if not os.path.exists(path) and not download:
        raise invalid_value(
            "data_dir",
            f"None or an existing directory, but {path} does not exist "
            "(with download=True tensorflow-datasets would create it)",
            data_dir,
        )


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
