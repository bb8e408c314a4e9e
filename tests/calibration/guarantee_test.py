"""Tests of the guaranteed accuracy floor (`calibration.guarantee` and
`calibrate_from_outputs(..., floor_confidence=...)`): exact p-values and
bounds, the violation rate over many synthetic splits, too few samples."""

import itertools
import math

import numpy as np
import pytest

from keras_nachos import calibration
from keras_nachos.calibration import calibrate_from_outputs
from keras_nachos.calibration import evaluate_thresholds
from keras_nachos.calibration import exit_tables
from keras_nachos.calibration import guarantee
from tests.calibration.testing_utils import COSTS
from tests.calibration.testing_utils import NUM_CLASSES
from tests.calibration.testing_utils import synthetic_outputs
from tests.testing_utils import assert_invalid

# A small search budget keeps these tests quick (the search is deterministic).
FAST = dict(max_moves=60, num_lambdas=6, grid=0)


def _calibrate(outputs, y, **kwargs):
    return calibrate_from_outputs(
        outputs, y, COSTS, "max_probability", NUM_CLASSES, **FAST, **kwargs
    )


def _brute_force_finite_p(bad, n, alpha, m):
    """P(at most `bad` bad among the n testing samples) maximised over the
    totals for which the m new samples violate, by counting subsets."""
    t = guarantee._violating_count(alpha, m)
    worst = 0.0
    for total_bad in range(t, n + m + 1):
        # every split of n + m samples, total_bad of them bad, into n and m
        items = [1] * total_bad + [0] * (n + m - total_bad)
        subsets = list(itertools.combinations(range(n + m), n))
        hits = [s for s in subsets if sum(items[i] for i in s) <= bad]
        new_bad_ok = [
            s for s in hits if total_bad - sum(items[i] for i in s) >= t
        ]
        worst = max(worst, len(new_bad_ok) / len(subsets))
    return worst


def test_p_values_are_exact_binomial_and_hypergeometric_tails():
    assert guarantee.risk_p_values(0, 22, 0.1) == pytest.approx(0.9**22)
    p = guarantee.risk_p_values([0, 1, 2], 10, 0.2)
    expected = [sum(math.comb(10, i) * 0.2**i * 0.8 ** (10 - i) for i in range(k + 1))
                for k in range(3)]
    np.testing.assert_allclose(p, expected)
    for bad, n, alpha, m in [(0, 6, 0.3, 4), (1, 6, 0.3, 4), (2, 5, 0.4, 5)]:
        assert float(guarantee.risk_p_values(bad, n, alpha, m)) == pytest.approx(
            _brute_force_finite_p(bad, n, alpha, m)
        )


@pytest.mark.parametrize("m", [None, 700])
def test_bounds_invert_the_tests(m):
    for bad, n in [(0, 300), (12, 300), (150, 2000)]:
        upper = guarantee.risk_upper_bound(bad, n, 0.9, m)
        step = 1e-6 if m is None else 1.0 / m
        assert guarantee.risk_p_values(bad, n, upper + step, m) <= 0.1
        assert guarantee.risk_p_values(bad, n, upper - step, m) > 0.1


@pytest.mark.parametrize("m", [None, 300])
def test_min_testing_samples_is_the_fewest_that_can_certify(m):
    for alpha, confidence in [(0.1, 0.9), (0.005, 0.95), (0.02, 0.9)]:
        n = guarantee.min_testing_samples(alpha, confidence, m)
        assert guarantee.risk_p_values(0, n, alpha, m) <= 1 - confidence
        assert guarantee.risk_p_values(0, n - 1, alpha, m) > 1 - confidence
    assert guarantee.min_testing_samples(0.1, 0.9) == 22  # 0.9**22 < 0.1


def test_fixed_sequence_stops_at_the_first_failure():
    assert guarantee.fixed_sequence([0.01, 0.05, 0.2, 0.01], 0.1) == 2
    assert guarantee.fixed_sequence([0.3, 0.01], 0.1) == 0
    assert guarantee.fixed_sequence([0.0, 0.0], 0.1) == 2


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
