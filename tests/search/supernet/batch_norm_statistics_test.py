"""Tests of `keras_nachos.search.supernet.batch_norm_statistics`: the
re-estimated statistics are the subnet's, exact averages over the batches."""

import numpy as np

from tests.search.supernet.testing_utils import candidates


def test_reestimated_statistics_are_those_of_the_subnet(trained):
    space, supernet, x, _, _ = trained
    values = candidates(space, supernet)[3]
    n = supernet.reestimate_batch_norm(values, x, batch_size=len(x))
    assert n == len(x)
    model = supernet.extract(values)
    # With the statistics of exactly these images, inference mode computes
    # what training mode (batch statistics) computes on them.
    inference = model(x, training=False)
    batch = model(x, training=True)
    for name in model.exit_names:
        np.testing.assert_allclose(
            np.asarray(inference[name]), np.asarray(batch[name]), atol=1e-4
        )
    # Batches of 7 (the last one smaller) average to the statistics of all
    # images where a layer's inputs do not depend on the batching (the stem's
    # batch norm: later ones see inputs normalised per batch).
    stem = supernet.stem_bn
    mean, variance = np.asarray(stem.moving_mean), np.asarray(stem.moving_variance)
    supernet.reestimate_batch_norm(values, x, batch_size=7)
    np.testing.assert_allclose(np.asarray(stem.moving_mean), mean, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(stem.moving_variance), variance, rtol=1e-5, atol=1e-6
    )
    assert supernet.reestimate_batch_norm(values, x, max_samples=10) == 10


def test_every_batch_norm_is_reestimated(trained):
    space, supernet, x, _, _ = trained
    layers = supernet.batch_norm_layers()
    # The stem's and three per block (expand, depthwise, project).
    assert len(layers) == 1 + 3 * 3 * 2
    assert len({layer.name for layer in layers}) == len(layers)
    for layer in layers:
        layer.moving_mean.assign(np.full(layer.moving_mean.shape, 7.0, "float32"))
    supernet.reestimate_batch_norm(supernet.largest_values(), x)
    for layer in layers:
        assert np.abs(np.asarray(layer.moving_mean) - 7.0).min() > 0, layer.name
