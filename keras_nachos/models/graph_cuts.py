"""Cutting a functional backbone into stages at its exit points."""

import keras

from keras_nachos import functional_graph
from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value


def as_functional(backbone, argument="backbone"):
    """Returns `backbone` as a functional model with one input and output.

    A built `keras.Sequential` model is a functional graph: it is returned as
    a functional model sharing its layers (and weights). A subclassed model
    has no graph to cut into stages and is rejected.
    """
    if isinstance(backbone, keras.Sequential):
        if not backbone.built or not hasattr(backbone, "inputs"):
            raise invalid_value(
                argument,
                "a built Sequential model (start it with `keras.Input(shape)`"
                " or call `build(input_shape)`)",
                backbone.name,
            )
        backbone = keras.Model(
            backbone.inputs, backbone.outputs, name=backbone.name
        )
    if not functional_graph.is_functional(backbone):
        raise invalid_type(
            argument,
            "a functional keras.Model or a built keras.Sequential (a "
            "subclassed model has no graph to attach exits to: rebuild it "
            "with the functional API)",
            backbone,
        )
    if len(backbone.inputs) != 1 or len(backbone.outputs) != 1:
        raise invalid_value(
            argument,
            "a functional model with exactly one input and one output",
            backbone.name,
        )
    return backbone


def ends_in_softmax(model):
    """Whether a model's output already is a softmax."""
    layer = functional_graph.producer(model, model.outputs[0])
    if isinstance(layer, keras.layers.Softmax):
        return True
    activation = getattr(layer, "activation", None)
    return activation is keras.activations.softmax or (
        getattr(activation, "__name__", None) == "softmax"
    )


def _layer_order(backbone):
    order = {}
    for node in functional_graph.nodes(backbone):
        order.setdefault(node.operation.name, len(order))
    return order


def find_cut_tensors(backbone, exit_points):
    """Validates exit points and returns their output tensors.

    An exit point must be a layer of `backbone`, called once, that cuts the
    graph into a before and an after: everything after it depends on the input
    only through it (so a layer inside a residual branch is rejected).
    """
    names = [layer.name for layer in backbone.layers]
    unknown = [p for p in exit_points if p not in names]
    if unknown:
        raise invalid_value(
            "exit_points",
            f"names of layers of the backbone `{backbone.name}` "
            f"(unknown: {unknown})",
            list(exit_points),
        )
    duplicates = sorted({p for p in exit_points if exit_points.count(p) > 1})
    if duplicates:
        raise invalid_value(
            "exit_points",
            f"distinct layer names (duplicated: {duplicates})",
            list(exit_points),
        )
    order = _layer_order(backbone)
    positions = [order.get(p, -1) for p in exit_points]
    if positions != sorted(positions):
        in_order = sorted(exit_points, key=lambda p: order.get(p, -1))
        raise invalid_value(
            "exit_points",
            f"layer names in graph order ({in_order})",
            list(exit_points),
        )
    output = backbone.outputs[0]
    cuts = []
    for point in exit_points:
        layer = backbone.get_layer(point)
        nodes = functional_graph.calls_of(backbone, layer)
        if len(nodes) != 1 or len(nodes[0].outputs) != 1:
            raise invalid_value(
                "exit_points",
                "layers called once with a single output "
                f"(`{point}` is called {len(nodes)} times or has several "
                "outputs)",
                list(exit_points),
            )
        tensor = nodes[0].outputs[0]
        if tensor is output or isinstance(layer, keras.layers.InputLayer):
            raise invalid_value(
                "exit_points",
                f"layers strictly between the input and the output "
                f"(`{point}` is the backbone's "
                f"{'output' if tensor is output else 'input'})",
                list(exit_points),
            )
        cuts.append(tensor)
    bounds = cuts + [output]
    for point, start, end in zip(exit_points, bounds[:-1], bounds[1:]):
        try:
            keras.Model(start, end)
        except ValueError as error:
            raise invalid_value(
                "exit_points",
                f"layers that cut the graph into a before and an after: "
                f"what follows `{point}` also reads tensors computed before "
                "it (is it inside a residual branch? pick the layer that "
                f"merges the branch, e.g. the Add) [{error}]",
                list(exit_points),
            ) from None
    return cuts
