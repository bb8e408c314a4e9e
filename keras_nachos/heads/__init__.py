"""Early-exit classifiers ("heads")."""

from keras_nachos.heads.conv_head import ConvHead
from keras_nachos.heads.exit_head import ExitHead
from keras_nachos.heads.global_pool_head import GlobalPoolHead
from keras_nachos.heads.mixed_pool_head import MixedPoolHead
from keras_nachos.heads.mixed_pool_head import MixedPooling2D

_HEADS_BY_NAME = {
    "global_pool": GlobalPoolHead,
    "mixed_pool": MixedPoolHead,
    "sdn": MixedPoolHead,
    "conv": ConvHead,
    "nachos": ConvHead,
}


def get(identifier):
    """Returns the head class for a name ("global_pool", "sdn", "conv")."""
    return _HEADS_BY_NAME.get(identifier)
