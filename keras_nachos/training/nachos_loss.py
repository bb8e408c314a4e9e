"""The NACHOS training loss and its terms, for confidence heads."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_nachos.checks import check_float
from keras_nachos.errors import invalid_value
from keras_nachos.training.multi_exit_loss import MultiExitLoss


def cascade_exit_probabilities(confidences):
    """Exit probabilities of the cascade: `q_i = c_i * prod_{j<i} (1 - c_j)`.

    Args:
        confidences: List of `B - 1` tensors `(n,)` with the early exits'
            confidences in (0, 1); the final exit's confidence is 1.

    Returns:
        Tensor `(n, B)` whose rows sum to 1.
    """
    remaining = ops.ones_like(confidences[0])
    q = []
    for c in confidences:
        q.append(c * remaining)
        remaining = remaining * (1.0 - c)
    q.append(remaining)
    return ops.stack(q, axis=1)


def mac_budget_loss(
    exit_probabilities, exit_costs, max_macs, sample_weight=None
):
    """NACHOS' MAC-budget term, differentiable in the exit probabilities.

    `max(0, MACbar - M_max) / |C_B - M_max|` with
    `MACbar = mean_n sum_i q_{n,i} C_i`.

    Args:
        exit_probabilities: Tensor `(n, B)`, the cascade's `q`.
        exit_costs: Sequence of `B` cumulative exit costs `C_i` (MACs).
        max_macs: Float, the budget `M_max`.
        sample_weight: Optional tensor `(n,)`; `MACbar` is then
            `mean_n w_n sum_i q_{n,i} C_i` (Keras' sum-over-batch-size).
    """
    costs = ops.convert_to_tensor(np.asarray(exit_costs, "float32"))
    per_sample = ops.sum(exit_probabilities * costs, axis=1)
    if sample_weight is not None:
        per_sample = per_sample * sample_weight
    expected = ops.mean(per_sample)
    scale = max(abs(float(exit_costs[-1]) - float(max_macs)), 1.0)
    return ops.relu(expected - float(max_macs)) / scale


def class_balanced_bce(target, prediction, sample_weight=None):
    """Binary cross-entropy with positives and negatives weighted equally.

    With `sample_weight` (`(n,)`), the shares of positives and negatives are
    weighted shares and each sample's term is multiplied by its weight.
    """
    target = ops.cast(target, prediction.dtype)
    eps = 1e-7
    if sample_weight is None:
        positives = ops.maximum(ops.mean(target), eps)
        negatives = ops.maximum(ops.mean(1.0 - target), eps)
    else:
        total = ops.maximum(ops.sum(sample_weight), eps)
        positives = ops.maximum(ops.sum(sample_weight * target) / total, eps)
        negatives = ops.maximum(
            ops.sum(sample_weight * (1.0 - target)) / total, eps
        )
    weight = target * (0.5 / positives) + (1.0 - target) * (0.5 / negatives)
    p = ops.clip(prediction, eps, 1.0 - eps)
    bce = -(target * ops.log(p) + (1.0 - target) * ops.log(1.0 - p))
    if sample_weight is not None:
        bce = bce * sample_weight
    return ops.mean(weight * bce)


@keras.saving.register_keras_serializable(package="keras_nachos")
class NachosLoss(MultiExitLoss):
    """The NACHOS training loss for confidence heads.

    `L = w_a L_cls + b L_conf + w_b L_MACs + w_g L_sup` where, with `q` the
    cascade exit probabilities (`cascade_exit_probabilities`):

    - `L_cls = sum_i mean_n CE(p_{n,i}, y_n) q_{n,i}`;
    - `L_conf`: class-balanced BCE between each early exit's confidence and
      whether that exit's prediction is right;
    - `L_MACs`: the MAC-budget term (`mac_budget_loss`), differentiable with
      respect to the confidences (the reference code's is a constant);
    - `L_sup = mean_n mean_i (c_{n,i} - A[y_n, i])^2`, with `A[k, i]` the
      accuracy of exit `i` on the support samples of class `k`, refreshed each
      epoch after a warm-up by `SupportSetCallback`; 0 until then.

    A weight of 0 switches a term off (the ablations of the paper).

    Args:
        max_macs: Float or `None`, the budget `M_max` of the MAC term
            (`None` switches the term off).
        exit_costs: Optional list of cumulative exit costs `C_i`; defaults to
            the model's `exit_macs`.
        classification_weight: `w_a`. Defaults to `1.0`.
        confidence_weight: `b`. Defaults to `1.0`.
        macs_weight: `w_b`. Defaults to `1.0`.
        support_weight: `w_g`. Defaults to `1.0`.
    """

    # Its targets are class ids (`fit` converts one-hot rows).
    label_format = "class_ids"

    def __init__(
        self,
        max_macs=None,
        exit_costs=None,
        classification_weight=1.0,
        confidence_weight=1.0,
        macs_weight=1.0,
        support_weight=1.0,
    ):
        for name, value in (
            ("classification_weight", classification_weight),
            ("confidence_weight", confidence_weight),
            ("macs_weight", macs_weight),
            ("support_weight", support_weight),
        ):
            check_float(name, value, low=0.0, expected="a non-negative float")
        if max_macs is not None:
            check_float(
                "max_macs", max_macs, low=0.0, low_open=True,
                expected="a positive number or None",
            )
        self.max_macs = max_macs
        self.exit_costs = None if exit_costs is None else list(exit_costs)
        self.classification_weight = float(classification_weight)
        self.confidence_weight = float(confidence_weight)
        self.macs_weight = float(macs_weight)
        self.support_weight = float(support_weight)
        self.num_classes = None
        self.support_matrix = None
        self.support_active = None

    term_names = ("cls_loss", "conf_loss", "macs_loss", "support_loss")

    def bind(self, model):
        if not all(model.has_confidence[:-1]):
            raise invalid_value(
                "loss",
                "a loss for this model: NachosLoss needs confidence heads "
                "(build the model with `confidence=True`)",
                type(self).__name__,
            )
        self.num_classes = model.num_classes
        if self.exit_costs is None:
            self.exit_costs = list(model.exit_macs)
        if len(self.exit_costs) != model.num_exits:
            raise invalid_value(
                "exit_costs",
                f"{model.num_exits} costs, one per exit",
                self.exit_costs,
            )
        self.support_matrix = tf.Variable(
            np.zeros((model.num_classes, model.num_exits - 1), "float32"),
            trainable=False,
            name="support_accuracy",
        )
        self.support_active = tf.Variable(0.0, trainable=False, name="support_on")
        return self

    def compute_terms(self, y, exit_outputs, sample_weight=None, training=True):
        k = self.num_classes
        y = ops.reshape(ops.cast(y, "int32"), (-1,))
        probabilities = [out[:, :k] for out in exit_outputs]
        confidences = [out[:, k] for out in exit_outputs[:-1]]
        q = cascade_exit_probabilities(confidences)
        w = None  # per-sample weights, Keras' sum-over-batch-size convention
        if sample_weight is not None:
            w = ops.reshape(ops.cast(sample_weight, q.dtype), (-1,))
        zero = ops.zeros(())
        terms = {name: zero for name in self.term_names}

        if self.classification_weight:
            ce = ops.stack(
                [
                    keras.losses.sparse_categorical_crossentropy(y, p)
                    for p in probabilities
                ],
                axis=1,
            )
            weighted = ce * q if w is None else ce * q * w[:, None]
            terms["cls_loss"] = ops.sum(ops.mean(weighted, axis=0))
        if self.confidence_weight:
            values = []
            for p, c in zip(probabilities[:-1], confidences):
                correct = ops.equal(ops.cast(ops.argmax(p, axis=1), "int32"), y)
                values.append(class_balanced_bce(correct, c, w))
            terms["conf_loss"] = ops.mean(ops.stack(values))
        if self.macs_weight and self.max_macs is not None:
            terms["macs_loss"] = mac_budget_loss(
                q, self.exit_costs, self.max_macs, w
            )
        if self.support_weight:
            target = ops.take(self.support_matrix, y, axis=0)
            c = ops.stack(confidences, axis=1)
            squared = ops.square(c - target)
            if w is not None:
                squared = squared * w[:, None]
            terms["support_loss"] = self.support_active * ops.mean(squared)
        total = (
            self.classification_weight * terms["cls_loss"]
            + self.confidence_weight * terms["conf_loss"]
            + self.macs_weight * terms["macs_loss"]
            + self.support_weight * terms["support_loss"]
        )
        return total, terms

    def get_config(self):
        return {
            "max_macs": self.max_macs,
            "exit_costs": self.exit_costs,
            "classification_weight": self.classification_weight,
            "confidence_weight": self.confidence_weight,
            "macs_weight": self.macs_weight,
            "support_weight": self.support_weight,
        }
