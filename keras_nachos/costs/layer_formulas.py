"""MAC formulas per layer type: the built-in table and user registrations.

The table maps a layer class (or a non-layer `keras.ops` operation found in a
functional graph, by class name) to `fn(layer, input_shapes, output_shapes)
-> int`: convolutions, dense, einsum, attention and recurrent layers. Layers
that only add "extras" (batch norm, activations, pooling, merging, reshaping,
dropout, preprocessing) cost 0 MACs by convention (`is_extra`). Functions
registered with `register_mac_counter` win over the table (and over walking a
nested model's graph).
"""

import collections
import inspect
import math

import keras

from keras_nachos.errors import invalid_type

_USER_COUNTERS = {}
_BUILTIN_COUNTERS = {}


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


def user_counter(operation):
    """The function registered for `operation`'s class (or a base), or None."""
    return _lookup(_USER_COUNTERS, operation)


def _lookup(table, operation):
    for cls in type(operation).__mro__:
        if cls in table:
            return table[cls]
    return None


def builtin_macs(operation, in_shapes, out_shapes):
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
        macs = builtin_macs(direction, input_shapes[:1], output_shapes[:1])
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
        return 0 if is_extra(layer.layer) else None
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


def is_extra(operation):
    if isinstance(operation, _EXTRA_LAYERS):
        return True
    # Elementwise and shape `keras.ops` (e.g. the `x + 3` of a hard sigmoid).
    return (
        _is_keras_op(operation)
        and type(operation).__name__ not in _KERAS_OPS_WITH_MACS
    )


def _is_keras_op(operation):
    """Whether `operation` is a `keras.ops` function called on KerasTensors."""
    # Keras exports no base class for the `Operation`s that `keras.ops`
    # functions add to a functional graph (`keras.Operation` is also the
    # base of every layer); their classes are defined in `keras.src.ops`,
    # so the module name is the one public-enough mark they carry.
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
