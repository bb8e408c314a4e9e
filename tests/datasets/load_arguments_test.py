"""Tests of `keras_nachos.datasets.load_arguments`."""

import numpy as np
import pytest

from keras_nachos import datasets
from tests.datasets import testing_utils


@pytest.mark.parametrize(
    "argument, value",
    [
        ("validation_split", 1.0),
        ("validation_split", -0.1),
        ("validation_split", "0.1"),
        ("image_size", (16,)),
        ("image_size", (16, 0)),
        ("batch_size", 0),
        ("seed", -1),
        ("max_samples", 0),
        ("as_dataset", "yes"),
        ("download", 1),
    ],
)
def test_invalid_arguments(argument, value):
    with pytest.raises(ValueError, match=f"argument `{argument}`") as info:
        datasets.load("digits", **{argument: value})
    assert f"Received: {argument}={value!r}" in str(info.value)


def test_invalid_name():
    with pytest.raises(ValueError, match="argument `name`"):
        datasets.load("")


def test_load_rejects_nan_validation_split():
    value = float("nan")
    with pytest.raises(ValueError, match="argument `validation_split`") as info:
        datasets.load("digits", validation_split=value)
    assert "Expected a float in [0, 1)" in testing_utils.assert_names(
        info, "validation_split", value
    )


@pytest.mark.parametrize(
    "argument", ["validation_split", "batch_size", "seed", "max_samples"]
)
def test_load_rejects_numpy_booleans_as_numbers(argument):
    with pytest.raises(ValueError, match=f"argument `{argument}`") as info:
        datasets.load("digits", **{argument: np.True_})
    testing_utils.assert_names(info, argument, np.True_)


@pytest.mark.parametrize(
    "value",
    [
        (16.0, 16),
        (16, float("nan")),
        (0, 0),
        (-1, 16),
        (16, 16, 1),
        "16x16",
        16,
    ],
)
def test_load_rejects_image_sizes_that_are_not_two_positive_ints(value):
    with pytest.raises(ValueError, match="argument `image_size`") as info:
        datasets.load("digits", image_size=value)
    testing_utils.assert_names(info, "image_size", value)


@pytest.mark.parametrize(
    "name", ["fashion_mnist", "digits", "keras_nachos_no_such_dataset"]
)
def test_load_rejects_a_data_dir_that_does_not_exist(
    tmp_path, monkeypatch, name
):
    testing_utils.forbid_downloads(monkeypatch)
    missing = tmp_path / "no-such-dir"

    with pytest.raises(ValueError, match="argument `data_dir`") as info:
        datasets.load(name, data_dir=missing)

    message = testing_utils.assert_names(info, "data_dir", missing)
    assert "does not exist" in message and str(missing) in message


def test_load_lets_download_create_a_missing_data_dir(tmp_path, monkeypatch):
    testing_utils.forbid_downloads(monkeypatch)

    # Past the door, tensorflow-datasets is asked to download into it.
    with pytest.raises(AssertionError, match="download_and_prepare was called"):
        datasets.load("mnist", data_dir=tmp_path / "new", download=True)


def test_load_rejects_a_data_dir_that_is_a_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"")

    with pytest.raises(ValueError, match="argument `data_dir`") as info:
        datasets.load("fashion_mnist", data_dir=path)

    assert "not a directory" in testing_utils.assert_names(
        info, "data_dir", path
    )


def test_load_rejects_an_empty_data_dir():
    with pytest.raises(ValueError, match="argument `data_dir`") as info:
        datasets.load("fashion_mnist", data_dir="")
    testing_utils.assert_names(info, "data_dir", "")


@pytest.mark.parametrize("max_samples", [1, 5, 9])
def test_load_rejects_max_samples_that_leaves_a_class_empty(max_samples):
    with pytest.raises(ValueError, match="argument `max_samples`") as info:
        datasets.load("digits", max_samples=max_samples)
    assert "10 classes" in testing_utils.assert_names(
        info, "max_samples", max_samples
    )


@pytest.mark.parametrize(
    "validation_split, empty",
    [(0.95, "training"), (0.01, "validation")],
)
def test_load_rejects_a_validation_split_that_leaves_a_split_empty(
    validation_split, empty
):
    with pytest.raises(ValueError, match="argument `validation_split`") as info:
        datasets.load(
            "digits", max_samples=20, validation_split=validation_split
        )
    assert empty in testing_utils.assert_names(
        info, "validation_split", validation_split
    )
