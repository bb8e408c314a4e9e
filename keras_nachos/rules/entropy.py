"""BranchyNet's entropy rule."""

import math

import keras
import numpy as np

from keras_nachos.rules.exit_rule import ExitRule


@keras.saving.register_keras_serializable(package="keras_nachos")
class Entropy(ExitRule):
    """BranchyNet: exit when `H(p) = -sum p log p < t` (t in [0, log K]).

    Decided on the host: a TF entropy is not bit-identical to numpy's.
    """

    name = "entropy"
    direction = "less"

    def threshold_range(self, num_classes):
        return (0.0, math.log(num_classes))

    def score(self, probabilities, confidence):
        p = np.clip(probabilities, 1e-12, 1.0)
        return -(p * np.log(p)).sum(axis=1)
