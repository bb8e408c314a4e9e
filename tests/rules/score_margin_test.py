"""Tests of `keras_nachos.rules.score_margin`."""

import numpy as np
import tensorflow as tf

from keras_nachos import rules as exit_rules


def test_score_margin_by_hand():
    p = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25]])
    np.testing.assert_allclose(
        exit_rules.ScoreMargin().score(p, None), [0.5, 0.05], atol=1e-12
    )


def test_fires_on_the_top_two_margin():
    rule = exit_rules.ScoreMargin()
    p = np.array([[0.5, 0.1, 0.4], [0.2, 0.75, 0.05], [0.34, 0.33, 0.33]])
    fires, _ = rule.decide(p, 0.3, 3, None)
    assert fires.tolist() == [False, True, False]
    assert rule.score(p, None)[2] == np.float64(0.34) - np.float64(0.33)


def test_tf_score_is_bit_identical_to_score():
    rule = exit_rules.ScoreMargin()
    assert rule.runs_in_graph
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(10), 500).astype("float32")
    p[:5] = 0.1  # ties: a margin of 0
    expected = rule.score(p, None)
    assert expected.dtype == np.float32 and np.all(expected[:5] == 0)
    np.testing.assert_array_equal(rule.tf_score(tf.constant(p)).numpy(), expected)
