"""MACs read from `tf.compat.v1.profiler`: the reference count.

Traces the model at batch 1 with a fully static signature, freezes it (unless
freezing would change nothing counted: see `_graph_to_profile`) and sums
the FLOPs the profiler reports for the op types whose registered count is
exactly 2x MACs (`PROFILED_OP_TYPES`), halved. The op types the profiler cannot
count exactly are counted from the frozen graph's own shapes: `Einsum` (no
registered count), `Conv2DBackpropInput` (its registered count is wrong for
`"valid"` padding), `Conv3DBackpropInputV2` (no registered count),
`BatchMatMul*` with `adj_x=True` (the registered count reads the wrong
dimension), function calls left un-inlined by freezing (Keras compiles grouped
convolutions with XLA on CPU), whose bodies are counted recursively, and
dilated convolutions, which TF runs as SpaceToBatchND -> conv -> BatchToSpaceND
on a padded input: the padded positions are taken off. The profiler counts a
loop body once (recurrent layers): a warning says so.
"""

import contextlib
import io
import logging
import math
import warnings

import keras
import tensorflow as tf

# TensorFlow has no public API for these two: freezing a TF2 concrete
# function's variables into constants (`tf.compat.v1.graph_util` only freezes
# TF1 sessions) and rebuilding a graph from a library `FunctionDef` (the
# bodies of function calls that freezing leaves un-inlined).
from tensorflow.python.framework import function_def_to_graph
from tensorflow.python.framework.convert_to_constants import (
    convert_variables_to_constants_v2,
)

from keras_nachos.costs.layer_formulas import einsum_macs
from keras_nachos.costs.shapes import keras_tensors

# Op types whose `tf.compat.v1.profiler` FLOPs are exactly 2x MACs (checked
# on TF 2.21: their registered counts are output elements x reduction size x
# 2). `Conv2DBackpropInput` is left out on purpose: its registered count
# divides the *output* by the strides, which is exact only for "same" padding.
PROFILED_OP_TYPES = (
    "Conv2D",
    "Conv3D",
    "DepthwiseConv2dNative",
    "MatMul",
    "BatchMatMul",
    "BatchMatMulV2",
    "BatchMatMulV3",
)


def profiler_macs(model, inputs):
    """MACs of `model` fed with batch-1 KerasTensors `inputs`, by the profiler."""
    specs = keras.tree.map_structure(
        lambda x: tf.TensorSpec(x.shape, x.dtype), inputs
    )
    function = tf.function(lambda x: model(x, training=False))
    return _concrete_function_macs(function.get_concrete_function(specs))


def profile_call(operation, args, kwargs):
    """MACs of one call of `operation` alone, by the profiler, at batch 1."""
    flat = keras_tensors((args, kwargs))
    specs = [tf.TensorSpec(x.shape, x.dtype) for x in flat]

    def call(*tensors):
        values = {id(x): t for x, t in zip(flat, tensors)}

        def fill(v):
            return values[id(v)] if isinstance(v, keras.KerasTensor) else v

        call_args, call_kwargs = keras.tree.map_structure(fill, (args, kwargs))
        return operation(*call_args, **call_kwargs)

    return _concrete_function_macs(tf.function(call).get_concrete_function(*specs))


def _concrete_function_macs(concrete_function):
    graph = _graph_to_profile(concrete_function)
    library = {f.signature.name: f for f in graph.as_graph_def().library.function}
    return _graph_macs(graph, library)


# Ops after which the traced graph is frozen before profiling: function calls
# and control flow, which freezing inlines and lowers.
_FREEZE_OP_TYPES = frozenset({
    "PartitionedCall", "StatefulPartitionedCall", "While", "StatelessWhile",
    "If", "StatelessIf", "Case", "StatelessCase", "Enter",
})


def _graph_to_profile(concrete_function):
    """The traced graph itself where freezing would change nothing counted.

    That is, when every op has static output shapes and none is a function
    call or control flow: freezing then only turns variable reads into
    constants, and it costs most of the time on large models (ResNet50V2:
    about 15 of 20 seconds). Else the frozen graph (`_freeze`).
    """
    graph = concrete_function.graph
    for op in graph.get_operations():
        if op.type in _FREEZE_OP_TYPES or not all(
            x.shape.is_fully_defined() for x in op.outputs
        ):
            return _freeze(concrete_function)
    return graph


def _freeze(concrete_function):
    """Freezes a concrete function, keeping every static shape it had."""
    frozen = convert_variables_to_constants_v2(concrete_function).graph
    unknown = {
        op.name
        for op in frozen.get_operations()
        if not all(x.shape.is_fully_defined() for x in op.outputs)
    }
    original = {op.name: op for op in concrete_function.graph.get_operations()}
    known = {
        name
        for name in unknown
        if name in original
        and all(x.shape.is_fully_defined() for x in original[name].outputs)
    }
    if not known:
        return frozen
    # Freezing re-imports the graph and loses the output shapes of function
    # calls left un-inlined (Keras runs grouped convolutions through an XLA
    # function on CPU), and with them every shape downstream. Re-import with
    # the traced shapes pinned as `_output_shapes`, which the importer uses.
    graph_def = frozen.as_graph_def()
    for node in graph_def.node:
        if node.name in known:
            shapes = node.attr["_output_shapes"].list.shape
            del shapes[:]
            shapes.extend(x.shape.as_proto() for x in original[node.name].outputs)
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    return graph


@contextlib.contextmanager
def _quiet():
    """Silences the profiler's stdout/stderr and its deprecation warnings."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            with contextlib.redirect_stderr(io.StringIO()):
                yield
    finally:
        logger.setLevel(level)


def _profiler_flops(graph):
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = (
        builder(builder.float_operation())
        .with_accounted_types([f"^{t}$" for t in PROFILED_OP_TYPES])
        .with_empty_output()
        .build()
    )
    with _quiet():
        profile = tf.compat.v1.profiler.profile(graph, cmd="scope", options=options)
    return profile.total_float_ops


def _graph_macs(graph, library):
    """MACs of a frozen graph: profiler FLOPs / 2 plus exact supplements."""
    macs = _profiler_flops(graph) // 2
    unshaped, loop = [], False
    for op in graph.get_operations():
        if op.type in PROFILED_OP_TYPES and not all(
            x.shape.is_fully_defined() for x in list(op.inputs) + op.outputs
        ):
            unshaped.append(op.name)
        loop = loop or op.type in ("Enter", "While", "StatelessWhile")
        macs += _unprofiled_macs(op, library)
    if unshaped or loop:
        warnings.warn(
            "The profiler undercounts this graph: it counts a loop body (e.g. "
            "of a recurrent layer) once, and cannot count ops without static "
            f"shapes ({len(unshaped)} here, e.g. {unshaped[:2]}).",
            stacklevel=2,
        )
    return macs


def _static(tensor):
    return tuple(int(d) for d in tensor.shape.as_list())


def _unprofiled_macs(op, library):
    """MACs of one graph op that the profiler misses or miscounts."""
    if op.type == "Einsum":
        equation = op.get_attr("equation").decode()
        return einsum_macs(equation, *(_static(x) for x in op.inputs))
    if op.type in ("Conv2DBackpropInput", "Conv3DBackpropInputV2"):
        # Every input element meets every kernel tap of every filter.
        kernel = _static(op.inputs[1])
        return math.prod(_static(op.inputs[2])) * math.prod(kernel[:-1])
    if op.type.startswith("BatchMatMul") and op.get_attr("adj_x"):
        # The profiler reads the reduction size from a's last dimension.
        a = _static(op.inputs[0])
        return math.prod(_static(op.outputs[0])) * (a[-2] - a[-1])
    if op.type in ("Conv2D", "Conv3D", "DepthwiseConv2dNative"):
        return _space_to_batch_correction(op)
    if op.type in ("PartitionedCall", "StatefulPartitionedCall"):
        fdef = library.get(op.get_attr("f").name)
        if fdef is None:
            return 0
        body = function_def_to_graph.function_def_to_graph(
            fdef, input_shapes=[x.shape for x in op.inputs]
        )
        return _graph_macs(body, library)
    return 0


def _space_to_batch_correction(op):
    """Removes the padded positions of a dilated conv run as space-to-batch.

    TF runs a dilated convolution as SpaceToBatchND -> conv -> BatchToSpaceND,
    padding the input to a multiple of the dilation rate; the profiler then
    counts the conv on the padded blocks. The true count has one output
    position per element that BatchToSpaceND keeps.
    """
    consumer, output = op, op.outputs[0]
    while True:
        consumers = output.consumers()
        if len(consumers) != 1:
            return 0
        consumer = consumers[0]
        if consumer.type == "BatchToSpaceND":
            break
        if consumer.type not in ("Squeeze", "Identity"):
            return 0
        output = consumer.outputs[0]
    kernel = _static(op.inputs[1])
    # Profiler's MACs per output element: every kernel tap (and, except for
    # depthwise, every input channel).
    depthwise = op.type == "DepthwiseConv2dNative"
    per_output = math.prod(kernel[:2] if depthwise else kernel[:-1])
    kept = math.prod(_static(consumer.outputs[0]))
    computed = math.prod(_static(op.outputs[0]))
    return per_output * (kept - computed)
