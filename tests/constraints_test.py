"""Tests of `keras_nachos.constraints`."""

import numpy as np
import pytest

from keras_nachos import calibration
from keras_nachos import constraints
from keras_nachos.constraints import normalised_violation
from tests.testing_utils import NAN
from tests.testing_utils import assert_invalid


def test_normalised_violation_by_hand():
    # (0.8 - 0.7) / (1 - 0.8) + (150 - 100) / 100 = 0.5 + 0.5.
    assert normalised_violation(0.7, 150.0, 0.8, 100.0) == pytest.approx(1.0)
    assert normalised_violation(0.85, 100.0, 0.8, 100.0) == 0.0
    assert normalised_violation(0.1, 1e12, 0.0, float("inf")) == 0.0


@pytest.mark.parametrize(
    "min_accuracy, max_macs, argument",
    [
        (NAN, None, "min_accuracy"), (1.0, None, "min_accuracy"),
        (-0.1, None, "min_accuracy"), (True, None, "min_accuracy"),
        ("0.9", None, "min_accuracy"), (None, 0, "max_macs"),
        (None, -1.0, "max_macs"), (None, NAN, "max_macs"),
        (None, False, "max_macs"),
    ],
)
def test_constraints(min_accuracy, max_macs, argument):
    assert_invalid(argument, constraints.check_constraints, min_accuracy, max_macs)
    outputs = [np.full((4, 2), 0.5)] * 2
    assert_invalid(argument, calibration.calibrate_from_outputs, outputs, [0, 1, 0, 1],
            [1.0, 2.0], min_accuracy=min_accuracy, max_macs=max_macs)


def test_device_budgets():
    from keras_nachos.constraints import check_device_budget
    from keras_nachos.constraints import device_budget_excess
    from keras_nachos.costs import DeviceCosts

    assert check_device_budget("max_ram_bytes", None) is None
    assert check_device_budget("max_ram_bytes", 65536) == 65536.0
    assert_invalid("max_ram_bytes", check_device_budget, "max_ram_bytes", -1)
    assert_invalid("max_flash_bytes", check_device_budget, "max_flash_bytes", "1M")
    costs = DeviceCosts(flash=(1000, 3000), activations=(500, 200),
                        arena=(2000, 1500))
    assert device_budget_excess(costs, 4000, 2000) == ""
    assert device_budget_excess(costs, 3999, None) == (
        "int8 stages need ~4,000 bytes of flash > max_flash_bytes 3,999")
    assert "~2,000-byte arena > max_ram_bytes 1,999" in device_budget_excess(
        costs, None, 1999)
