"""How an early-exit network is cut into stages.

Stage `i` runs from the features at exit point `i - 1` (the network's input
for the first stage) to the features at exit point `i` (the backbone's
output for the last stage) and the exit after them: an exit head, the final
softmax or head, or nothing when the backbone's own output is the final
exit. A sample that leaves at exit `i` has run stages `0..i` and no other.

One plan, three users: the staged runner runs the stages one after another
on the samples still pending (`keras_nachos.inference.StagedRunner`), the
LiteRT export writes one file per stage (`keras_nachos.deploy`), and
quantisation-aware training cuts its tf_keras network into the same stages
(`keras_nachos.deploy.qat`). A `Stage` says where a stage starts and ends in
any graph and what its exported model's inputs and outputs are named; a
`StagePlan` holds the stages of a Keras model.
"""

import dataclasses

import keras

from keras_nachos.errors import invalid_value

# Names of an exported stage's tensors (the runtime addresses them by name:
# a converted model's tensor order is not the exit order).
IMAGE = "image"
FEATURES_IN = "features_in"
EXIT = "exit"
FEATURES = "features"


@dataclasses.dataclass(frozen=True)
class Stage:
    """Stage `index` (0-based) of an early-exit network of `num_stages` exits.

    Attributes:
        index: Integer, the stage's (and its exit's) 0-based index.
        num_stages: Integer, the number of stages (exits) of the network.
    """

    index: int
    num_stages: int

    @property
    def name(self):
        """`"stage_1"`, `"stage_2"`, ...: the stage model's name."""
        return f"stage_{self.index + 1}"

    @property
    def file_name(self):
        """The stage's LiteRT file in an export folder (`"stage_1.tflite"`)."""
        return f"{self.name}.tflite"

    @property
    def is_first(self):
        return self.index == 0

    @property
    def is_last(self):
        return self.index == self.num_stages - 1

    @property
    def input_name(self):
        """`"image"` (the network's input) for the first stage, else
        `"features_in"` (the previous stage's features)."""
        return IMAGE if self.is_first else FEATURES_IN

    @property
    def output_names(self):
        """`("exit", "features")`, or `("exit",)` for the last stage (whose
        features no stage reads)."""
        return (EXIT,) if self.is_last else (EXIT, FEATURES)

    def bounds(self, inputs, cuts, output):
        """The tensors the stage's backbone segment runs between, in a graph.

        Args:
            inputs: The network's input tensor.
            cuts: List of the tensors at the exit points (one per early
                exit).
            output: The backbone's output tensor (the last stage's end).

        Returns:
            `(start, end)`: `inputs` or the previous exit point's tensor, and
            this exit point's tensor or `output`.
        """
        bounds = [inputs] + list(cuts) + [output]
        return bounds[self.index], bounds[self.index + 1]


def stages(num_stages):
    """The `Stage`s of a network with `num_stages` exits, in order."""
    return tuple(Stage(i, num_stages) for i in range(num_stages))


def backbone_segments(inputs, cuts, output):
    """One functional model per stage: the backbone between its bounds.

    Args:
        inputs: The backbone's input tensor.
        cuts: List of the tensors at the exit points.
        output: The backbone's output tensor.

    Returns:
        A list of `keras.Model`s sharing the backbone's layers (and
        weights): stage `i`'s maps the features at exit point `i - 1` (the
        input) to those at exit point `i` (the backbone's output).
    """
    return [
        keras.Model(*stage.bounds(inputs, cuts, output))
        for stage in stages(len(cuts) + 1)
    ]


class StagePlan:
    """The stages of an early-exit model: backbone segments and exits.

    `model.stage_plan` is the plan of an `EarlyExitModel`. Running
    `segments[0]`, `exit_layers[0]`, `segments[1]`, ... one after another
    (each segment on the previous one's features) gives the model's exit
    outputs.

    Args:
        inputs: The model's input tensor.
        cuts: List of the tensors at the exit points (one per early exit).
        output: The backbone's output tensor.
        exit_layers: List of the layers after each stage (`len(cuts) + 1`):
            the exit heads, then the final head or softmax, or `None` where
            the stage's features are the exit's output.
        exit_outputs: List of the model's tensors of each exit's output
            (`len(cuts) + 1`), in exit order.

    Example:

    >>> inputs = keras.Input((8, 8, 1))
    >>> x = keras.layers.Conv2D(4, 3, name="block1")(inputs)
    >>> x = keras.layers.GlobalAveragePooling2D()(x)
    >>> outputs = keras.layers.Dense(3, activation="softmax")(x)
    >>> model = keras_nachos.EarlyExitModel.from_backbone(
    ...     keras.Model(inputs, outputs), ["block1"], 3)
    >>> [stage.name for stage in model.stage_plan.stages]
    ['stage_1', 'stage_2']
    """

    def __init__(self, inputs, cuts, output, exit_layers, exit_outputs):
        self.inputs = inputs
        self.cuts = list(cuts)
        self.output = output
        self.exit_layers = list(exit_layers)
        self.exit_outputs = list(exit_outputs)
        self.stages = stages(len(self.cuts) + 1)
        for argument, values in (
            ("exit_layers", self.exit_layers),
            ("exit_outputs", self.exit_outputs),
        ):
            if len(values) != len(self.stages):
                raise invalid_value(
                    argument,
                    f"one entry per stage ({len(self.stages)})",
                    values,
                )
        self._segments = None

    @property
    def segments(self):
        """The backbone segments (`backbone_segments`), built once."""
        if self._segments is None:
            self._segments = backbone_segments(
                self.inputs, self.cuts, self.output
            )
        return list(self._segments)

    def export_models(self):
        """One Keras model per stage, with named inputs and outputs.

        Stage `i`'s model takes `"image"` (the model's input, first stage)
        or `"features_in"` (the previous stage's features) and returns
        `{"exit": the exit's output, "features": the stage's features}`
        (the last stage only `"exit"`). They share the model's layers and
        weights.
        """
        models = []
        for stage, segment, exit_layer in zip(
            self.stages, self.segments, self.exit_layers
        ):
            spec = segment.inputs[0]
            inputs = keras.Input(
                tuple(spec.shape[1:]), dtype=spec.dtype, name=stage.input_name
            )
            features = segment(inputs)
            outputs = {
                EXIT: features if exit_layer is None else exit_layer(features)
            }
            if not stage.is_last:
                outputs[FEATURES] = features
            models.append(keras.Model(inputs, outputs, name=stage.name))
        return models
