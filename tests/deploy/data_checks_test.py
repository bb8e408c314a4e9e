"""Tests of `keras_nachos.deploy.data_checks`: the images and representative
data of the deployment side."""

import numpy as np
import pytest

from keras_nachos.deploy.data_checks import check_finite
from keras_nachos.deploy.data_checks import check_samples
from tests.testing_utils import assert_invalid


def test_check_finite_counts_nan_and_infinite_values():
    check_finite(np.zeros((2, 3)), "x")
    check_finite(np.arange(6), "x")  # Integers are finite.
    check_finite(np.array([True]), "x")
    x = np.zeros((2, 3), "float32")
    x[0, 0], x[1, 1], x[1, 2] = np.nan, np.inf, -np.inf
    with pytest.raises(ValueError, match=r"argument `images`. Expected inputs "
                       r"that are finite numbers: 2 of 2 samples hold NaN or "
                       r"infinite values, the first at index 0"):
        check_finite(x, "images")
    with pytest.raises(ValueError, match="1 of 2 samples hold NaN"):
        check_finite(np.array([[1.0], [np.nan]]), "x")


@pytest.mark.parametrize("x", [
    np.zeros((0, 4, 4, 1)),                      # empty
    np.zeros((2, 4, 4, 3)),                      # another shape
    np.full((2, 4, 4, 1), np.nan),               # not finite
    np.full((2, 4, 4, 1), "a"),                  # not numeric
])
def test_check_samples_refuses_each_kind_of_bad_input(x):
    assert_invalid("representative_data", check_samples, x, (None, 4, 4, 1),
                   "representative_data")


def test_check_samples_returns_an_array():
    x = check_samples([[[[1.0]]]], (None, 1, 1, 1), "x")
    assert isinstance(x, np.ndarray) and x.shape == (1, 1, 1, 1)
