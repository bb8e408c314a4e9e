"""scikit-learn's 8x8 digits, with a seeded, stratified test split."""

import numpy as np

from keras_nachos.datasets.resizing import resize_images
from keras_nachos.datasets.splitting import TEST_FRACTION
from keras_nachos.datasets.splitting import seeded_rng
from keras_nachos.datasets.splitting import stratified_split


def load_digits(image_size, seed):
    """Reads scikit-learn's digits; 20% of the images become the test split.

    Args:
        image_size: Tuple `(height, width)`, or `None` to keep 8x8.
        seed: Integer, seeds the test split (stratified).

    Returns:
        A tuple `((x_train, y_train), (x_test, y_test), class_names,
        num_classes)`, images float32 in [0, 1], labels int32.
    """
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as error:
        raise ImportError(
            'load("digits") needs scikit-learn: pip install scikit-learn'
        ) from error
    digits = sklearn_load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[..., np.newaxis]
    x = resize_images(x, image_size)
    y = digits.target.astype(np.int32)
    train, test = stratified_split(
        y, int(round(TEST_FRACTION * len(y))), seeded_rng(seed, "test")
    )
    class_names = [str(name) for name in digits.target_names]
    return (x[train], y[train]), (x[test], y[test]), class_names, 10
