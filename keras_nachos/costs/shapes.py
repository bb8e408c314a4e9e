"""Batch-1 shapes of a model's inputs and outputs, for counting MACs."""

import keras

from keras_nachos.errors import invalid_type
from keras_nachos.functional_graph import graph_of
from keras_nachos.errors import invalid_value


def check_model(model):
    if not isinstance(model, keras.Model):
        raise invalid_type("model", "a built `keras.Model`", model)
    if not model.built:
        raise invalid_value(
            "model",
            "a built model (give it an `Input`, call `build()` or call it on data)",
            model,
        )


def batch_one(x):
    shape = tuple(x.shape)
    if shape:
        shape = (1,) + shape[1:]
    return keras.KerasTensor(shape, dtype=x.dtype)


def check_static(model, tensors):
    shapes = [tuple(x.shape) for x in tensors]
    if any(None in shape[1:] for shape in shapes):
        raise invalid_value(
            "model",
            "a model whose input shapes are static apart from the batch "
            f"dimension (rebuild it with a fixed input shape); input shapes: "
            f"{shapes}",
            model.name,
        )


def batch_one_inputs(model):
    """KerasTensors at batch 1 in the structure the model is called with."""
    graph = graph_of(model)
    if graph is not None:
        check_static(model, graph.inputs)
        # A functional model's `input` is its inputs in the structure given
        # to its constructor (`inputs` is them flattened).
        return keras.tree.map_structure(batch_one, graph.input)
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
    check_static(model, keras.tree.flatten(inputs))
    return inputs


def keras_tensors(structure):
    """The KerasTensors of a nested structure, flattened in order."""
    return [
        x
        for x in keras.tree.flatten(structure)
        if isinstance(x, keras.KerasTensor)
    ]
