"""Tests of `keras_nachos.rules.max_probability`."""

import numpy as np
import tensorflow as tf

from keras_nachos import rules as exit_rules


def test_max_probability_by_hand():
    p = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25]])
    np.testing.assert_allclose(exit_rules.MaxProbability().score(p, None), [0.7, 0.4])


def test_fires_at_the_threshold_itself():
    rule = exit_rules.MaxProbability()
    p = np.array([[0.9, 0.1], [0.6, 0.4], [0.8, 0.2]])
    fires, carry = rule.decide(p, 0.8, 2, None)
    assert fires.tolist() == [True, False, True] and carry is None
    # A confidence column after the classes is not a probability.
    with_confidence = np.concatenate([p, [[0.0], [0.99], [0.0]]], axis=1)
    fires, _ = rule.decide(with_confidence, 0.8, 2, None)
    assert fires.tolist() == [True, False, True]


def test_tf_score_is_bit_identical_to_score():
    rule = exit_rules.MaxProbability()
    assert rule.runs_in_graph
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(10), 500).astype("float32")
    p[:5] = 0.1  # ties
    np.testing.assert_array_equal(
        rule.tf_score(tf.constant(p)).numpy(), rule.score(p, None)
    )
