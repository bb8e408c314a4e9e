"""Tests of `keras_nachos.calibration.guaranteed_calibration`, mostly through
`calibrate_from_outputs(..., floor_confidence=...)`: the violation rate over
many synthetic splits, what the result says, too few samples, nothing
certified, the argument checks."""

import math

import numpy as np
import pytest

from keras_nachos import calibration
from keras_nachos.calibration import calibrate_from_outputs
from keras_nachos.calibration import evaluate_thresholds
from keras_nachos.calibration import exit_tables
from tests.calibration.testing_utils import COSTS
from tests.calibration.testing_utils import NUM_CLASSES
from tests.calibration.testing_utils import synthetic_outputs
from keras_nachos.calibration import guaranteed_calibration
from tests.testing_utils import assert_invalid

# A small search budget keeps these tests quick (the search is deterministic).
FAST = dict(max_moves=60, num_lambdas=6, grid=0)


def _calibrate(outputs, y, **kwargs):
    return calibrate_from_outputs(
        outputs, y, COSTS, "max_probability", NUM_CLASSES, **FAST, **kwargs
    )


@pytest.fixture(scope="module")
def population():
    """A large pool standing for the distribution, and its exit tables."""
    outputs, y = synthetic_outputs(n=60000, seed=11)
    S, R = exit_tables(outputs, y, "max_probability", NUM_CLASSES)
    return outputs, y, S, R


@pytest.mark.parametrize(
    "floor_kind, floor_sequence",
    [("min_accuracy", "shared"), ("min_accuracy", "learned"),
     ("max_accuracy_drop", "shared")],
)
def test_violation_rate_over_many_splits_stays_within_its_bound(
    population, floor_kind, floor_sequence
):
    outputs, y, S, R = population
    # Calibration sets drawn from the first 20,000; the other 40,000 measure
    # the accuracy on the distribution.
    held_out = np.arange(20000, 60000)
    S_pop, R_pop = S[held_out], R[held_out]
    final = R_pop[:, -1].mean()
    if floor_kind == "min_accuracy":
        floor_kwargs = {"min_accuracy": float(final - 0.01)}
        floor_pop = final - 0.01
    else:
        floor_kwargs = {"max_accuracy_drop": 0.01}
        floor_pop = final - 0.01
    confidence, splits, size = 0.8, 100, 800
    rng = np.random.default_rng(0)
    violated, plain_violated = [], []
    for split in range(splits):
        cal = rng.choice(20000, size, replace=False)
        result = _calibrate(
            [o[cal] for o in outputs], y[cal], floor_confidence=confidence,
            floor_sequence=floor_sequence, raise_if_infeasible=False, seed=split,
            **floor_kwargs,
        )
        u = calibration.to_score_thresholds("max_probability", result.thresholds)
        accuracy, _, _ = evaluate_thresholds(S_pop, R_pop, COSTS, u)
        violated.append(result.feasible and accuracy < floor_pop)
        u = calibration.to_score_thresholds(
            "max_probability", result.guarantee.unguaranteed_thresholds
        )
        accuracy, _, _ = evaluate_thresholds(S_pop, R_pop, COSTS, u)
        plain_violated.append(accuracy < floor_pop)
    delta = 1 - confidence
    # Within binomial noise of the bound (3 standard deviations).
    assert np.mean(violated) <= delta + 3 * math.sqrt(delta * (1 - delta) / splits)
    # The check can fail: plain calibration breaks the floor about half the
    # time on the same splits.
    assert np.mean(plain_violated) > delta + 3 * math.sqrt(delta * (1 - delta) / splits)


def test_the_result_says_what_it_guarantees_and_what_it_costs():
    outputs, y = synthetic_outputs(n=3000, seed=2)
    result = _calibrate(outputs, y, min_accuracy=0.9, floor_confidence=0.9,
                        floor_sequence="learned")
    g = result.guarantee
    assert result.feasible and g.kind == "min_accuracy" and g.floor == 0.9
    assert (g.calibration_samples, g.curve_samples, g.testing_samples) == (
        3000, 900, 2100
    )
    assert g.certified_points >= 1 and g.accuracy_lower_bound >= 0.9
    plain = _calibrate(outputs, y, min_accuracy=0.9)
    assert plain.guarantee is None
    assert g.unguaranteed_thresholds == plain.thresholds
    assert g.unguaranteed_expected_macs == plain.expected_macs
    assert g.expected_macs_paid == pytest.approx(
        result.expected_macs - plain.expected_macs
    )
    assert g.expected_macs_paid > 0  # a guarantee is not free here
    assert result.to_dict()["guarantee"]["testing_samples"] == 2100
    assert "confidence 0.9" in repr(result)
    # The relative form: bounded drop below the final exit.
    relative = _calibrate(
        outputs, y, max_accuracy_drop=0.02, floor_confidence=0.9,
        floor_sequence="shared", new_data_size=1000,
    )
    g = relative.guarantee
    assert g.kind == "max_accuracy_drop" and g.accuracy_drop_upper_bound <= 0.02
    assert g.curve_samples == 0 and g.testing_samples == 3000
    assert relative.max_accuracy_drop == 0.02
    S, R = exit_tables(outputs, y, "max_probability", NUM_CLASSES)
    assert relative.min_accuracy == pytest.approx(R[:, -1].mean() - 0.02)


def test_too_few_samples_say_how_many_are_needed():
    outputs, y = synthetic_outputs(n=400, seed=3)
    # alpha = 0.01: (0.99) ** n <= 0.1 needs n >= 230 testing samples, i.e.
    # 328 in all with 30% (98) learning the curve.
    with pytest.raises(ValueError, match="at least 230 testing samples, i.e. 328 "
                       "calibration samples.*received 300"):
        _calibrate([o[:300] for o in outputs], y[:300], min_accuracy=0.99,
                   floor_confidence=0.9, floor_sequence="learned")
    result = _calibrate([o[:328] for o in outputs], y[:328], min_accuracy=0.99,
                        floor_confidence=0.9, raise_if_infeasible=False,
                        floor_sequence="learned")
    assert result.guarantee.testing_samples == 230
    with pytest.raises(ValueError, match="needs at least 230; received 229"):
        _calibrate([o[:229] for o in outputs], y[:229], min_accuracy=0.99,
                   floor_confidence=0.9)


def test_nothing_certified_raises_with_the_bound_reached():
    outputs, y = synthetic_outputs(n=1000, seed=5)
    with pytest.raises(ValueError, match="Nothing can be certified: the most "
                       "accurate setting's lower confidence bound is 0.9"):
        _calibrate(outputs, y, min_accuracy=0.985, floor_confidence=0.9)
    result = _calibrate(outputs, y, min_accuracy=0.985, floor_confidence=0.9,
                        raise_if_infeasible=False)
    assert not result.feasible and result.guarantee.certified_points == 0


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"floor_confidence": 0.9}, "floor_confidence"),
        ({"min_accuracy": 0.9, "floor_confidence": 1.0}, "floor_confidence"),
        ({"min_accuracy": 0.9, "max_accuracy_drop": 0.01}, "max_accuracy_drop"),
        ({"max_accuracy_drop": 0.0}, "max_accuracy_drop"),
        ({"min_accuracy": 0.9, "new_data_size": 100}, "new_data_size"),
        ({"min_accuracy": 0.9, "floor_confidence": 0.9, "new_data_size": 0},
         "new_data_size"),
        ({"min_accuracy": 0.9, "floor_confidence": 0.9, "curve_fraction": 1.0},
         "curve_fraction"),
        ({"min_accuracy": 0.9, "floor_confidence": 0.9, "floor_sequence": "x"},
         "floor_sequence"),
    ],
)
def test_bad_guarantee_arguments(kwargs, argument):
    outputs, y = synthetic_outputs(n=50, seed=0)
    assert_invalid(argument, _calibrate, outputs, y, **kwargs)
    assert_invalid(argument, calibration.calibrate_thresholds, None, None, **kwargs)


def test_shared_sequence_by_hand():
    S = np.array([[0.2, 0.9], [0.5, 0.5], [1.0, 0.7]])
    sequence = guaranteed_calibration.shared_sequence(S, (0.0, 1.0))
    # From "never exit early" (the top of the range) down, each score once.
    np.testing.assert_array_equal(
        sequence, [[1.0, 1.0], [0.9, 0.9], [0.7, 0.7], [0.5, 0.5], [0.2, 0.2]]
    )
    # Scores outside the range are left out; the top is always first.
    sequence = guaranteed_calibration.shared_sequence(S, (0.3, 0.8))
    np.testing.assert_array_equal(sequence[:, 0], [0.8, 0.7, 0.5])
    # Many scores: at most `max_points` quantiles of them, after the top.
    many = np.linspace(0, 1, 5001)[:, None]
    assert len(guaranteed_calibration.shared_sequence(many, (0, 1), 100)) <= 101


def test_settings_outcomes_by_hand():
    S = np.array([[0.9], [0.4], [0.6]])
    R = np.array([[True, True], [False, True], [False, False]])
    costs = np.array([1.0, 3.0])
    correct, harmed, cost = guaranteed_calibration.settings_outcomes(
        S, R, costs, np.array([[1.0], [0.5], [0.0]])
    )
    # Nobody, samples 0 and 2, everybody leaves early.
    assert correct.tolist() == [2, 2, 1]
    assert harmed.tolist() == [0, 0, 1]  # sample 1: right at the end only
    np.testing.assert_allclose(cost, [3.0, 5 / 3, 1.0])
    empty = guaranteed_calibration.settings_outcomes(S, R, costs, np.zeros((0, 1)))
    assert [len(a) for a in empty] == [0, 0, 0]


def test_a_huge_new_data_size_gives_the_answer_of_a_large_one():
    # Before: new_data_size=10**12 took about 200 s for this answer.
    outputs, y = synthetic_outputs(n=3000, seed=2)
    large, huge = (
        _calibrate(outputs, y, min_accuracy=0.9, floor_confidence=0.9,
                   new_data_size=m)
        for m in (10**7, 10**12)
    )
    assert huge.thresholds == large.thresholds
    assert huge.guarantee.certified_points == large.guarantee.certified_points
    assert huge.guarantee.accuracy_lower_bound == pytest.approx(
        large.guarantee.accuracy_lower_bound, abs=1e-5)
    assert huge.guarantee.new_data_size == 10**12


def test_no_floor_guarantee_for_labels_out_of_range():
    # Before: every label equal to num_classes gave a FloorGuarantee at
    # accuracy 0.0.
    outputs, y = synthetic_outputs(n=400, seed=3)
    for labels in (np.full_like(y, NUM_CLASSES), np.where(y == 0, -1, y)):
        for options in ({"min_accuracy": 0.5}, {"max_accuracy_drop": 0.05}):
            with pytest.raises(ValueError, match=r"argument `y`.*class ids in "
                               r"\[0, 10\)"):
                _calibrate(outputs, labels, floor_confidence=0.9,
                           raise_if_infeasible=False, **options)
