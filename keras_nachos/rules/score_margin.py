"""EDANAS' score-margin rule."""

import keras
import numpy as np
import tensorflow as tf

from keras_nachos.rules.exit_rule import ExitRule


@keras.saving.register_keras_serializable(package="keras_nachos")
class ScoreMargin(ExitRule):
    """EDANAS: exit when `p_(1) - p_(2) >= t` (top-1 minus top-2, t in [0, 1])."""

    name = "score_margin"
    runs_in_graph = True

    def score(self, probabilities, confidence):
        top2 = np.sort(probabilities, axis=1)[:, -2:]
        return top2[:, 1] - top2[:, 0]

    def tf_score(self, probabilities):
        top2 = tf.math.top_k(probabilities, k=2).values
        return top2[:, 0] - top2[:, 1]
