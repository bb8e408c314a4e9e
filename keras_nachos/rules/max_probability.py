"""Shallow-Deep Networks' max-probability rule."""

import keras
import tensorflow as tf

from keras_nachos.rules.exit_rule import ExitRule


@keras.saving.register_keras_serializable(package="keras_nachos")
class MaxProbability(ExitRule):
    """Shallow-Deep Networks: exit when `max_k p_k >= t` (t in [0, 1]).

    Example:

    >>> rule = MaxProbability()
    >>> rule.decide(np.array([[0.9, 0.1], [0.6, 0.4]]), 0.8, 2, None)[0]
    array([ True, False])
    """

    name = "max_probability"
    runs_in_graph = True

    def score(self, probabilities, confidence):
        return probabilities.max(axis=1)

    def tf_score(self, probabilities):
        return tf.reduce_max(probabilities, axis=1)
