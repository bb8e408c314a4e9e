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


def test_split_support_set_checks_its_labels_and_inputs():
    x, y = np.zeros((20, 2)), np.arange(20) % 2
    (_, yt), (_, ys) = split_support_set(x, np.eye(2)[y])  # one-hot rows
    assert sorted(np.concatenate([yt, ys]).tolist()) == sorted(y.tolist())
    nan = x.copy()
    nan[3, 1] = np.nan
    for inputs, labels, argument, message in [
        (x, np.where(y == 0, -1, y), "y", r"Received: y=\[-1\]"),
        (x, y + 0.5, "y", "not whole numbers"),
        (x, y[:5], "y", "20 labels, one per sample"),
        (nan, y, "x", "finite numbers"),
        (x, np.full((20, 2), 0.5), "y", "one-hot rows"),
    ]:
        with pytest.raises(ValueError, match=f"argument `{argument}`.*{message}"):
            split_support_set(inputs, labels)


def test_support_set_callback_checks_its_data_against_the_model():
    from tests.testing_utils import small_cnn
    from tests.testing_utils import toy_data

    x, y = toy_data(8)
    model = kn.EarlyExitModel.from_backbone(small_cnn(), ["p1"], 4)
    nan = x.copy()
    nan[0, 0, 0, 0] = np.nan
    for data, message in [
        ((x, np.where(y == 0, 12, y)), r"labels \(the pair's second item\).*"
         r"class ids in \[0, 4\).*Received: support_data=\[12\]"),
        ((x[:, :8], y), r"\(n, 16, 16, 1\)"),
        ((nan, y), "finite numbers"),
    ]:
        callback = kn.SupportSetCallback(data)
        with pytest.raises(ValueError, match=r"argument `support_data`.*" + message):
            callback.set_model(model)
    callback = kn.SupportSetCallback((x, np.eye(4)[y]))
    callback.set_model(model)
    np.testing.assert_array_equal(callback.y, y)
