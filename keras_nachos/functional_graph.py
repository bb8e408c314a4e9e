"""The one reader of Keras' functional-graph internals.

Keras 3 offers no public way to walk a functional model's graph: a
`Functional` model keeps its nodes (one per call of a layer, with the call's
arguments and output tensors) in the private `_nodes_by_depth`, and a built
`Sequential` model keeps its graph in a private `Functional` (`_functional`).
The graph cuts and stages of an early-exit model, the analytic MAC count,
the device-memory estimate and the tf_keras rebuild for quantisation-aware
training all need that graph: they read it through this module, and nothing
else in keras_nachos reads those attributes, so that a change of Keras'
internals is mended here once.

It sits beside `errors.py` and `checks.py` (not in `models/`) because
`costs/` reads graphs and `models/` (and `heads/`) import `costs/`: a
reader inside `models/` would make the two packages import each other.
"""

import dataclasses

import keras

from keras_nachos.errors import invalid_type


def graph_of(model):
    """The functional graph of a model, or `None` if it has none.

    Args:
        model: A layer or model.

    Returns:
        `model` itself for a functional model, the graph of a built
        `keras.Sequential`, `None` otherwise (a layer, a subclassed model, an
        unbuilt `Sequential`).
    """
    if hasattr(model, "_nodes_by_depth"):
        return model
    functional = getattr(model, "_functional", None)
    if functional is not None and hasattr(functional, "_nodes_by_depth"):
        return functional
    return None


def is_functional(model):
    """Whether `model` is a functional `keras.Model` with a graph of its own.

    A `keras.Sequential` (whose graph is a private model inside it) and a
    subclassed model are not.
    """
    return isinstance(model, keras.Model) and hasattr(model, "_nodes_by_depth")


@dataclasses.dataclass(frozen=True, eq=False)
class GraphNode:
    """One call of a layer (or operation) in a functional graph.

    Attributes:
        operation: The layer or operation called (an `InputLayer` for an
            input node).
        inputs: Tuple of the `KerasTensor`s the call reads, flattened in
            argument order.
        outputs: Tuple of the `KerasTensor`s it returns, flattened.
        args: Tuple of the call's positional arguments (tensors in place).
        kwargs: Dict of its keyword arguments.
        is_input: Boolean, whether the node is a graph input.
    """

    operation: object
    inputs: tuple
    outputs: tuple
    args: tuple
    kwargs: dict
    is_input: bool
    _arguments: object = dataclasses.field(repr=False)

    def call_arguments(self, values):
        """The call's `(args, kwargs)` on other values.

        Args:
            values: Dict from `id(tensor)` of the graph's `KerasTensor`s to
                the values to put in their place.

        Returns:
            `(args, kwargs)`, the call's arguments with every `KerasTensor`
            replaced by its value (`None` where `values` has none).
        """
        return self._arguments.fill_in(values)


def nodes(model):
    """The nodes of a model's functional graph, in the order Keras runs them.

    Deepest first (inputs, then every node whose inputs are computed), each
    call of a layer once: a layer called twice has two nodes, and a
    sub-model cut from a bigger model's tensors has only its own nodes.

    Args:
        model: A functional model or a built `keras.Sequential`.

    Returns:
        A list of `GraphNode`s.
    """
    graph = graph_of(model)
    if graph is None:
        raise invalid_type(
            "model", "a functional model or a built keras.Sequential", model
        )
    by_depth = graph._nodes_by_depth
    return [
        GraphNode(
            operation=node.operation,
            inputs=tuple(node.input_tensors),
            outputs=tuple(node.outputs),
            args=node.arguments.args,
            kwargs=node.arguments.kwargs,
            is_input=node.is_input,
            _arguments=node.arguments,
        )
        for depth in sorted(by_depth, reverse=True)
        for node in by_depth[depth]
    ]


def calls_of(model, layer):
    """The nodes of `model`'s graph that call `layer` (one per call)."""
    return [node for node in nodes(model) if node.operation is layer]


def producer(model, tensor):
    """The layer (or operation) of `model`'s graph that returns `tensor`.

    Returns:
        The operation, or `None` if no node of the graph returns `tensor`.
    """
    for node in nodes(model):
        if any(output is tensor for output in node.outputs):
            return node.operation
    return None
