"""Calibrating exit thresholds under an accuracy floor and a MAC budget.

`calibrate_thresholds` runs the model once and searches the whole trade-off
curve on the cached outputs (`calibrate_from_outputs`, see
`trade_off_search`); which curve point is returned depends on the constraints
given. With `floor_confidence` the choice is certified on samples that did
not make it (`guaranteed_calibration`).
"""

import numpy as np

from keras_nachos import rules as rules_module
from keras_nachos.calibration.calibration_result import CalibrationResult
from keras_nachos.calibration.curves import TradeOffPoint
from keras_nachos.calibration.evaluation import check_tables
from keras_nachos.calibration.evaluation import evaluate_thresholds
from keras_nachos.calibration.exit_tables import exit_tables
from keras_nachos.calibration.exit_tables import output_classes
from keras_nachos.calibration.guaranteed_calibration import calibrate_guaranteed
from keras_nachos.calibration.guaranteed_calibration import check_enough_samples
from keras_nachos.calibration.guaranteed_calibration import (
    check_guarantee_options,
)
from keras_nachos.calibration.trade_off_search import SEARCH_OPTIONS
from keras_nachos.calibration.trade_off_search import TradeOffSearch
from keras_nachos.constraints import check_constraints
from keras_nachos.constraints import check_device_budget
from keras_nachos.constraints import device_budget_excess
from keras_nachos.constraints import normalised_violation
from keras_nachos.costs import CONVENTIONS
from keras_nachos.data_utils import labelled_data
from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value
from keras_nachos.rules import check_rule_fits


def _select(cost, accuracy, min_accuracy, max_macs, raise_if_infeasible):
    """Index of the chosen curve point; see `calibrate_from_outputs`.

    Returns `(index, feasible)`. When no point is feasible it raises a
    `ValueError` that gives the best accuracy reachable within the budget and
    the lowest cost reaching the floor (or, where none exists, the cheapest
    and the most accurate points), or returns the least violating point.
    """
    floor = -np.inf if min_accuracy is None else min_accuracy - 1e-12
    budget = np.inf if max_macs is None else max_macs * (1 + 1e-12)
    under = np.flatnonzero(cost <= budget)
    above = np.flatnonzero(accuracy >= floor)
    feasible = np.intersect1d(under, above)
    if feasible.size:
        if min_accuracy is None:
            return int(feasible[-1]), True  # most accurate within budget
        return int(feasible[0]), True  # cheapest meeting the floor
    if raise_if_infeasible:
        raise ValueError(
            "No thresholds meet the constraints "
            f"(min_accuracy={min_accuracy}, max_macs={max_macs}) on this "
            "calibration data. "
            + _infeasible_detail(cost, accuracy, under, above, min_accuracy, max_macs)
        )
    violation = [
        normalised_violation(a, c, min_accuracy, max_macs)
        for a, c in zip(accuracy, cost)
    ]
    return int(np.argmin(violation)), False


def _infeasible_detail(cost, accuracy, under, above, min_accuracy, max_macs):
    """What the curve reaches instead: a number for each constraint."""
    parts = []
    if max_macs is not None:
        if under.size:
            best = under[-1]
            parts.append(
                f"Best accuracy reachable within max_macs: {accuracy[best]:.4f} "
                f"(at {cost[best]:,.1f} expected MACs)."
            )
        else:
            parts.append(
                f"Nothing is within max_macs: the cheapest setting costs "
                f"{cost[0]:,.1f} expected MACs (accuracy {accuracy[0]:.4f})."
            )
    if min_accuracy is not None:
        if above.size:
            cheapest = above[0]
            parts.append(
                "Lowest expected MACs reaching min_accuracy: "
                f"{cost[cheapest]:,.1f} (accuracy {accuracy[cheapest]:.4f})."
            )
        else:
            parts.append(
                "Nothing reaches min_accuracy: the most accurate setting "
                f"reaches {accuracy[-1]:.4f} (at {cost[-1]:,.1f} expected MACs)."
            )
    return " ".join(parts)


def calibrate_from_outputs(
    exit_outputs,
    y,
    exit_costs,
    rule="max_probability",
    num_classes=None,
    min_accuracy=None,
    max_macs=None,
    raise_if_infeasible=True,
    max_accuracy_drop=None,
    floor_confidence=None,
    new_data_size=None,
    curve_fraction=0.3,
    seed=0,
    floor_sequence="shared",
    **search_options,
):
    """Searches thresholds on precomputed exit outputs.

    Which point of the trade-off curve is returned:
    - `min_accuracy` only: the cheapest point with accuracy `>= min_accuracy`;
    - `max_macs` only: the most accurate point with E[MACs] `<= max_macs`;
    - both: the cheapest point meeting both (among feasible points, cost is
      what a constrained deployment wants to save);
    - neither: the most accurate point (the cheapest of those).
    `max_accuracy_drop=d` instead of `min_accuracy` sets the floor `d` below
    the final exit's accuracy on this data.

    With `floor_confidence` the floor is guaranteed on new data: for data
    exchangeable with the calibration data, the returned thresholds'
    accuracy is below the floor with probability at most
    `1 - floor_confidence`. The procedure (Learn-then-Test with
    fixed-sequence testing and exact binomial p-values, see
    `keras_nachos.calibration.guarantee`) tests a sequence of settings on
    samples that did not choose it, from the least risky down, stopping at
    the first that cannot be certified; the cheapest certified one (within
    `max_macs`) is returned. By default (`floor_sequence="shared"`) the
    sequence is one threshold for every exit, from "never exit early"
    down, and every sample tests it; with `"learned"`, `curve_fraction` of
    the samples (drawn with `seed`) learn the trade-off curve (one
    threshold per exit) and the others test it. On Fashion-MNIST
    (`benchmarks/guarantee.py`) the shared sequence was refused (nothing
    certified) far less often at the same expected MACs. Too few samples to certify anything raise a `ValueError`
    saying how many are needed. `result.guarantee` says what holds (the
    lower confidence bound reached, the testing samples) and what it costs
    (the expected MACs of the unguaranteed choice beside).

    Args:
        exit_outputs: List of `B` arrays `(n, num_classes [+ 1])` (as from
            `EarlyExitModel.predict_exits`).
        y: Class ids `(n,)` in `[0, num_classes)` (or one-hot rows,
            converted); others (out of range, not whole, another count)
            raise a `ValueError` naming `y` before any search.
        exit_costs: `B` costs, MACs of a sample leaving at each exit (e.g.
            `model.exit_macs`).
        rule: An `ExitRule` or its name. Defaults to `"max_probability"`.
        num_classes: Integer. Defaults to the final exit's column count.
        min_accuracy: Optional float in [0, 1), the accuracy floor.
        max_macs: Optional positive float, the expected-MACs budget.
        raise_if_infeasible: Boolean. When no point meets the constraints,
            raise a `ValueError` giving the best accuracy within the budget
            and the lowest cost at the floor (default), or, if `False`,
            return the point of least normalised violation
            (`keras_nachos.constraints.normalised_violation`) with
            `feasible=False`.
        **search_options: `num_lambdas` (default `40`), `grid` (the seeding
            grid, as in `grid_curve`, default `11`; `0` for none),
            `max_moves` (coordinate moves in all, default `1200`),
            `expand_per_round` (default `24`).
        max_accuracy_drop: Optional float in (0, 1), a floor relative to the
            final exit: at most this far below its accuracy (`0.005` is half
            a point). Not with `min_accuracy`. With `floor_confidence` the
            guaranteed quantity is the rate of samples the final exit gets
            right and the early exit wrong, which bounds the drop.
        floor_confidence: Optional float in (0, 1), e.g. `0.9`: guarantee
            the floor with this confidence (see above). `None` (default):
            the floor holds on the calibration data only.
        new_data_size: `None` (default: the floor is on the expected
            accuracy on the distribution) or an integer `m`: on the accuracy
            measured on `m` new samples (stricter: their own sampling noise
            counts too).
        curve_fraction: Float in (0, 1), the share of the samples that learns
            the curve for `floor_sequence="learned"`. Defaults to `0.3`.
        seed: Integer, the random split's seed. Defaults to `0`.
        floor_sequence: Which settings a guarantee tests: `"shared"`
            (default: one threshold for every exit, in score units, from
            "never exit early" down; no curve to learn, so every sample
            tests, and a small calibration set cannot be overfitted) or
            `"learned"` (the trade-off curve learned on `curve_fraction` of
            the samples, one threshold per exit; finer, tested on fewer).

    Returns:
        A `CalibrationResult` (with `guarantee` set when `floor_confidence`
        is given).

    Example:

    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 200)
    >>> outs = [rng.dirichlet(np.ones(3), 200) for _ in range(3)]
    >>> result = calibrate_from_outputs(outs, y, [1.0, 2.0, 3.0], num_classes=3)
    >>> len(result.thresholds)
    2
    """
    rule = rules_module.get(rule)
    min_accuracy, max_macs = check_constraints(min_accuracy, max_macs)
    max_accuracy_drop, floor_confidence, new_data_size = check_guarantee_options(
        min_accuracy, max_accuracy_drop, floor_confidence, new_data_size,
        curve_fraction, seed, floor_sequence,
    )
    unknown = set(search_options) - set(SEARCH_OPTIONS)
    if unknown:
        raise invalid_value(
            "search_options",
            f"options among {list(SEARCH_OPTIONS)}",
            sorted(unknown),
        )
    num_classes = output_classes(exit_outputs, num_classes)
    S, R = exit_tables(exit_outputs, y, rule, num_classes)
    costs = np.asarray(exit_costs, dtype="float64").reshape(-1)
    S, R, costs = check_tables(S, R, costs)
    if floor_confidence is not None:
        check_enough_samples(
            S.shape[0], min_accuracy, max_accuracy_drop, floor_confidence,
            new_data_size, curve_fraction, floor_sequence,
        )
    score_range = rule.score_threshold_range(num_classes)
    # The floor on this data: absolute, or relative to the final exit.
    floor = min_accuracy
    if max_accuracy_drop is not None:
        floor = max(0.0, float(R[:, -1].mean()) - max_accuracy_drop)
    search = TradeOffSearch(S, R, costs, score_range)
    settings, cost, accuracy = search.run(**search_options)
    chosen, feasible = _select(
        cost, accuracy, floor, max_macs,
        raise_if_infeasible and floor_confidence is None,
    )
    guarantee = None
    if floor_confidence is not None:
        plain = settings[chosen]
        plain_acc, plain_cost, _ = evaluate_thresholds(S, R, costs, plain)
        settings, chosen, feasible, guarantee = calibrate_guaranteed(
            S, R, costs, score_range, min_accuracy, max_accuracy_drop,
            max_macs, floor_confidence, new_data_size, curve_fraction, seed,
            raise_if_infeasible, search_options, floor_sequence,
        )
        accuracy, cost, _ = evaluate_thresholds(S, R, costs, settings)
    acc, expected, fractions = evaluate_thresholds(S, R, costs, settings[chosen])
    thresholds = rule.rule_threshold(settings)
    if guarantee is not None:
        guarantee.unguaranteed_thresholds = rule.rule_threshold(plain).tolist()
        guarantee.unguaranteed_accuracy = plain_acc
        guarantee.unguaranteed_expected_macs = plain_cost
        guarantee.expected_macs_paid = expected - plain_cost
    curve = [
        TradeOffPoint(float(c), float(a), t.tolist())
        for c, a, t in zip(cost, accuracy, thresholds)
    ]
    return CalibrationResult(
        thresholds=thresholds[chosen].tolist(),
        accuracy=acc,
        expected_macs=expected,
        exit_fractions=fractions.tolist(),
        curve=curve,
        feasible=feasible,
        rule=rule.name or type(rule).__name__,
        min_accuracy=floor,
        max_macs=max_macs,
        max_accuracy_drop=max_accuracy_drop,
        guarantee=guarantee,
    )


def calibrate_thresholds(
    model,
    validation_data,
    rule="max_probability",
    min_accuracy=None,
    max_macs=None,
    convention="cumulative",
    batch_size=256,
    max_flash_bytes=None,
    max_ram_bytes=None,
    max_accuracy_drop=None,
    floor_confidence=None,
    new_data_size=None,
    curve_fraction=0.3,
    seed=0,
    floor_sequence="shared",
    **search_options,
):
    """Tunes an early-exit model's thresholds on validation data.

    The model runs once (`model.predict_exits`); every threshold setting is
    then evaluated on the tabulated outputs (see `calibrate_from_outputs` for
    the search and which curve point is returned).

    Args:
        model: An `EarlyExitModel`.
        validation_data: A tuple `(x, y)` of arrays, or a `tf.data.Dataset`
            of `(x, y)` batches (read once): finite inputs of the model's
            input shape, labels that are class ids in `[0, num_classes)`
            (one-hot rows are converted), at least one sample. Other data
            raises a `ValueError` naming `validation_data` before the model
            runs.
        rule: An `ExitRule` or its name. Defaults to `"max_probability"`.
        min_accuracy: Optional float in [0, 1), the accuracy floor.
        max_macs: Optional positive float, the expected-MACs budget.
        convention: `"cumulative"` (default: `model.exit_macs`, every head on
            the way is paid) or `"taken_head"` (`model.exit_macs_taken_head`,
            the NACHOS reference code's convention).
        batch_size: Integer, for array inputs. Defaults to `256`.
        max_flash_bytes: Optional positive number, a budget on the model's
            int8 stage files (`model.device_costs.flash_bytes`).
        max_ram_bytes: Optional positive number, a budget on its largest
            stage's TFLite Micro arena (`model.device_costs.ram_bytes`).
            No threshold changes either: a model over a device budget is
            refused (a `ValueError` saying by how much) before any work.
        max_accuracy_drop, floor_confidence, new_data_size, curve_fraction,
            seed, floor_sequence: A floor relative to the final exit, and a distribution-free
            guarantee on the floor for new data; see `calibrate_from_outputs`.
        **search_options: See `calibrate_from_outputs`.

    Returns:
        A `CalibrationResult`; its `thresholds` go straight to
        `model.predict_early_exit(x, thresholds, rule=rule)`.

    Example:

    ```python
    result = calibrate_thresholds(model, (x_val, y_val), min_accuracy=0.9)
    early = model.predict_early_exit(x_test, result.thresholds)
    print(result.expected_macs / model.backbone_macs, early.accuracy(y_test))
    ```

    With a guarantee: at most half a point below the final exit, with
    probability at least 0.9 over the calibration data, on new data:

    ```python
    result = calibrate_thresholds(
        model, (x_val, y_val), max_accuracy_drop=0.005, floor_confidence=0.9
    )
    print(result.guarantee)
    ```
    """
    rule = rules_module.get(rule)
    min_accuracy, max_macs = check_constraints(min_accuracy, max_macs)
    check_guarantee_options(
        min_accuracy, max_accuracy_drop, floor_confidence, new_data_size,
        curve_fraction, seed, floor_sequence,
    )
    if convention not in CONVENTIONS:
        raise invalid_value("convention", '"cumulative" or "taken_head"', convention)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or (
        batch_size < 1
    ):
        raise invalid_value("batch_size", "a positive integer", batch_size)
    if not hasattr(model, "predict_exits") or not hasattr(model, "exit_costs"):
        raise invalid_type("model", "an EarlyExitModel", model)
    check_rule_fits(rule, model.has_confidence[:-1])
    max_flash_bytes = check_device_budget("max_flash_bytes", max_flash_bytes)
    max_ram_bytes = check_device_budget("max_ram_bytes", max_ram_bytes)
    if max_flash_bytes is not None or max_ram_bytes is not None:
        excess = device_budget_excess(
            model.device_costs, max_flash_bytes, max_ram_bytes
        )
        if excess:
            raise ValueError(
                f"No thresholds can fit this model on the device: its {excess}. "
                "Thresholds change the MACs, not the files or the arena: "
                "choose a smaller network (or search with these budgets)."
            )
    # Checked before the model runs: inputs of its shape, finite, class ids
    # in [0, num_classes) (one-hot rows converted).
    x, y = labelled_data(
        validation_data, model.inputs[0].shape, model.num_classes,
        "validation_data",
    )
    outputs = model.predict_exits(x, batch_size=batch_size)
    result = calibrate_from_outputs(
        outputs,
        y,
        model.exit_costs.per_exit(convention),
        rule=rule,
        num_classes=model.num_classes,
        min_accuracy=min_accuracy,
        max_macs=max_macs,
        max_accuracy_drop=max_accuracy_drop,
        floor_confidence=floor_confidence,
        new_data_size=new_data_size,
        curve_fraction=curve_fraction,
        seed=seed,
        floor_sequence=floor_sequence,
        **search_options,
    )
    result.convention = convention
    return result
