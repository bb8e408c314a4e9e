"""Batch-norm re-estimation: a subnet's own moving statistics."""

import numpy as np
import tensorflow as tf


def reestimate_batch_norm(supernet, encoding, x, batch_size):
    """Sets the supernet's batch-norm statistics to those of a subnet on `x`.

    Runs the subnet `encoding` on `x` by batches of `batch_size` in training
    mode (each batch normalised with its own statistics, as in training) and
    sets every batch norm's moving mean and variance to the mean and
    variance over all of `x`: exact averages of the batches' moments,
    weighted by batch size (not a momentum average).

    Args:
        supernet: The `Supernet`.
        encoding: Int32 tensor, the subnet's `SubnetEncoding`.
        x: Float32 array of images, not empty.
        batch_size: Integer.
    """
    moments = _moments_function(supernet)
    sums = {}
    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size]
        weight = len(batch)
        for name, (mean, mean_square) in moments(batch, encoding).items():
            acc = sums.setdefault(name, [0.0, 0.0])
            acc[0] = acc[0] + weight * np.asarray(mean, "float64")
            acc[1] = acc[1] + weight * np.asarray(mean_square, "float64")
    layers = {layer.name: layer for layer in supernet.batch_norm_layers()}
    for name, (mean_sum, square_sum) in sums.items():
        mean = mean_sum / len(x)
        variance = np.maximum(square_sum / len(x) - mean**2, 0.0)
        layers[name].moving_mean.assign(mean.astype("float32"))
        layers[name].moving_variance.assign(variance.astype("float32"))


def _moments_function(supernet):
    """The traced `(images, encoding) -> {batch norm name: (mean, mean of
    squares)}` of the supernet's subnets (traced once, kept)."""
    functions = supernet._functions
    if functions.moments is None:
        def moments(images, code):
            collected = {}
            supernet._forward(images, code, (), training=True,
                              moments=collected)
            return collected

        functions.moments = tf.function(
            moments, input_signature=supernet._signature()
        )
    return functions.moments
