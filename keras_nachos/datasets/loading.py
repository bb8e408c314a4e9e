"""Image classification data for early-exit experiments, loaded offline.

`load(name)` returns train / validation / test splits as numpy arrays (or
batched `tf.data.Dataset`s). The validation split is always carved out of the
training split, so the test split never takes part in training or model
selection (architecture search included).

Nothing here downloads data unless `download=True` is passed explicitly: on a
machine without network a download attempt hangs for minutes before failing.
"""

import dataclasses
import gzip
import math
import os
import zlib

import numpy as np

from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value

# Where Debian's `dataset-fashion-mnist` package puts the four IDX files.
FASHION_MNIST_DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_ENV_VAR = "KERAS_NACHOS_FASHION_MNIST_DIR"
TFDS_DATA_DIR_ENV_VAR = "TFDS_DATA_DIR"

FASHION_MNIST_CLASS_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
FASHION_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

# IDX type codes (third byte of the magic number) and their big-endian dtypes.
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# Share of the training split that becomes the test split for `digits`, and for
# tfds datasets that have neither a "test" nor a "validation" split.
_TEST_FRACTION = 0.2


@dataclasses.dataclass(frozen=True, repr=False)
class DatasetSplits:
    """Train, validation and test splits of an image classification dataset.

    Args:
        name: String, the dataset's name as passed to `load`.
        train: Tuple `(x, y)` of numpy arrays, or a batched `tf.data.Dataset`
            of `(x, y)` pairs.
        validation: Like `train`, carved out of the training split; `None` when
            `validation_split=0`.
        test: Like `train`; never used for training or model selection.
        num_classes: Integer, the number of classes.
        input_shape: Tuple `(height, width, channels)` of one image.
        class_names: List of strings, or `None` when the source has none.
    """

    name: str
    train: object
    validation: object
    test: object
    num_classes: int
    input_shape: tuple
    class_names: list = None

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise invalid_type("name", "a string", self.name)
        if not self.name:
            raise invalid_value("name", "a non-empty string", self.name)
        for argument in ("train", "validation", "test"):
            split = getattr(self, argument)
            if split is None and argument == "validation":
                continue
            if split is None or (
                isinstance(split, tuple)
                and (len(split) != 2 or len(split[0]) != len(split[1]))
            ):
                raise invalid_value(
                    argument,
                    "a tuple (x, y) of arrays of the same length, or a "
                    "tf.data.Dataset"
                    + (" (or None)" if argument == "validation" else ""),
                    split,
                )
        if not _is_int(self.num_classes):
            raise invalid_type("num_classes", "an integer", self.num_classes)
        if self.num_classes < 1:
            raise invalid_value(
                "num_classes", "a positive integer", self.num_classes
            )
        if not isinstance(self.input_shape, tuple):
            raise invalid_type(
                "input_shape",
                "a tuple (height, width, channels)",
                self.input_shape,
            )
        if not self.input_shape or not all(
            _is_int(d) and d > 0 for d in self.input_shape
        ):
            raise invalid_value(
                "input_shape",
                "a tuple (height, width, channels) of positive integers",
                self.input_shape,
            )
        if self.class_names is not None:
            if not isinstance(self.class_names, list) or not all(
                isinstance(n, str) for n in self.class_names
            ):
                raise invalid_type(
                    "class_names", "None or a list of strings", self.class_names
                )
            if len(self.class_names) != self.num_classes:
                raise invalid_value(
                    "class_names",
                    f"None or a list of num_classes={self.num_classes} names",
                    self.class_names,
                )

    def __repr__(self):
        def describe(split):
            if split is None:
                return "None"
            if isinstance(split, tuple):
                return f"{len(split[0])} examples"
            return "tf.data.Dataset"

        return (
            f"DatasetSplits(name={self.name!r}, "
            f"train={describe(self.train)}, "
            f"validation={describe(self.validation)}, "
            f"test={describe(self.test)}, "
            f"num_classes={self.num_classes}, "
            f"input_shape={self.input_shape})"
        )


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
    _check_arguments(
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
        source = _load_fashion_mnist(data_dir, image_size, seed, download)
    elif name == "digits":
        source = _load_digits(image_size, seed)
    else:
        source = _load_tfds(name, data_dir, image_size, seed, download)
    (x_train, y_train), (x_test, y_test), class_names, num_classes = source
    _check_split_sizes(name, y_train, validation_split, max_samples)

    if max_samples is not None and max_samples < len(y_train):
        keep, _ = _stratified_split(
            y_train, len(y_train) - max_samples, _rng(seed, "max_samples")
        )
        x_train, y_train = x_train[keep], y_train[keep]
    validation = None
    if validation_split > 0:
        num_validation = int(round(validation_split * len(y_train)))
        keep, held_out = _stratified_split(
            y_train, num_validation, _rng(seed, "validation")
        )
        validation = (x_train[held_out], y_train[held_out])
        x_train, y_train = x_train[keep], y_train[keep]
    train, test = (x_train, y_train), (x_test, y_test)

    if as_dataset:
        train = _to_dataset(train, batch_size, shuffle=shuffle, seed=seed)
        test = _to_dataset(test, batch_size)
        if validation is not None:
            validation = _to_dataset(validation, batch_size)
    return DatasetSplits(
        name=name,
        train=train,
        validation=validation,
        test=test,
        num_classes=int(num_classes),
        input_shape=tuple(int(d) for d in x_test.shape[1:]),
        class_names=class_names,
    )


def read_idx(path):
    """Reads an IDX file (gzipped when its name ends in `.gz`) into numpy.

    Args:
        path: Path of an existing file.

    Returns:
        A numpy array with the file's shape and (native-endian) dtype.

    Example:

    >>> labels = read_idx("/usr/share/datasets/fashion-mnist/"
    ...                   "t10k-labels-idx1-ubyte.gz")  # doctest: +SKIP
    >>> labels.shape, labels.dtype  # doctest: +SKIP
    ((10000,), dtype('uint8'))
    """
    if not isinstance(path, (str, os.PathLike)):
        raise invalid_type("path", "a file path (str or os.PathLike)", path)
    file_name = os.fspath(path)
    if not isinstance(file_name, str) or not file_name:
        raise invalid_value("path", "the path of an IDX file", path)
    if not os.path.exists(file_name):
        raise invalid_value(
            "path",
            f"the path of an IDX file, but {file_name} does not exist",
            path,
        )
    if os.path.isdir(file_name):
        raise invalid_value(
            "path",
            f"the path of an IDX file, but {file_name} is a directory",
            path,
        )

    def not_idx(reason):
        return invalid_value(
            "path", f"an IDX file, but {file_name} {reason}", path
        )

    gzipped = file_name.endswith(".gz")
    opener = gzip.open if gzipped else open
    try:
        with opener(file_name, "rb") as f:
            data = f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise not_idx(
            f"is not a complete gzip file (it may be truncated): {error}"
        ) from error
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise not_idx(
            "has no IDX magic number (it must start with two zero bytes; "
            f"the file starts with {data[:4]!r})"
        )
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_DTYPES:
        raise not_idx(
            f"has an unknown type code {type_code:#04x} "
            f"(expected one of {sorted(hex(c) for c in _IDX_DTYPES)})"
        )
    dtype = _IDX_DTYPES[type_code]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise not_idx(
            f"is truncated: its header declares {ndim} dimensions, i.e. "
            f"{header} header bytes, but the file has {len(data)} bytes"
        )
    shape = tuple(
        int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4)
    )
    expected = header + math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        raise not_idx(
            f"is truncated or corrupt: its header declares shape {shape} of "
            f"{dtype}, i.e. {expected} bytes, but the file has {len(data)} "
            "bytes"
        )
    array = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def _check_arguments(
    name,
    validation_split,
    data_dir,
    image_size,
    as_dataset,
    batch_size,
    shuffle,
    seed,
    download,
    max_samples,
):
    is_int = _is_int
    if not isinstance(name, str) or not name:
        raise invalid_value(
            "name",
            '"fashion_mnist", "digits" or a tensorflow-datasets name',
            name,
        )
    if (
        not isinstance(validation_split, (int, float, np.floating))
        or isinstance(validation_split, bool)
        or not 0 <= validation_split < 1  # False for NaN too.
    ):
        raise invalid_value(
            "validation_split", "a float in [0, 1)", validation_split
        )
    if image_size is not None and not (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(is_int(side) and side > 0 for side in image_size)
    ):
        raise invalid_value(
            "image_size",
            "None or a tuple (height, width) of two positive integers",
            image_size,
        )
    for argument, value in [
        ("as_dataset", as_dataset),
        ("shuffle", shuffle),
        ("download", download),
    ]:
        if not isinstance(value, (bool, np.bool_)):
            raise invalid_value(argument, "a boolean", value)
    if not is_int(batch_size) or batch_size < 1:
        raise invalid_value("batch_size", "a positive integer", batch_size)
    if not is_int(seed) or seed < 0:
        raise invalid_value("seed", "a non-negative integer", seed)
    if max_samples is not None and (not is_int(max_samples) or max_samples < 1):
        raise invalid_value(
            "max_samples", "None or a positive integer", max_samples
        )
    if data_dir is not None:
        _check_data_dir(data_dir, download)


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_data_dir(data_dir, download):
    if not isinstance(data_dir, (str, os.PathLike)):
        raise invalid_value("data_dir", "None or a directory path", data_dir)
    path = os.fspath(data_dir)
    if not isinstance(path, str) or not path:
        raise invalid_value("data_dir", "None or a directory path", data_dir)
    if os.path.exists(path) and not os.path.isdir(path):
        raise invalid_value(
            "data_dir",
            f"None or a directory, but {path} is a file, not a directory",
            data_dir,
        )
    if not os.path.exists(path) and not download:
        raise invalid_value(
            "data_dir",
            f"None or an existing directory, but {path} does not exist "
            "(with download=True tensorflow-datasets would create it)",
            data_dir,
        )


def _check_split_sizes(name, y_train, validation_split, max_samples):
    """Rejects a `max_samples` or `validation_split` that empties a class.

    Runs on the source's training labels before any split is drawn, with the
    same per-class counts as `_stratified_split`.
    """
    sizes = np.unique(y_train, return_counts=True)[1]
    num_train = len(y_train)
    if max_samples is not None and max_samples < num_train:
        sizes = sizes - _per_class_counts(sizes, num_train - max_samples)
        num_train = max_samples
        if not sizes.all():
            raise invalid_value(
                "max_samples",
                "None or an integer large enough to keep at least one "
                f"training example of each of the {len(sizes)} classes of "
                f"{name!r}",
                max_samples,
            )
    if validation_split > 0:
        num_validation = int(round(validation_split * num_train))
        if num_validation == 0:
            raise invalid_value(
                "validation_split",
                "0, or a float in (0, 1) large enough that the validation "
                f"split gets at least one of the {num_train} training "
                "examples",
                validation_split,
            )
        if not (sizes - _per_class_counts(sizes, num_validation)).all():
            raise invalid_value(
                "validation_split",
                "a float in [0, 1) small enough to leave at least one "
                f"training example of each of the {len(sizes)} classes "
                f"({num_train} training examples before validation)",
                validation_split,
            )


def _rng(seed, stage):
    # One independent stream per stage, so that e.g. the validation split does
    # not change when another stage draws a different number of values.
    stages = ["test", "max_samples", "validation"]
    return np.random.default_rng([seed, stages.index(stage)])


def _stratified_split(y, count, rng):
    """Splits indices of `y` into (kept, taken) with `count` taken.

    Each class gives a share of `count` proportional to its size (largest
    remainders get the leftover units), drawn at random by `rng`. Both index
    arrays are sorted, so the data keep their original order.
    """
    classes, inverse = np.unique(y, return_inverse=True)
    sizes = np.bincount(inverse, minlength=len(classes))
    taken_per_class = _per_class_counts(sizes, count)
    taken = [
        rng.permutation(np.flatnonzero(inverse == c))[:n]
        for c, n in enumerate(taken_per_class)
    ]
    taken = np.sort(np.concatenate(taken)) if taken else np.array([], int)
    kept = np.setdiff1d(np.arange(len(y)), taken, assume_unique=True)
    return kept, taken


def _per_class_counts(sizes, count):
    """Shares `count` among classes of `sizes` examples, by largest remainder.

    Each class gets the floor of its proportional share; the leftover units go
    to the classes with the largest remainders (ties: lower class first).
    """
    exact = sizes * (count / int(sizes.sum()))
    taken_per_class = np.floor(exact).astype(np.int64)
    leftover = count - taken_per_class.sum()
    by_remainder = np.argsort(-(exact - taken_per_class), kind="stable")
    taken_per_class[by_remainder[:leftover]] += 1
    return taken_per_class


def _resize(x, image_size):
    if image_size is None or tuple(x.shape[1:3]) == image_size:
        return x
    import tensorflow as tf

    resized = tf.image.resize(x, image_size, method="bilinear").numpy()
    return np.clip(resized, 0.0, 1.0)


def _to_dataset(split, batch_size, shuffle=False, seed=None):
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(split)
    if shuffle:
        dataset = dataset.shuffle(
            len(split[1]), seed=seed, reshuffle_each_iteration=True
        )
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


# --- Fashion-MNIST -----------------------------------------------------------


def _idx_files(directory):
    """Returns ({key: path} of the IDX files found, [missing file names])."""
    found, missing = {}, []
    for key, stem in FASHION_MNIST_FILES.items():
        for candidate in (stem + ".gz", stem):
            path = os.path.join(directory, candidate)
            if os.path.isfile(path):
                found[key] = path
                break
        else:
            missing.append(stem + "[.gz]")
    return found, missing


def _tfds_prepared(name, data_dir):
    if not os.path.isdir(os.path.join(data_dir, name)):
        return False
    import tensorflow_datasets as tfds

    try:
        return tfds.builder(name, data_dir=data_dir).is_prepared()
    except Exception:  # Unreadable or foreign files: not a usable source.
        return False


def _fashion_mnist_candidates(data_dir):
    """Yields (description, directory or None) in search order."""
    yield f"data_dir={data_dir!r}", data_dir
    from_env = os.environ.get(FASHION_MNIST_ENV_VAR)
    yield f"${FASHION_MNIST_ENV_VAR}={from_env!r}", from_env
    yield (
        f"{FASHION_MNIST_DEBIAN_DIR} (Debian package dataset-fashion-mnist)",
        FASHION_MNIST_DEBIAN_DIR,
    )


def _load_fashion_mnist(data_dir, image_size, seed, download):
    looked_at = []
    for description, directory in _fashion_mnist_candidates(data_dir):
        if not directory:
            looked_at.append(f"{description}: not set")
            continue
        if not os.path.isdir(directory):
            looked_at.append(f"{description}: no such directory")
            continue
        found, missing = _idx_files(directory)
        if not missing:
            x_train = read_idx(found["x_train"])
            y_train = read_idx(found["y_train"])
            x_test = read_idx(found["x_test"])
            y_test = read_idx(found["y_test"])
            for images, labels, split in [
                (x_train, y_train, "train"),
                (x_test, y_test, "test"),
            ]:
                if images.ndim != 3 or labels.shape != images.shape[:1]:
                    raise ValueError(
                        f"Fashion-MNIST IDX files in {directory} do not match: "
                        f"{split} images have shape {images.shape}, labels "
                        f"{labels.shape}; expected (N, 28, 28) and (N,)."
                    )
            return (
                (_idx_images(x_train, image_size), y_train.astype(np.int32)),
                (_idx_images(x_test, image_size), y_test.astype(np.int32)),
                list(FASHION_MNIST_CLASS_NAMES),
                len(FASHION_MNIST_CLASS_NAMES),
            )
        if _tfds_prepared("fashion_mnist", directory):
            return _load_tfds(
                "fashion_mnist", directory, image_size, seed, download=False
            )
        looked_at.append(
            f"{description}: missing {', '.join(missing)} and no prepared "
            "tensorflow-datasets fashion_mnist"
        )
    if download:
        return _load_tfds(
            "fashion_mnist", data_dir, image_size, seed, download=True
        )
    places = "\n".join(f"  - {line}" for line in looked_at)
    raise FileNotFoundError(
        "Fashion-MNIST was not found. Looked at:\n"
        f"{places}\n"
        "To get it, do one of:\n"
        "  - apt-get install -y dataset-fashion-mnist  (installs the IDX files "
        f"in {FASHION_MNIST_DEBIAN_DIR});\n"
        "  - put the four IDX files (train-images-idx3-ubyte, "
        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte, each optionally .gz) in a directory and set "
        f"{FASHION_MNIST_ENV_VAR}=DIR or pass data_dir=DIR;\n"
        "  - on a machine with internet run `tfds build fashion_mnist "
        "--data_dir DIR`, copy DIR here and pass data_dir=DIR;\n"
        "  - or pass download=True to let tensorflow-datasets download it "
        "(needs internet)."
    )


def _idx_images(images, image_size):
    x = images.astype(np.float32)[..., np.newaxis] / 255.0
    return _resize(x, image_size)


# --- scikit-learn digits -----------------------------------------------------


def _load_digits(image_size, seed):
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError(
            'load("digits") needs scikit-learn: pip install scikit-learn'
        ) from error
    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[..., np.newaxis]
    x = _resize(x, image_size)
    y = digits.target.astype(np.int32)
    train, test = _stratified_split(
        y, int(round(_TEST_FRACTION * len(y))), _rng(seed, "test")
    )
    class_names = [str(name) for name in digits.target_names]
    return (x[train], y[train]), (x[test], y[test]), class_names, 10


# --- tensorflow-datasets -----------------------------------------------------


def _tfds_not_prepared(name, data_dir, detail):
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


def _load_tfds(name, data_dir, image_size, seed, download):
    import tensorflow_datasets as tfds

    if data_dir is None:
        data_dir = os.environ.get(TFDS_DATA_DIR_ENV_VAR) or os.path.expanduser(
            os.path.join("~", "tensorflow_datasets")
        )
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as error:
        raise _tfds_not_prepared(
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
            raise _tfds_not_prepared(
                name, data_dir, f"nothing at {builder.data_dir}"
            ) from error
        x, y = _tfds_to_numpy(dataset, image_key, label_key, image_size)
        if not len(y):
            raise ValueError(
                f"The {split!r} split of tensorflow-datasets dataset {name!r} "
                f"in {builder.data_dir} is empty."
            )
        return x, y

    x_train, y_train = read("train")
    if test_split is None:
        num_test = int(round(_TEST_FRACTION * len(y_train)))
        train, test = _stratified_split(y_train, num_test, _rng(seed, "test"))
        x_test, y_test = x_train[test], y_train[test]
        x_train, y_train = x_train[train], y_train[train]
    else:
        x_test, y_test = read(test_split)
    return (x_train, y_train), (x_test, y_test), class_names, num_classes


def _tfds_to_numpy(dataset, image_key, label_key, image_size):
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
