"""The weight-sharing supernet of a `SearchSpace` (Once-for-All / BigNAS).

`Supernet` (a `keras.Model`) holds every candidate of an inverted-residual
space: `ElasticInvertedResidual` blocks (made from the description
`search.blocks.inverted_residual` is made from) of `elastic_layers`, shared
exit heads keyed by `HeadKey`. It trains with the sandwich rule
(`SandwichTraining`), re-estimates a subnet's batch-norm statistics
(`batch_norm_statistics`), runs subnets (`predict_subnet`) and extracts them
as standalone `EarlyExitModel`s (`extraction`).
"""

from keras_nachos.search.supernet.elastic_block import ElasticInvertedResidual
from keras_nachos.search.supernet.elastic_layers import (
    ElasticBatchNormalization,
)
from keras_nachos.search.supernet.elastic_layers import ElasticDepthwiseConv2D
from keras_nachos.search.supernet.sandwich_training import SandwichTraining
from keras_nachos.search.supernet.shared_heads import HeadKey
from keras_nachos.search.supernet.subnet_encoding import SubnetEncoding
from keras_nachos.search.supernet.supernet import Supernet
from keras_nachos.search.supernet.supernet import load_supernet
