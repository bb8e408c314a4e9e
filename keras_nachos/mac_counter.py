"""Exact multiply-accumulate (MAC) counting for Keras 3 models.

Two ways to count the MACs of one forward pass of one sample (batch 1):

- `"analytic"` (default): walks the model's own functional graph and applies
  a table from layer type to a small counting function (convolutions, dense,
  einsum, attention, recurrent layers). Layers that only add "extras" (batch
  norm, activations, pooling, merging, reshaping, dropout, preprocessing)
  count 0 and are listed apart. A layer that nothing in the table knows is
  counted by the profiler on its own, with a warning.
- `"profiler"`: the reference. Traces the model at batch 1 with a fully static
  signature, freezes it and sums the FLOPs `tf.compat.v1.profiler` reports
  for the op types whose registered count is exactly 2x MACs (`Conv2D`,
  `Conv3D`, `DepthwiseConv2dNative`, `MatMul`, `BatchMatMul{,V2,V3}`), halved.
  The op types the profiler cannot count exactly are counted from the frozen
  graph's own shapes: `Einsum` (no registered count), `Conv2DBackpropInput`
  (its registered count is wrong for `"valid"` padding),
  `Conv3DBackpropInputV2` (no registered count), `BatchMatMul*` with
  `adj_x=True` (the registered count reads the wrong dimension), function
  calls left un-inlined by freezing (Keras compiles grouped convolutions with
  XLA on CPU), whose bodies are counted recursively, and dilated convolutions,
  which TF runs as SpaceToBatchND -> conv -> BatchToSpaceND on a padded input:
  the padded positions are taken off. The profiler counts a loop body once
  (recurrent layers): a warning says so.

MACs are multiply-accumulates of convolutions, dense layers and matmuls only;
bias adds, batch norm, activations and pooling never enter the count.
"""

import collections
import contextlib
import dataclasses
import inspect
import io
import logging
import math
import warnings

import keras
import tensorflow as tf
from tensorflow.python.framework import function_def_to_graph
from tensorflow.python.framework.convert_to_constants import (
    convert_variables_to_constants_v2,
)

from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value

METHODS = ("analytic", "profiler")

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

_USER_COUNTERS = {}
_BUILTIN_COUNTERS = {}


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


@dataclasses.dataclass
class MacReport:
    """MACs of one forward pass of one sample, layer by layer.

    Attributes:
        total: Integer, the MACs of the whole model (sum of `per_layer`).
        per_layer: Ordered dict from layer path (`"block1/conv"` inside a
            nested model `block1`) to the layer's MACs, in graph order. A
            layer called several times holds the sum over its calls. Extras
            are listed with 0.
        extras: List of the paths that cost 0 MACs by convention (batch norm,
            activations, pooling, merging, reshaping, dropout, preprocessing
            and elementwise `keras.ops`).
        fallback: List of the paths that no table entry knows, counted by the
            profiler on their own.
        classes: Dict from layer path to the layer's class name.
        calls: Dict from layer path to how many times the graph calls it.
    """

    total: int = 0
    per_layer: collections.OrderedDict = dataclasses.field(
        default_factory=collections.OrderedDict
    )
    extras: list = dataclasses.field(default_factory=list)
    fallback: list = dataclasses.field(default_factory=list)
    classes: dict = dataclasses.field(default_factory=dict, repr=False)
    calls: dict = dataclasses.field(default_factory=dict, repr=False)

    def _add(self, path, layer, macs, kind=None):
        macs = int(macs)
        self.per_layer[path] = self.per_layer.get(path, 0) + macs
        self.calls[path] = self.calls.get(path, 0) + 1
        self.classes[path] = type(layer).__name__
        self.total += macs
        if kind == "extra" and path not in self.extras:
            self.extras.append(path)
        if kind == "fallback" and path not in self.fallback:
            self.fallback.append(path)

    def summary(self):
        """Returns the report as a text table, one row per layer path."""
        rows = []
        for path, macs in self.per_layer.items():
            note = []
            if path in self.extras:
                note.append("extra")
            if path in self.fallback:
                note.append("profiler fallback")
            if self.calls.get(path, 1) > 1:
                note.append(f"{self.calls[path]} calls")
            cells = (path, self.classes.get(path, ""), f"{macs:,}", ", ".join(note))
            rows.append(cells)
        header = ("Layer", "Class", "MACs", "Note")
        widths = [max(len(r[i]) for r in [header] + rows) for i in range(4)]

        def line(cells):
            return "  ".join(
                c.rjust(w) if i == 2 else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths))
            ).rstrip()

        rule = "-" * len(line(tuple("-" * w for w in widths)))
        out = ["MACs of one forward pass, batch 1", rule, line(header), rule]
        out += [line(r) for r in rows]
        out += [
            rule,
            f"Total MACs: {self.total:,}",
            f"Extras (0 MACs): {len(self.extras)}   "
            f"Profiler fallback: {len(self.fallback)}",
        ]
        return "\n".join(out)

    def __str__(self):
        return self.summary()


def count_macs(model, method="analytic"):
    """Counts the MACs of one forward pass of one sample of a Keras model.

    Args:
        model: A built `keras.Model`: Functional, Sequential (built, e.g. with
            an `Input` or `build()`), a Functional subclass, a model with
            nested models, or a subclassed model (counted by the profiler).
            All input dimensions except the batch one must be static.
        method: String, `"analytic"` (walks the graph with a table of layer
            formulas, see `mac_report`) or `"profiler"` (traces and freezes
            the model at batch 1 and reads `tf.compat.v1.profiler`'s FLOPs of
            matmul and convolution ops, halved). Defaults to `"analytic"`.

    Returns:
        Integer, multiply-accumulates of one sample (batch 1).

    Example:

    >>> inputs = keras.Input((8, 8, 3))
    >>> x = keras.layers.Conv2D(4, 3)(inputs)
    >>> model = keras.Model(inputs, keras.layers.ReLU()(x))
    >>> count_macs(model) == 6 * 6 * 4 * 3 * 3 * 3
    True
    """
    if method not in METHODS:
        raise invalid_value("method", f"one of {METHODS}", method)
    _check_model(model)
    if method == "profiler":
        return _profiler_macs(model)
    return mac_report(model).total


def mac_report(model):
    """Counts a model's MACs layer by layer with the analytic method.

    The model's own graph is walked node by node (a sub-model cut from a
    bigger model's intermediate tensors counts only its own layers); nested
    Functional/Sequential models are walked recursively with their name as
    path prefix; a layer called several times is counted once per call.

    Args:
        model: A built `keras.Model` (see `count_macs`).

    Returns:
        A `MacReport` with `.total`, `.per_layer`, `.extras`, `.fallback` and
        `.summary()`.

    Example:

    >>> inputs = keras.Input((5, 8))
    >>> x = keras.layers.Dense(4, name="proj")(inputs)
    >>> report = mac_report(keras.Model(inputs, keras.layers.ReLU(name="act")(x)))
    >>> report.per_layer["proj"] == 5 * 8 * 4, report.extras
    (True, ['act'])
    """
    _check_model(model)
    report = MacReport()
    graph = _graph_of(model)
    if graph is None:
        inputs = _batch_one_inputs(model)
        _count_fallback(model, (inputs,), {}, model.name, report)
    else:
        _check_static(model, graph._inputs)
        inputs = [_batch_one(x) for x in graph._inputs]
        _walk(graph, inputs, "", report)
    return report


def register_mac_counter(layer_class, fn=None):
    """Registers how to count the MACs of a layer class (and its subclasses).

    A registered function takes precedence over the built-in table (and over
    walking a nested model's graph) for `layer_class` and its subclasses.

    Args:
        layer_class: A `keras.layers.Layer` (or `keras.Operation`) subclass.
        fn: Callable `fn(layer, input_shapes, output_shapes) -> int`, called
            once per call of the layer in the graph. `input_shapes` is a list
            of shape tuples, one per tensor argument of the call, in the
            order of the layer's `call` signature (nested arguments such as a
            list of inputs are flattened in place); `output_shapes` is a list
            of shape tuples, one per output tensor. All shapes include the
            batch dimension, set to 1, and are fully static. If omitted,
            returns a decorator.

    Returns:
        `fn` (so that the function can be used as a decorator), or the
        decorator when `fn` is omitted.

    Example:

    >>> class Scale(keras.layers.Layer):
    ...     def call(self, x):
    ...         return x * 2.0
    >>> @register_mac_counter(Scale)
    ... def _scale_macs(layer, input_shapes, output_shapes):
    ...     return math.prod(output_shapes[0])
    >>> inputs = keras.Input((3, 4))
    >>> count_macs(keras.Model(inputs, Scale()(inputs)))
    12
    """
    is_class = inspect.isclass(layer_class)
    if not (is_class and issubclass(layer_class, keras.Operation)):
        raise invalid_type(
            "layer_class", "a subclass of `keras.layers.Layer`", layer_class
        )
    if fn is None:
        return lambda f: register_mac_counter(layer_class, f)
    if not callable(fn):
        raise invalid_type(
            "fn", "a callable `fn(layer, input_shapes, output_shapes)`", fn
        )
    _USER_COUNTERS[layer_class] = fn
    return fn


# --------------------------------------------------------------------------
# Graph walk
# --------------------------------------------------------------------------


def _check_model(model):
    if not isinstance(model, keras.Model):
        raise invalid_type("model", "a built `keras.Model`", model)
    if not model.built:
        raise invalid_value(
            "model",
            "a built model (give it an `Input`, call `build()` or call it on data)",
            model,
        )


def _graph_of(operation):
    """Returns the functional graph of a model, or None if it has none."""
    # Keras 3 internals: a Functional model (`keras.src.ops.function.Function`)
    # keeps its own graph in `_nodes_by_depth`; a built Sequential model keeps
    # one in `_functional`.
    if hasattr(operation, "_nodes_by_depth"):
        return operation
    functional = getattr(operation, "_functional", None)
    if functional is not None and hasattr(functional, "_nodes_by_depth"):
        return functional
    return None


def _batch_one(x):
    shape = tuple(x.shape)
    if shape:
        shape = (1,) + shape[1:]
    return keras.KerasTensor(shape, dtype=x.dtype)


def _check_static(model, tensors):
    shapes = [tuple(x.shape) for x in tensors]
    if any(None in shape[1:] for shape in shapes):
        raise invalid_value(
            "model",
            "a model whose input shapes are static apart from the batch "
            f"dimension (rebuild it with a fixed input shape); input shapes: "
            f"{shapes}",
            model.name,
        )


def _batch_one_inputs(model):
    """KerasTensors at batch 1 in the structure the model is called with."""
    graph = _graph_of(model)
    if graph is not None:
        _check_static(model, graph._inputs)
        return keras.tree.map_structure(_batch_one, graph._inputs_struct)
    shapes = getattr(model, "_build_shapes_dict", None)
    if not shapes or len(shapes) != 1:
        raise invalid_value(
            "model",
            "a model built with a single input argument (call `build()` or "
            "call it on data first)",
            model.name,
        )
    shape = next(iter(shapes.values()))
    dtype = getattr(model, "input_dtype", None) or "float32"
    inputs = keras.tree.map_shape_structure(
        lambda s: keras.KerasTensor((1,) + tuple(s)[1:], dtype=dtype), shape
    )
    _check_static(model, keras.tree.flatten(inputs))
    return inputs


def _walk(graph, inputs, prefix, report):
    """Counts every node of `graph`, fed with `inputs`; returns its outputs."""
    # Mirrors `Function._run_through_graph`: deepest nodes first, every node
    # of the model's own graph once, whatever other graphs its layers are in.
    tensors = {id(ref): x for ref, x in zip(graph._inputs, inputs)}
    nodes_by_depth = graph._nodes_by_depth
    for depth in sorted(nodes_by_depth, reverse=True):
        for node in nodes_by_depth[depth]:
            if node.operation is None or node.is_input:
                continue
            if any(id(x) not in tensors for x in node.input_tensors):
                continue
            args, kwargs = node.arguments.fill_in(tensors)
            outputs = _count_call(node, args, kwargs, prefix, report)
            for ref, out in zip(node.outputs, outputs):
                tensors[id(ref)] = out
    return [tensors[id(x)] for x in graph._outputs]


def _call_tensors(operation, args, kwargs):
    """The KerasTensors of a call, in the order of the `call` signature."""
    try:
        bound = inspect.signature(operation.call).bind(*args, **kwargs)
        values = list(bound.arguments.values())
    except (TypeError, ValueError):
        values = [args, kwargs]
    return _keras_tensors(values)


def _keras_tensors(structure):
    """The KerasTensors of a nested structure, flattened in order."""
    return [
        x
        for x in keras.tree.flatten(structure)
        if isinstance(x, keras.KerasTensor)
    ]


def _output_tensors(node, operation, args, kwargs):
    """Output KerasTensors (batch 1) of one call, reusing the graph's shapes."""
    refs = node.input_tensors
    inputs = _keras_tensors((args, kwargs))  # Same order as `refs`.
    same = len(refs) == len(inputs) and all(
        tuple(r.shape)[1:] == tuple(x.shape)[1:]
        and None not in tuple(r.shape)[1:]
        for r, x in zip(refs, inputs)
    )
    if same and all(None not in tuple(y.shape)[1:] for y in node.outputs):
        return [_batch_one(y) for y in node.outputs]
    # Shapes differ from the ones the graph was built with (e.g. a nested
    # model built with None spatial dims), or the graph's are not static:
    # propagate them.
    outputs = keras.tree.flatten(operation.compute_output_spec(*args, **kwargs))
    if any(None in tuple(y.shape) for y in outputs):
        # Some `compute_output_shape`s leave static dims as None (e.g.
        # EinsumDense with `output_shape=(None, 6)`): trace `call` instead.
        outputs = keras.tree.flatten(
            keras.Operation.compute_output_spec(operation, *args, **kwargs)
        )
    return outputs


def _count_call(node, args, kwargs, prefix, report):
    operation = node.operation
    path = prefix + operation.name
    user_fn = _lookup(_USER_COUNTERS, operation)
    graph = _graph_of(operation)
    if user_fn is None and graph is not None:
        inputs = _model_inputs(operation, args, kwargs)
        return _walk(graph, inputs, path + "/", report)

    outputs = _output_tensors(node, operation, args, kwargs)
    in_shapes = [tuple(x.shape) for x in _call_tensors(operation, args, kwargs)]
    out_shapes = [tuple(y.shape) for y in outputs]
    if user_fn is not None:
        report._add(path, operation, user_fn(operation, in_shapes, out_shapes))
        return outputs
    macs = _builtin_macs(operation, in_shapes, out_shapes)
    if macs is not None:
        report._add(path, operation, macs)
    elif _is_extra(operation):
        report._add(path, operation, 0, kind="extra")
    else:
        _count_fallback(operation, args, kwargs, path, report)
    return outputs


def _model_inputs(model, args, kwargs):
    try:
        bound = inspect.signature(model.call).bind(*args, **kwargs)
        inputs = bound.arguments.get("inputs", args)
    except TypeError:
        inputs = args
    return _keras_tensors(inputs)


def _count_fallback(operation, args, kwargs, path, report):
    warnings.warn(
        f"No MAC formula for layer '{path}' of class "
        f"{type(operation).__name__}: counting it with tf.profiler. "
        "Register one with `keras_nachos.register_mac_counter`.",
        stacklevel=2,
    )
    macs = _profile_call(operation, args, kwargs)
    report._add(path, operation, macs, kind="fallback")


def _lookup(table, operation):
    for cls in type(operation).__mro__:
        if cls in table:
            return table[cls]
    return None


def _builtin_macs(operation, in_shapes, out_shapes):
    """MACs from the built-in table, or None if no entry knows the layer."""
    fn = _lookup(_BUILTIN_COUNTERS, operation)
    if fn is None and _is_keras_op(operation):
        fn = _KERAS_OP_COUNTERS.get(type(operation).__name__)
    if fn is None:
        return None
    return fn(operation, in_shapes, out_shapes)


# --------------------------------------------------------------------------
# Analytic table
# --------------------------------------------------------------------------


def _builtin(*class_names):
    """Registers a built-in counter for the `keras.layers` classes named."""

    def decorator(fn):
        for name in class_names:
            cls = getattr(keras.layers, name, None)
            if cls is not None:
                _BUILTIN_COUNTERS[cls] = fn
        return fn

    return decorator


def _channels_last(layer):
    return getattr(layer, "data_format", "channels_last") != "channels_first"


def _spatial(shape, layer):
    return shape[1:-1] if _channels_last(layer) else shape[2:]


def _channels(shape, layer):
    return shape[-1] if _channels_last(layer) else shape[1]


@_builtin("Conv1D", "Conv2D", "Conv3D")
def _conv_macs(layer, input_shapes, output_shapes):
    x, y = input_shapes[0], output_shapes[0]
    return (
        math.prod(_spatial(y, layer))
        * layer.filters
        * math.prod(layer.kernel_size)
        * _channels(x, layer)
        // layer.groups
    )


@_builtin("DepthwiseConv1D", "DepthwiseConv2D")
def _depthwise_macs(layer, input_shapes, output_shapes):
    x, y = input_shapes[0], output_shapes[0]
    return (
        math.prod(_spatial(y, layer))
        * _channels(x, layer)
        * layer.depth_multiplier
        * math.prod(layer.kernel_size)
    )


@_builtin("SeparableConv1D", "SeparableConv2D")
def _separable_macs(layer, input_shapes, output_shapes):
    x, y = input_shapes[0], output_shapes[0]
    positions = math.prod(_spatial(y, layer))
    depthwise_channels = _channels(x, layer) * layer.depth_multiplier
    depthwise = positions * depthwise_channels * math.prod(layer.kernel_size)
    pointwise = positions * depthwise_channels * layer.filters
    return depthwise + pointwise


@_builtin("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
def _conv_transpose_macs(layer, input_shapes, output_shapes):
    x = input_shapes[0]
    return (
        math.prod(_spatial(x, layer))
        * _channels(x, layer)
        * math.prod(layer.kernel_size)
        * layer.filters
    )


@_builtin("Dense")
def _dense_macs(layer, input_shapes, output_shapes):
    x, y = input_shapes[0], output_shapes[0]
    return math.prod(y[1:-1]) * x[-1] * layer.units


@_builtin("EinsumDense")
def _einsum_dense_macs(layer, input_shapes, output_shapes):
    return einsum_macs(layer.equation, input_shapes[0], tuple(layer.kernel.shape))


@_builtin("MultiHeadAttention")
def _multi_head_attention_macs(layer, input_shapes, output_shapes):
    # `call(query, value, key=None, ...)`: query and value always come first.
    query, value = input_shapes[0], input_shapes[1]
    key_features = layer._key_dense.kernel.shape[0]
    key = tuple(value[:-1]) + (key_features,)

    def project(dense, shape):
        return _einsum(dense.equation, shape, tuple(dense.kernel.shape))

    q_macs, q = project(layer._query_dense, query)
    k_macs, k = project(layer._key_dense, key)
    v_macs, v = project(layer._value_dense, value)
    score_macs, scores = _einsum(layer._dot_product_equation, k, q)
    combine_macs, context = _einsum(layer._combine_equation, scores, v)
    out_macs, _ = project(layer._output_dense, context)
    total = q_macs + k_macs + v_macs + score_macs + combine_macs + out_macs
    if getattr(layer, "_use_gate", False):
        total += project(layer._gate_dense, query)[0]
    return total


@_builtin("Attention", "AdditiveAttention")
def _attention_macs(layer, input_shapes, output_shapes):
    # `call(inputs=[query, value, key])`; "concat" scores are elementwise.
    query, value = input_shapes[0], input_shapes[1]
    pairs = math.prod(query[:-1]) * value[-2]
    macs = pairs * value[-1]
    if layer.score_mode == "dot":
        macs += pairs * query[-1]
    return macs


@_builtin("Dot")
def _dot_macs(layer, input_shapes, output_shapes):
    x = input_shapes[0]
    axis = layer.axes[0] if isinstance(layer.axes, (list, tuple)) else layer.axes
    return math.prod(output_shapes[0][1:]) * x[axis]


def _recurrent(gates):
    def count(layer, input_shapes, output_shapes):
        x = input_shapes[0]
        timesteps, features = x[1], x[-1]
        return timesteps * gates * layer.units * (features + layer.units)

    return count


_builtin("SimpleRNN")(_recurrent(1))
_builtin("GRU")(_recurrent(3))
_builtin("LSTM")(_recurrent(4))


@_builtin("Bidirectional")
def _bidirectional_macs(layer, input_shapes, output_shapes):
    total = 0
    for direction in (layer.forward_layer, layer.backward_layer):
        macs = _builtin_macs(direction, input_shapes[:1], output_shapes[:1])
        if macs is None:
            return None
        total += macs
    return total


@_builtin("TimeDistributed")
def _time_distributed_macs(layer, input_shapes, output_shapes):
    x, y = input_shapes[0], output_shapes[0]
    step_in, step_out = (1,) + tuple(x[2:]), (1,) + tuple(y[2:])
    fn = _lookup(_USER_COUNTERS, layer.layer) or _lookup(
        _BUILTIN_COUNTERS, layer.layer
    )
    if fn is None:
        return 0 if _is_extra(layer.layer) else None
    macs = fn(layer.layer, [step_in], [step_out])
    return None if macs is None else x[1] * macs


def _matmul_op_macs(operation, input_shapes, output_shapes):
    a = input_shapes[0]
    return math.prod(output_shapes[0]) * a[-1]


def _einsum_op_macs(operation, input_shapes, output_shapes):
    return einsum_macs(operation.subscripts, *input_shapes)


# Non-layer `keras.ops` operations found in functional graphs, by class name.
_KERAS_OP_COUNTERS = {"Matmul": _matmul_op_macs, "Einsum": _einsum_op_macs}
# `keras.ops` operations with MACs but no formula here: profiler fallback.
_KERAS_OPS_WITH_MACS = {
    "Conv",
    "ConvTranspose",
    "DepthwiseConv",
    "SeparableConv",
    "Tensordot",
    "Dot",
    "Vdot",
    "Inner",
    "Outer",
    "Kron",
    "DotProductAttention",
    "Stft",
    "Istft",
}

_EXTRA_LAYER_NAMES = (
    # Activations.
    "Activation", "ELU", "LeakyReLU", "PReLU", "ReLU", "Softmax",
    # Normalization.
    "BatchNormalization", "LayerNormalization", "GroupNormalization",
    "UnitNormalization", "RMSNormalization",
    # Pooling.
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D",
    "AdaptiveAveragePooling3D", "AdaptiveMaxPooling1D",
    "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D",
    # Merging.
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
    "Concatenate",
    # Reshaping.
    "Reshape", "Flatten", "Permute", "RepeatVector",
    "Cropping1D", "Cropping2D", "Cropping3D",
    "UpSampling1D", "UpSampling2D", "UpSampling3D",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
    # Regularization (identity at inference).
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "AlphaDropout", "GaussianDropout", "GaussianNoise", "ActivityRegularization",
    # Core layers without MACs.
    "Identity", "Masking", "Embedding",
    # Preprocessing.
    "Rescaling", "Normalization", "Resizing", "CenterCrop", "Discretization",
    "CategoryEncoding", "Hashing", "HashedCrossing", "StringLookup",
    "IntegerLookup", "TextVectorization", "AugMix", "AutoContrast", "CutMix",
    "Equalization", "MixUp", "RandAugment", "Solarization",
    "MaxNumBoundingBoxes",
)
_EXTRA_LAYERS = tuple(
    getattr(keras.layers, name)
    for name in _EXTRA_LAYER_NAMES
    + tuple(n for n in dir(keras.layers) if n.startswith("Random"))
    if inspect.isclass(getattr(keras.layers, name, None))
)


def _is_extra(operation):
    if isinstance(operation, _EXTRA_LAYERS):
        return True
    # Elementwise and shape `keras.ops` (e.g. the `x + 3` of a hard sigmoid).
    return (
        _is_keras_op(operation)
        and type(operation).__name__ not in _KERAS_OPS_WITH_MACS
    )


def _is_keras_op(operation):
    """Whether `operation` is a `keras.ops` function called on KerasTensors."""
    return not isinstance(operation, keras.layers.Layer) and type(
        operation
    ).__module__.startswith("keras.src.ops")


def _einsum_indices(spec, rank):
    if "..." not in spec:
        return list(spec)
    head, tail = spec.split("...")
    n = rank - len(head) - len(tail)
    # Ellipsis dimensions broadcast from the right: name them from the end.
    return list(head) + [f"...{n - 1 - i}" for i in range(n)] + list(tail)


def _einsum(equation, *shapes):
    """MACs and output shape of an einsum (product of all index sizes)."""
    equation = equation.replace(" ", "")
    lhs, _, rhs = equation.partition("->")
    operands = lhs.split(",")
    sizes = {}
    for spec, shape in zip(operands, shapes):
        for index, dim in zip(_einsum_indices(spec, len(shape)), shape):
            sizes[index] = max(sizes.get(index, 1), int(dim))
    if "->" not in equation:  # Implicit mode: indices seen once, sorted.
        letters = collections.Counter(c for c in lhs if c.isalpha())
        rhs = "..." * ("..." in lhs) + "".join(
            sorted(c for c, n in letters.items() if n == 1)
        )
    ellipsis_rank = sum(1 for index in sizes if index.startswith("..."))
    out_rank = len(rhs.replace("...", "")) + ellipsis_rank * ("..." in rhs)
    out_shape = tuple(sizes[i] for i in _einsum_indices(rhs, out_rank))
    macs = math.prod(sizes.values()) if len(operands) > 1 else 0
    return macs, out_shape


def einsum_macs(equation, *shapes):
    """Counts the MACs of an einsum of two (or more) operands.

    The count is the product of the sizes of all distinct indices (an
    ellipsis stands for the broadcast dimensions); a single-operand einsum
    (transpose, trace, sum) costs 0.

    Args:
        equation: String, an einsum equation such as `"abc,cd->abd"`.
        *shapes: Static shape tuples of the operands, batch included.

    Returns:
        Integer, multiply-accumulates.

    Example:

    >>> einsum_macs("abc,cd->abd", (1, 5, 4), (4, 6)) == 5 * 4 * 6
    True
    """
    return _einsum(equation, *shapes)[0]


# --------------------------------------------------------------------------
# Profiler
# --------------------------------------------------------------------------


def _profiler_macs(model):
    inputs = _batch_one_inputs(model)
    specs = keras.tree.map_structure(
        lambda x: tf.TensorSpec(x.shape, x.dtype), inputs
    )
    function = tf.function(lambda x: model(x, training=False))
    return _concrete_function_macs(function.get_concrete_function(specs))


def _profile_call(operation, args, kwargs):
    """MACs of one call of `operation` alone, by the profiler, at batch 1."""
    flat = _keras_tensors((args, kwargs))
    specs = [tf.TensorSpec(x.shape, x.dtype) for x in flat]

    def call(*tensors):
        values = {id(x): t for x, t in zip(flat, tensors)}

        def fill(v):
            return values[id(v)] if isinstance(v, keras.KerasTensor) else v

        call_args, call_kwargs = keras.tree.map_structure(fill, (args, kwargs))
        return operation(*call_args, **call_kwargs)

    return _concrete_function_macs(tf.function(call).get_concrete_function(*specs))


def _concrete_function_macs(concrete_function):
    graph = _freeze(concrete_function)
    library = {f.signature.name: f for f in graph.as_graph_def().library.function}
    return _graph_macs(graph, library)


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
