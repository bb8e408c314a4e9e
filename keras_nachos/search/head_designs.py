"""Head designs of the search space (user designs can be registered)."""

from keras_nachos import heads as heads_module
from keras_nachos.errors import invalid_value

_HEAD_BUILDERS = {
    "global_pool": lambda k, width, conf, name: heads_module.GlobalPoolHead(
        k, hidden_units=width or None, confidence=conf, name=name
    ),
    "sdn": lambda k, width, conf, name: heads_module.MixedPoolHead(
        k, confidence=conf, name=name
    ),
    "conv": lambda k, width, conf, name: heads_module.ConvHead(
        k, filters=tuple(max(4, width or 16) * m for m in (1, 2, 4)),
        pool_size=2, confidence=conf, name=name,
    ),
}


def register_head(name, builder):
    """Registers a head design usable in `SearchSpace(head_types=[...])`.

    Args:
        name: String.
        builder: Callable `builder(num_classes, width, confidence, name)`
            returning an `ExitHead` (`width` is the searched head width).
    """
    if not isinstance(name, str) or not callable(builder):
        raise invalid_value("builder", "a name and a callable", builder)
    _HEAD_BUILDERS[name] = builder
    return builder




def head_designs():
    """The registered head design names, sorted."""
    return sorted(_HEAD_BUILDERS)


def make_head(name, num_classes, width, confidence, layer_name):
    """Builds the head design `name` (see `register_head`)."""
    return _HEAD_BUILDERS[name](num_classes, width, confidence, layer_name)
