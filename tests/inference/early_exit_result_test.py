"""Tests of `keras_nachos.inference.early_exit_result`: exit fractions,
expected MACs and predictions where they are known by hand."""

import numpy as np
import pytest

from tests.testing_utils import trained_model as _trained_model


def test_early_exit_all_leave_at_first_exit_and_none_leave():
    model, x, _ = _trained_model()
    everyone = model.predict_early_exit(x, [0.0, 0.0], batch_size=32)
    assert np.all(everyone.exit_indices == 0)
    assert everyone.expected_macs == model.exit_macs[0]
    assert everyone.exit_fractions.tolist() == [1.0, 0.0, 0.0]
    nobody = model.predict_early_exit(x, [1.0, 1.0], batch_size=32)
    assert np.all(nobody.exit_indices == 2)
    assert nobody.expected_macs == model.exit_macs[-1]
    final = model.predict_exits(x)[-1]
    np.testing.assert_array_equal(nobody.predictions, final.argmax(axis=1))


def test_accuracy_checks_its_labels():
    from keras_nachos.inference import EarlyExitResult

    result = EarlyExitResult(
        predictions=np.array([0, 1, 2, 1]), exit_indices=np.zeros(4, int),
        macs=np.ones(4, int), probabilities=np.full((4, 3), 1 / 3),
        exit_names=["exit_1", "final"], exit_macs=[1, 2], backbone_macs=2,
    )
    assert result.accuracy([0, 1, 2, 2]) == 0.75
    assert result.accuracy(np.eye(3)[[0, 1, 2, 2]]) == 0.75  # one-hot rows
    for labels, message in [
        ([0, 1, 3, 1], r"class ids in \[0, 3\).*Received: y=\[3\]"),
        ([0, 1, -1, 1], r"Received: y=\[-1\]"),
        ([0, 1, 2], r"4 labels, one per sample"),
        ([0, 1, 0.5, 1], "not whole numbers"),
        (np.full((4, 3), 1 / 3), "one-hot rows"),
    ]:
        with pytest.raises(ValueError, match=r"argument `y`.*" + message):
            result.accuracy(labels)
