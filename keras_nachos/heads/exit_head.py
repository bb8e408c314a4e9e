"""Base class of the early-exit classifiers ("heads")."""

import keras
from keras import ops

from keras_nachos.checks import check_bool
from keras_nachos.checks import check_int


@keras.saving.register_keras_serializable(package="keras_nachos")
class ExitHead(keras.layers.Layer):
    """Base class for an early-exit classifier.

    A head maps the features at an exit point to class probabilities
    (softmax over `num_classes`). With `confidence=True` it also outputs a
    learned exit confidence in (0, 1) (sigmoid), appended as the last column,
    for the cascade-confidence rule of NACHOS: the output then has
    `num_classes + 1` columns.

    Under a mixed precision policy the body computes in the policy's compute
    dtype, while the output layers (classifier and confidence) compute in its
    variable dtype (float32), as Keras recommends for a model's outputs: the
    head outputs `output_dtype`.

    Subclasses build their feature layers in `build_body(input_shape)` as an
    ordered list of layers applied in sequence (the list is also what the MAC
    counter walks), and may override `body_call`.

    Args:
        num_classes: Integer, number of classes.
        confidence: Boolean, whether to add the confidence output.
            Defaults to `False`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.
    """

    def __init__(self, num_classes, confidence=False, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = check_int("num_classes", num_classes, min_value=2)
        self.confidence = check_bool("confidence", confidence)
        self.body = []
        self.classifier = self.make_classifier()
        self.confidence_layer = None
        if confidence:
            self.confidence_layer = keras.layers.Dense(
                1,
                activation="sigmoid",
                name="confidence",
                dtype=self.output_dtype,
            )

    def make_classifier(self):
        """Returns the layer that maps features to class probabilities."""
        return keras.layers.Dense(
            self.num_classes,
            activation="softmax",
            name="classifier",
            dtype=self.output_dtype,
        )

    def build_body(self, input_shape):
        """Returns the list of layers between the features and the classifier."""
        return []

    def build(self, input_shape):
        self.body = self.build_body(tuple(input_shape))
        shape = tuple(input_shape)
        for layer in self.body:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.classifier.build(shape)
        if self.confidence_layer is not None:
            self.confidence_layer.build(shape)

    def body_call(self, inputs, training=None):
        x = inputs
        for layer in self.body:
            x = layer(x, training=training)
        return x

    def call(self, inputs, training=None):
        features = self.body_call(inputs, training=training)
        probabilities = self.classifier(features)
        if self.confidence_layer is None:
            return probabilities
        return ops.concatenate(
            [probabilities, self.confidence_layer(features)], axis=-1
        )

    @property
    def output_units(self):
        return self.num_classes + (1 if self.confidence else 0)

    @property
    def output_dtype(self):
        """Dtype of the output: the policy's variable dtype (float32 under
        `"mixed_float16"` / `"mixed_bfloat16"`)."""
        return self.dtype_policy.variable_dtype

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_units)

    def compute_output_spec(self, inputs, **kwargs):
        # Not the compute dtype Keras infers from `compute_output_shape`.
        return keras.KerasTensor(
            self.compute_output_shape(tuple(inputs.shape)),
            dtype=self.output_dtype,
        )

    def sublayer_shapes(self, input_shape):
        """Yields `(layer, input_shape, output_shape)` for every sublayer.

        Used by the MAC counter. Shapes include the batch dimension.
        """
        shape = tuple(input_shape)
        for layer in self.body:
            out = tuple(layer.compute_output_shape(shape))
            yield layer, shape, out
            shape = out
        yield layer_with_shape(self.classifier, shape)
        if self.confidence_layer is not None:
            yield layer_with_shape(self.confidence_layer, shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"num_classes": self.num_classes, "confidence": self.confidence}
        )
        return config


def layer_with_shape(layer, shape):
    return layer, tuple(shape), tuple(layer.compute_output_shape(shape))


def spatial_rank(input_shape):
    """Number of spatial axes of a channels-last feature shape."""
    return len(input_shape) - 2


def head_as_model(head, input_shape):
    """A functional model of a head's sublayers, for the MAC counter."""
    if not head.built:
        head.build(tuple(input_shape))
    inputs = keras.Input(tuple(input_shape)[1:])
    x = inputs
    for layer in head.body:
        x = layer(x)
    outputs = [head.classifier(x)]
    if head.confidence_layer is not None:
        outputs.append(head.confidence_layer(x))
    return keras.Model(inputs, outputs)
