"""Tests of `keras_nachos.reporting.early_exit_report`; the
`shared_trained_model` fixture (trained once per session) is in
tests/conftest.py."""

import math

import numpy as np


def test_report_numbers_match_predict_early_exit(shared_trained_model, tmp_path):
    model, x, y = shared_trained_model
    outputs = model.predict_exits(x)
    t = [float(np.median(o.max(axis=1))) for o in outputs[:2]]
    report = model.evaluate_early_exit(x, y, t)
    result = model.predict_early_exit(x, t)
    assert report.accuracy == result.accuracy(y)
    np.testing.assert_allclose(report.exit_fractions, result.exit_fractions)
    assert report.expected_macs == result.expected_macs
    assert report.expected_macs_taken_head == np.mean(
        np.asarray(model.exit_macs_taken_head)[result.exit_indices]
    )
    for b in range(3):
        assert report.exit_accuracy[b] == np.mean(outputs[b].argmax(1) == y)
        left = result.exit_indices == b
        if left.any():
            assert report.exited_accuracy[b] == np.mean(result.predictions[left] == y[left])
        else:
            assert math.isnan(report.exited_accuracy[b])
    assert report.final_accuracy == report.exit_accuracy[-1]
    # `macs_ratio` means one thing everywhere: over the backbone's MACs.
    assert report.macs_ratio == report.expected_macs / model.backbone_macs
    assert report.macs_ratio == result.macs_ratio
    assert model.exit_costs.ratio(result.expected_macs) == result.macs_ratio
    text = str(report)
    assert "exit_1" in text and "final" in text and "expected MACs" in text
    d = report.to_dict()
    assert d["accuracy"] == report.accuracy and d["macs_ratio"] > 0
    curve = np.array([[model.exit_macs[0], 0.3], [model.exit_macs[-1], 0.9]])
    report.curve = curve
    path = tmp_path / "report.png"
    report.plot(str(path))
    assert path.stat().st_size > 1000
