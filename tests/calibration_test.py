import json
import math

import numpy as np
import pytest

from keras_nachos import calibration
from keras_nachos import rules as exit_rules
from keras_nachos.calibration import calibrate_from_outputs
from keras_nachos.calibration import evaluate_thresholds
from keras_nachos.calibration import exit_tables
from keras_nachos.calibration import exit_indices as _exit_indices

NUM_CLASSES = 10
COSTS = [10.0, 25.0, 45.0, 70.0]


def synthetic_outputs(
    n=10000,
    num_classes=NUM_CLASSES,
    margins=(2.2, 3.0, 3.8, 4.6),
    confidence=False,
    seed=0,
):
    """Per-exit probabilities with accuracy rising with depth (~0.65 to
    0.96) and confidence correlated with correctness through a shared
    per-sample difficulty; float32 like a model's outputs."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, num_classes, n)
    difficulty = rng.normal(0, 1, n)
    outputs = []
    for b, margin in enumerate(margins):
        logits = rng.normal(0, 1, (n, num_classes))
        logits[np.arange(n), y] += margin - 1.2 * difficulty + rng.normal(0, 0.7, n)
        logits *= 1.5
        p = np.exp(logits - logits.max(1, keepdims=True))
        p = (p / p.sum(1, keepdims=True)).astype("float32")
        if confidence and b < len(margins) - 1:
            c = 1 / (1 + np.exp(-(4 * (p.max(1) - 0.5) + rng.normal(0, 0.5, n))))
            p = np.concatenate([p, c[:, None].astype("float32")], 1)
        outputs.append(p)
    return outputs, y


class _OneMinusMax(exit_rules.ExitRule):
    """A user rule defining only `score` and `direction` (a "less" rule)."""

    name = "one_minus_max"
    direction = "less"

    def score(self, probabilities, confidence):
        return 1.0 - probabilities.max(axis=1)


# ----------------------------------------------------------------------
# Tables and evaluation.
# ----------------------------------------------------------------------
S_HAND = np.array(
    [[0.9, 0.1], [0.4, 0.8], [0.6, 0.95], [0.2, 0.3], [0.7, 0.5], [0.5, 0.9]]
)
R_HAND = np.array(
    [[1, 0, 1], [0, 0, 1], [0, 0, 0], [1, 1, 0], [0, 1, 1], [0, 1, 1]], bool
)
COSTS_HAND = [1.0, 3.0, 6.0]


def test_evaluate_thresholds_by_hand():
    # Exits [0, 2, 1, 2, 0, 1]; correct: samples 0, 1, 5.
    acc, cost, fractions = evaluate_thresholds(
        S_HAND, R_HAND, COSTS_HAND, [0.65, 0.85]
    )
    assert acc == 0.5
    assert cost == pytest.approx(20 / 6)
    np.testing.assert_allclose(fractions, [2 / 6, 2 / 6, 2 / 6])
    # A threshold equal to a score fires (S >= u): exits [0, 2, 0, 2, 0, 1].
    acc, cost, fractions = evaluate_thresholds(S_HAND, R_HAND, COSTS_HAND, [0.6, 0.9])
    assert (acc, cost) == (0.5, 3.0)
    np.testing.assert_allclose(fractions, [3 / 6, 1 / 6, 2 / 6])
    # Batched: the same two settings at once, plus "never" and "always".
    accs, costs, fractions = evaluate_thresholds(
        S_HAND, R_HAND, COSTS_HAND, [[0.65, 0.85], [0.6, 0.9], [1, 1], [0, 0]]
    )
    np.testing.assert_allclose(accs, [0.5, 0.5, 4 / 6, 2 / 6])
    np.testing.assert_allclose(costs, [20 / 6, 3.0, 6.0, 1.0])
    assert fractions.shape == (4, 3)


def test_exit_tables_by_hand():
    p1 = np.array([[0.9, 0.1], [0.6, 0.4]])
    p2 = np.array([[0.2, 0.8], [0.3, 0.7]])
    S, R = exit_tables([p1, p2], [0, 1], "max_probability", 2)
    np.testing.assert_allclose(S[:, 0], [0.9, 0.6])
    assert R.tolist() == [[True, False], [False, True]]
    S, _ = exit_tables([p1, p2], np.eye(2)[[0, 1]], "entropy", 2)  # one-hot y
    h = -(p1 * np.log(p1)).sum(1)
    np.testing.assert_allclose(S[:, 0], -h)


@pytest.mark.parametrize(
    "rule",
    [
        "max_probability",
        "entropy",
        "score_margin",
        "cascade_confidence",
        _OneMinusMax(),
    ],
    ids=lambda r: getattr(r, "name", r),
)
def test_exit_tables_reproduce_apply_rule(rule):
    rule = exit_rules.get(rule)
    rng = np.random.default_rng(3)
    n, k = 400, 5
    outputs = [rng.dirichlet(np.full(k, 0.5), n).astype("float32") for _ in range(4)]
    if rule.needs_confidence:
        for i in range(3):
            c = rng.uniform(0, 1, (n, 1)).astype("float32")
            outputs[i] = np.concatenate([outputs[i], c], 1)
    y = rng.integers(0, k, n)
    S, R = exit_tables(outputs, y, rule, k)
    assert S.shape == (n, 3) and R.shape == (n, 4)
    low, high = rule.threshold_range(k)
    settings = [[low] * 3, [high] * 3]
    settings += rng.uniform(low, high, (20, 3)).tolist()
    # Thresholds equal to a sample's own score: the firing test's equality.
    for _ in range(20):
        rows = rng.integers(0, n, 3)
        own = S[rows, np.arange(3)]
        settings.append((-own if rule.direction == "less" else own).tolist())
    for t in settings:
        expected = _exit_indices(outputs, rule, t, k)
        u = calibration.to_score_thresholds(rule, t)
        np.testing.assert_array_equal(calibration.exit_index(S, u), expected)
        round_trip = calibration.to_rule_thresholds(rule, u)
        np.testing.assert_array_equal(round_trip, t)
        acc, _, _ = evaluate_thresholds(S, R, [1, 2, 3, 4], u)
        assert acc == np.mean(R[np.arange(n), expected])


def test_rules_override_step_not_decide_and_cascade_needs_confidence():
    # One definition of "the rule fires": a rule that overrides `decide`
    # would decide differently in the runner and in the calibration.
    with pytest.raises(TypeError, match="override `step`"):

        class Stateful(exit_rules.MaxProbability):
            def decide(self, output, threshold, num_classes, carry):
                return super().decide(output, threshold, num_classes, carry)

    outputs = [np.full((3, 2), 0.5), np.full((3, 2), 0.5)]
    with pytest.raises(ValueError, match="confidence column"):
        exit_tables(outputs, [0, 1, 0], "cascade_confidence", 2)


# ----------------------------------------------------------------------
# Curves.
# ----------------------------------------------------------------------
def test_curve_helpers_by_hand():
    costs = [1, 2, 2, 3, 4, 5]
    accs = [0.5, 0.6, 0.7, 0.72, 0.9, 0.9]
    assert calibration.pareto_front(costs, accs).tolist() == [0, 2, 3, 4]
    # (3, 0.72) lies below the chord (2, 0.7)-(4, 0.9).
    assert calibration.upper_convex_hull(costs, accs).tolist() == [0, 2, 4]
    curve = [(1.0, 0.5), (2.0, 0.7), (4.0, 0.9)]
    np.testing.assert_allclose(
        calibration.curve_quality(curve, [0.5, 1, 3.9, 10]), [np.nan, 0.5, 0.7, 0.9]
    )
    # Over [0, 5]: 0 on [0,1), 0.5 on [1,2), 0.7 on [2,4), 0.9 on [4,5].
    assert calibration.dominated_area(curve, 0, 5) == pytest.approx(
        (0.5 + 2 * 0.7 + 0.9) / 5
    )


def test_grid_repair_by_hand():
    # Only "everyone at the final exit" ([1, 1]) is 6/6 accurate (cost 10).
    S = np.array(
        [[0.9, 0.9], [0.7, 0.8], [0.2, 0.6], [0.6, 0.3], [0.1, 0.7], [0.3, 0.2]]
    )
    R = np.array(
        [[1, 1, 1], [0, 1, 1], [0, 1, 1], [0, 0, 1], [0, 0, 1], [1, 0, 1]], bool
    )
    costs = [1.0, 3.0, 10.0]
    grid = [0.0, 0.5, 1.0]
    u, acc, cost, feasible = calibration.grid_repair_thresholds(S, R, costs, grid=grid)
    assert u.tolist() == [1.0, 1.0] and (acc, cost) == (1.0, 10.0)
    # Repair: the last early exit 1 -> 0.5 sends samples 0, 1, 2, 4 there
    # (5/6 correct, cost 32/6 <= 6): done.
    u, acc, cost, feasible = calibration.grid_repair_thresholds(
        S, R, costs, min_accuracy=0.8, max_macs=6.0, grid=grid
    )
    assert feasible and u.tolist() == [1.0, 0.5]
    assert acc == pytest.approx(5 / 6) and cost == pytest.approx(32 / 6)
    # Budget 5: every further step drops accuracy below 0.8 (0.5 -> 0 at
    # exit 2: 3/6; then 1 -> 0.5 at exit 1: 3/6), so the repair fails.
    u, acc, cost, feasible = calibration.grid_repair_thresholds(
        S, R, costs, min_accuracy=0.8, max_macs=5.0, grid=grid
    )
    assert not feasible and u.tolist() == [1.0, 0.5]


# ----------------------------------------------------------------------
# The search on synthetic, realistic outputs.
# ----------------------------------------------------------------------
@pytest.fixture(scope="module", params=["max_probability", "cascade_confidence"])
def searched(request):
    rule = exit_rules.get(request.param)
    outputs, y = synthetic_outputs(confidence=rule.needs_confidence, seed=1)
    result = calibrate_from_outputs(outputs, y, COSTS, rule, NUM_CLASSES)
    S, R = exit_tables(outputs, y, rule, NUM_CLASSES)
    return rule, outputs, y, S, R, result


def test_curve_never_below_baselines(searched):
    rule, _, _, S, R, result = searched
    score_range = calibration.score_threshold_range(rule, NUM_CLASSES)
    grid = calibration.grid_curve(S, R, COSTS, score_range=score_range)
    hull = calibration.random_search_curve(
        S, R, COSTS, num_samples=1000, seed=0, score_range=score_range
    )
    levels = np.linspace(COSTS[0], COSTS[-1], 3001)
    ours = np.nan_to_num(calibration.curve_quality(result, levels), nan=-1.0)
    for baseline in (grid, hull):
        theirs = np.nan_to_num(calibration.curve_quality(baseline, levels), nan=-1.0)
        assert np.all(ours >= theirs - 1e-12)
        assert calibration.dominated_area(
            result, COSTS[0], COSTS[-1]
        ) > calibration.dominated_area(baseline, COSTS[0], COSTS[-1])
    # Every baseline point is weakly dominated by a point of ours.
    cost = np.array([p.expected_macs for p in result.curve])
    acc = np.array([p.accuracy for p in result.curve])
    for point in grid + hull:
        assert np.any((cost <= point[0]) & (acc >= point[1]))


def test_curve_is_non_dominated_and_reproducible(searched):
    rule, outputs, y, S, R, result = searched
    curve = result.curve
    cost = np.array([p.expected_macs for p in curve])
    acc = np.array([p.accuracy for p in curve])
    assert len(curve) > 100
    assert np.all(np.diff(cost) > 0) and np.all(np.diff(acc) > 0)
    dominates = (cost[:, None] <= cost[None, :]) & (acc[:, None] >= acc[None, :])
    dominates &= (cost[:, None] < cost[None, :]) | (acc[:, None] > acc[None, :])
    assert not dominates.any()
    thresholds = np.array([p.thresholds for p in curve])
    for t in thresholds:
        rule.validate_thresholds(t, 3, NUM_CLASSES)
    # All points, vectorised on the tables...
    u = calibration.to_score_thresholds(rule, thresholds)
    accs, costs, _ = evaluate_thresholds(S, R, COSTS, u)
    np.testing.assert_array_equal(accs, acc)
    np.testing.assert_array_equal(costs, cost)
    # ... and a spread of them through the rule itself.
    for i in np.unique(np.linspace(0, len(curve) - 1, 20).astype(int)):
        exits = _exit_indices(outputs, rule, curve[i].thresholds, NUM_CLASSES)
        probabilities = np.stack([o[:, :NUM_CLASSES] for o in outputs])
        predicted = probabilities[exits, np.arange(len(y))].argmax(1)
        assert np.mean(predicted == y) == curve[i].accuracy
        assert np.mean(np.asarray(COSTS)[exits]) == curve[i].expected_macs


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
    for constraints, numbers in cases:
        with pytest.raises(ValueError) as info:
            _calibrate(outputs, y, **constraints)
        message = str(info.value)
        assert "none" not in message
        assert all(number in message for number in numbers), message
    closest = _calibrate(outputs, y, min_accuracy=0.999, raise_if_infeasible=False)
    assert not closest.feasible and closest.accuracy == acc.max()


def test_baseline_choices_meet_constraints():
    outputs, y = synthetic_outputs(n=2000, seed=2)
    S, R = exit_tables(outputs, y, "max_probability", NUM_CLASSES)
    u, acc, cost, feasible = calibration.grid_repair_thresholds(
        S, R, COSTS, min_accuracy=0.85, max_macs=40.0, score_range=(0, 1)
    )
    assert feasible and acc >= 0.85 and cost <= 40.0
    assert evaluate_thresholds(S, R, COSTS, u)[:2] == (acc, cost)
    u, acc, cost, feasible = calibration.random_search_hull(
        S, R, COSTS, max_macs=30.0, num_samples=300, seed=1, score_range=(0, 1)
    )
    assert feasible and cost <= 30.0
    assert evaluate_thresholds(S, R, COSTS, u)[:2] == (acc, cost)


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


# ----------------------------------------------------------------------
# End to end with a real model.
# ----------------------------------------------------------------------
def test_calibrated_thresholds_reproduce_real_early_exit(monkeypatch):
    import keras
    import tensorflow as tf

    from keras_nachos import EarlyExitModel
    from tests.testing_utils import small_cnn
    from tests.testing_utils import toy_data

    x, y = toy_data(64)
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4)
    model.compile(keras.optimizers.Adam(1e-2))
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)

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
