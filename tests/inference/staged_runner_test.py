"""Tests of `keras_nachos.inference.staged_runner`: the real early exit takes
the exits the rule takes on all exits' outputs."""

import numpy as np
import pytest
import tensorflow as tf

from keras_nachos.calibration import exit_indices as _exit_indices
from tests.testing_utils import trained_model as _trained_model


@pytest.fixture(scope="module")
def trained():
    """`trained_model()`, once for the tests that read it."""
    return _trained_model()


@pytest.mark.parametrize("rule", ["max_probability", "entropy", "score_margin"])
def test_early_exit_equals_all_exits_then_rule(trained, rule):
    model, x, _ = trained
    outputs = model.predict_exits(x)
    # Thresholds at the median score of each exit: about half leave.
    from keras_nachos import rules as exit_rules

    r = exit_rules.get(rule)
    thresholds = [float(np.median(r.score(o, None))) for o in outputs[:-1]]
    expected_exit = _exit_indices(outputs, rule, thresholds, 4)
    assert 0 < np.mean(expected_exit == 0) < 1
    for batch_size in (1, 7, 256):
        result = model.predict_early_exit(
            x, thresholds, rule=rule, batch_size=batch_size
        )
        np.testing.assert_array_equal(result.exit_indices, expected_exit)
        taken = np.stack(outputs)[expected_exit, np.arange(len(x))]
        np.testing.assert_array_equal(result.predictions, taken.argmax(axis=1))
        np.testing.assert_allclose(result.probabilities, taken, atol=1e-5)
        np.testing.assert_array_equal(
            result.macs, np.asarray(model.exit_macs)[expected_exit]
        )


def test_early_exit_on_a_dataset_and_empty_input(trained):
    model, x, _ = trained
    data = tf.data.Dataset.from_tensor_slices((x, np.zeros(len(x)))).batch(10)
    a = model.predict_early_exit(data, [0.5, 0.5])
    b = model.predict_early_exit(x, [0.5, 0.5], batch_size=10)
    np.testing.assert_array_equal(a.exit_indices, b.exit_indices)
    empty = model.predict_early_exit(x[:0], [0.5, 0.5])
    assert empty.predictions.shape == (0,)


def test_cascade_early_exit_equals_rule_on_all_exits():
    model, x, _ = _trained_model(confidence=True)
    outputs = model.predict_exits(x)
    assert outputs[0].shape == (len(x), 5) and outputs[-1].shape == (len(x), 4)
    thresholds = [0.5, 0.6]
    expected = _exit_indices(outputs, "cascade_confidence", thresholds, 4)
    result = model.predict_early_exit(
        x, thresholds, rule="cascade_confidence", batch_size=16
    )
    np.testing.assert_array_equal(result.exit_indices, expected)


def test_run_checks_its_inputs(trained):
    from keras_nachos import rules as exit_rules
    from keras_nachos.inference import StagedRunner

    model, x, _ = trained
    runner = StagedRunner(model)
    bad = x[:4].copy()
    bad[1, 2, 2, 0] = np.nan
    for inputs, message in [
        (bad, r"finite numbers: 1 of 4 samples.*Received: x=\[nan\]"),
        (x[:4, :8], r"shape \(n, 16, 16, 1\)"),
    ]:
        with pytest.raises(ValueError, match=r"argument `x`.*" + message):
            runner.run(inputs, exit_rules.get("max_probability"),
                       np.array([0.5, 0.5]))
