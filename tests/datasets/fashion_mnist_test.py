"""Tests of `keras_nachos.datasets.fashion_mnist`."""

import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_nachos import datasets
from keras_nachos.datasets import fashion_mnist
from tests.datasets import testing_utils

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


def test_fashion_mnist_from_data_dir(tmp_path, no_fashion_mnist_elsewhere):
    directory = testing_utils.write_tiny_fashion(
        tmp_path / "fmnist", compress=True
    )

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
        np.testing.assert_array_equal(y, testing_utils.image_ids(x) % 10)
    # Stratified: 2 validation images per class, 8 train images per class.
    np.testing.assert_array_equal(np.bincount(y_val), [2] * 10)
    np.testing.assert_array_equal(np.bincount(y_train), [8] * 10)
    # Validation comes from train only; nothing overlaps.
    train_ids = set(testing_utils.image_ids(x_train))
    val_ids = set(testing_utils.image_ids(x_val))
    test_ids = set(testing_utils.image_ids(x_test))
    assert train_ids | val_ids == set(range(100))
    assert not train_ids & val_ids
    assert test_ids == set(range(100, 120))
    assert splits.num_classes == 10
    assert splits.input_shape == (28, 28, 1)
    assert splits.class_names == FASHION_NAMES


def test_fashion_mnist_from_env_var(tmp_path, monkeypatch):
    directory = testing_utils.write_tiny_fashion(
        tmp_path / "raw", compress=False
    )
    monkeypatch.setenv(datasets.FASHION_MNIST_ENV_VAR, str(directory))
    monkeypatch.setattr(
        fashion_mnist, "FASHION_MNIST_DEBIAN_DIR", str(tmp_path / "no-debian")
    )

    # An empty data_dir falls through to the env var.
    (tmp_path / "empty").mkdir()
    splits = datasets.load("fashion_mnist", data_dir=tmp_path / "empty")

    assert len(splits.train[1]) == 90
    assert len(splits.validation[1]) == 10
    assert len(splits.test[1]) == 20


def test_fashion_mnist_from_prepared_tfds_data_dir(
    tmp_path, monkeypatch, no_fashion_mnist_elsewhere
):
    FakeFashionMnist(data_dir=str(tmp_path)).download_and_prepare()
    testing_utils.forbid_downloads(monkeypatch)

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
    np.testing.assert_array_equal(np.bincount(splits.validation[1]), [600] * 10)
    assert splits.train[0].dtype == np.float32
    assert splits.train[0].max() == 1.0


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path, monkeypatch):
    (tmp_path / "empty_arg").mkdir()
    (tmp_path / "empty_env").mkdir()
    monkeypatch.setenv(
        datasets.FASHION_MNIST_ENV_VAR, str(tmp_path / "empty_env")
    )
    missing = str(tmp_path / "no-debian")
    monkeypatch.setattr(fashion_mnist, "FASHION_MNIST_DEBIAN_DIR", missing)

    with pytest.raises(FileNotFoundError) as info:
        datasets.load("fashion_mnist", data_dir=tmp_path / "empty_arg")

    message = str(info.value)
    assert "apt-get install -y dataset-fashion-mnist" in message
    assert "KERAS_NACHOS_FASHION_MNIST_DIR" in message
    assert "tfds build fashion_mnist" in message
    for place in ["empty_arg", "empty_env", missing]:
        assert place in message
