"""Image classification data for early-exit experiments, loaded offline."""

from keras_nachos.datasets.loading import FASHION_MNIST_CLASS_NAMES
from keras_nachos.datasets.loading import FASHION_MNIST_DEBIAN_DIR
from keras_nachos.datasets.loading import FASHION_MNIST_ENV_VAR
from keras_nachos.datasets.loading import FASHION_MNIST_FILES
from keras_nachos.datasets.loading import TFDS_DATA_DIR_ENV_VAR
from keras_nachos.datasets.loading import DatasetSplits
from keras_nachos.datasets.loading import load
from keras_nachos.datasets.loading import read_idx
