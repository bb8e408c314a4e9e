"""Helpers shared by the tests of `keras_nachos.deploy`."""

import numpy as np

from keras_nachos import rules
from keras_nachos.calibration import exit_scores


def midpoints(scores, quantile):
    """A threshold halfway between two neighbouring scores (no sample sits on
    it, so float rounding cannot flip a decision)."""
    s = np.sort(np.unique(scores))
    i = int(quantile * (len(s) - 1))
    return float((s[i] + s[min(i + 1, len(s) - 1)]) / 2)


def thresholds_between_samples(model, outputs, rule):
    """Thresholds that send some samples out at each early exit, each halfway
    between two samples' exit scores."""
    rule = rules.get(rule)
    S = exit_scores(outputs, rule, model.num_classes)
    u = [midpoints(S[:, i], q) for i, q in enumerate((0.6, 0.4))]
    return rule.rule_threshold(u).tolist()
