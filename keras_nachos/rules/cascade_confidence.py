"""NACHOS' cascade-confidence rule, for confidence heads."""

import keras
import numpy as np

from keras_nachos.errors import invalid_value
from keras_nachos.rules.exit_rule import ExitRule


@keras.saving.register_keras_serializable(package="keras_nachos")
class CascadeConfidence(ExitRule):
    """NACHOS cascade rule for confidence heads.

    With `c_i` the confidence of exit `i`, exit probabilities are
    `q_i = c_i * prod_{j<i} (1 - c_j)`; a sample leaves at the first exit with
    `D_i = sum_{k<=i} q_k >= t_i` (t in [0, 1]). `D_i` is carried from exit to
    exit with the samples still in flight.
    """

    name = "cascade_confidence"
    needs_confidence = True

    def initial_carry(self, num_samples):
        # Columns: probability mass not yet spent, D_i so far.
        carry = np.zeros((num_samples, 2))
        carry[:, 0] = 1.0
        return carry

    def step(self, output, num_classes, carry):
        output = np.asarray(output)
        if output.shape[1] <= num_classes:
            raise invalid_value(
                "rule",
                "a rule for this model: cascade_confidence needs a "
                "confidence column after the class probabilities of every "
                "early exit (build the model with `confidence=True`); this "
                f"exit's output has {output.shape[1]} columns for "
                f"{num_classes} classes",
                self.name,
            )
        c = output[:, num_classes].astype("float64")
        remaining, spent = carry[:, 0], carry[:, 1]
        spent = spent + c * remaining
        remaining = remaining * (1.0 - c)
        return spent, np.stack([remaining, spent], axis=1)
