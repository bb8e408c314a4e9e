"""The accuracy floor and the MAC budget: one validator, one violation.

A candidate EENN (or a threshold setting) is admissible when its accuracy is
`>= min_accuracy` (A_min) and its expected MACs are `<= max_macs` (M_max).
Calibration, the Pareto ranking and the search check their constraints with
`check_constraints` and measure how far a point misses them with
`normalised_violation`, in the normalised space of METHODS.md section 5:

    f1 = (1 - accuracy) / (1 - A_min),    f2 = macs / M_max,

where the admissible region is the box `f1 <= 1, f2 <= 1`. The violation is
the L1 distance beyond the corner (1, 1):

    violation = max(0, A_min - acc) / (1 - A_min) + max(0, macs - M_max) / M_max,

so an accuracy shortfall is measured in units of the admissible error range
`1 - A_min` (not of `A_min`, which keeps `A_min = 0` well defined) and a MAC
overrun in units of the budget, the same yardsticks the hypervolume uses.
`None` (or an infinite `max_macs`) means no constraint.
"""

import math

import numpy as np

from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value
from keras_nachos_cli import checks as setting_checks


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not (
        isinstance(value, (bool, np.bool_))
    )


def check_constraints(min_accuracy=None, max_macs=None, required=False):
    """Validates an accuracy floor and a MAC budget.

    Args:
        min_accuracy: `None` or a float in [0, 1), A_min.
        max_macs: `None` or a positive number, M_max (`float("inf")` means no
            budget).
        required: Boolean, whether both must be numbers (the search needs
            both; `0.0` and `float("inf")` then mean no constraint).

    Returns:
        `(min_accuracy, max_macs)` as floats (or `None`).

    Example:

    >>> check_constraints(0.9, 2_000_000)
    (0.9, 2000000.0)
    """
    if required:
        for name, value in (("min_accuracy", min_accuracy), ("max_macs", max_macs)):
            if value is None:
                raise invalid_value(
                    name,
                    "a number (0.0 and float('inf') mean no constraint)",
                    value,
                )
    if min_accuracy is not None:
        if not _is_number(min_accuracy):
            raise invalid_type(
                "min_accuracy", "a float in [0, 1) or None", min_accuracy
            )
        if not 0.0 <= float(min_accuracy) < 1.0:
            raise invalid_value(
                "min_accuracy", "a float in [0, 1) or None", min_accuracy
            )
        min_accuracy = float(min_accuracy)
    if max_macs is not None:
        if not _is_number(max_macs):
            raise invalid_type(
                "max_macs", "a positive number (or `float('inf')`)", max_macs
            )
        if not float(max_macs) > 0:  # NaN fails too
            raise invalid_value(
                "max_macs", "a positive number (or `float('inf')`)", max_macs
            )
        max_macs = float(max_macs)
    return min_accuracy, max_macs


def normalised_violation(accuracy, macs, min_accuracy, max_macs):
    """Returns the normalised constraint violation of a point.

    `max(0, A_min - accuracy) / (1 - A_min) + max(0, macs - M_max) / M_max`
    (see the module docstring); `0.0` means admissible. `None` or an infinite
    `max_macs`, and `None` for `min_accuracy`, mean no constraint.

    Args:
        accuracy: Float in [0, 1].
        macs: Float, expected MACs per sample.
        min_accuracy: Float in [0, 1), A_min, or `None`.
        max_macs: Positive float, M_max, or `None`.

    Returns:
        A non-negative float.
    """
    violation = 0.0
    if min_accuracy is not None:
        violation += max(0.0, min_accuracy - accuracy) / (1.0 - min_accuracy)
    if max_macs is not None and not math.isinf(max_macs):
        violation += max(0.0, macs - max_macs) / max_macs
    return float(violation)


def is_admissible(accuracy, macs, min_accuracy, max_macs):
    """Whether `accuracy >= min_accuracy` and `macs <= max_macs`."""
    return (min_accuracy is None or accuracy >= min_accuracy) and (
        max_macs is None or macs <= max_macs
    )


# Device budgets: static properties of a network (they do not depend on the
# thresholds), so a network over one is simply not admissible; the search
# drops such candidates before training.
def check_device_budget(name, value):
    """Validates an optional flash or RAM budget in bytes; returns a float
    or `None` (the search settings' check, `keras_nachos_cli.checks`)."""
    return setting_checks.check_device_budget(value, name)


def device_budget_excess(device_costs, max_flash_bytes=None, max_ram_bytes=None):
    """Why a network misses its device budgets (a sentence), or `""`.

    Args:
        device_costs: A `DeviceCosts` (`model.device_costs`), or `None`
            when no budget is set.
        max_flash_bytes: Optional budget on all int8 stage files together.
        max_ram_bytes: Optional budget on the largest stage arena.
    """
    reasons = []
    if max_flash_bytes is not None and device_costs.flash_bytes > max_flash_bytes:
        reasons.append(
            f"int8 stages need ~{device_costs.flash_bytes:,} bytes of flash > "
            f"max_flash_bytes {max_flash_bytes:,.0f}"
        )
    if max_ram_bytes is not None and device_costs.ram_bytes > max_ram_bytes:
        reasons.append(
            f"the largest stage needs a ~{device_costs.ram_bytes:,}-byte arena "
            f"> max_ram_bytes {max_ram_bytes:,.0f}"
        )
    return "; ".join(reasons)
