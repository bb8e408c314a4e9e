"""Tests of `keras_nachos.inference.early_exit_result`: exit fractions,
expected MACs and predictions where they are known by hand."""

import numpy as np

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
