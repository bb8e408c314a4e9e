"""Per-exit losses as Keras `Loss` objects: reduced and sample-weighted."""

import keras


class LossFunction(keras.losses.Loss):
    """A loss function as a `Loss`: reduced over the batch, sample-weighted.

    What Keras' `compile` does with a loss given by name or as a function
    (`"sparse_categorical_crossentropy"` resolves to a function returning one
    value per sample, whose third argument is `from_logits`, not a weight).
    Under a distribution strategy a `Loss` also returns each replica's share.
    """

    def __init__(self, fn, name=None):
        name = name or getattr(fn, "__name__", "")
        super().__init__(name=name if name.isidentifier() else "loss")
        self.fn = fn

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred)


def as_loss(identifier):
    """A `keras.losses.Loss` for a loss name, function or instance."""
    loss = keras.losses.get(identifier)
    if loss is None or isinstance(loss, keras.losses.Loss):
        return loss
    name = identifier if isinstance(identifier, str) else None
    return LossFunction(loss, name=name)
