"""Tests of `keras_nachos.datasets.splitting`."""

import hashlib

import numpy as np

from keras_nachos import datasets
from keras_nachos.datasets import splitting
from tests.datasets import testing_utils


def test_fashion_mnist_split_is_deterministic_for_a_seed(
    tmp_path, no_fashion_mnist_elsewhere
):
    directory = testing_utils.write_tiny_fashion(tmp_path, compress=False)

    def validation_ids(seed):
        splits = datasets.load("fashion_mnist", data_dir=directory, seed=seed)
        return testing_utils.image_ids(splits.validation[0])

    np.testing.assert_array_equal(validation_ids(1), validation_ids(1))
    assert not np.array_equal(validation_ids(1), validation_ids(2))


def test_fashion_mnist_max_samples_caps_train_only(
    tmp_path, no_fashion_mnist_elsewhere
):
    directory = testing_utils.write_tiny_fashion(tmp_path, compress=True)

    splits = datasets.load(
        "fashion_mnist",
        data_dir=directory,
        max_samples=50,
        validation_split=0.2,
    )

    assert len(splits.train[1]) == 40
    np.testing.assert_array_equal(np.bincount(splits.validation[1]), [1] * 10)
    assert len(splits.test[1]) == 20


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


def test_stratified_split_shares_by_largest_remainder():
    y = np.array([0] * 5 + [1] * 3 + [2] * 2)

    # Shares 2.5, 1.5, 1.0: floors 2, 1, 1; the leftover unit goes to the
    # first of the two largest remainders.
    counts = splitting.per_class_counts(np.array([5, 3, 2]), 5)
    kept, taken = splitting.stratified_split(
        y, 5, splitting.seeded_rng(0, "validation")
    )

    np.testing.assert_array_equal(counts, [3, 1, 1])
    np.testing.assert_array_equal(np.bincount(y[taken]), [3, 1, 1])
    assert list(taken) == sorted(taken) and list(kept) == sorted(kept)
    np.testing.assert_array_equal(np.sort(np.r_[kept, taken]), np.arange(10))
