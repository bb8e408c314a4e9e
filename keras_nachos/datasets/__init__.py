"""Image classification data for early-exit experiments, loaded offline.

`load(name)` returns train / validation / test splits as numpy arrays (or
batched `tf.data.Dataset`s). The validation split is always carved out of the
training split, so the test split never takes part in training or model
selection (architecture search included).

Nothing here downloads data unless `download=True` is passed explicitly: on a
machine without network a download attempt hangs for minutes before failing.
"""

from keras_nachos.datasets.dataset_splits import DatasetSplits
from keras_nachos.datasets.fashion_mnist import FASHION_MNIST_CLASS_NAMES
from keras_nachos.datasets.fashion_mnist import FASHION_MNIST_DEBIAN_DIR
from keras_nachos.datasets.fashion_mnist import FASHION_MNIST_ENV_VAR
from keras_nachos.datasets.fashion_mnist import FASHION_MNIST_FILES
from keras_nachos.datasets.idx_files import read_idx
from keras_nachos.datasets.loading import load
from keras_nachos.datasets.tfds_source import TFDS_DATA_DIR_ENV_VAR
