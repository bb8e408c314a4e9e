"""Image classification data from a prepared tensorflow-datasets `data_dir`."""

import os

import numpy as np

from keras_nachos.datasets.splitting import TEST_FRACTION
from keras_nachos.datasets.splitting import seeded_rng
from keras_nachos.datasets.splitting import stratified_split
from keras_nachos.errors import invalid_value

TFDS_DATA_DIR_ENV_VAR = "TFDS_DATA_DIR"


def is_prepared(name, data_dir):
    """Returns whether `data_dir` holds a prepared tfds dataset `name`.

    Args:
        name: String, the tensorflow-datasets name.
        data_dir: String, an existing directory.

    Returns:
        Boolean; `False` too when the files there are unreadable or foreign.
    """
    if not os.path.isdir(os.path.join(data_dir, name)):
        return False
    import tensorflow_datasets as tfds

    try:
        return tfds.builder(name, data_dir=data_dir).is_prepared()
    except Exception:  # Unreadable or foreign files: not a usable source.
        return False


def load_tfds(name, data_dir, image_size, seed, download):
    """Reads a tfds image classification dataset into numpy, offline.

    Its "test" split is the test split; without one, its "validation" split;
    without either, 20% of "train" (stratified, seeded).

    Args:
        name: String, the tensorflow-datasets name.
        data_dir: String or `None` (then `$TFDS_DATA_DIR`, then
            `~/tensorflow_datasets`).
        image_size: Tuple `(height, width)`, or `None` to keep the size.
        seed: Integer, seeds the test carve-out.
        download: Boolean, whether tfds may download and prepare it.

    Returns:
        A tuple `((x_train, y_train), (x_test, y_test), class_names,
        num_classes)`, images float32 in [0, 1], labels int32.
    """
    import tensorflow_datasets as tfds

    if data_dir is None:
        data_dir = os.environ.get(TFDS_DATA_DIR_ENV_VAR) or os.path.expanduser(
            os.path.join("~", "tensorflow_datasets")
        )
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as error:
        raise _not_prepared(
            name,
            data_dir,
            "no such registered dataset and no prepared copy in data_dir",
        ) from error
    if download:
        builder.download_and_prepare()

    features = builder.info.features
    image_key, label_key = builder.info.supervised_keys or ("image", "label")
    if features[image_key].shape[:2].count(None) and image_size is None:
        raise invalid_value(
            "image_size",
            f"a tuple (height, width): the images of {name!r} vary in size "
            f"(feature shape {features[image_key].shape})",
            image_size,
        )
    label_feature = features[label_key]
    num_classes = label_feature.num_classes
    class_names = list(label_feature.names) if label_feature.names else None

    # Under `tfds.testing.mock_data` the splits are unknown (empty): ask for
    # "test" anyway.
    split_names = set(builder.info.splits.keys())
    if not split_names or "test" in split_names:
        test_split = "test"
    elif "validation" in split_names:
        test_split = "validation"
    else:
        test_split = None

    def read(split):
        try:
            dataset = builder.as_dataset(split=split, shuffle_files=False)
        except AssertionError as error:  # tfds' "could not find data" check.
            if builder.is_prepared():
                raise
            raise _not_prepared(
                name, data_dir, f"nothing at {builder.data_dir}"
            ) from error
        x, y = _to_numpy(dataset, image_key, label_key, image_size)
        if not len(y):
            raise ValueError(
                f"The {split!r} split of tensorflow-datasets dataset {name!r} "
                f"in {builder.data_dir} is empty."
            )
        return x, y

    x_train, y_train = read("train")
    if test_split is None:
        num_test = int(round(TEST_FRACTION * len(y_train)))
        train, test = stratified_split(
            y_train, num_test, seeded_rng(seed, "test")
        )
        x_test, y_test = x_train[test], y_train[test]
        x_train, y_train = x_train[train], y_train[train]
    else:
        x_test, y_test = read(test_split)
    return (x_train, y_train), (x_test, y_test), class_names, num_classes


def _not_prepared(name, data_dir, detail):
    return FileNotFoundError(
        f"tensorflow-datasets dataset {name!r} is not prepared in "
        f"data_dir={data_dir!r} ({detail}). keras_nachos never downloads "
        "unless you pass download=True. To prepare it, on a machine with "
        f"internet run `tfds build {name} --data_dir DIR` (or "
        f"`tfds.builder({name!r}, data_dir=DIR).download_and_prepare()`), "
        f"copy DIR to this machine, then pass data_dir=DIR or set "
        f"{TFDS_DATA_DIR_ENV_VAR}=DIR. If this machine has internet, "
        "download=True downloads and prepares it in place."
    )


def _to_numpy(dataset, image_key, label_key, image_size):
    import tensorflow as tf

    def convert(example):
        image = example[image_key]
        if image.dtype.is_integer:
            image = tf.cast(image, tf.float32) / image.dtype.max
        else:  # Floating images are assumed to be in [0, 1] already.
            image = tf.cast(image, tf.float32)
        if image_size is not None:
            image = tf.clip_by_value(
                tf.image.resize(image, image_size, method="bilinear"), 0.0, 1.0
            )
        return image, tf.cast(example[label_key], tf.int32)

    dataset = dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE)
    xs, ys = [], []
    for x, y in dataset.batch(1024).as_numpy_iterator():
        xs.append(x)
        ys.append(y)
    if not xs:
        return np.zeros((0,), np.float32), np.zeros((0,), np.int32)
    return np.concatenate(xs), np.concatenate(ys)
