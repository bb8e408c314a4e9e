"""E2CM: an exit from class means of intermediate features (no training)."""

import keras
from keras import ops

from keras_nachos.heads.exit_head import ExitHead


@keras.saving.register_keras_serializable(package="keras_nachos")
class ClassMeansHead(ExitHead):
    """Early Exit Class Means (E2CM, Gormez et al., 2022) as an exit head.

    Holds one mean feature vector per class, `mu_k`, and a per-class
    normaliser `s_k` (the mean distance of the class's training samples to
    `mu_k`), both fitted from data by `fit_class_means`, never by gradients.
    For features `x` (flattened) it computes `d_k = ||x - mu_k||_2`, the
    normalised distances `d~_k = d_k / s_k` and outputs `softmax(-d~)`. The
    exit's prediction is `argmax softmax(-d~) = argmin d~` (the normalised
    distance: prediction and confidence come from one distribution; E2CM's
    paper predicts `argmin d`, which differs only where classes' normalisers
    differ).

    Its cost is `num_classes * dim(x)` MACs (the `x . mu` products).

    Args:
        num_classes: Integer, number of classes.
        **kwargs: Base layer keyword arguments.
    """

    def __init__(self, num_classes, **kwargs):
        kwargs.pop("confidence", None)
        super().__init__(num_classes, confidence=False, **kwargs)
        self.trainable = False

    def make_classifier(self):
        return None

    def build(self, input_shape):
        dim = 1
        for d in input_shape[1:]:
            dim *= int(d)
        self.feature_dim = dim
        # Distances are computed in the variable dtype (float32 under mixed
        # precision): `|x|^2 - 2 x.mu + |mu|^2` cancels badly in 16 bits.
        self.means = self.add_weight(
            shape=(self.num_classes, dim),
            initializer="zeros",
            trainable=False,
            autocast=False,
            name="class_means",
        )
        self.scales = self.add_weight(
            shape=(self.num_classes,),
            initializer="ones",
            trainable=False,
            autocast=False,
            name="distance_scales",
        )
        self.fitted = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="fitted"
        )

    def flatten(self, inputs):
        return ops.reshape(inputs, (-1, self.feature_dim))

    def distances(self, inputs):
        """Raw Euclidean distances `(n, num_classes)` to the class means."""
        x = ops.cast(self.flatten(inputs), self.output_dtype)
        squared = (
            ops.sum(ops.square(x), axis=1, keepdims=True)
            - 2.0 * ops.matmul(x, ops.transpose(self.means))
            + ops.sum(ops.square(self.means), axis=1)[None, :]
        )
        return ops.sqrt(ops.maximum(squared, 0.0))

    def call(self, inputs, training=None):
        return ops.softmax(-self.distances(inputs) / self.scales, axis=-1)

    def sublayer_shapes(self, input_shape):
        return iter(())

    def get_config(self):
        config = super().get_config()
        config.pop("confidence", None)
        return config
