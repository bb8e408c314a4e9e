"""Tests of `keras_nachos.constraints`."""

import pytest

from keras_nachos.constraints import normalised_violation


def test_normalised_violation_by_hand():
    # (0.8 - 0.7) / (1 - 0.8) + (150 - 100) / 100 = 0.5 + 0.5.
    assert normalised_violation(0.7, 150.0, 0.8, 100.0) == pytest.approx(1.0)
    assert normalised_violation(0.85, 100.0, 0.8, 100.0) == 0.0
    assert normalised_violation(0.1, 1e12, 0.0, float("inf")) == 0.0
