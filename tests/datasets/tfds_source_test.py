"""Tests of `keras_nachos.datasets.tfds_source`."""

import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_nachos import datasets
from tests.datasets import testing_utils


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


def test_tfds_prepared_data_dir(tmp_path, monkeypatch):
    TinyImages(data_dir=str(tmp_path)).download_and_prepare()
    testing_utils.forbid_downloads(monkeypatch)

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
    testing_utils.forbid_downloads(monkeypatch)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))

    splits = datasets.load(
        "tiny_images", image_size=(16, 16), as_dataset=True, batch_size=4
    )

    x, y = next(iter(splits.test))
    assert x.shape == (4, 16, 16, 1) and y.shape == (4,)
    assert splits.input_shape == (16, 16, 1)


def test_tfds_without_test_split_takes_it_from_train(tmp_path, monkeypatch):
    TinyTrainOnly(data_dir=str(tmp_path)).download_and_prepare()
    testing_utils.forbid_downloads(monkeypatch)

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
    testing_utils.forbid_downloads(monkeypatch)

    start = time.monotonic()
    with pytest.raises(FileNotFoundError) as info:
        datasets.load(name, data_dir=tmp_path)

    assert time.monotonic() - start < 10
    message = str(info.value)
    assert repr(name) in message and str(tmp_path) in message
    assert f"tfds build {name} --data_dir DIR" in message


def test_tfds_mock_data_mnist(tmp_path, monkeypatch):
    testing_utils.forbid_downloads(monkeypatch)

    with tfds.testing.mock_data(
        num_examples=20, policy=tfds.testing.MockPolicy.USE_CODE
    ):
        splits = datasets.load("mnist", data_dir=tmp_path)

    assert splits.train[0].shape[1:] == (28, 28, 1)
    assert len(splits.train[1]) + len(splits.validation[1]) == 20
    assert len(splits.test[1]) == 20
    assert splits.num_classes == 10
