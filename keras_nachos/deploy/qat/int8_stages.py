"""The QAT network cut into full-integer int8 stage files.

The tf_keras QAT network is cut by the model's `stage_plan` (inputs
`"image"` / `"features_in"`, outputs `"exit"` and `"features"`, as
`EarlyExitModel.export_early_exit` names them) and each stage is converted
to full-integer int8. A later stage starts with a fake-quantiser holding the
previous stage's int8 features' scale and zero point, so that the features
go from stage to stage unchanged.

Runs in the QAT worker process (tf_keras is imported inside the functions);
`float_ops` and `weight_sparsity` read any converted stage.
"""

import os
import re

import numpy as np

from keras_nachos.deploy.qat.job import StageReport
from keras_nachos.models import stages as stages_module

# Input index of the weights of the ops whose weights are measured.
_WEIGHTED_OPS = {"CONV_2D": 1, "FULLY_CONNECTED": 1, "DEPTHWISE_CONV_2D": 1}


class _FixedFakeQuant:
    """Factory of the tf_keras layer that fake-quantises a stage's input."""

    _cls = None

    @classmethod
    def get(cls):
        if cls._cls is None:
            import tensorflow as tf
            import tf_keras

            class FixedFakeQuant(tf_keras.layers.Layer):
                def __init__(self, minimum, maximum, **kwargs):
                    super().__init__(**kwargs)
                    self.minimum = float(minimum)
                    self.maximum = float(maximum)

                def call(self, inputs):
                    return tf.quantization.fake_quant_with_min_max_args(
                        inputs, self.minimum, self.maximum, num_bits=8,
                        narrow_range=False,
                    )

                def get_config(self):
                    return dict(super().get_config(), minimum=self.minimum,
                                maximum=self.maximum)

            cls._cls = FixedFakeQuant
        return cls._cls


def stage_model(qat, stage, input_spec=None):
    """The tf_keras model of a `Stage` of the QAT network.

    Args:
        qat: The QAT network (outputs: the exits, then the features at the
            exit points, as `tf_keras_rebuild.rebuild` orders them).
        stage: A `keras_nachos.models.stages.Stage`.
        input_spec: For a later stage, the `TensorSpec` of the previous
            stage's int8 features (their scale and zero point).
    """
    import tf_keras

    from keras_nachos.deploy.qat.tf_keras_rebuild import exits_and_cuts

    exits, cuts = exits_and_cuts(qat, stage.num_stages)
    start, features = stage.bounds(qat.inputs[0], cuts, None)
    ends = [exits[stage.index]] + ([] if stage.is_last else [features])
    segment = tf_keras.Model(start, ends, name=f"segment_{stage.index + 1}")
    inputs = tf_keras.Input(tuple(start.shape[1:]), name=stage.input_name)
    x = inputs
    if input_spec is not None:
        # The previous stage's int8 features: the same scale and zero point.
        scale, zero_point = input_spec.scale, input_spec.zero_point
        x = _FixedFakeQuant.get()(
            (-128 - zero_point) * scale, (127 - zero_point) * scale,
            name=f"{stages_module.FEATURES_IN}_quantize",
        )(x)
    outputs = segment(x)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    named = {
        name: tf_keras.layers.Identity(name=name)(output)
        for name, output in zip(stage.output_names, outputs)
    }
    return tf_keras.Model(inputs, named, name=stage.name)


def write_stages(qat, model, samples, folder):
    """Converts every stage of the QAT network to an int8 file in `folder`.

    Args:
        qat: The QAT network.
        model: The `EarlyExitModel` it was rebuilt from (its stage plan).
        samples: Array of inputs the stages' int8 ranges are calibrated on
            (each later stage's on the features the stages before it give).
        folder: Where the files go (named by the stage plan).

    Returns:
        A list of `StageReport`s, one per stage.
    """
    from keras_nachos.deploy.export import convert_stage
    from keras_nachos.deploy.export import tensor_specs

    reports = []
    input_spec = None
    for stage in model.stage_plan.stages:
        stage_net = stage_model(qat, stage, input_spec)
        flatbuffer = convert_stage(stage_net, "int8", samples)
        with open(os.path.join(folder, stage.file_name), "wb") as f:
            f.write(flatbuffer)
        reports.append(StageReport(
            file=stage.file_name, float_ops=float_ops(flatbuffer),
            weight_sparsity=weight_sparsity(flatbuffer),
        ))
        if not stage.is_last:
            _, outputs = tensor_specs(flatbuffer)
            input_spec = outputs[stages_module.FEATURES]
            samples = np.asarray(
                stage_net.predict(samples, verbose=0)[stages_module.FEATURES]
            )
    return reports


def _ops(interpreter):
    # The interpreter lists its ops only through this method (LiteRT has no
    # public one); used for the report, never for the export itself.
    return interpreter._get_ops_details()


def float_ops(flatbuffer):
    """Names of the ops of a converted stage that touch float32 tensors."""
    from keras_nachos.deploy.interpreters import make_interpreter

    interpreter = make_interpreter(model_content=flatbuffer)
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    found = []
    for op in _ops(interpreter):
        indices = [i for i in list(op["inputs"]) + list(op["outputs"]) if i >= 0]
        if any(np.dtype(details[i]["dtype"]) == np.float32 for i in indices):
            found.append(op["op_name"])
    return found


def weight_sparsity(flatbuffer):
    """Fraction of zeros of every conv / fully-connected weight tensor of a
    converted stage, by layer name (measured in the file: the weights the
    device gets; int8 weights are symmetric, their zero is 0.0)."""
    from keras_nachos.deploy.interpreters import make_interpreter

    interpreter = make_interpreter(model_content=flatbuffer)
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    sparsity = {}
    for op in _ops(interpreter):
        if op["op_name"] not in _WEIGHTED_OPS:
            continue
        index = op["inputs"][_WEIGHTED_OPS[op["op_name"]]]
        weights = interpreter.get_tensor(index)
        name = details[index]["name"]
        match = re.search(r"quant_([^/;]+)/", name)
        sparsity[match.group(1) if match else name] = float(
            np.mean(weights == 0)
        )
    return sparsity
