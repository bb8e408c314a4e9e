"""Global pooling + dense exit head."""

import keras

from keras_nachos.checks import check_choice
from keras_nachos.checks import check_int
from keras_nachos.errors import invalid_value
from keras_nachos.heads.exit_head import ExitHead
from keras_nachos.heads.exit_head import spatial_rank

_GLOBAL_POOLS = {
    ("avg", 1): keras.layers.GlobalAveragePooling1D,
    ("avg", 2): keras.layers.GlobalAveragePooling2D,
    ("avg", 3): keras.layers.GlobalAveragePooling3D,
    ("max", 1): keras.layers.GlobalMaxPooling1D,
    ("max", 2): keras.layers.GlobalMaxPooling2D,
    ("max", 3): keras.layers.GlobalMaxPooling3D,
}


@keras.saving.register_keras_serializable(package="keras_nachos")
class GlobalPoolHead(ExitHead):
    """Global pooling, an optional hidden dense layer, then the classifier.

    The cheapest head: its cost is `channels * num_classes` MACs (plus the
    hidden layer). Features without spatial axes (rank 2) go straight to the
    dense layers.

    Args:
        num_classes: Integer, number of classes.
        hidden_units: Integer or `None`, units of a ReLU dense layer before the
            classifier. Defaults to `None` (no hidden layer).
        pooling: `"avg"` or `"max"`. Defaults to `"avg"`.
        confidence: Boolean, whether to add the confidence output.
            Defaults to `False`.
        **kwargs: Base layer keyword arguments.

    Example:

    >>> head = GlobalPoolHead(num_classes=10)
    >>> head(np.zeros((2, 7, 7, 16))).shape
    (2, 10)
    """

    def __init__(
        self,
        num_classes,
        hidden_units=None,
        pooling="avg",
        confidence=False,
        **kwargs,
    ):
        super().__init__(num_classes, confidence=confidence, **kwargs)
        if hidden_units is not None:
            hidden_units = check_int(
                "hidden_units", hidden_units, min_value=1,
                expected="a positive integer or None",
            )
        self.hidden_units = hidden_units
        self.pooling = check_choice("pooling", pooling, ("avg", "max"))

    def build_body(self, input_shape):
        body = []
        rank = spatial_rank(input_shape)
        if rank > 3:
            raise invalid_value(
                "input_shape", "features with at most 3 spatial axes",
                input_shape,
            )
        if rank > 0:
            body.append(
                _GLOBAL_POOLS[(self.pooling, rank)](
                    name="pool", dtype=self.dtype_policy
                )
            )
        if self.hidden_units:
            body.append(
                keras.layers.Dense(
                    self.hidden_units,
                    activation="relu",
                    name="hidden",
                    dtype=self.dtype_policy,
                )
            )
        return body

    def get_config(self):
        config = super().get_config()
        config.update(
            {"hidden_units": self.hidden_units, "pooling": self.pooling}
        )
        return config
