"""Tests of `keras_nachos.calibration.calibration_result`."""

import json

from keras_nachos.calibration import CalibrationResult
from keras_nachos.calibration import FloorGuarantee
from keras_nachos.calibration import TradeOffPoint


def _result(**kwargs):
    return CalibrationResult(
        thresholds=[0.91234, 0.5],
        accuracy=0.875,
        expected_macs=12345.6,
        exit_fractions=[0.5, 0.25, 0.25],
        curve=[TradeOffPoint(1000.0, 0.5, [0.0, 0.0]),
               TradeOffPoint(12345.6, 0.875, [0.91234, 0.5])],
        feasible=True,
        **kwargs,
    )


def test_to_dict_is_json_ready():
    result = _result(rule="entropy", convention="cumulative", min_accuracy=0.8)
    d = result.to_dict()
    assert d == {
        "thresholds": [0.91234, 0.5],
        "accuracy": 0.875,
        "expected_macs": 12345.6,
        "exit_fractions": [0.5, 0.25, 0.25],
        "feasible": True,
        "rule": "entropy",
        "convention": "cumulative",
        "min_accuracy": 0.8,
        "max_macs": None,
        "max_accuracy_drop": None,
        "guarantee": None,
        "curve": [
            {"expected_macs": 1000.0, "accuracy": 0.5, "thresholds": [0.0, 0.0]},
            {"expected_macs": 12345.6, "accuracy": 0.875,
             "thresholds": [0.91234, 0.5]},
        ],
    }
    assert json.loads(json.dumps(d)) == d
    # Lists are copies: changing them leaves the result alone.
    d["thresholds"].append(1.0)
    assert result.thresholds == [0.91234, 0.5]


def test_repr_is_one_line():
    assert repr(_result(rule="max_probability")) == (
        "CalibrationResult(rule='max_probability', thresholds=[0.9123, 0.5], "
        "accuracy=0.8750, expected_macs=12,346, feasible=True, curve_points=2)"
    )


def test_a_guarantee_is_in_the_dict_and_the_repr():
    guarantee = FloorGuarantee(
        kind="min_accuracy", floor=0.85, confidence=0.9, new_data_size=None,
        calibration_samples=1000, curve_samples=0, testing_samples=1000,
        certified_points=3, accuracy_lower_bound=0.86,
    )
    result = _result(rule="max_probability", guarantee=guarantee)
    d = result.to_dict()
    assert d["guarantee"] == guarantee.to_dict()
    assert d["guarantee"]["testing_samples"] == 1000
    assert repr(result).endswith(
        "curve_points=2, guarantee=FloorGuarantee(accuracy >= 0.8500 (lower "
        "bound 0.8600) with confidence 0.9 for the expected accuracy, from "
        "1,000 testing samples))"
    )
