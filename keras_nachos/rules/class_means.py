"""E2CM's class-means rule."""

import keras
import tensorflow as tf

from keras_nachos.rules.exit_rule import ExitRule


@keras.saving.register_keras_serializable(package="keras_nachos")
class ClassMeans(ExitRule):
    """E2CM: exit when `max_k softmax(-d~)_k > t` (strictly; t in [0, 1]).

    For `ClassMeansHead` exits, whose output is `softmax(-d~)`; on trained
    heads it is the max-probability rule with a strict inequality.
    """

    name = "class_means"
    strict = True
    runs_in_graph = True

    def score(self, probabilities, confidence):
        return probabilities.max(axis=1)

    def tf_score(self, probabilities):
        return tf.reduce_max(probabilities, axis=1)
