"""The guaranteed floor of `calibrate_from_outputs(..., floor_confidence=...)`.

Learn-then-Test on the exit tables (the statistics are in `guarantee`): a
sequence of threshold settings fixed without the testing samples
(`shared_sequence`, or a trade-off curve learned on `curve_fraction` of the
samples), certified in order by fixed-sequence testing on the others
(`certify_sequence`); the cheapest certified setting within `max_macs` is
chosen. Also the checks of the guarantee's arguments, made before any work.
"""

import numpy as np

from keras_nachos.calibration import guarantee as guarantee_module
from keras_nachos.calibration.evaluation import exit_index
from keras_nachos.calibration.guarantee import FloorGuarantee
from keras_nachos.calibration.trade_off_search import TradeOffSearch
from keras_nachos.checks import is_real
from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value

FLOOR_SEQUENCES = ("learned", "shared")


def check_guarantee_options(
    min_accuracy, max_accuracy_drop, floor_confidence, new_data_size,
    curve_fraction, seed, floor_sequence="shared",
):
    """Validates the guarantee arguments of `calibrate_from_outputs`."""
    if max_accuracy_drop is not None:
        if not is_real(max_accuracy_drop) or not 0.0 < max_accuracy_drop < 1.0:
            raise invalid_value(
                "max_accuracy_drop",
                "a float in (0, 1), the accuracy below the final exit's "
                "allowed (0.005 for half a point), or None",
                max_accuracy_drop,
            )
        if min_accuracy is not None:
            raise invalid_value(
                "max_accuracy_drop",
                "None when min_accuracy is given (one floor: absolute or "
                f"relative; received min_accuracy={min_accuracy})",
                max_accuracy_drop,
            )
        max_accuracy_drop = float(max_accuracy_drop)
    if floor_confidence is not None:
        floor_confidence = guarantee_module.check_floor_confidence(
            floor_confidence
        )
        if min_accuracy is None and max_accuracy_drop is None:
            raise invalid_value(
                "floor_confidence",
                "None unless a floor to guarantee is given (min_accuracy or "
                "max_accuracy_drop)",
                floor_confidence,
            )
    if new_data_size is not None:
        if isinstance(new_data_size, bool) or not isinstance(
            new_data_size, (int, np.integer)
        ) or new_data_size < 1:
            raise invalid_value(
                "new_data_size",
                "a positive integer (the number of new samples the floor is "
                "measured on) or None (the expected accuracy)",
                new_data_size,
            )
        if floor_confidence is None:
            raise invalid_value(
                "new_data_size", "None unless floor_confidence is given",
                new_data_size,
            )
        new_data_size = int(new_data_size)
    if not is_real(curve_fraction) or not 0.0 < curve_fraction < 1.0:
        raise invalid_value(
            "curve_fraction",
            "a float in (0, 1), the share of the calibration samples that "
            "learns the trade-off curve",
            curve_fraction,
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise invalid_type("seed", "an integer", seed)
    if floor_sequence not in FLOOR_SEQUENCES:
        raise invalid_value("floor_sequence", '"learned" or "shared"', floor_sequence)
    return max_accuracy_drop, floor_confidence, new_data_size


def _floor_text(min_accuracy, max_accuracy_drop):
    if min_accuracy is not None:
        return f"min_accuracy={min_accuracy}"
    return f"max_accuracy_drop={max_accuracy_drop}"


def check_enough_samples(
    n, min_accuracy, max_accuracy_drop, confidence, new_data_size,
    curve_fraction, floor_sequence="shared",
):
    """Raises, before any search, when `n` samples cannot certify anything."""
    alpha = 1.0 - min_accuracy if min_accuracy is not None else max_accuracy_drop
    need = guarantee_module.min_testing_samples(alpha, confidence, new_data_size)

    def curve_samples(total):
        return int(round(curve_fraction * total)) if floor_sequence == "learned" else 0

    learned = floor_sequence == "learned"
    if n - curve_samples(n) >= need and (not learned or curve_samples(n) >= 1):
        return
    total = need
    while total - curve_samples(total) < need or (learned and curve_samples(total) < 1):
        total += 1
    needed = (
        f"{need:,} testing samples, i.e. {total:,} calibration samples with "
        f"curve_fraction={curve_fraction} (the share that learns the curve)"
        if learned else f"{need:,}"
    )
    raise ValueError(
        f"Too few calibration samples for floor_confidence={confidence} with "
        f"{_floor_text(min_accuracy, max_accuracy_drop)}: even with no error "
        f"a guarantee needs at least {needed}; received {n:,}. Give more "
        "calibration data, or ask for a lower floor_confidence or floor."
    )


def settings_outcomes(S, R, costs, settings, chunk=256):
    """Per setting: correct count, harmed count and mean cost on `(S, R)`."""
    n = R.shape[0]
    rows = np.arange(n)[None, :]
    final = R[:, -1][None, :]
    correct, harmed, cost = [], [], []
    for start in range(0, len(settings), chunk):
        index = exit_index(S, settings[start : start + chunk])
        right = R[rows, index]
        correct.append(right.sum(axis=1))
        harmed.append((final & ~right).sum(axis=1))
        cost.append(costs[index].sum(axis=1) / n)
    if not correct:
        empty = np.zeros(0)
        return empty.astype("int64"), empty.astype("int64"), empty
    return np.concatenate(correct), np.concatenate(harmed), np.concatenate(cost)


def calibrate_guaranteed(
    S, R, costs, score_range, min_accuracy, max_accuracy_drop, max_macs,
    confidence, new_data_size, curve_fraction, seed, raise_if_infeasible,
    search_options, floor_sequence="shared",
):
    """Learn-then-Test calibration (see `guarantee`).

    Returns `(settings, chosen, feasible, guarantee)` as `certify_sequence`:
    the settings tested (the shared sequence, or the curve learned on the
    curve samples) by increasing cost, and the chosen index in them.
    """
    n = R.shape[0]
    if floor_sequence == "shared":
        return certify_sequence(
            S, R, costs, shared_sequence(S, score_range), np.zeros(0, "int64"),
            np.arange(n), min_accuracy, max_accuracy_drop, max_macs, confidence,
            new_data_size, raise_if_infeasible,
        )
    curve_idx, test_idx = guarantee_module.split_indices(n, curve_fraction, seed)
    # The curve trades cost for what is guaranteed: correct samples for an
    # absolute floor, samples not harmed (the final exit right, the early
    # exit wrong) for a relative one, whose curve starts at "never exit
    # early" (nothing harmed).
    target = R if min_accuracy is not None else ~(R[:, -1:] & ~R)
    search = TradeOffSearch(S[curve_idx], target[curve_idx], costs, score_range)
    settings, _, _ = search.run(**search_options)
    return certify_sequence(
        S, R, costs, settings[::-1], curve_idx, test_idx, min_accuracy,
        max_accuracy_drop, max_macs, confidence, new_data_size,
        raise_if_infeasible,
    )


def shared_sequence(S, score_range, max_points=1000):
    """One threshold for every exit, from "never exit early" down."""
    low, high = score_range
    scores = np.unique(S)
    if scores.size > max_points:
        scores = np.unique(np.quantile(scores, np.linspace(0, 1, max_points)))
    values = np.concatenate([[high], scores[::-1]])
    values = values[(values >= low) & (values <= high)]
    values = values[np.concatenate([[True], values[1:] < values[:-1]])]
    return np.repeat(values[:, None], S.shape[1], axis=1)


def certify_sequence(
    S, R, costs, sequence, curve_idx, test_idx, min_accuracy,
    max_accuracy_drop, max_macs, confidence, new_data_size,
    raise_if_infeasible, outcomes=None,
):
    """Fixed-sequence testing of `sequence` on the samples `test_idx`.

    Args:
        S, R, costs: The exit tables and the cost of each exit.
        sequence: Score thresholds `(m, B - 1)`, least risky first.
        curve_idx, test_idx: Index arrays, the samples that chose `sequence`
            (none for the shared sequence) and those that test it.
        min_accuracy, max_accuracy_drop, max_macs, confidence,
            new_data_size, raise_if_infeasible: As in
            `calibrate_from_outputs` (`confidence` is `floor_confidence`).
        outcomes: The `settings_outcomes` of `sequence` on `test_idx`, when
            known (the benchmarks reuse them).

    Returns:
        `(settings, chosen, feasible, guarantee)`: `sequence` by increasing
        cost, the index chosen in it, whether it meets the constraints, and
        the `FloorGuarantee`.
    """
    n = R.shape[0]
    nt = len(test_idx)
    if outcomes is None:
        outcomes = settings_outcomes(S[test_idx], R[test_idx], costs, sequence)
    correct, harmed, test_cost = outcomes
    if min_accuracy is not None:
        kind, alpha, bad = "min_accuracy", 1.0 - min_accuracy, nt - correct
    else:
        kind, alpha, bad = "max_accuracy_drop", max_accuracy_drop, harmed
    p = guarantee_module.risk_p_values(bad, nt, alpha, new_data_size)
    certified = guarantee_module.fixed_sequence(p, 1.0 - confidence)
    budget = np.inf if max_macs is None else max_macs * (1 + 1e-12)
    within = [j for j in range(certified) if test_cost[j] <= budget]

    def bound(j):
        return guarantee_module.risk_upper_bound(
            bad[j], nt, confidence, new_data_size
        )

    if within:
        chosen = min(within, key=lambda j: (test_cost[j], j))
        feasible = True
    else:
        if certified == 0:
            if kind == "min_accuracy":
                detail = (
                    "Nothing can be certified: the most accurate setting's "
                    f"lower confidence bound is {1.0 - bound(0):.4f} "
                    f"(accuracy {correct[0] / nt:.4f} on the {nt:,} testing "
                    "samples)."
                )
            else:
                detail = (
                    "Nothing can be certified: the most accurate setting's "
                    f"drop bound is {bound(0):.4f} ({harmed[0]:,} of the "
                    f"{nt:,} testing samples harmed)."
                )
        else:
            cheapest = int(np.argmin(test_cost[:certified]))
            detail = (
                f"{certified} settings are certified; the cheapest costs "
                f"{test_cost[cheapest]:,.1f} expected MACs on the testing "
                f"samples, over max_macs={max_macs}."
            )
        if raise_if_infeasible:
            raise ValueError(
                "No thresholds meet the constraints with "
                f"floor_confidence={confidence} "
                f"({_floor_text(min_accuracy, max_accuracy_drop)}, "
                f"max_macs={max_macs}) on this calibration data. " + detail
            )
        chosen = (
            0 if certified == 0 else int(np.argmin(test_cost[:certified]))
        )
        feasible = False
    upper = bound(chosen)
    guarantee = FloorGuarantee(
        kind=kind,
        floor=min_accuracy if kind == "min_accuracy" else max_accuracy_drop,
        confidence=confidence,
        new_data_size=new_data_size,
        calibration_samples=int(n),
        curve_samples=int(len(curve_idx)),
        testing_samples=int(nt),
        certified_points=int(certified),
        accuracy_lower_bound=1.0 - upper if kind == "min_accuracy" else None,
        accuracy_drop_upper_bound=upper if kind != "min_accuracy" else None,
    )
    return sequence[::-1], len(sequence) - 1 - chosen, feasible, guarantee
