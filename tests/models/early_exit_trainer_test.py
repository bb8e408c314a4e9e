"""Tests of `keras_nachos.models.early_exit_trainer`: every exit trained
from one label array, on one device or several replicas (the Keras
conformance of training: early_exit_model_keras_test.py)."""

import functools
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_nachos import ClassMeansHead
from keras_nachos import EarlyExitModel
from keras_nachos.training import NachosLoss
from tests.testing_utils import small_cnn
from tests.testing_utils import toy_data

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_fit_with_one_label_array_trains_every_exit():
    x, y = toy_data(128)
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4)
    model.compile(keras.optimizers.Adam(1e-2), metrics=["accuracy"])
    history = model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    for name in model.exit_names:
        assert f"{name}_loss" in history.history
        assert f"{name}_accuracy" in history.history
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["final_accuracy"][-1] > 0.5


def test_fit_on_a_dataset_and_evaluate():
    x, y = toy_data(64)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1"], 4)
    model.compile("adam", metrics=["accuracy"])
    model.fit(data, epochs=1, verbose=0)
    logs = model.evaluate(data, return_dict=True, verbose=0)
    assert {"exit_1_accuracy", "final_accuracy", "exit_1_loss"} <= set(logs)


def _bad_data(x, y):
    """`(changes to fit's good (x, y), the argument named, what is said)`:
    one row per class of bad data."""
    nan = x.copy()
    nan[2, 3, 3, 0] = np.nan
    return [
        ({"y": np.where(y == 0, 12, y)}, "y", r"Received: y=\[12\]"),
        ({"y": np.where(y == 0, -1, y)}, "y", r"Received: y=\[-1\]"),
        ({"y": np.full_like(y, 4)}, "y", r"16 of 16 are outside"),
        ({"y": y[:-1]}, "y", r"16 labels, one per sample"),
        ({"x": nan}, "x", r"finite numbers: 1 of 16 samples"),
        ({"x": x[:, :8]}, "x", r"shape \(n, 16, 16, 1\)"),
        ({"x": x[:0], "y": y[:0]}, "x", r"at least one sample"),
        ({"y": np.full((16, 4), 0.25)}, "y", r"one-hot rows"),
        ({"validation_data": (x, np.where(y == 0, 12, y))}, "validation_data",
         r"labels \(its second item\).*Received: validation_data=\[12\]"),
        ({"validation_data": (nan, y)}, "validation_data", r"finite numbers"),
    ]


def test_fit_and_evaluate_check_their_data_before_any_work(monkeypatch):
    x, y = toy_data(16)
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1"], 4)
    model.compile(keras.optimizers.SGD(0.1))
    before = model.get_weights()
    evaluated = []
    evaluate = keras.Model.evaluate
    monkeypatch.setattr(keras.Model, "evaluate", functools.wraps(evaluate)(
        lambda self, **kwargs: evaluated.append(kwargs)))
    for change, argument, message in _bad_data(x, y):
        data = dict({"x": x, "y": y}, **change)
        pattern = f"argument `{argument}`. Expected .*{message}"
        with pytest.raises(ValueError, match=pattern):
            model.fit(**data, epochs=1, verbose=0)
        if argument != "validation_data":
            with pytest.raises(ValueError, match=pattern):
                model.evaluate(data["x"], data["y"], verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # nothing trained
    assert evaluated == []  # nothing evaluated


def test_fit_labels_follow_the_compiled_loss(monkeypatch):
    x, y = toy_data(8)
    one_hot = np.eye(4)[y]
    fitted = []
    fit = keras.Model.fit
    monkeypatch.setattr(keras.Model, "fit", functools.wraps(fit)(
        lambda self, **kwargs: fitted.append(kwargs)))
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1"], 4)
    model.compile("sgd")  # sparse: one-hot rows become class ids
    assert model.label_format() == "class_ids"
    model.fit(x, one_hot, validation_data=(x, one_hot), verbose=0)
    np.testing.assert_array_equal(fitted[-1]["y"], y)
    np.testing.assert_array_equal(fitted[-1]["validation_data"][1], y)
    model.fit(x, y, verbose=0)
    assert fitted[-1]["y"] is y
    model.compile("sgd", loss="categorical_crossentropy")
    assert model.label_format() == "one_hot"
    model.fit(x, one_hot, verbose=0)
    assert fitted[-1]["y"] is one_hot  # as Keras passes them to the loss
    with pytest.raises(ValueError, match="argument `y`.*categorical loss"):
        model.fit(x, y, verbose=0)
    model.compile("sgd", loss=lambda a, b: keras.losses.mse(a, b))
    assert model.label_format() is None  # unknown targets: passed on
    model.fit(x, one_hot * 0.5, verbose=0)
    assert NachosLoss.label_format == "class_ids"


def test_combined_mode_trains_only_trained_heads(data_and_backbone):
    x, y, backbone = data_and_backbone
    backbone = keras.models.clone_model(backbone)
    model = EarlyExitModel.from_backbone(
        backbone, ["p1", "p2"], 4, head=["class_means", "global_pool"]
    )
    assert model.trained_exits == [False, True, True]
    model.compile("adam", metrics=["accuracy"])
    history = model.fit(x, y, epochs=1, verbose=0)
    assert "exit_1_loss" not in history.history and "exit_2_loss" in history.history
    model.fit_class_means(x, y)
    assert float(model.heads[0].fitted.numpy()) == 1.0
    assert isinstance(model.heads[0], ClassMeansHead)


# ----------------------------------------------------------------------
# 7. tf.distribute.MirroredStrategy on two logical CPUs.
# ----------------------------------------------------------------------
# Logical devices must be configured before TensorFlow runs its first op:
# afterwards `set_logical_device_configuration` raises "Virtual devices cannot
# be modified after being initialized", and by this test earlier tests (and
# other modules' fixtures) have run ops. Importing TensorFlow does not
# initialise it, so conftest.py could split the CPU before collection, but
# then every other test would run with two logical CPUs and the outcome
# would depend on how pytest is started; a fresh interpreter isolates it.
_DISTRIBUTED_SCRIPT = r'''
import json
import os
import warnings

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_nachos import EarlyExitModel  # noqa: E402
from keras_nachos import NachosLoss  # noqa: E402
from keras_nachos import SupportSetCallback  # noqa: E402
from tests.testing_utils import small_cnn  # noqa: E402
from tests.testing_utils import toy_data  # noqa: E402

warnings.simplefilter("ignore")
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
x, y = toy_data(32)
halves = [(x[:16], y[:16]), (x[16:], y[16:])]
results = {"replicas": strategy.num_replicas_in_sync}


def build(nachos):
    if nachos:
        model = EarlyExitModel.from_backbone(
            small_cnn(), ["p1", "p2"], 4, head="conv", confidence=True
        )
        return model, NachosLoss(max_macs=model.exit_macs[0] * 1.5), None
    backbone = small_cnn()
    # A regularised layer: its penalty is part of the replicas' loss too.
    backbone.get_layer("b2").kernel.regularizer = keras.regularizers.L2(0.05)
    model = EarlyExitModel.from_backbone(backbone, ["p1", "p2"], 4)
    return model, "sparse_categorical_crossentropy", [0.5, 0.25, 1.0]


for nachos in (False, True):
    key = "nachos" if nachos else "plain"
    # One device: the global batch's step is the mean of the halves' losses
    # (what each replica computes on its half).
    ref, loss, exit_weights = build(nachos)
    ref.compile(keras.optimizers.SGD(0.1), loss=loss, exit_weights=exit_weights)
    start = ref.get_weights()
    with tf.GradientTape() as tape:
        total = sum(
            ref.compute_loss(a, b, ref(a, training=True)) for a, b in halves
        ) / 2
    grads = tape.gradient(total, ref.trainable_variables)
    expected_terms = {
        name: float(t.result())
        for name, t in ref._training_state.loss_trackers.items()
    }
    expected = [
        (v - 0.1 * g).numpy() for v, g in zip(ref.trainable_variables, grads)
    ]
    with strategy.scope():
        model, loss, exit_weights = build(nachos)
        model.compile(
            keras.optimizers.SGD(0.1), loss=loss, exit_weights=exit_weights,
            metrics=["accuracy"],
        )
    model.set_weights(start)
    logs = model.fit(x, y, batch_size=32, shuffle=False, verbose=0).history
    got = [v.numpy() for v in model.trainable_variables]
    results[key] = {
        "loss": logs["loss"][0],
        "expected_loss": float(total),
        "max_weight_diff": max(
            float(np.max(np.abs(a - b))) for a, b in zip(got, expected)
        ),
        "max_step": max(
            float(np.max(np.abs(a - b)))
            for a, b in zip(expected, [v.numpy() for v in ref.trainable_variables])
        ),
        "terms": {name: logs[name][0] for name in expected_terms},
        "expected_terms": expected_terms,
        "regularization": float(sum(keras.ops.sum(v) for v in ref.losses)),
        "exit_weights_type": type(model._training_state.exit_weights).__name__,
    }
    # Schedules and NachosLoss variables under the strategy.
    if nachos:
        callback = SupportSetCallback((x[:16], y[:16]), warmup_epochs=1)
        model.fit(x, y, batch_size=16, epochs=2, callbacks=[callback], verbose=0)
        nachos_loss = model._training_state.multi_exit_loss
        results[key]["support_active"] = [
            float(v.numpy()) for v in nachos_loss.support_active.values
        ]
        results[key]["support_matches"] = all(
            np.array_equal(v.numpy(), callback.history[-1])
            for v in nachos_loss.support_matrix.values
        )
    else:
        with strategy.scope():
            model.compile("adam", exit_weights="sdn", metrics=["accuracy"])
        model.fit(x, y, batch_size=16, epochs=3, verbose=0)
        schedule = model._training_state.schedule
        results[key]["exit_weights"] = [
            v.numpy().tolist() for v in model._training_state.exit_weights.values
        ]
        results[key]["expected_exit_weights"] = schedule.weights(2, 3)
    evaluated = model.evaluate(x, y, batch_size=16, return_dict=True, verbose=0)
    results[key]["evaluate_finite"] = bool(
        all(np.isfinite(v) for v in evaluated.values())
    )
    rule = "cascade_confidence" if nachos else "max_probability"
    result = model.predict_early_exit(x, [0.5, 0.5], rule=rule)
    results[key]["early_exit_samples"] = int(len(result.predictions))
print("RESULTS " + json.dumps(results))
'''


@pytest.fixture(scope="module")
def distributed_results():
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(
        [REPO_ROOT] + [p for p in [env.get("PYTHONPATH")] if p]
    )
    done = subprocess.run(
        [sys.executable, "-c", _DISTRIBUTED_SCRIPT],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [l for l in done.stdout.splitlines() if l.startswith("RESULTS ")]
    assert done.returncode == 0 and lines, done.stderr[-4000:]
    return json.loads(lines[-1][len("RESULTS "):])


@pytest.mark.parametrize("case", ["plain", "nachos"])
def test_mirrored_strategy_step_equals_one_device(distributed_results, case):
    """One SGD step on 2 replicas = the step on the mean of the replicas'
    losses on one device; logged losses are those of one device."""
    assert distributed_results["replicas"] == 2
    r = distributed_results[case]
    assert r["exit_weights_type"] == "MirroredVariable"
    assert r["loss"] == pytest.approx(r["expected_loss"], rel=1e-5)
    assert r["terms"] == pytest.approx(r["expected_terms"], rel=1e-5)
    assert r["max_weight_diff"] < 1e-3 * r["max_step"]
    assert r["evaluate_finite"]
    assert r["early_exit_samples"] == 32
    if case == "plain":
        assert r["regularization"] > 0  # the penalty is in the loss, once


def test_mirrored_strategy_exit_weights_and_nachos_variables(
    distributed_results,
):
    plain = distributed_results["plain"]
    for replica in plain["exit_weights"]:  # the SDN ramp at the last epoch
        np.testing.assert_allclose(
            replica, plain["expected_exit_weights"], rtol=1e-6
        )
    nachos = distributed_results["nachos"]
    assert nachos["support_active"] == [1.0, 1.0]
    assert nachos["support_matches"]
