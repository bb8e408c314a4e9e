"""Tests of `keras_nachos.calibration.calibrate`: which curve point the
constraints pick, infeasible constraints, arguments, a real model."""

import json
import math

import numpy as np
import pytest

from keras_nachos import calibration
from keras_nachos import rules as exit_rules
from keras_nachos.calibration import calibrate_from_outputs
from keras_nachos.calibration import evaluate_thresholds
from keras_nachos.calibration import exit_tables
from tests.calibration.testing_utils import COSTS
from tests.calibration.testing_utils import NUM_CLASSES
from tests.calibration.testing_utils import synthetic_outputs
from tests.testing_utils import assert_invalid


@pytest.fixture(scope="module")
def outputs_4k():
    outputs, y = synthetic_outputs(n=4000, seed=4)
    S, R = exit_tables(outputs, y, "max_probability", NUM_CLASSES)
    return outputs, y, S, R


def _calibrate(outputs, y, **kwargs):
    # A smaller search budget than the default keeps these tests quick; the
    # search is deterministic, so every call sees the same curve.
    return calibrate_from_outputs(
        outputs, y, COSTS, "max_probability", NUM_CLASSES, max_moves=300, **kwargs
    )


def test_constraints_pick_the_documented_point(outputs_4k):
    outputs, y, S, R = outputs_4k
    rule = exit_rules.MaxProbability()
    run = lambda **kw: _calibrate(outputs, y, **kw)  # noqa: E731
    best = run()
    cost = np.array([p.expected_macs for p in best.curve])
    acc = np.array([p.accuracy for p in best.curve])
    assert best.accuracy == acc.max() and best.feasible
    # Accuracy floor only: the cheapest point reaching it.
    floor = float(np.round(acc.max() - 0.01, 3))
    result = run(min_accuracy=floor)
    assert result.accuracy >= floor
    assert result.expected_macs == cost[acc >= floor].min()
    # Budget only: the most accurate point within it.
    budget = 30.0
    result = run(max_macs=budget)
    assert result.expected_macs <= budget
    assert result.accuracy == acc[cost <= budget].max()
    # Both: the cheapest point meeting both; at most NACHOS' repaired cost.
    floor, budget = float(np.round(acc.max() - 0.02, 3)), 40.0
    result = run(min_accuracy=floor, max_macs=budget)
    assert result.accuracy >= floor and result.expected_macs <= budget
    assert result.expected_macs == cost[acc >= floor].min()
    score_range = calibration.score_threshold_range(rule, NUM_CLASSES)
    u, repair_acc, repair_cost, feasible = calibration.grid_repair_thresholds(
        S, R, COSTS, floor, budget, score_range=score_range
    )
    if feasible:
        assert result.expected_macs <= repair_cost
    # Reported numbers are those of the thresholds.
    acc_t, cost_t, fractions = evaluate_thresholds(
        S, R, COSTS, calibration.to_score_thresholds(rule, result.thresholds)
    )
    assert (acc_t, cost_t) == (result.accuracy, result.expected_macs)
    np.testing.assert_allclose(fractions, result.exit_fractions)
    json.dumps(result.to_dict())


def test_infeasible_constraints_raise_with_both_numbers(outputs_4k):
    outputs, y, _, _ = outputs_4k
    result = _calibrate(outputs, y)
    acc = np.array([p.accuracy for p in result.curve])
    cost = np.array([p.expected_macs for p in result.curve])
    floor = float(np.round(acc.max() - 0.005, 3))
    budget = 12.0
    best_under = acc[cost <= budget].max()
    cheapest = cost[acc >= floor].min()
    with pytest.raises(ValueError) as info:
        _calibrate(outputs, y, min_accuracy=floor, max_macs=budget)
    message = str(info.value)
    assert f"{best_under:.4f}" in message and f"{cheapest:,.1f}" in message
    # Where one side has no point, the message gives the nearest one: never
    # "none" (the cheapest setting under an unreachable budget, the most
    # accurate under an unreachable floor).
    cases = [
        ({"min_accuracy": 0.999}, [f"{acc.max():.4f}", f"{cost.max():,.1f}"]),
        ({"max_macs": 5.0}, [f"{cost.min():,.1f}", f"{acc.min():.4f}"]),
        ({"min_accuracy": 0.999, "max_macs": 5.0},
         [f"{acc.max():.4f}", f"{cost.min():,.1f}"]),
    ]
    for limits, numbers in cases:
        with pytest.raises(ValueError) as info:
            _calibrate(outputs, y, **limits)
        message = str(info.value)
        assert "none" not in message
        assert all(number in message for number in numbers), message
    closest = _calibrate(outputs, y, min_accuracy=0.999, raise_if_infeasible=False)
    assert not closest.feasible and closest.accuracy == acc.max()


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"min_accuracy": 1.5}, "min_accuracy"),
        ({"min_accuracy": -0.1}, "min_accuracy"),
        ({"max_macs": 0}, "max_macs"),
        ({"max_macs": -3.0}, "max_macs"),
        ({"rule": "fastest"}, "rule"),
        ({"max_moves": 10, "beam": 3}, "search_options"),
    ],
)
def test_bad_arguments(kwargs, argument):
    outputs, y = synthetic_outputs(n=50)
    match = f"Invalid value received for argument `{argument}`"
    with pytest.raises(ValueError, match=match):
        calibrate_from_outputs(outputs, y, COSTS, num_classes=NUM_CLASSES, **kwargs)
    with pytest.raises(ValueError, match="argument `costs`"):
        calibrate_from_outputs(outputs, y, COSTS[:3], num_classes=NUM_CLASSES)


def test_bad_convention_is_rejected_before_the_model_runs():
    with pytest.raises(ValueError, match="argument `convention`.*flops"):
        calibration.calibrate_thresholds(None, None, convention="flops")
    with pytest.raises(ValueError, match="argument `min_accuracy`"):
        calibration.calibrate_thresholds(None, None, min_accuracy=2)


def test_calibrated_thresholds_reproduce_real_early_exit(
    shared_trained_model, monkeypatch
):
    import tensorflow as tf

    model, x, y = shared_trained_model
    calls = []
    predict_exits = model.predict_exits

    def counted(*args, **kwargs):
        calls.append(1)
        return predict_exits(*args, **kwargs)

    monkeypatch.setattr(model, "predict_exits", counted)
    best = calibration.calibrate_thresholds(model, (x, y), convention="taken_head")
    assert len(calls) == 1 and best.convention == "taken_head"
    assert best.curve[-1].expected_macs <= max(model.exit_macs_taken_head)
    floor = best.curve[len(best.curve) // 2].accuracy
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    result = calibration.calibrate_thresholds(model, data, min_accuracy=floor)
    assert result.accuracy >= floor and result.convention == "cumulative"
    early = model.predict_early_exit(x, result.thresholds)
    assert early.accuracy(y) == result.accuracy
    assert early.expected_macs == result.expected_macs
    np.testing.assert_allclose(early.exit_fractions, result.exit_fractions)
    assert math.isclose(sum(result.exit_fractions), 1.0)


def test_class_means_rule_calibrates_with_its_strict_inequality():
    from keras_nachos.calibration import exit_indices as _exit_indices

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    outs = [rng.dirichlet(np.ones(3), 300) for _ in range(3)]
    outs[0][:5] = [0.5, 0.3, 0.2]  # ties exactly at a threshold value
    result = calibrate_from_outputs(outs, y, [1.0, 2.0, 3.0], rule="class_means",
                                    num_classes=3)
    for point in result.curve[:: max(1, len(result.curve) // 15)]:
        exits = _exit_indices(outs, "class_means", point.thresholds, 3)
        correct = np.stack([o.argmax(1) == y for o in outs])
        accuracy = correct[exits, np.arange(300)].mean()
        cost = np.asarray([1.0, 2.0, 3.0])[exits].mean()
        assert accuracy == pytest.approx(point.accuracy)
        assert cost == pytest.approx(point.expected_macs)
    S, _ = exit_tables(outs, y, "class_means", 3)
    t = calibration.to_score_thresholds("class_means", [0.5, 0.5])
    assert calibration.to_rule_thresholds("class_means", t).tolist() == [0.5, 0.5]
    assert not np.any((S[:5, 0] >= t[0]))  # 0.5 > 0.5 is false


def test_calibrate_thresholds_checks_before_running_the_model():
    assert_invalid("model", calibration.calibrate_thresholds, "a model", (None, None))
    assert_invalid("batch_size", calibration.calibrate_thresholds, None, None,
            batch_size=0)


def test_device_budgets_refuse_a_model_before_it_runs(monkeypatch):
    from keras_nachos import EarlyExitModel
    from tests.testing_utils import small_cnn
    from tests.testing_utils import toy_data

    model = EarlyExitModel.from_backbone(small_cnn(seed=0), ["p1", "p2"], 4)
    costs = model.device_costs
    ran = []
    monkeypatch.setattr(type(model), "predict_exits",
                        lambda self, *a, **k: ran.append(1))
    with pytest.raises(ValueError, match="max_ram_bytes") as info:
        calibration.calibrate_thresholds(
            model, toy_data(16), max_ram_bytes=costs.ram_bytes - 1)
    assert f"~{costs.ram_bytes:,}-byte arena" in str(info.value)
    with pytest.raises(ValueError, match="max_flash_bytes"):
        calibration.calibrate_thresholds(
            model, toy_data(16), max_flash_bytes=costs.flash_bytes - 1)
    assert_invalid("max_ram_bytes", calibration.calibrate_thresholds, model,
                   toy_data(16), max_ram_bytes=-5)
    assert ran == []
    monkeypatch.undo()
    result = calibration.calibrate_thresholds(
        model, toy_data(64), max_ram_bytes=costs.ram_bytes,
        max_flash_bytes=costs.flash_bytes)
    assert len(result.thresholds) == 2


def _bad_labels(y, num_classes):
    """One row per class of bad labels: `(labels, what the error says)`."""
    first = y == y[0]
    return [
        (np.where(first, num_classes + 2, y),
         rf"Received: y=\[{num_classes + 2}\]"),
        (np.where(first, -1, y), r"Received: y=\[-1\]"),
        (np.full_like(y, num_classes),
         rf"{len(y)} of {len(y)} are outside.*Received: y=\[{num_classes}\]"),
        (y[:-1], rf"{len(y)} labels, one per sample"),
        (np.where(first, 0.5, y), "not whole numbers"),
        (np.where(first, np.nan, y), "NaN or infinite"),
        (np.full((len(y), num_classes), 1 / num_classes), "one-hot rows"),
    ]


def test_calibrate_from_outputs_checks_labels_and_outputs():
    # Before: labels out of range were counted as errors, and a
    # FloorGuarantee was returned at accuracy 0.0.
    outputs, y = synthetic_outputs(n=300, seed=1)
    for labels, message in _bad_labels(y, NUM_CLASSES):
        for guarantee in ({}, {"min_accuracy": 0.5, "floor_confidence": 0.9}):
            with pytest.raises(ValueError,
                               match=r"argument `y`\. Expected .*" + message):
                _calibrate(outputs, labels, **guarantee)
    nan = [o.copy() for o in outputs]
    nan[1][4, 2] = np.nan
    with pytest.raises(ValueError, match=r"argument `exit_outputs`.*finite "
                       r"numbers \(exit 1's outputs of 1 of 300 samples.*index 4"):
        _calibrate(nan, y)
    assert_invalid("exit_outputs", _calibrate, outputs[0], y)
    one_hot = _calibrate(outputs, np.eye(NUM_CLASSES)[y], min_accuracy=0.8)
    assert one_hot.thresholds == _calibrate(outputs, y, min_accuracy=0.8).thresholds


def test_calibrate_thresholds_checks_its_data_before_the_model_runs(
    shared_trained_model, monkeypatch
):
    import tensorflow as tf

    model, x, y = shared_trained_model
    ran = []
    monkeypatch.setattr(type(model), "predict_exits",
                        lambda self, *a, **k: ran.append(1))
    nan = x.copy()
    nan[3, 5, 5, 0] = np.inf
    cases = [((x, labels), message) for labels, message in _bad_labels(y, 4)
             if len(labels) == len(y)]
    cases += [
        ((x, y[:-1]), "one label per sample"),
        ((nan, y), r"inputs \(the pair's first item\) that are finite numbers"),
        ((x[:, :8], y), r"\(n, 16, 16, 1\)"),
        ((x[:0], y[:0]), "at least one sample"),
        (tf.data.Dataset.from_tensor_slices((x, y + 4)).batch(32),
         r"labels \(the second item of its batches\)"),
    ]
    for data, message in cases:
        message = message.replace("Received: y=", "Received: validation_data=")
        for options in ({}, {"min_accuracy": 0.3, "floor_confidence": 0.9}):
            with pytest.raises(ValueError, match=r"argument `validation_data`"
                               r"\. Expected .*" + message):
                calibration.calibrate_thresholds(model, data, **options)
    assert ran == []
    monkeypatch.undo()
    one_hot = calibration.calibrate_thresholds(model, (x, np.eye(4)[y]))
    assert one_hot.thresholds == calibration.calibrate_thresholds(
        model, (x, y)).thresholds
