"""Tests of `keras_nachos.training.support_set`."""

import numpy as np
import pytest

import keras_nachos as kn
from keras_nachos import split_support_set
from tests.testing_utils import NAN
from tests.testing_utils import assert_invalid


def test_split_support_set_is_class_balanced():
    y = np.repeat(np.arange(4), 50)
    x = np.arange(200)
    (xt, yt), (xs, ys) = split_support_set(x, y, 0.1, seed=0)
    assert np.bincount(ys).tolist() == [5, 5, 5, 5]
    assert len(set(xs) & set(xt)) == 0 and len(xs) + len(xt) == 200


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"fraction": 0.0}, "fraction"),
        ({"fraction": NAN}, "fraction"),
        ({"fraction": 1.0}, "fraction"),
    ],
)
def test_split_support_set(kwargs, argument):
    x, y = np.zeros((20, 2)), np.arange(20) % 2
    assert_invalid(argument, kn.split_support_set, x, y, **kwargs)


def test_support_set_callback():
    x, y = np.zeros((4, 2)), np.arange(4) % 2
    assert_invalid("warmup_epochs", kn.SupportSetCallback, (x, y), warmup_epochs=-1)
    assert_invalid("warmup_epochs", kn.SupportSetCallback, (x, y), warmup_epochs=1.5)
    assert_invalid("batch_size", kn.SupportSetCallback, (x, y), batch_size=0)
    assert_invalid("support_data", kn.SupportSetCallback, (x, y[:3]))
    assert_invalid("support_data", kn.SupportSetCallback, x)
