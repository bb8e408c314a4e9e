"""Making the exit heads of an EarlyExitModel from a head design."""

import warnings

import keras
import numpy as np

from keras_nachos import heads as heads_module
from keras_nachos.costs import layer_macs
from keras_nachos.costs import stage_costs
from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value
from keras_nachos.errors import one_of
from keras_nachos.models.stages import backbone_segments


def head_factory(head, num_classes):
    """Returns `make(exit_index, feature_shape, confidence, name) -> head`."""
    if isinstance(head, (list, tuple)):
        makers = [head_factory(h, num_classes) for h in head]

        def per_exit(i, shape, conf, name):
            if i >= len(makers):
                raise invalid_value(
                    "head",
                    "a list with one head design per exit point "
                    "(and one more for a final head)",
                    head,
                )
            return makers[i](i, shape, conf, name)

        return per_exit
    if isinstance(head, str):
        try:
            head_cls = heads_module.get(head)
        except ValueError:
            raise invalid_value(
                "head",
                f"{one_of(heads_module.names())}, an ExitHead instance or a "
                "callable",
                head,
            ) from None
        if head_cls is heads_module.ClassMeansHead:
            return lambda i, shape, conf, name: head_cls(num_classes, name=name)
        return lambda i, shape, conf, name: head_cls(
            num_classes, confidence=conf, name=name
        )
    if isinstance(head, heads_module.ExitHead):
        config = head.get_config()

        def clone(i, shape, conf, name):
            new = dict(config, name=name, confidence=conf)
            new["num_classes"] = num_classes
            return head.__class__.from_config(new)

        return clone
    if callable(head):

        def call(i, shape, conf, name):
            made = head(i, shape)
            if not isinstance(made, keras.layers.Layer):
                raise invalid_type(
                    "head", "a callable that returns a Keras layer", made
                )
            return made

        return call
    raise invalid_value(
        "head", "a head name, an ExitHead instance or a callable", head
    )


def is_adaptive(head):
    """Conv heads, by name or as a template, follow the adaptive pooling rule."""
    if isinstance(head, str):
        return heads_module.get(head) is heads_module.ConvHead
    return isinstance(head, heads_module.ConvHead)


def adapt_head_pooling(backbone, cuts, heads, final_head):
    """NACHOS' adaptive sizing rule for conv heads.

    From the last early exit backwards, while reaching exit `i`
    (`M^bb_i + M^h_i`) costs at least as much as reaching exit `i + 1`, the
    max-pool window of head `i` doubles (1, 2, 4, ...), so that the cost of
    reaching each exit grows strictly along the network.
    """
    stages = backbone_segments(backbone.inputs[0], cuts, backbone.outputs[0])
    costs = stage_costs(stages, [None] * len(cuts) + [final_head])
    reach_backbone = np.cumsum(costs.stage_macs)
    next_cost = costs.cumulative[-1]
    adapted = list(heads)
    for i in range(len(heads) - 1, -1, -1):
        shape = tuple(cuts[i].shape)
        head = heads[i]
        while True:
            cost = int(reach_backbone[i]) + layer_macs(head, shape)
            if cost < next_cost or head.pool_size >= min(shape[1:3]):
                break
            head = head.__class__.from_config(
                dict(head.get_config(), pool_size=head.pool_size * 2)
            )
        if cost >= next_cost:
            warnings.warn(
                f"Exit {i + 1} ({head.name}) costs {cost} MACs to reach, not "
                f"less than the next exit ({next_cost}), even with the "
                f"largest pooling window {head.pool_size}.",
                stacklevel=3,
            )
        adapted[i] = head
        next_cost = cost
    return adapted
