"""SDN's mixed max/average pooling exit head."""

import keras
from keras import ops

from keras_nachos.checks import check_int
from keras_nachos.errors import invalid_value
from keras_nachos.heads.exit_head import ExitHead
from keras_nachos.heads.exit_head import spatial_rank


@keras.saving.register_keras_serializable(package="keras_nachos")
class MixedPooling2D(keras.layers.Layer):
    """`a * MaxPool + (1 - a) * AvgPool` with a learnable mixing weight.

    `a = sigmoid(w)` with `w` a trainable scalar initialised to 0 (`a = 0.5`),
    as in Shallow-Deep Networks.

    Args:
        pool_size: Integer, pooling window and stride. Defaults to `2`.
        **kwargs: Base layer keyword arguments.
    """

    def __init__(self, pool_size=2, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = check_int("pool_size", pool_size, min_value=1)
        self.max_pool = keras.layers.MaxPooling2D(
            pool_size, name="max", dtype=self.dtype_policy
        )
        self.avg_pool = keras.layers.AveragePooling2D(
            pool_size, name="avg", dtype=self.dtype_policy
        )

    def build(self, input_shape):
        self.mix_logit = self.add_weight(
            shape=(), initializer="zeros", name="mix_logit"
        )

    def call(self, inputs):
        alpha = ops.sigmoid(self.mix_logit)
        return alpha * self.max_pool(inputs) + (1.0 - alpha) * self.avg_pool(
            inputs
        )

    def compute_output_shape(self, input_shape):
        return self.max_pool.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": self.pool_size})
        return config


@keras.saving.register_keras_serializable(package="keras_nachos")
class MixedPoolHead(ExitHead):
    """Shallow-Deep Networks' head: mixed max/avg pooling, flatten, dense.

    The pooling window is chosen so that the pooled feature map is about
    `target_size x target_size` (window `max(1, min(H, W) // target_size)`).

    Args:
        num_classes: Integer, number of classes.
        target_size: Integer, spatial size after pooling. Defaults to `4`.
        confidence: Boolean, whether to add the confidence output.
            Defaults to `False`.
        **kwargs: Base layer keyword arguments.

    Example:

    >>> head = MixedPoolHead(num_classes=10)
    >>> head(np.zeros((2, 16, 16, 8))).shape
    (2, 10)
    """

    def __init__(self, num_classes, target_size=4, confidence=False, **kwargs):
        super().__init__(num_classes, confidence=confidence, **kwargs)
        self.target_size = check_int("target_size", target_size, min_value=1)

    def build_body(self, input_shape):
        if spatial_rank(input_shape) != 2:
            raise invalid_value(
                "input_shape",
                "a 4-D feature map (batch, height, width, channels) for "
                "MixedPoolHead",
                input_shape,
            )
        pool = max(1, min(input_shape[1], input_shape[2]) // self.target_size)
        body = []
        if pool > 1:
            body.append(
                MixedPooling2D(pool, name="mixed_pool", dtype=self.dtype_policy)
            )
        body.append(keras.layers.Flatten(name="flatten", dtype=self.dtype_policy))
        return body

    def get_config(self):
        config = super().get_config()
        config.update({"target_size": self.target_size})
        return config
