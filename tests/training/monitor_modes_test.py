"""Tests of `keras_nachos.training.monitor_modes`: the direction of a
monitored per-exit quantity, and the callback that sets `mode="auto"`.

A stub stands for a compiled `EarlyExitModel` (its exit names, its loss
trackers and its metric containers); tests/models/early_exit_model_keras_test
checks the same through `fit`."""

import types

import keras
import pytest

from keras_nachos.training.monitor_modes import MonitorModes
from keras_nachos.training.monitor_modes import monitor_mode


def _model(metrics, loss_trackers=("loss", "exit_1_loss", "exit_2_loss",
                                   "final_loss", "cls_loss")):
    containers = [types.SimpleNamespace(metrics=list(metrics)),
                  types.SimpleNamespace(metrics=None)]
    return types.SimpleNamespace(
        exit_names=["exit_1", "exit_2", "final"],
        _training_state=types.SimpleNamespace(
            loss_trackers={name: None for name in loss_trackers}
        ),
        compiled_metrics_containers=lambda: containers,
    )


@pytest.fixture
def model():
    return _model([
        keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
        keras.metrics.SparseCategoricalCrossentropy(name="xent"),
        keras.metrics.Mean(name="plain_mean"),
    ])


@pytest.mark.parametrize(
    "monitor, mode",
    [
        ("val_exit_1_accuracy", "max"),
        ("final_accuracy", "max"),
        ("val_exit_2_weighted_accuracy", "max"),
        ("val_exit_2_xent", "min"),
        ("val_exit_1_loss", "min"),
        ("cls_loss", "min"),
        ("val_loss", "min"),
        # No metric object says which way: Keras' own inference decides.
        ("val_exit_1_plain_mean", None),
        ("val_exit_3_accuracy", None),
        ("val_accuracy", None),
        ("exit_1_recall", None),
    ],
)
def test_monitor_mode(model, monitor, mode):
    assert monitor_mode(model, monitor) == mode


def test_metrics_that_disagree_give_no_mode():
    both = _model([
        keras.metrics.SparseCategoricalAccuracy(name="score"),
        keras.metrics.SparseCategoricalCrossentropy(name="score"),
    ])
    assert monitor_mode(both, "val_exit_1_score") is None


def test_needed_by_keeps_the_auto_callbacks_that_monitor_a_name():
    auto = keras.callbacks.EarlyStopping(monitor="val_exit_1_accuracy")
    user = keras.callbacks.EarlyStopping(monitor="val_exit_1_accuracy", mode="max")
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="val_exit_1_loss")
    history = keras.callbacks.History()
    needed = MonitorModes.needed_by([auto, user, plateau, history])
    assert needed == [auto, plateau]


def test_on_epoch_end_sets_the_modes_it_can_resolve(model, tmp_path):
    accuracy = keras.callbacks.EarlyStopping(monitor="val_exit_1_accuracy")
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(tmp_path / "w.weights.h5"), monitor="val_final_accuracy"
    )
    loss = keras.callbacks.ReduceLROnPlateau(monitor="val_exit_2_loss")
    unknown = keras.callbacks.EarlyStopping(monitor="val_exit_1_plain_mean")
    resolved = keras.callbacks.EarlyStopping(monitor="val_exit_1_accuracy")
    resolved.monitor_op = keras.ops.less  # resolved by Keras already
    callback = MonitorModes([accuracy, checkpoint, loss, unknown, resolved])
    callback.set_model(model)
    callback.on_epoch_end(0, {})
    assert (accuracy.mode, checkpoint.mode, loss.mode) == ("max", "max", "min")
    assert unknown.mode == "auto" and resolved.mode == "auto"
