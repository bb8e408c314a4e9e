"""Tests of `keras_nachos.checks`: the shared argument checks."""

import numpy as np
import pytest

from keras_nachos import checks


def test_integers():
    assert checks.check_int("n", 3, min_value=1) == 3
    assert checks.check_int("n", np.int64(0), min_value=0) == 0
    for bad in (True, np.True_, 2.0, "3", None, float("nan")):
        with pytest.raises(ValueError, match=r"argument `n`\. Expected a positive"):
            checks.check_int("n", bad, min_value=1)
    with pytest.raises(ValueError, match="Expected an integer >= 2. Received: n=1"):
        checks.check_int("n", 1, min_value=2)


def test_floats():
    assert checks.check_float("p", 1, 0.0, 1.0) == 1.0
    with pytest.raises(ValueError, match=r"Expected a float in \(0, 1\)"):
        checks.check_float("p", 0.0, 0.0, 1.0, low_open=True, high_open=True)
    for bad in (float("nan"), True, "0.5", 1.5, -0.1):
        with pytest.raises(ValueError, match="argument `p`"):
            checks.check_float("p", bad, 0.0, 1.0)
    assert checks.check_float("x", float("inf"), low=0.0) == float("inf")


def test_bools_tuples_choices_callables():
    assert checks.check_bool("b", np.False_) is False
    with pytest.raises(TypeError, match="argument `b`"):
        checks.check_bool("b", 0)
    assert checks.check_ints("k", [3, 5], odd=True) == (3, 5)
    for bad in ([], [3, 4], (3, True), "35", [3.0]):
        with pytest.raises(ValueError, match="argument `k`"):
            checks.check_ints("k", bad, odd=True)
    assert checks.check_ints("w", (), min_value=0, allow_empty=True) == ()
    assert checks.check_choice("c", "avg", ("avg", "max")) == "avg"
    with pytest.raises(ValueError, match='Expected one of "avg", "max"'):
        checks.check_choice("c", "mean", ("avg", "max"))
    assert checks.check_callable("f", None) is None
    with pytest.raises(TypeError, match="argument `f`"):
        checks.check_callable("f", 3)
