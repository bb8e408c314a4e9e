import gzip
import hashlib
import os
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_nachos import datasets
from keras_nachos.datasets import loading

tfds.disable_progress_bar()

FASHION_NAMES = [
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


# --- helpers -----------------------------------------------------------------


def write_idx(path, array, compress):
    """Writes an IDX file by hand (uint8 or >i2), independently of read_idx."""
    codes = {np.dtype("u1"): 0x08, np.dtype(">i2"): 0x0B}
    header = bytes([0, 0, codes[array.dtype], array.ndim])
    header += np.asarray(array.shape, ">u4").tobytes()
    data = header + array.tobytes()
    opener = gzip.open if compress else open
    with opener(str(path) + (".gz" if compress else ""), "wb") as f:
        f.write(data)


def tiny_fashion_arrays(num_train=100, num_test=20):
    """Images whose first two pixels encode their index, labels i % 10."""

    def make(n, offset):
        ids = np.arange(offset, offset + n)
        images = np.zeros((n, 28, 28), np.uint8)
        images[:, 0, 0] = ids % 256
        images[:, 0, 1] = ids // 256
        images[:, 5:10, 5:10] = 255
        return images, (ids % 10).astype(np.uint8)

    return make(num_train, 0), make(num_test, num_train)


def write_tiny_fashion(directory, compress):
    (x_train, y_train), (x_test, y_test) = tiny_fashion_arrays()
    os.makedirs(directory, exist_ok=True)
    write_idx(directory / "train-images-idx3-ubyte", x_train, compress)
    write_idx(directory / "train-labels-idx1-ubyte", y_train, compress)
    write_idx(directory / "t10k-images-idx3-ubyte", x_test, compress)
    write_idx(directory / "t10k-labels-idx1-ubyte", y_test, compress)
    return directory


def image_ids(x):
    pixels = np.rint(x[:, 0, :2, 0] * 255).astype(int)
    return pixels[:, 0] + 256 * pixels[:, 1]


@pytest.fixture
def no_fashion_mnist_elsewhere(monkeypatch, tmp_path):
    """Hides the env var and the Debian copy, so only data_dir counts."""
    monkeypatch.delenv(datasets.FASHION_MNIST_ENV_VAR, raising=False)
    monkeypatch.setattr(
        loading, "FASHION_MNIST_DEBIAN_DIR", str(tmp_path / "no-debian")
    )


def forbid_downloads(monkeypatch):
    """Fails the test on any attempt to download with tensorflow-datasets."""
    original_load = tfds.load

    def guarded_load(*args, **kwargs):
        if kwargs.get("download", True):
            raise AssertionError("tfds.load was asked to download")
        return original_load(*args, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError("download_and_prepare was called")

    monkeypatch.setattr(tfds, "load", guarded_load)
    monkeypatch.setattr(
        tfds.core.DatasetBuilder, "download_and_prepare", refuse
    )


class TinyImages(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """30 train and 12 test random 8x8x1 images of 3 classes."""

    VERSION = tfds.core.Version("1.0.0")
    SPLITS = {"train": 30, "test": 12}

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(8, 8, 1)),
                    "label": tfds.features.ClassLabel(
                        names=["ant", "bee", "cat"]
                    ),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        return {
            split: self._generate_examples(seed, n)
            for seed, (split, n) in enumerate(self.SPLITS.items())
        }

    def _generate_examples(self, seed, n):
        rng = np.random.default_rng(seed)
        for i in range(n):
            image = rng.integers(0, 256, (8, 8, 1), dtype=np.uint8)
            yield i, {"image": image, "label": i % 3}


class TinyTrainOnly(TinyImages, skip_registration=True):
    SPLITS = {"train": 30}


class FakeFashionMnist(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A prepared tfds `fashion_mnist` look-alike: 30 train, 10 test."""

    name = "fashion_mnist"
    VERSION = tfds.core.Version("3.0.1")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(28, 28, 1)),
                    "label": tfds.features.ClassLabel(names=FASHION_NAMES),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        return {
            "train": self._generate_examples(30),
            "test": self._generate_examples(10),
        }

    def _generate_examples(self, n):
        for i in range(n):
            image = np.full((28, 28, 1), 25 * (i % 10), np.uint8)
            yield i, {"image": image, "label": i % 10}


# --- IDX ---------------------------------------------------------------------


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_round_trip(tmp_path, compress):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    shorts = np.array([-2, 300, 7], ">i2")
    write_idx(tmp_path / "images", images, compress)
    write_idx(tmp_path / "shorts", shorts, compress)
    suffix = ".gz" if compress else ""

    read_images = datasets.read_idx(tmp_path / f"images{suffix}")
    read_shorts = datasets.read_idx(tmp_path / f"shorts{suffix}")

    np.testing.assert_array_equal(read_images, images)
    assert read_images.dtype == np.uint8
    np.testing.assert_array_equal(read_shorts, [-2, 300, 7])
    assert read_shorts.dtype == np.int16


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad_magic").write_bytes(b"\x01\x00\x08\x01" + bytes(4))
    with pytest.raises(ValueError, match="magic number"):
        datasets.read_idx(tmp_path / "bad_magic")
    (tmp_path / "bad_type").write_bytes(b"\x00\x00\x42\x01" + bytes(4))
    with pytest.raises(ValueError, match="unknown type code"):
        datasets.read_idx(tmp_path / "bad_type")
    # Declares 5 uint8 values but holds 3.
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(ValueError, match="truncated"):
        datasets.read_idx(tmp_path / "short")


# --- Fashion-MNIST -----------------------------------------------------------


def test_fashion_mnist_from_data_dir(tmp_path, no_fashion_mnist_elsewhere):
    directory = write_tiny_fashion(tmp_path / "fmnist", compress=True)

    splits = datasets.load(
        "fashion_mnist", data_dir=directory, validation_split=0.2
    )

    (x_train, y_train), (x_val, y_val) = splits.train, splits.validation
    x_test, y_test = splits.test
    assert x_train.shape == (80, 28, 28, 1)
    assert x_val.shape == (20, 28, 28, 1)
    assert x_test.shape == (20, 28, 28, 1)
    for x, y in [splits.train, splits.validation, splits.test]:
        assert x.dtype == np.float32 and y.dtype == np.int32
        assert x.min() == 0.0 and x.max() == 1.0
        # Labels still match the images they came with.
        np.testing.assert_array_equal(y, image_ids(x) % 10)
    # Stratified: 2 validation images per class, 8 train images per class.
    np.testing.assert_array_equal(np.bincount(y_val), [2] * 10)
    np.testing.assert_array_equal(np.bincount(y_train), [8] * 10)
    # Validation comes from train only; nothing overlaps.
    train_ids, val_ids = set(image_ids(x_train)), set(image_ids(x_val))
    test_ids = set(image_ids(x_test))
    assert train_ids | val_ids == set(range(100))
    assert not train_ids & val_ids
    assert test_ids == set(range(100, 120))
    assert splits.num_classes == 10
    assert splits.input_shape == (28, 28, 1)
    assert splits.class_names == FASHION_NAMES


def test_fashion_mnist_split_is_deterministic_for_a_seed(
    tmp_path, no_fashion_mnist_elsewhere
):
    directory = write_tiny_fashion(tmp_path, compress=False)

    def validation_ids(seed):
        splits = datasets.load("fashion_mnist", data_dir=directory, seed=seed)
        return image_ids(splits.validation[0])

    np.testing.assert_array_equal(validation_ids(1), validation_ids(1))
    assert not np.array_equal(validation_ids(1), validation_ids(2))


def test_fashion_mnist_from_env_var(tmp_path, monkeypatch):
    directory = write_tiny_fashion(tmp_path / "raw", compress=False)
    monkeypatch.setenv(datasets.FASHION_MNIST_ENV_VAR, str(directory))
    monkeypatch.setattr(
        loading, "FASHION_MNIST_DEBIAN_DIR", str(tmp_path / "no-debian")
    )

    # An empty data_dir falls through to the env var.
    (tmp_path / "empty").mkdir()
    splits = datasets.load("fashion_mnist", data_dir=tmp_path / "empty")

    assert len(splits.train[1]) == 90
    assert len(splits.validation[1]) == 10
    assert len(splits.test[1]) == 20


def test_fashion_mnist_max_samples_caps_train_only(
    tmp_path, no_fashion_mnist_elsewhere
):
    directory = write_tiny_fashion(tmp_path, compress=True)

    splits = datasets.load(
        "fashion_mnist",
        data_dir=directory,
        max_samples=50,
        validation_split=0.2,
    )

    assert len(splits.train[1]) == 40
    np.testing.assert_array_equal(np.bincount(splits.validation[1]), [1] * 10)
    assert len(splits.test[1]) == 20


def test_fashion_mnist_image_size_and_no_validation(
    tmp_path, no_fashion_mnist_elsewhere
):
    directory = write_tiny_fashion(tmp_path, compress=True)

    splits = datasets.load(
        "fashion_mnist",
        data_dir=directory,
        image_size=(14, 14),
        validation_split=0.0,
    )

    assert splits.validation is None
    assert splits.train[0].shape == (100, 14, 14, 1)
    assert splits.input_shape == (14, 14, 1)
    assert 0.0 <= splits.train[0].min() and splits.train[0].max() <= 1.0


def test_fashion_mnist_from_prepared_tfds_data_dir(
    tmp_path, monkeypatch, no_fashion_mnist_elsewhere
):
    FakeFashionMnist(data_dir=str(tmp_path)).download_and_prepare()
    forbid_downloads(monkeypatch)

    splits = datasets.load(
        "fashion_mnist", data_dir=tmp_path, validation_split=0.1
    )

    assert len(splits.train[1]) == 27
    assert len(splits.validation[1]) == 3
    assert splits.test[0].shape == (10, 28, 28, 1)
    np.testing.assert_allclose(
        splits.test[0][:, 0, 0, 0], 25 * splits.test[1] / 255, atol=1e-6
    )
    assert splits.class_names == FASHION_NAMES


FASHION_MNIST_ON_DEBIAN = os.path.isdir(datasets.FASHION_MNIST_DEBIAN_DIR)


@pytest.mark.skipif(
    not FASHION_MNIST_ON_DEBIAN,
    reason="apt-get install -y dataset-fashion-mnist to run",
)
def test_real_fashion_mnist_from_debian(monkeypatch):
    monkeypatch.delenv(datasets.FASHION_MNIST_ENV_VAR, raising=False)

    splits = datasets.load("fashion_mnist", validation_split=0.1)

    assert len(splits.train[1]) == 54000
    assert len(splits.validation[1]) == 6000
    assert len(splits.test[1]) == 10000
    assert splits.input_shape == (28, 28, 1)
    assert splits.num_classes == 10
    np.testing.assert_array_equal(np.bincount(splits.test[1]), [1000] * 10)
    np.testing.assert_array_equal(
        np.bincount(splits.validation[1]), [600] * 10
    )
    assert splits.train[0].dtype == np.float32
    assert splits.train[0].max() == 1.0


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path, monkeypatch):
    (tmp_path / "empty_arg").mkdir()
    (tmp_path / "empty_env").mkdir()
    monkeypatch.setenv(
        datasets.FASHION_MNIST_ENV_VAR, str(tmp_path / "empty_env")
    )
    missing = str(tmp_path / "no-debian")
    monkeypatch.setattr(loading, "FASHION_MNIST_DEBIAN_DIR", missing)

    with pytest.raises(FileNotFoundError) as info:
        datasets.load("fashion_mnist", data_dir=tmp_path / "empty_arg")

    message = str(info.value)
    assert "apt-get install -y dataset-fashion-mnist" in message
    assert "KERAS_NACHOS_FASHION_MNIST_DIR" in message
    assert "tfds build fashion_mnist" in message
    for place in ["empty_arg", "empty_env", missing]:
        assert place in message


# --- digits ------------------------------------------------------------------


def test_digits_shapes_and_splits():
    splits = datasets.load("digits")

    x_train, y_train = splits.train
    parts = [splits.train, splits.validation, splits.test]
    assert sum(len(y) for _, y in parts) == 1797
    assert len(splits.test[1]) == 359  # 20% of 1,797, stratified.
    assert len(splits.validation[1]) == 144  # 10% of the remaining 1,438.
    assert x_train.shape[1:] == (8, 8, 1) and x_train.dtype == np.float32
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert splits.input_shape == (8, 8, 1)
    assert splits.num_classes == 10
    assert splits.class_names == [str(i) for i in range(10)]
    assert set(np.unique(splits.test[1])) == set(range(10))


def test_digits_resize():
    splits = datasets.load("digits", image_size=(16, 16))

    assert splits.train[0].shape[1:] == (16, 16, 1)
    assert splits.input_shape == (16, 16, 1)
    assert 0.0 <= splits.test[0].min() and splits.test[0].max() <= 1.0


def test_digits_as_dataset():
    arrays = datasets.load("digits")
    splits = datasets.load("digits", as_dataset=True, batch_size=32)

    x, y = next(iter(splits.train))
    assert x.shape == (32, 8, 8, 1) and x.dtype == tf.float32
    assert y.shape == (32,) and y.dtype == tf.int32
    # Train is shuffled, test is not; nothing is lost.
    train_labels = np.concatenate([y for _, y in splits.train])
    np.testing.assert_array_equal(
        np.bincount(train_labels), np.bincount(arrays.train[1])
    )
    test_x = np.concatenate([x for x, _ in splits.test])
    np.testing.assert_array_equal(test_x, arrays.test[0])
    assert splits.validation.element_spec[0].shape.as_list() == [None, 8, 8, 1]


# --- tensorflow-datasets -----------------------------------------------------


def test_tfds_prepared_data_dir(tmp_path, monkeypatch):
    TinyImages(data_dir=str(tmp_path)).download_and_prepare()
    forbid_downloads(monkeypatch)

    # TinyImages is not registered: tfds reads the prepared files without code,
    # as on a machine the data directory was copied to.
    splits = datasets.load(
        "tiny_images", data_dir=tmp_path, validation_split=0.2
    )

    (x_train, y_train), (x_val, y_val) = splits.train, splits.validation
    assert x_train.shape == (24, 8, 8, 1) and x_train.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(y_val), [2, 2, 2])
    assert splits.test[0].shape == (12, 8, 8, 1)
    assert splits.test[1].dtype == np.int32
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert x_train.max() > 0.9  # Scaled from uint8, not left in [0, 255].
    assert splits.num_classes == 3
    assert splits.class_names == ["ant", "bee", "cat"]
    # The numbers are the generator's: tfds may shuffle, so compare as sets.
    rng = np.random.default_rng(1)
    expected_test = [
        rng.integers(0, 256, (8, 8, 1), dtype=np.uint8) for _ in range(12)
    ]
    got = {np.rint(x * 255).astype(np.uint8).tobytes() for x in splits.test[0]}
    assert got == {x.tobytes() for x in expected_test}


def test_tfds_image_size_as_dataset_and_env_var(tmp_path, monkeypatch):
    TinyImages(data_dir=str(tmp_path)).download_and_prepare()
    forbid_downloads(monkeypatch)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))

    splits = datasets.load(
        "tiny_images", image_size=(16, 16), as_dataset=True, batch_size=4
    )

    x, y = next(iter(splits.test))
    assert x.shape == (4, 16, 16, 1) and y.shape == (4,)
    assert splits.input_shape == (16, 16, 1)


def test_tfds_without_test_split_takes_it_from_train(tmp_path, monkeypatch):
    TinyTrainOnly(data_dir=str(tmp_path)).download_and_prepare()
    forbid_downloads(monkeypatch)

    splits = datasets.load("tiny_train_only", data_dir=tmp_path)

    assert len(splits.test[1]) == 6  # 20% of 30, stratified.
    np.testing.assert_array_equal(np.bincount(splits.test[1]), [2, 2, 2])
    assert len(splits.train[1]) + len(splits.validation[1]) == 24
    train_images = {x.tobytes() for x in splits.train[0]}
    assert not train_images & {x.tobytes() for x in splits.test[0]}


@pytest.mark.parametrize("name", ["mnist", "keras_nachos_no_such_dataset"])
def test_tfds_unprepared_gives_clear_error_without_download(
    tmp_path, monkeypatch, name
):
    forbid_downloads(monkeypatch)

    start = time.monotonic()
    with pytest.raises(FileNotFoundError) as info:
        datasets.load(name, data_dir=tmp_path)

    assert time.monotonic() - start < 10
    message = str(info.value)
    assert repr(name) in message and str(tmp_path) in message
    assert f"tfds build {name} --data_dir DIR" in message


def test_tfds_mock_data_mnist(tmp_path, monkeypatch):
    forbid_downloads(monkeypatch)

    with tfds.testing.mock_data(
        num_examples=20, policy=tfds.testing.MockPolicy.USE_CODE
    ):
        splits = datasets.load("mnist", data_dir=tmp_path)

    assert splits.train[0].shape[1:] == (28, 28, 1)
    assert len(splits.train[1]) + len(splits.validation[1]) == 20
    assert len(splits.test[1]) == 20
    assert splits.num_classes == 10


# --- arguments ---------------------------------------------------------------


@pytest.mark.parametrize(
    "argument, value",
    [
        ("validation_split", 1.0),
        ("validation_split", -0.1),
        ("validation_split", "0.1"),
        ("image_size", (16,)),
        ("image_size", (16, 0)),
        ("batch_size", 0),
        ("seed", -1),
        ("max_samples", 0),
        ("as_dataset", "yes"),
        ("download", 1),
    ],
)
def test_invalid_arguments(argument, value):
    with pytest.raises(ValueError, match=f"argument `{argument}`") as info:
        datasets.load("digits", **{argument: value})
    assert f"Received: {argument}={value!r}" in str(info.value)


def test_invalid_name():
    with pytest.raises(ValueError, match="argument `name`"):
        datasets.load("")


# --- door checks -------------------------------------------------------------


def assert_names(info, argument, value):
    """The message names the argument and the value it received."""
    message = str(info.value)
    assert f"argument `{argument}`" in message
    assert f"Received: {argument}={value!r}" in message
    return message


def test_read_idx_rejects_a_path_of_the_wrong_type():
    with pytest.raises(TypeError, match="argument `path`") as info:
        datasets.read_idx(123)
    assert_names(info, "path", 123)


@pytest.mark.parametrize("kind", ["missing", "directory", "empty"])
def test_read_idx_rejects_a_path_that_is_not_a_file(tmp_path, kind):
    path = {
        "missing": tmp_path / "no-such-idx1-ubyte",
        "directory": tmp_path,
        "empty": "",
    }[kind]

    with pytest.raises(ValueError, match="argument `path`") as info:
        datasets.read_idx(path)

    message = assert_names(info, "path", path)
    if kind == "missing":
        assert "does not exist" in message


def _idx_bytes(array):
    header = bytes([0, 0, 0x08, array.ndim])
    return header + np.asarray(array.shape, ">u4").tobytes() + array.tobytes()


@pytest.mark.parametrize("kind", ["data", "header", "gzip stream", "gzip"])
def test_read_idx_rejects_truncated_files(tmp_path, kind):
    full = _idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    if kind == "data":  # Declares 24 values, holds 20.
        path, content = tmp_path / "short", full[:-4]
    elif kind == "header":  # Declares 3 dimensions, holds one.
        path, content = tmp_path / "short", full[:8]
    elif kind == "gzip stream":
        path, content = tmp_path / "short.gz", gzip.compress(full)[:-12]
    else:  # Named .gz but not gzipped.
        path, content = tmp_path / "plain.gz", full
    path.write_bytes(content)

    with pytest.raises(ValueError, match="argument `path`") as info:
        datasets.read_idx(path)

    message = assert_names(info, "path", path)
    assert str(path) in message
    if kind != "gzip":
        assert "truncated" in message


def test_load_rejects_nan_validation_split():
    value = float("nan")
    with pytest.raises(ValueError, match="argument `validation_split`") as info:
        datasets.load("digits", validation_split=value)
    assert "Expected a float in [0, 1)" in assert_names(
        info, "validation_split", value
    )


def test_load_accepts_numpy_booleans_as_booleans():
    splits = datasets.load(
        "digits", as_dataset=np.True_, shuffle=np.False_, download=np.False_
    )

    assert isinstance(splits.train, tf.data.Dataset)


@pytest.mark.parametrize(
    "argument", ["validation_split", "batch_size", "seed", "max_samples"]
)
def test_load_rejects_numpy_booleans_as_numbers(argument):
    with pytest.raises(ValueError, match=f"argument `{argument}`") as info:
        datasets.load("digits", **{argument: np.True_})
    assert_names(info, argument, np.True_)


@pytest.mark.parametrize(
    "value",
    [
        (16.0, 16),
        (16, float("nan")),
        (0, 0),
        (-1, 16),
        (16, 16, 1),
        "16x16",
        16,
    ],
)
def test_load_rejects_image_sizes_that_are_not_two_positive_ints(value):
    with pytest.raises(ValueError, match="argument `image_size`") as info:
        datasets.load("digits", image_size=value)
    assert_names(info, "image_size", value)


@pytest.mark.parametrize(
    "name", ["fashion_mnist", "digits", "keras_nachos_no_such_dataset"]
)
def test_load_rejects_a_data_dir_that_does_not_exist(
    tmp_path, monkeypatch, name
):
    forbid_downloads(monkeypatch)
    missing = tmp_path / "no-such-dir"

    with pytest.raises(ValueError, match="argument `data_dir`") as info:
        datasets.load(name, data_dir=missing)

    message = assert_names(info, "data_dir", missing)
    assert "does not exist" in message and str(missing) in message


def test_load_lets_download_create_a_missing_data_dir(tmp_path, monkeypatch):
    forbid_downloads(monkeypatch)

    # Past the door, tensorflow-datasets is asked to download into it.
    with pytest.raises(AssertionError, match="download_and_prepare was called"):
        datasets.load("mnist", data_dir=tmp_path / "new", download=True)


def test_load_rejects_a_data_dir_that_is_a_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"")

    with pytest.raises(ValueError, match="argument `data_dir`") as info:
        datasets.load("fashion_mnist", data_dir=path)

    assert "not a directory" in assert_names(info, "data_dir", path)


def test_load_rejects_an_empty_data_dir():
    with pytest.raises(ValueError, match="argument `data_dir`") as info:
        datasets.load("fashion_mnist", data_dir="")
    assert_names(info, "data_dir", "")


@pytest.mark.parametrize("max_samples", [1, 5, 9])
def test_load_rejects_max_samples_that_leaves_a_class_empty(max_samples):
    with pytest.raises(ValueError, match="argument `max_samples`") as info:
        datasets.load("digits", max_samples=max_samples)
    assert "10 classes" in assert_names(info, "max_samples", max_samples)


@pytest.mark.parametrize(
    "validation_split, empty",
    [(0.95, "training"), (0.01, "validation")],
)
def test_load_rejects_a_validation_split_that_leaves_a_split_empty(
    validation_split, empty
):
    with pytest.raises(ValueError, match="argument `validation_split`") as info:
        datasets.load(
            "digits", max_samples=20, validation_split=validation_split
        )
    assert empty in assert_names(info, "validation_split", validation_split)


def _valid_splits_arguments():
    x, y = np.zeros((4, 8, 8, 1), np.float32), np.arange(4) % 2
    return {
        "name": "toy",
        "train": (x, y),
        "validation": None,
        "test": (x, y),
        "num_classes": 2,
        "input_shape": (8, 8, 1),
        "class_names": ["a", "b"],
    }


@pytest.mark.parametrize(
    "argument, value, error",
    [
        ("name", "", ValueError),
        ("name", 3, TypeError),
        ("train", None, ValueError),
        ("test", (np.zeros((4, 8, 8, 1)), np.zeros(3)), ValueError),
        ("validation", (np.zeros((4, 8, 8, 1)),), ValueError),
        ("num_classes", 0, ValueError),
        ("num_classes", 2.0, TypeError),
        ("num_classes", True, TypeError),
        ("input_shape", (8, 0, 1), ValueError),
        ("input_shape", [8, 8, 1], TypeError),
        ("class_names", ["a"], ValueError),
        ("class_names", ["a", 2], TypeError),
    ],
)
def test_dataset_splits_rejects_bad_fields(argument, value, error):
    arguments = _valid_splits_arguments()
    arguments[argument] = value

    with pytest.raises(error, match=f"argument `{argument}`") as info:
        datasets.DatasetSplits(**arguments)

    assert f"Received: {argument}=" in str(info.value)


def test_dataset_splits_accepts_valid_fields():
    splits = datasets.DatasetSplits(**_valid_splits_arguments())

    assert repr(splits) == (
        "DatasetSplits(name='toy', train=4 examples, validation=None, "
        "test=4 examples, num_classes=2, input_shape=(8, 8, 1))"
    )


# --- seeded splits stay the same ---------------------------------------------

# sha256 of load("digits", image_size=(16, 16), seed=0, max_samples=1000),
# computed with keras_nachos/datasets.py as of af21176, before the package
# split.
DIGITS_SHA256 = (
    "3b2ab0b4e7920dc6b12a378e943dbdca5884f9e543ca4ed18bf3c7b7739f683e"
)


def splits_sha256(splits):
    digest = hashlib.sha256()
    for x, y in [splits.train, splits.validation, splits.test]:
        for array in (x, y):
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def test_seeded_digits_splits_are_unchanged():
    splits = datasets.load(
        "digits", image_size=(16, 16), seed=0, max_samples=1000
    )

    assert splits_sha256(splits) == DIGITS_SHA256
