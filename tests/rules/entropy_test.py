"""Tests of `keras_nachos.rules.entropy`."""

import numpy as np

from keras_nachos import rules as exit_rules


def test_entropy_by_hand():
    p = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25]])
    h = -(p * np.log(p)).sum(axis=1)
    np.testing.assert_allclose(exit_rules.Entropy().score(p, None), h)
    fires, _ = exit_rules.Entropy().decide(p, h[0] + 1e-9, 3, None)
    assert fires.tolist() == [True, False]
