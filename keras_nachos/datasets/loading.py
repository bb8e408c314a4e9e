"""`load`: train / validation / test splits of an image dataset, offline."""

import os

from keras_nachos.datasets.dataset_splits import DatasetSplits
from keras_nachos.datasets.digits import load_digits
from keras_nachos.datasets.fashion_mnist import load_fashion_mnist
from keras_nachos.datasets.load_arguments import check_load_arguments
from keras_nachos.datasets.load_arguments import check_split_sizes
from keras_nachos.datasets.splitting import split_training_data
from keras_nachos.datasets.tf_data import to_dataset
from keras_nachos.datasets.tfds_source import load_tfds


def load(
    name,
    *,
    validation_split=0.1,
    data_dir=None,
    image_size=None,
    as_dataset=False,
    batch_size=128,
    shuffle=True,
    seed=1337,
    download=False,
    max_samples=None,
):
    """Loads an image classification dataset as train / validation / test.

    Images come back channels-last as float32 in [0, 1], labels as int32 class
    ids. The validation split is drawn from the training split only,
    stratified by class and determined by `seed`; the test split is the
    source's own test split and is never seen in training or model selection.
    Everything is held in memory.

    Sources, by `name`:

    - `"fashion_mnist"`: the four Fashion-MNIST IDX files (gzipped or not),
      looked for in `data_dir`, then in the directory named by the environment
      variable `KERAS_NACHOS_FASHION_MNIST_DIR`, then in
      `/usr/share/datasets/fashion-mnist` (Debian:
      `apt-get install -y dataset-fashion-mnist`). Each of these directories
      may instead be a tensorflow-datasets `data_dir` holding a prepared
      `fashion_mnist`. 60,000 train and 10,000 test images, 28x28x1, 10
      classes.
    - `"digits"`: scikit-learn's 8x8 digits (1,797 images, 10 classes). The
      test split is 20% of the images (stratified, seeded).
    - any other name: a tensorflow-datasets image classification dataset
      already prepared in `data_dir` (or `$TFDS_DATA_DIR`, or tfds' default
      `~/tensorflow_datasets`). Its "test" split is the test split; a dataset
      without one uses its "validation" split as the test split, and a dataset
      with neither gives 20% of "train" (stratified, seeded). Image and label
      features come from the builder's `supervised_keys`.

    Args:
        name: String, `"fashion_mnist"`, `"digits"` or a tensorflow-datasets
            name.
        validation_split: Float in [0, 1), the share of the training split set
            aside for validation. It must leave every class at least one
            training example and, when not 0, give validation at least one
            example. Defaults to `0.1`.
        data_dir: Optional path of an existing directory, where to look for
            the data first (see above); it may be missing only with
            `download=True`, which creates it. Defaults to `None`.
        image_size: Optional tuple `(height, width)`; images are resized to it
            with bilinear interpolation (`tf.image.resize`), never padded.
            Defaults to `None`, which keeps the source size (8x8 for
            `"digits"`). Required for tfds datasets whose images vary in size.
        as_dataset: Boolean, whether to return batched, prefetching
            `tf.data.Dataset`s instead of numpy arrays. Defaults to `False`.
        batch_size: Integer, the batch size when `as_dataset=True`.
            Defaults to `128`.
        shuffle: Boolean, whether the training dataset is reshuffled every
            epoch (seeded) when `as_dataset=True`. Validation and test are
            never shuffled. Defaults to `True`.
        seed: Integer, seeds every split and subsample. Defaults to `1337`.
        download: Boolean, whether tensorflow-datasets may download and
            prepare a missing dataset (needs internet). Defaults to `False`:
            a missing dataset raises `FileNotFoundError` without any network
            access.
        max_samples: Optional integer, caps the training split (stratified,
            seeded) before validation is carved out of it, so that train plus
            validation hold `max_samples` examples; it must keep at least one
            example of every class. The test split is kept whole. Defaults to
            `None`.

    Returns:
        A `DatasetSplits` with `train`, `validation` (`None` when
        `validation_split=0`) and `test`, each a tuple `(x, y)` or a
        `tf.data.Dataset`, and `num_classes`, `input_shape`, `class_names`.

    Example:

    >>> splits = load("digits", image_size=(16, 16))
    >>> x_train, y_train = splits.train
    >>> x_train.shape[1:], splits.num_classes
    ((16, 16, 1), 10)
    >>> len(splits.validation[0]) + len(x_train) + len(splits.test[0])
    1797
    """
    check_load_arguments(
        name=name,
        validation_split=validation_split,
        data_dir=data_dir,
        image_size=image_size,
        as_dataset=as_dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        download=download,
        max_samples=max_samples,
    )
    if image_size is not None:
        image_size = tuple(int(side) for side in image_size)
    if data_dir is not None:
        data_dir = os.fspath(data_dir)
    # numpy booleans pass the checks; hand on plain ones.
    as_dataset, shuffle = bool(as_dataset), bool(shuffle)
    download = bool(download)

    if name == "fashion_mnist":
        source = load_fashion_mnist(data_dir, image_size, seed, download)
    elif name == "digits":
        source = load_digits(image_size, seed)
    else:
        source = load_tfds(name, data_dir, image_size, seed, download)
    (x_train, y_train), test, class_names, num_classes = source
    check_split_sizes(name, y_train, validation_split, max_samples)
    train, validation = split_training_data(
        x_train,
        y_train,
        validation_split=validation_split,
        max_samples=max_samples,
        seed=seed,
    )
    input_shape = tuple(int(d) for d in test[0].shape[1:])

    if as_dataset:
        train = to_dataset(train, batch_size, shuffle=shuffle, seed=seed)
        test = to_dataset(test, batch_size)
        if validation is not None:
            validation = to_dataset(validation, batch_size)
    return DatasetSplits(
        name=name,
        train=train,
        validation=validation,
        test=test,
        num_classes=int(num_classes),
        input_shape=input_shape,
        class_names=class_names,
    )
