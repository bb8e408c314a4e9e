"""Tests of `keras_nachos.search.Supernet`: extraction equals the masked
subnet path, exact MACs, batch-norm re-estimation, training, save and load,
argument checks."""

import keras
import numpy as np
import pytest

from keras_nachos.search import SearchSpace
from keras_nachos.search import Supernet
from keras_nachos.search.elastic_layers import ElasticDepthwiseConv2D
from tests.testing_utils import assert_invalid


def elastic_space(**overrides):
    """A tiny space with every elastic decision: stem 8 and stage-1 widths
    8/12 at stride 1 (block 1 has a residual for width 8 only), expansion 1
    (no expand conv) among the ratios, two kernel sizes, two depths, all
    three head designs at two widths."""
    options = dict(
        input_shape=(8, 8, 1), num_classes=3,
        stage_widths=[[8, 12], [8, 16], [12, 16]], depths=(1, 2),
        kernel_sizes=(3, 5), expansion_ratios=(1, 2), stem_filters=(4, 8),
        stem_stride=1, head_types=("global_pool", "sdn", "conv"),
        head_widths=(0, 8),
    )
    options.update(overrides)
    return SearchSpace(**options)


def toy_data(n=96, size=8, seed=0):
    """Images whose class is the brightest of three horizontal bands."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(0.0, 0.3, (n, size, size, 1)).astype("float32")
    band = size // 3
    for i, label in enumerate(y):
        x[i, label * band:(label + 1) * band] += 1.0
    return x, y


@pytest.fixture(scope="module")
def trained():
    space = elastic_space()
    supernet = Supernet(space, seed=1)
    supernet.compile(optimizer=keras.optimizers.Adam(1e-2))
    x, y = toy_data()
    history = supernet.fit(x, y, epochs=3, batch_size=32, verbose=0)
    return space, supernet, x, y, history


def candidates(space, supernet):
    """Largest, smallest and random candidates that between them use every
    head design at every exit position."""
    designs = [(k, w) for k in space.head_types for w in space.head_widths]
    out = [supernet.largest_values(), supernet.smallest_values()]
    for seed in range(len(designs)):
        values = space.random_values(seed=seed)
        for s in space.exit_positions:
            kind, width = designs[(seed + s) % len(designs)]
            values.update({f"exit_{s}": True, f"exit_{s}_head": kind,
                           f"exit_{s}_head_width": width})
        out.append(values)
    return out


def test_extracted_models_equal_the_subnet_path_and_cost_the_candidates_macs(
    trained,
):
    space, supernet, x, _, _ = trained
    seen = set()
    for values in candidates(space, supernet):
        model = supernet.extract(values, x=x)
        expected = model.predict_exits(x, batch_size=64)
        got = supernet.predict_subnet(values, x, batch_size=40)
        assert len(got) == len(expected) == model.num_exits
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, atol=2e-5)
        assert model.exit_macs == space.build(values).exit_macs
        seen.update(supernet.subnet_head_keys(values))
        # Not a constant network: the exits tell the images apart.
        assert np.std(expected[-1]) > 1e-3
    # One shared head per design (sdn has no width), all of them checked.
    assert seen == set(supernet.heads)
    assert len(supernet.heads) == 2 * 5


def test_a_model_built_already_is_filled_in_place(trained):
    space, supernet, x, _, _ = trained
    values = candidates(space, supernet)[1]
    built = space.build(values)
    model = supernet.extract(values, x=x, model=built)
    assert model is built
    expected = supernet.predict_subnet(values, x, batch_size=64)
    for a, b in zip(model.predict_exits(x, batch_size=64), expected):
        np.testing.assert_allclose(a, b, atol=2e-5)


def test_subnets_differ_and_depth_skips_blocks(trained):
    space, supernet, x, _, _ = trained
    largest = supernet.largest_values()
    shallow = dict(largest, stage_3_depth=1)
    supernet.reestimate_batch_norm(largest, x)
    a = supernet.predict_subnet(largest, x)[-1]
    supernet.reestimate_batch_norm(shallow, x)
    b = supernet.predict_subnet(shallow, x)[-1]
    assert np.abs(a - b).max() > 1e-3
    model = supernet.extract(shallow)
    assert "stage3_block2_project" not in [l.name for l in model.backbone.layers]
    np.testing.assert_allclose(model.predict_exits(x)[-1], b, atol=2e-5)


@pytest.mark.parametrize("size", [7, 8])
@pytest.mark.parametrize("strides", [1, 2])
def test_the_centre_of_a_kernel_is_the_smaller_kernel(size, strides):
    rng = np.random.default_rng(size + strides)
    x = rng.normal(size=(2, size, size, 3)).astype("float32")
    elastic = ElasticDepthwiseConv2D(7, strides=strides)
    elastic.build(x.shape)
    elastic.kernel.assign(rng.normal(size=(7, 7, 3, 1)).astype("float32"))
    for k in (3, 5, 7):
        small = keras.layers.DepthwiseConv2D(
            k, strides=strides, padding="same", use_bias=False
        )
        small.build(x.shape)
        start = (7 - k) // 2
        small.kernel.assign(
            np.asarray(elastic.kernel)[start:start + k, start:start + k]
        )
        np.testing.assert_allclose(
            np.asarray(elastic.masked_call(x, k)), np.asarray(small(x)),
            atol=1e-5,
        )


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


def test_training_improves_the_largest_and_the_smallest_subnets(trained):
    space, supernet, x, y, history = trained
    assert set(history.history) == {
        "loss", "largest_accuracy", "smallest_accuracy"
    }
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    x_val, y_val = toy_data(n=60, seed=5)
    for values in (supernet.largest_values(), supernet.smallest_values()):
        supernet.reestimate_batch_norm(values, x)
        final = supernet.predict_subnet(values, x_val)[-1]
        assert np.mean(final.argmax(1) == y_val) > 0.6
    # Validation data: the largest and the smallest subnet's metrics.
    supernet2 = Supernet(space, seed=2, num_random=0)
    supernet2.compile(optimizer="adam")
    logs = supernet2.fit(x, y, validation_data=(x_val, y_val), epochs=1,
                         batch_size=48, verbose=0).history
    assert {"val_loss", "val_largest_accuracy", "val_smallest_accuracy"} <= set(logs)


def test_the_supernet_saves_and_loads(trained, tmp_path):
    space, supernet, x, _, _ = trained
    values = candidates(space, supernet)[4]
    supernet.reestimate_batch_norm(values, x)
    path = str(tmp_path / "supernet.keras")
    supernet.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, Supernet)
    assert loaded.space.get_config() == space.get_config()
    assert loaded.get_config() == supernet.get_config()
    for a, b in zip(loaded.predict_subnet(values, x),
                    supernet.predict_subnet(values, x)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        loaded.extract(values).predict_exits(x)[0],
        supernet.extract(values).predict_exits(x)[0],
    )
    # Compiled as saved, with the optimizer's state: training goes on.
    assert loaded.optimizer.iterations.numpy() == supernet.optimizer.iterations.numpy() > 0
    loaded.fit(x, x[:, 0, 0, 0] > 0, epochs=1, batch_size=48, verbose=0)
    assert loaded.optimizer.iterations.numpy() == supernet.optimizer.iterations.numpy() + 2


def test_seeded_supernets_start_equal():
    space = elastic_space()
    a, b = Supernet(space, seed=3), Supernet(space, seed=3)
    for va, vb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(np.asarray(va), np.asarray(vb))
    c = Supernet(space, seed=4)
    assert not np.array_equal(np.asarray(a.stem_conv.kernel),
                              np.asarray(c.stem_conv.kernel))


def test_unsupported_spaces_and_bad_arguments_are_refused(trained):
    space, supernet, x, _, _ = trained
    assert_invalid("space", Supernet, elastic_space(confidence=True))
    assert_invalid("space", Supernet, elastic_space(
        block_types=("inverted_residual", "plain_conv")))
    assert_invalid("space", Supernet, elastic_space(resolutions=(8, 6)))
    assert_invalid("space", Supernet, "space")
    assert_invalid("num_random", Supernet, space, num_random=-1)
    values = supernet.largest_values()
    assert_invalid("values", supernet.predict_subnet,
                   dict(values, stage_1_width=10), x)
    assert_invalid("x", supernet.reestimate_batch_norm, values, x[:0])
    assert_invalid("batch_size", supernet.predict_subnet, values, x,
                   batch_size=0)
    assert_invalid("model", supernet.extract, values, model="model")
    assert_invalid("loss", supernet.compile, loss="mse")
