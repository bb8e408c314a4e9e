"""Tests of `keras_nachos.calibration.guarantee`: exact p-values and bounds,
the fewest samples that can certify, fixed-sequence testing (the calibration
that uses them: guaranteed_calibration_test.py)."""

import itertools
import math

import numpy as np
import pytest

from keras_nachos.calibration import guarantee


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


def test_split_indices_are_a_seeded_partition():
    curve, testing = guarantee.split_indices(10, 0.3, seed=0)
    assert len(curve) == 3 and len(testing) == 7
    assert sorted(np.concatenate([curve, testing]).tolist()) == list(range(10))
    assert list(curve) == sorted(curve) and list(testing) == sorted(testing)
    again, _ = guarantee.split_indices(10, 0.3, seed=0)
    np.testing.assert_array_equal(again, curve)
    other = [tuple(guarantee.split_indices(10, 0.3, seed=s)[0]) for s in range(5)]
    assert len(set(other)) > 1


def test_check_floor_confidence():
    assert guarantee.check_floor_confidence(None) is None
    assert guarantee.check_floor_confidence(np.float32(0.5)) == 0.5
    for bad in (0, 1, 1.0, True, "0.9", float("nan")):
        with pytest.raises(ValueError, match="argument `floor_confidence`"):
            guarantee.check_floor_confidence(bad)


def test_a_large_population_gives_scipys_tail_in_time_independent_of_its_size():
    from scipy import stats

    n = 2000
    bad = np.array([0, 3, 40, 150, 199, 200, 201, 600, 2000])
    m = guarantee.LARGE_POPULATION  # computed here, SciPy still exact
    for alpha in (0.01, 0.1, 0.3):
        t = guarantee._violating_count(alpha, m)
        np.testing.assert_allclose(
            guarantee.hypergeometric_cdf(bad, n + m, bad + t, n),
            stats.hypergeom.cdf(bad, n + m, bad + t, n), rtol=1e-7, atol=1e-300,
        )
    # new_data_size=10**12 took about 0.14 s a p-value (minutes for one
    # calibration) for the answers of a smaller size, or of none.
    for huge in (10**12, 10**15):
        for alpha, confidence in [(0.1, 0.9), (0.005, 0.95)]:
            assert guarantee.min_testing_samples(alpha, confidence, huge) == (
                guarantee.min_testing_samples(alpha, confidence, 10**7)
            ) == guarantee.min_testing_samples(alpha, confidence)
        for bad_count, size in [(0, 300), (12, 300), (150, 2000)]:
            assert guarantee.risk_upper_bound(bad_count, size, 0.9, huge) == (
                pytest.approx(guarantee.risk_upper_bound(bad_count, size, 0.9),
                              abs=1e-6))
        np.testing.assert_allclose(
            guarantee.risk_p_values(bad, n, 0.1, huge),
            guarantee.risk_p_values(bad, n, 0.1), rtol=1e-5, atol=1e-300,
        )
