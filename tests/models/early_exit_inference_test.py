"""Tests of `keras_nachos.models.early_exit_inference`: the prediction and
evaluation entry points check what comes in (the early exit itself:
tests/inference/staged_runner_test.py)."""

import numpy as np
import pytest

from keras_nachos import EarlyExitModel
from tests.testing_utils import small_cnn
from tests.testing_utils import toy_data


@pytest.fixture(scope="module")
def model():
    return EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4)


@pytest.mark.parametrize(
    "x, received",
    [
        (np.zeros((3, 32, 32, 1), "float32"), r"shape \(3, 32, 32, 1\)"),
        (np.zeros((3, 16, 16, 3), "float32"), r"shape \(3, 16, 16, 3\)"),
        (np.zeros((3, 16, 16), "float32"), r"shape \(3, 16, 16\)"),
        (np.array([["a"] * 16] * 16)[None, :, :, None], "dtype <U1"),
    ],
    ids=["other_size", "other_channels", "no_channel_axis", "strings"],
)
def test_predict_early_exit_checks_the_input_shape(model, x, received):
    # Before: another image size ran and reported the MACs of 16x16 images;
    # another channel count ended in a long TensorFlow error.
    pattern = (
        r"Invalid value received for argument `x`\. Expected numeric inputs "
        r"of shape \(n, 16, 16, 1\).*Received: x=.*" + received
    )
    with pytest.raises(ValueError, match=pattern):
        model.predict_early_exit(x, [0.5, 0.5])
    with pytest.raises(ValueError, match=pattern):
        model.predict_exits(x)


def test_input_shape_is_checked_on_datasets_too(model):
    import tensorflow as tf

    images = np.zeros((4, 8, 8, 1), "float32")
    batches = tf.data.Dataset.from_tensor_slices((images, np.zeros(4))).batch(2)
    with pytest.raises(ValueError, match=r"argument `x`.*\(n, 16, 16, 1\)"):
        model.predict_early_exit(batches, [0.5, 0.5])
    with pytest.raises(ValueError, match=r"argument `x`.*\(n, 16, 16, 1\)"):
        model.evaluate_early_exit(batches, thresholds=[0.5, 0.5])


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"thresholds": [0.5, float("nan")]}, "thresholds"),
        ({"thresholds": [0.5]}, "thresholds"),
        ({"thresholds": 0.5}, "thresholds"),
        ({"thresholds": [0.5, 2.0]}, "thresholds"),
        ({"thresholds": [0.5, 0.5], "batch_size": 0}, "batch_size"),
        ({"thresholds": [0.5, 0.5], "batch_size": True}, "batch_size"),
        ({"thresholds": [0.5, 0.5], "batch_size": 2.0}, "batch_size"),
        ({"thresholds": [0.5, 0.5], "rule": "fastest"}, "rule"),
        ({"thresholds": [0.5, 0.5], "rule": "cascade_confidence"}, "rule"),
    ],
)
def test_bad_prediction_arguments(model, kwargs, argument):
    x, _ = toy_data(8)
    with pytest.raises((ValueError, TypeError), match=f"argument `{argument}`"):
        model.predict_early_exit(x, **kwargs)


def test_bad_evaluation_labels(model):
    x, y = toy_data(8)
    with pytest.raises(ValueError, match="argument `y`.*8 labels"):
        model.evaluate_early_exit(x, y[:5], [0.5, 0.5])
    with pytest.raises(ValueError, match="argument `y`"):
        model.evaluate_early_exit(x, None, [0.5, 0.5])


def test_every_prediction_door_refuses_non_finite_inputs(model, monkeypatch):
    # Before: NaN images predicted a class.
    import keras

    from keras_nachos.inference import StagedRunner

    ran = []
    monkeypatch.setattr(keras.Model, "predict", lambda *a, **k: ran.append(a))
    monkeypatch.setattr(StagedRunner, "run_checked",
                        lambda *a, **k: ran.append(a))
    x, y = toy_data(8)
    for value in (np.nan, np.inf):
        bad = x.copy()
        bad[5, 0, 0, 0] = value
        pattern = (r"argument `x`\. Expected inputs that are finite numbers: "
                   r"1 of 8 samples hold NaN or infinite values, the first at "
                   r"index 5\. Received: x=\[" + str(value) + r"\]")
        for door in (
            lambda: model.predict(bad, verbose=0),
            lambda: model.predict_exits(bad),
            lambda: model.predict_early_exit(bad, [0.5, 0.5]),
            lambda: model.evaluate_early_exit(bad, y, [0.5, 0.5]),
            lambda: model._get_runner().run(bad, None, None),
        ):
            with pytest.raises(ValueError, match=pattern):
                door()
    assert ran == []


def test_evaluate_early_exit_checks_its_labels(model, monkeypatch):
    import keras
    import tensorflow as tf

    ran = []
    monkeypatch.setattr(keras.Model, "predict", lambda *a, **k: ran.append(a))
    x, y = toy_data(8)
    for labels, message in [
        (np.where(y == y[0], 12, y), r"in \[0, 4\).*Received: y=\[12\]"),
        (np.where(y == y[0], -1, y), r"Received: y=\[-1\]"),
        (np.full(8, 4), r"8 of 8 are outside"),
        (np.full((8, 4), 0.25), r"one-hot rows"),
    ]:
        with pytest.raises(ValueError, match=r"argument `y`\. Expected "
                           r"labels that are class ids.*" + message):
            model.evaluate_early_exit(x, labels, [0.5, 0.5])
    batches = tf.data.Dataset.from_tensor_slices((x, y + 4)).batch(4)
    with pytest.raises(ValueError, match=r"argument `x`.*labels \(the second "
                       r"item of its batches\)"):
        model.evaluate_early_exit(batches, thresholds=[0.5, 0.5])
    with pytest.raises(ValueError, match=r"argument `x`.*at least one sample"):
        model.evaluate_early_exit(x[:0], y[:0], [0.5, 0.5])
    assert ran == []
