"""Tests of `keras_nachos.datasets.dataset_splits`."""

import numpy as np
import pytest

from keras_nachos import datasets


def _valid_splits_arguments():
    x, y = np.zeros((4, 8, 8, 1), np.float32), np.arange(4) % 2
    return {
        "name": "toy",
        "train": (x, y),
        "validation": None,
        "test": (x, y),
        "num_classes": 2,
        "input_shape": (8, 8, 1),
        "class_names": ["a", "b"],
    }


@pytest.mark.parametrize(
    "argument, value, error",
    [
        ("name", "", ValueError),
        ("name", 3, TypeError),
        ("train", None, ValueError),
        ("test", (np.zeros((4, 8, 8, 1)), np.zeros(3)), ValueError),
        ("validation", (np.zeros((4, 8, 8, 1)),), ValueError),
        ("num_classes", 0, ValueError),
        ("num_classes", 2.0, TypeError),
        ("num_classes", True, TypeError),
        ("input_shape", (8, 0, 1), ValueError),
        ("input_shape", [8, 8, 1], TypeError),
        ("class_names", ["a"], ValueError),
        ("class_names", ["a", 2], TypeError),
    ],
)
def test_dataset_splits_rejects_bad_fields(argument, value, error):
    arguments = _valid_splits_arguments()
    arguments[argument] = value

    with pytest.raises(error, match=f"argument `{argument}`") as info:
        datasets.DatasetSplits(**arguments)

    assert f"Received: {argument}=" in str(info.value)


def test_dataset_splits_accepts_valid_fields():
    splits = datasets.DatasetSplits(**_valid_splits_arguments())

    assert repr(splits) == (
        "DatasetSplits(name='toy', train=4 examples, validation=None, "
        "test=4 examples, num_classes=2, input_shape=(8, 8, 1))"
    )
