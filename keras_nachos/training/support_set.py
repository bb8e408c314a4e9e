"""NACHOS' support set: a class-balanced split and the callback that measures it."""

import keras
import numpy as np

from keras_nachos.errors import invalid_value


def split_support_set(x, y, fraction=0.1, seed=0):
    """Splits off a class-balanced support set.

    Args:
        x: Array of inputs.
        y: Array of integer labels.
        fraction: Float in (0, 1), share of each class that goes to the
            support set. Defaults to `0.1`.
        seed: Integer seed.

    Returns:
        `((x_train, y_train), (x_support, y_support))`.
    """
    if not 0 < fraction < 1:
        raise invalid_value("fraction", "a float in (0, 1)", fraction)
    y = np.asarray(y).reshape(-1)
    rng = np.random.default_rng(seed)
    support = []
    for k in np.unique(y):
        members = np.flatnonzero(y == k)
        rng.shuffle(members)
        support.extend(members[: max(1, int(round(fraction * len(members))))])
    mask = np.zeros(len(y), dtype=bool)
    mask[np.asarray(support, dtype=int)] = True
    return (x[~mask], y[~mask]), (x[mask], y[mask])


class SupportSetCallback(keras.callbacks.Callback):
    """Refreshes the NACHOS support-set term each epoch after a warm-up.

    At the end of every epoch from `warmup_epochs` on, it measures
    `A[k, i]`, the accuracy of early exit `i` on the support samples of class
    `k`, stores it in the compiled `NachosLoss` and switches its support term
    on (it is 0 before).

    Args:
        support_data: Tuple `(x, y)` of held-out, class-balanced samples
            (see `split_support_set`).
        warmup_epochs: Integer, epochs before the term starts. Defaults to
            `1`.
        batch_size: Integer. Defaults to `256`.
    """

    def __init__(self, support_data, warmup_epochs=1, batch_size=256):
        super().__init__()
        x, y = support_data
        self.x = x
        self.y = np.asarray(y).reshape(-1)
        if not isinstance(warmup_epochs, int) or warmup_epochs < 0:
            raise invalid_value(
                "warmup_epochs", "a non-negative integer", warmup_epochs
            )
        self.warmup_epochs = warmup_epochs
        self.batch_size = batch_size
        self.history = []

    def support_accuracy(self):
        """Returns `A` with shape `(num_classes, num_early_exits)`."""
        model = self.model
        outputs = model.predict_exits(self.x, batch_size=self.batch_size)
        k = model.num_classes
        table = np.zeros((k, model.num_exits - 1), "float32")
        for i, out in enumerate(outputs[:-1]):
            correct = out[:, :k].argmax(axis=1) == self.y
            for c in range(k):
                members = self.y == c
                if members.any():
                    table[c, i] = correct[members].mean()
        return table

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 < self.warmup_epochs:
            return
        loss = self.model._training_state.multi_exit_loss
        if loss is None or getattr(loss, "support_matrix", None) is None:
            raise ValueError(
                "SupportSetCallback needs a model compiled with a NachosLoss."
            )
        table = self.support_accuracy()
        loss.support_matrix.assign(table)
        loss.support_active.assign(1.0)
        self.history.append(table)
