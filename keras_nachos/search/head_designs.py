"""Head designs of the search space (user designs can be registered)."""

from keras_nachos import heads as heads_module
from keras_nachos.errors import invalid_value
from keras_nachos.errors import one_of

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


def get(identifier):
    """Returns the builder of a registered head design.

    Args:
        identifier: String, a name among `head_designs()` (`"global_pool"`,
            `"sdn"`, `"conv"` and the designs given to `register_head`).

    Returns:
        The callable `builder(num_classes, width, confidence, name)`.

    Raises:
        ValueError: For any other value, naming it and the designs that
            exist (the error names the argument `head_type`, one of a
            `SearchSpace`'s `head_types`).
    """
    if isinstance(identifier, str) and identifier in _HEAD_BUILDERS:
        return _HEAD_BUILDERS[identifier]
    raise invalid_value("head_type", one_of(_HEAD_BUILDERS), identifier)


def head_designs():
    """The registered head design names, sorted."""
    return sorted(_HEAD_BUILDERS)


def make_head(name, num_classes, width, confidence, layer_name):
    """Builds the head design `name` (see `register_head`)."""
    return get(name)(num_classes, width, confidence, layer_name)
