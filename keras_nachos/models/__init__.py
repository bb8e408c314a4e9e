"""The early-exit model, the graph cuts and stages it is made of and its head
factory."""

from keras_nachos.models.early_exit_model import EarlyExitModel
from keras_nachos.models.graph_cuts import find_cut_tensors
from keras_nachos.models.head_factory import adapt_head_pooling
from keras_nachos.models.stages import StagePlan
