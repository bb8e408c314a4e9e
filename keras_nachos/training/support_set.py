"""NACHOS' support set: a class-balanced split and the callback that measures it."""

import keras
import numpy as np

from keras_nachos.checks import check_float
from keras_nachos.checks import check_int
from keras_nachos.data_utils import check_data
from keras_nachos.data_utils import check_finite
from keras_nachos.data_utils import check_labels
from keras_nachos.data_utils import dataset_arrays
from keras_nachos.errors import invalid_type


def split_support_set(x, y, fraction=0.1, seed=0):
    """Splits off a class-balanced support set.

    Args:
        x: Array of inputs (finite numbers).
        y: Class ids, one per input (integers >= 0; one-hot rows are
            converted).
        fraction: Float in (0, 1), share of each class that goes to the
            support set. Defaults to `0.1`.
        seed: Integer seed.

    Returns:
        `((x_train, y_train), (x_support, y_support))`, labels as class ids.
    """
    check_float("fraction", fraction, 0.0, 1.0, low_open=True, high_open=True)
    try:
        x = np.asarray(x)
    except (TypeError, ValueError):
        raise invalid_type("x", "an array of inputs", x) from None
    if x.ndim == 0 or not np.issubdtype(x.dtype, np.number):
        raise invalid_type("x", "an array of numeric inputs", x)
    y = check_labels(y, None, len(x))
    check_finite(x)
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
        self.x, self.y = dataset_arrays(support_data, "support_data")
        self.warmup_epochs = check_int("warmup_epochs", warmup_epochs, min_value=0)
        self.batch_size = check_int("batch_size", batch_size, min_value=1)
        self.history = []

    def set_model(self, model):
        """Binds the model and checks the support data against it (before
        `fit` trains: inputs of its shape, class ids of its classes)."""
        self.x, self.y = check_data(
            self.x, self.y, model.inputs[0].shape, model.num_classes,
            "support_data", "support_data", "inputs (the pair's first item)",
            "labels (the pair's second item)",
        )
        super().set_model(model)

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
