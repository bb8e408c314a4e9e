"""The NACHOS convolutional exit head."""

import keras

from keras_nachos.checks import check_int
from keras_nachos.checks import check_ints
from keras_nachos.errors import invalid_value
from keras_nachos.heads.exit_head import ExitHead
from keras_nachos.heads.exit_head import spatial_rank


@keras.saving.register_keras_serializable(package="keras_nachos")
class ConvHead(ExitHead):
    """NACHOS head: optional max-pool, three 3x3 ReLU convs, flatten, dense.

    `pool_size` is what the NACHOS adaptive rule tunes
    (`EarlyExitModel.from_backbone(..., head="conv")` sets it so that the cost
    of reaching each exit grows along the network).

    Args:
        num_classes: Integer, number of classes.
        filters: Tuple of integers, filters of the convolutions.
            Defaults to `(32, 64, 128)`.
        pool_size: Integer, window (and stride) of a max-pool before the
            convolutions; `1` means no pooling. Defaults to `1`.
        confidence: Boolean, whether to add the confidence output.
            Defaults to `False`.
        **kwargs: Base layer keyword arguments.

    Example:

    >>> head = ConvHead(num_classes=10, filters=(8, 8, 8), pool_size=2)
    >>> head(np.zeros((2, 8, 8, 4))).shape
    (2, 10)
    """

    def __init__(
        self,
        num_classes,
        filters=(32, 64, 128),
        pool_size=1,
        confidence=False,
        **kwargs,
    ):
        super().__init__(num_classes, confidence=confidence, **kwargs)
        self.filters = check_ints("filters", filters)
        self.pool_size = check_int("pool_size", pool_size, min_value=1)

    def build_body(self, input_shape):
        if spatial_rank(input_shape) != 2:
            raise invalid_value(
                "input_shape",
                "a 4-D feature map (batch, height, width, channels) for "
                "ConvHead",
                input_shape,
            )
        body = []
        if self.pool_size > 1:
            body.append(
                keras.layers.MaxPooling2D(
                    self.pool_size,
                    padding="same",
                    name="pool",
                    dtype=self.dtype_policy,
                )
            )
        for i, f in enumerate(self.filters):
            body.append(
                keras.layers.Conv2D(
                    f,
                    3,
                    padding="same",
                    activation="relu",
                    name=f"conv_{i + 1}",
                    dtype=self.dtype_policy,
                )
            )
        body.append(keras.layers.Flatten(name="flatten", dtype=self.dtype_policy))
        return body

    def get_config(self):
        config = super().get_config()
        config.update(
            {"filters": list(self.filters), "pool_size": self.pool_size}
        )
        return config
