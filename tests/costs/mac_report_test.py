"""Tests of `keras_nachos.costs.mac_report`: `MacReport`'s sums and its text
table (tests/costs/layer_formulas_test.py checks a report of a real model)."""

import keras

from keras_nachos.costs import MacReport

layers = keras.layers


def _report():
    report = MacReport()
    report._add("conv", layers.Conv2D(4, 3), 6912)
    report._add("bn", layers.BatchNormalization(), 0, kind="extra")
    dense = layers.Dense(2)
    report._add("block/dense", dense, 20)
    report._add("block/dense", dense, 20.0)  # called twice
    report._add("odd", layers.Layer(), 7, kind="fallback")
    report._add("odd", layers.Layer(), 7, kind="fallback")
    return report


def test_sums_per_path_and_in_all():
    report = _report()
    assert report.total == 6912 + 40 + 14
    assert list(report.per_layer.items()) == [
        ("conv", 6912), ("bn", 0), ("block/dense", 40), ("odd", 14)
    ]
    assert all(type(v) is int for v in report.per_layer.values())
    assert report.extras == ["bn"] and report.fallback == ["odd"]
    assert report.calls == {"conv": 1, "bn": 1, "block/dense": 2, "odd": 2}
    assert report.classes["block/dense"] == "Dense"
    assert report.classes["bn"] == "BatchNormalization"


def test_summary_table():
    # Columns of 11, 18, 5 and 26 characters, two spaces apart: 66.
    assert _report().summary().split("\n") == [
        "MACs of one forward pass, batch 1",
        "-" * 66,
        "Layer        Class                MACs  Note",
        "-" * 66,
        "conv         Conv2D              6,912",
        "bn           BatchNormalization      0  extra",
        "block/dense  Dense                  40  2 calls",
        "odd          Layer                  14  profiler fallback, 2 calls",
        "-" * 66,
        "Total MACs: 6,966",
        "Extras (0 MACs): 1   Profiler fallback: 1",
    ]
    assert str(_report()) == _report().summary()


def test_an_empty_report():
    report = MacReport()
    assert report.total == 0 and report.per_layer == {}
    lines = report.summary().split("\n")
    assert lines[2] == "Layer  Class  MACs  Note"
    assert lines[-2:] == ["Total MACs: 0", "Extras (0 MACs): 0   Profiler fallback: 0"]
