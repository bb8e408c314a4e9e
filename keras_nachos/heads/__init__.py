"""Early-exit classifiers ("heads")."""

from keras_nachos.costs import count_macs
from keras_nachos.costs import register_mac_counter
from keras_nachos.errors import invalid_value
from keras_nachos.errors import one_of
from keras_nachos.heads.class_means_head import ClassMeansHead
from keras_nachos.heads.conv_head import ConvHead
from keras_nachos.heads.exit_head import ExitHead
from keras_nachos.heads.exit_head import head_as_model
from keras_nachos.heads.global_pool_head import GlobalPoolHead
from keras_nachos.heads.mixed_pool_head import MixedPoolHead
from keras_nachos.heads.mixed_pool_head import MixedPooling2D

_HEADS_BY_NAME = {
    "global_pool": GlobalPoolHead,
    "mixed_pool": MixedPoolHead,
    "sdn": MixedPoolHead,
    "conv": ConvHead,
    "nachos": ConvHead,
    "class_means": ClassMeansHead,
    "e2cm": ClassMeansHead,
}


def names():
    """The names `get` knows, sorted."""
    return sorted(_HEADS_BY_NAME)


def get(identifier):
    """Returns the head class registered under a name.

    Args:
        identifier: String, one of `"global_pool"`, `"mixed_pool"` (or
            `"sdn"`), `"conv"` (or `"nachos"`), `"class_means"` (or
            `"e2cm"`).

    Returns:
        An `ExitHead` subclass.

    Raises:
        ValueError: For any other value, naming it and the names that exist
            (the error names the argument `head`, the argument of
            `EarlyExitModel.from_backbone` that these names are given to).

    Example:

    >>> get("sdn").__name__
    'MixedPoolHead'
    """
    if isinstance(identifier, str) and identifier in _HEADS_BY_NAME:
        return _HEADS_BY_NAME[identifier]
    raise invalid_value("head", one_of(_HEADS_BY_NAME), identifier)


def _register_mac_counters():
    register_mac_counter(
        ExitHead,
        lambda layer, input_shapes, output_shapes: count_macs(
            head_as_model(layer, input_shapes[0])
        ),
    )
    # The distance to K class means: the x . mu products, K * dim(x).
    register_mac_counter(
        ClassMeansHead,
        lambda layer, input_shapes, output_shapes: layer.num_classes
        * layer.feature_dim,
    )
    # Pooling is an extra: no multiply-accumulates.
    register_mac_counter(MixedPooling2D, lambda layer, *shapes: 0)


_register_mac_counters()
