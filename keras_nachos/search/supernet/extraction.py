"""Extraction: a subnet's weights sliced into the candidate's model."""

import keras
import numpy as np

from keras_nachos.search.supernet.elastic_layers import ElasticDepthwiseConv2D


def inherit_weights(pairs, backbone):
    """Copies each supernet layer's weights into the candidate's layer.

    Args:
        pairs: List of `(candidate layer name, supernet layer)`, every layer
            with weights of the candidate's backbone.
        backbone: The candidate's backbone (`space.build(values).backbone`).
    """
    sources = dict(pairs)
    targets = {layer.name: layer for layer in backbone.layers}
    for name in sources:
        if name not in targets:
            raise ValueError(
                f"The candidate has no layer `{name}` for the supernet's "
                f"layer of that name."
            )
    copies = []  # every weight checked before the first is assigned
    for layer in backbone.layers:
        if not layer.weights:
            continue
        source = sources.get(layer.name)
        if source is None:
            raise ValueError(
                f"The supernet has no layer `{layer.name}` for the "
                f"candidate's layer of that name."
            )
        # A depthwise kernel keeps its centre, every other weight its first
        # entries (the elastic layers' masks).
        centre = isinstance(source, ElasticDepthwiseConv2D)
        if len(layer.weights) != len(source.weights):
            raise ValueError(
                f"The candidate's layer `{layer.name}` has "
                f"{len(layer.weights)} weights, the supernet's "
                f"{len(source.weights)}: the model is not the candidate's."
            )
        for target, weight in zip(layer.weights, source.weights):
            value = inherit(weight, tuple(target.shape), centre)
            if value.shape != tuple(target.shape):
                raise ValueError(
                    f"The candidate's weight `{target.path}` has shape "
                    f"{tuple(target.shape)}, larger than the supernet's "
                    f"{tuple(weight.shape)}: the model is not the "
                    "candidate's (`space.build(values)`)."
                )
            copies.append((target, value))
    for target, value in copies:
        target.assign(value)


def inherit(weight, shape, centre=False):
    """`weight` sliced to `shape`: the first entries of every axis, or, for a
    depthwise kernel (`centre=True`), the centre of the two spatial axes."""
    value = np.asarray(weight)
    index = []
    for axis, size in enumerate(shape):
        if centre and axis < 2:
            start = (value.shape[axis] - size) // 2
            index.append(slice(start, start + size))
        else:
            index.append(slice(0, size))
    return value[tuple(index)]


def inherit_head(target, source):
    """Copies a shared head's weights into a candidate's head of the same
    design, whose input has fewer channels (the first ones)."""
    before_flatten = None
    pairs = zip(
        target.sublayer_shapes(_head_input_shape(target)),
        source.sublayer_shapes(_head_input_shape(source)),
    )
    for (t_layer, t_in, _), (s_layer, s_in, _) in pairs:
        if isinstance(t_layer, keras.layers.Flatten):
            before_flatten = (t_in, s_in)
            continue
        for t_weight, s_weight in zip(t_layer.weights, s_layer.weights):
            shape = tuple(t_weight.shape)
            value = np.asarray(s_weight)
            if (before_flatten is not None and len(shape) == 2
                    and value.shape[0] != shape[0]):
                # A dense layer after a flatten: its rows are (h, w, channel).
                t_in, s_in = before_flatten
                spatial = tuple(s_in[1:-1])
                value = value.reshape(spatial + (s_in[-1], value.shape[1]))
                value = value[..., :t_in[-1], :].reshape(shape)
            else:
                value = inherit(value, shape)
            t_weight.assign(value)
        if t_layer.weights:
            before_flatten = None


def _head_input_shape(head):
    """The input shape a built head was built with."""
    config = head.get_build_config() or {}
    shapes = config.get("shapes_dict") or {"input_shape": config.get("input_shape")}
    shape = next(iter(shapes.values()))
    if shape is None:
        raise ValueError(f"The head `{head.name}` is not built.")
    return tuple(shape)
