"""A distribution-free guarantee on the accuracy floor of exit thresholds.

Procedure (Learn-then-Test, Angelopoulos et al. 2021, with fixed-sequence
testing along a curve learned on separate data, as in Pareto Testing, Laber
et al. 2023):

1. A sequence of settings is fixed without looking at the testing samples:
   one threshold for every exit, from "never exit early" down (`"shared"`,
   the default of `calibrate_from_outputs`: every sample tests), or the
   trade-off curve (`TradeOffSearch`) learned on a random `curve_fraction`
   of the samples, the others testing it (`"learned"`).
2. The settings are tested from the least risky to the cheapest. Setting `j` has the null hypothesis "its risk on
   new data exceeds `alpha`", the risk being the error rate (`alpha = 1 -
   min_accuracy`) or, for `max_accuracy_drop=d`, the rate of samples the
   final exit gets right and the early exit gets wrong (`alpha = d`; it bounds
   the drop below the final exit's accuracy, whatever the samples the early
   exit gets right instead). Its p-value is exact: the binomial tail
   `P(Binomial(n, alpha) <= k)` for `k` bad samples out of `n` (Clopper-Pearson
   in test form); for a floor on the accuracy measured on `new_data_size = m`
   new samples, the hypergeometric tail of the `n` testing samples drawn from
   the `n + m` together (exchangeability makes it exact, no approximation).
3. Tests stop at the first p-value above `delta = 1 - floor_confidence`;
   every setting before it is certified, all together with family-wise error
   at most `delta` (fixed-sequence testing needs no multiplicity correction).
   The cheapest certified setting (within `max_macs`) is returned.

The guarantee: for new data exchangeable with the calibration data (drawn
from the same distribution, the calibration samples not chosen by looking at
the model's outputs), the probability, over the calibration data, that the
returned thresholds' accuracy is below the floor is at most
`1 - floor_confidence`. It is a statement about the expected accuracy on the
distribution (`new_data_size=None`), or about the accuracy measured on `m`
new samples, which also has their sampling noise.
"""

import dataclasses
import math

import numpy as np
from scipy import stats

from keras_nachos_cli import checks as setting_checks

# Relative slack when turning a risk level into a count of bad samples.
_EPS = 1e-9

# Populations (testing + new samples) above which the hypergeometric tail is
# computed here rather than by SciPy, whose (Boost's) evaluation takes time in
# proportion to the population: 0.14 s a value at 10**12 samples, so a
# calibration with `new_data_size=10**12` took minutes. Here it takes time in
# proportion to the testing samples, whatever the population.
LARGE_POPULATION = 10**8


def _violating_count(alpha, m):
    """Smallest bad count among `m` samples whose rate exceeds `alpha`."""
    return int(math.floor(alpha * m + _EPS)) + 1


def hypergeometric_cdf(k, population, bad_total, n):
    """`P(X <= k)`, `X` the bad samples among `n` drawn without replacement
    from `population` samples of which `bad_total` are bad.

    SciPy's `hypergeom.cdf(k, population, bad_total, n)` for populations up
    to `LARGE_POPULATION`; above, the same tail computed exactly from the
    probabilities of each count (`_log_pmf`), in time independent of the
    population's size.

    Args:
        k: Integer or integer array, bad counts.
        population: Integer, all samples.
        bad_total: Integer or integer array (broadcast with `k`), the bad
            ones among them.
        n: Integer, the samples drawn.

    Returns:
        Float array like `k` (broadcast with `bad_total`).
    """
    k, bad_total = np.broadcast_arrays(
        np.asarray(k, dtype="int64"), np.asarray(bad_total, dtype="int64")
    )
    if population <= max(LARGE_POPULATION, 2 * n):
        return stats.hypergeom.cdf(k, population, bad_total, n)
    out = np.empty(k.shape, dtype="float64")
    flat_k, flat_bad = k.reshape(-1), bad_total.reshape(-1)
    flat_out = out.reshape(-1)
    for total in np.unique(flat_bad):
        where = np.flatnonzero(flat_bad == total)
        flat_out[where] = _large_population_cdf(
            flat_k[where], int(population), int(total), int(n)
        )
    return out


def _large_population_cdf(k, population, total, n):
    """`hypergeometric_cdf` for one `total` (`population > 2 n`).

    When every draw may be good (`population - total >= n`), the sum of the
    probabilities of 0 to `k` bad draws; otherwise every draw may be bad,
    and `P(X <= k)` is the chance of at least `n - k` good draws, summed the
    same way with the roles of good and bad swapped.
    """
    good = population - total
    if good >= n:
        top = min(n, total)
        log_cdf = np.logaddexp.accumulate(_log_pmf(population, total, n, top))
        cdf = np.exp(log_cdf[np.clip(k, 0, top)])
        return np.where(k < 0, 0.0, np.where(k >= top, 1.0, np.minimum(cdf, 1.0)))
    top = min(n, good)  # good < n <= total: at least n - good bad draws
    log_tail = np.logaddexp.accumulate(
        _log_pmf(population, good, n, top)[::-1])[::-1]  # log P(G >= g)
    least = n - k  # good draws needed
    tail = np.exp(log_tail[np.clip(least, 0, top)])
    return np.where(least <= 0, 1.0, np.where(least > top, 0.0,
                                              np.minimum(tail, 1.0)))


def _log_pmf(population, marked, n, top):
    """Log-probabilities of `0..top` marked samples among `n` drawn from
    `population` of which `marked` are marked, when `population - marked
    >= n`: log P(0) sums `log1p(-marked / (population - j))` over the draws
    `j`, and `P(i + 1) / P(i) = (marked - i)(n - i) / ((i + 1)(population -
    marked - n + i + 1))`."""
    i = np.arange(top, dtype="float64")
    log_ratio = (np.log(marked - i) + np.log(n - i) - np.log(i + 1)
                 - np.log(population - marked - n + i + 1))
    draws = np.arange(n, dtype="float64")
    log_none = np.log1p(-marked / (population - draws)).sum()
    return log_none + np.concatenate([[0.0], np.cumsum(log_ratio)])


def risk_p_values(bad, n, alpha, new_data_size=None):
    """Exact p-values of "the risk exceeds `alpha`" from `bad` of `n`.

    Args:
        bad: Integer array, bad samples (errors, or harmed samples) among
            the `n` testing samples, one per setting.
        n: Integer, the number of testing samples.
        alpha: Float in (0, 1), the tolerated risk.
        new_data_size: `None` (the risk is the rate on the distribution:
            binomial tail) or an integer `m` (the rate on `m` new samples:
            hypergeometric tail).

    Returns:
        Float array like `bad`: small values reject, i.e. certify.

    Example:

    >>> float(risk_p_values(0, 22, 0.1))  # 0.9 ** 22
    0.0984770902183611
    """
    bad = np.asarray(bad, dtype="int64")
    if new_data_size is None:
        return stats.binom.cdf(bad, n, alpha)
    t = _violating_count(alpha, new_data_size)
    return hypergeometric_cdf(bad, n + new_data_size, bad + t, n)


def risk_upper_bound(bad, n, confidence, new_data_size=None):
    """Upper confidence bound of the risk from `bad` bad samples of `n`.

    The Clopper-Pearson bound (`new_data_size=None`), or, for `m` new
    samples, the largest bad rate among them that the hypergeometric test
    cannot reject at `1 - confidence`. The floor `1 - bound` is what the
    p-values of `risk_p_values` certify: `risk_p_values(bad, n, alpha) <=
    1 - confidence` exactly when `alpha >= bound` (up to rounding).
    """
    bad = int(bad)
    delta = 1.0 - confidence
    if new_data_size is None:
        if bad >= n:
            return 1.0
        return float(stats.beta.ppf(confidence, bad + 1, n - bad))
    m = int(new_data_size)

    def plausible(t):  # the p-value falls as t grows
        return float(hypergeometric_cdf(bad, n + m, bad + t, n)) > delta

    if not plausible(0):
        return 0.0
    low, high = 0, m  # plausible(low) holds
    if plausible(high):
        return 1.0
    while high - low > 1:
        mid = (low + high) // 2
        if plausible(mid):
            low = mid
        else:
            high = mid
    return low / m


def min_testing_samples(alpha, confidence, new_data_size=None):
    """Fewest testing samples that can certify risk `alpha` at all.

    Even with no bad sample, the p-value must reach `1 - confidence`:
    `(1 - alpha) ** n <= 1 - confidence` for the distribution, the
    hypergeometric analogue for `m` new samples.
    """
    delta = 1.0 - confidence
    if alpha >= 1.0:
        return 1
    need = int(math.ceil(math.log(delta) / math.log1p(-alpha) - _EPS))
    if new_data_size is None:
        return max(need, 1)
    m = int(new_data_size)
    t = _violating_count(alpha, m)

    def certifies(n):
        return float(hypergeometric_cdf(0, n + m, t, n)) <= delta

    if t > m:  # no bad count among m new samples exceeds alpha
        return 1
    low, high = 1, max(need, 1)
    while not certifies(high):
        low, high = high, high * 2
        if high > 10**9:
            return high
    while low < high:
        mid = (low + high) // 2
        if certifies(mid):
            high = mid
        else:
            low = mid + 1
    return high


def fixed_sequence(p_values, delta):
    """Number of hypotheses rejected in order before the first `p > delta`."""
    above = np.flatnonzero(np.asarray(p_values) > delta)
    return int(above[0]) if above.size else len(p_values)


def check_floor_confidence(floor_confidence):
    """`None`, or a float in (0, 1); else a `ValueError` in Keras' wording."""
    return setting_checks.check_floor_confidence(floor_confidence)


def split_indices(n, curve_fraction, seed):
    """Random `(curve, testing)` index arrays of a calibration set of `n`."""
    order = np.random.default_rng(seed).permutation(n)
    n_curve = int(round(curve_fraction * n))
    return np.sort(order[:n_curve]), np.sort(order[n_curve:])


@dataclasses.dataclass(repr=False)
class FloorGuarantee:
    """What a guaranteed calibration guarantees, and what it costs.

    Attributes:
        kind: `"min_accuracy"` (an absolute floor) or `"max_accuracy_drop"`
            (at most that far below the final exit's accuracy).
        floor: Float, the floor asked for: the accuracy, or the drop.
        confidence: Float, `floor_confidence`.
        new_data_size: `None` (the floor is on the expected accuracy on the
            distribution) or the number of new samples it is measured on.
        calibration_samples: Integer, all calibration samples.
        curve_samples: Integer, those that learned the curve.
        testing_samples: Integer, those that tested it (the guarantee's `n`).
        certified_points: Integer, curve settings certified (0: none).
        accuracy_lower_bound: Float, for `"min_accuracy"`: the lower
            confidence bound of the chosen setting's accuracy (at
            `confidence`, from the testing samples); `None` otherwise.
        accuracy_drop_upper_bound: Float, for `"max_accuracy_drop"`: the
            upper confidence bound of the chosen setting's drop below the
            final exit; `None` otherwise.
        unguaranteed_thresholds: Thresholds that plain calibration (on all
            calibration samples, the same floor and budget, no guarantee)
            chooses.
        unguaranteed_accuracy: Float, their accuracy on the calibration data.
        unguaranteed_expected_macs: Float, their expected MACs there.
        expected_macs_paid: Float, the guaranteed choice's expected MACs
            minus the unguaranteed one's, on the calibration data: the price
            of the guarantee.
    """

    kind: str
    floor: float
    confidence: float
    new_data_size: int
    calibration_samples: int
    curve_samples: int
    testing_samples: int
    certified_points: int
    accuracy_lower_bound: float = None
    accuracy_drop_upper_bound: float = None
    unguaranteed_thresholds: list = None
    unguaranteed_accuracy: float = None
    unguaranteed_expected_macs: float = None
    expected_macs_paid: float = None

    def to_dict(self):
        return dataclasses.asdict(self)

    def describe(self):
        """One line: the floor, the confidence and the bound reached."""
        on = (
            "the expected accuracy"
            if self.new_data_size is None
            else f"the accuracy on {self.new_data_size:,} new samples"
        )
        if self.kind == "min_accuracy":
            what = f"accuracy >= {self.floor:.4f}"
            bound = self.accuracy_lower_bound
            reached = "" if bound is None else f" (lower bound {bound:.4f})"
        else:
            what = f"at most {self.floor:.4f} below the final exit"
            bound = self.accuracy_drop_upper_bound
            reached = "" if bound is None else f" (drop bound {bound:.4f})"
        return (
            f"{what}{reached} with confidence {self.confidence:g} for {on}, "
            f"from {self.testing_samples:,} testing samples"
        )

    def __repr__(self):
        return f"FloorGuarantee({self.describe()})"
