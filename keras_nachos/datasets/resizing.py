"""Bilinear resizing of image batches held in numpy."""

import numpy as np


def resize_images(x, image_size):
    """Resizes a batch of images in [0, 1] with bilinear interpolation.

    Args:
        x: Float array `(N, height, width, channels)` in [0, 1].
        image_size: Tuple `(height, width)`, or `None` to keep the size.

    Returns:
        `x` itself when it has the size already (or `image_size` is `None`),
        else a new float32 array, clipped to [0, 1].
    """
    if image_size is None or tuple(x.shape[1:3]) == image_size:
        return x
    import tensorflow as tf

    resized = tf.image.resize(x, image_size, method="bilinear").numpy()
    return np.clip(resized, 0.0, 1.0)
