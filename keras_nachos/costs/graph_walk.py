"""The analytic MAC count: a walk over a model's own functional graph.

Every node of the model's graph is counted once per call with the formula
table of `layer_formulas` (nested Functional/Sequential models are walked
recursively, with their name as path prefix). A layer no table entry knows is
counted by the profiler on its own, with a warning.
"""

import inspect
import warnings

import keras

from keras_nachos.costs import layer_formulas
from keras_nachos.costs import profiler
from keras_nachos.costs.mac_report import MacReport
from keras_nachos.costs.shapes import batch_one
from keras_nachos.costs.shapes import batch_one_inputs
from keras_nachos.costs.shapes import check_model
from keras_nachos.costs.shapes import check_static
from keras_nachos.costs.shapes import keras_tensors
from keras_nachos.functional_graph import graph_of
from keras_nachos.functional_graph import nodes


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
    check_model(model)
    report = MacReport()
    graph = graph_of(model)
    if graph is None:
        inputs = batch_one_inputs(model)
        _count_fallback(model, (inputs,), {}, model.name, report)
    else:
        check_static(model, graph.inputs)
        inputs = [batch_one(x) for x in graph.inputs]
        _walk(graph, inputs, "", report)
    return report


def _walk(graph, inputs, prefix, report):
    """Counts every node of `graph`, fed with `inputs`; returns its outputs."""
    # Mirrors `Function._run_through_graph`: deepest nodes first, every node
    # of the model's own graph once, whatever other graphs its layers are in.
    tensors = {id(ref): x for ref, x in zip(graph.inputs, inputs)}
    for node in nodes(graph):
        if node.operation is None or node.is_input:
            continue
        if any(id(x) not in tensors for x in node.inputs):
            continue
        args, kwargs = node.call_arguments(tensors)
        outputs = _count_call(node, args, kwargs, prefix, report)
        for ref, out in zip(node.outputs, outputs):
            tensors[id(ref)] = out
    return [tensors[id(x)] for x in graph.outputs]


def _call_tensors(operation, args, kwargs):
    """The KerasTensors of a call, in the order of the `call` signature."""
    try:
        bound = inspect.signature(operation.call).bind(*args, **kwargs)
        values = list(bound.arguments.values())
    except (TypeError, ValueError):
        values = [args, kwargs]
    return keras_tensors(values)



def _output_tensors(node, operation, args, kwargs):
    """Output KerasTensors (batch 1) of one call, reusing the graph's shapes."""
    refs = node.inputs
    inputs = keras_tensors((args, kwargs))  # Same order as `refs`.
    same = len(refs) == len(inputs) and all(
        tuple(r.shape)[1:] == tuple(x.shape)[1:]
        and None not in tuple(r.shape)[1:]
        for r, x in zip(refs, inputs)
    )
    if same and all(None not in tuple(y.shape)[1:] for y in node.outputs):
        return [batch_one(y) for y in node.outputs]
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
    user_fn = layer_formulas.user_counter(operation)
    graph = graph_of(operation)
    if user_fn is None and graph is not None:
        inputs = _model_inputs(operation, args, kwargs)
        return _walk(graph, inputs, path + "/", report)

    outputs = _output_tensors(node, operation, args, kwargs)
    in_shapes = [tuple(x.shape) for x in _call_tensors(operation, args, kwargs)]
    out_shapes = [tuple(y.shape) for y in outputs]
    if user_fn is not None:
        report._add(path, operation, user_fn(operation, in_shapes, out_shapes))
        return outputs
    macs = layer_formulas.builtin_macs(operation, in_shapes, out_shapes)
    if macs is not None:
        report._add(path, operation, macs)
    elif layer_formulas.is_extra(operation):
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
    return keras_tensors(inputs)


def _count_fallback(operation, args, kwargs, path, report):
    warnings.warn(
        f"No MAC formula for layer '{path}' of class "
        f"{type(operation).__name__}: counting it with tf.profiler. "
        "Register one with `keras_nachos.register_mac_counter`.",
        stacklevel=2,
    )
    macs = profiler.profile_call(operation, args, kwargs)
    report._add(path, operation, macs, kind="fallback")
