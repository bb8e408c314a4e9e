"""Tests of `keras_nachos.costs.profiler`: dilated convolutions, loops, and
which graph is profiled."""

import keras
import pytest

from keras_nachos.costs import count_macs
from tests.costs.testing_utils import analytic_quietly

layers = keras.layers


@pytest.mark.parametrize(
    "layer, expected",
    [
        (layers.Conv2D(8, 3, dilation_rate=2), 5 * 5 * 8 * 3 * 3 * 4),
        (
            layers.Conv2D(8, 3, dilation_rate=2, padding="same"),
            9 * 9 * 8 * 3 * 3 * 4,
        ),
        (layers.DepthwiseConv2D(3, dilation_rate=2), 5 * 5 * 4 * 3 * 3),
        (layers.Conv1D(8, 3, dilation_rate=2, groups=2), 7 * 8 * 3 * 4 // 2),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, layers.Layer) else None,
)
def test_dilated_convs_count_no_padding(layer, expected):
    # TF runs these as SpaceToBatchND -> conv -> BatchToSpaceND; the raw
    # profiler count includes the positions padded to a multiple of the rate.
    inputs = keras.Input((9, 9, 4) if "2D" in type(layer).__name__ else (11, 4))
    model = keras.Model(inputs, layer(inputs))
    assert analytic_quietly(model) == expected
    assert count_macs(model, method="profiler") == expected


def test_profiler_warns_about_loops():
    inputs = keras.Input((5, 3))
    model = keras.Model(inputs, layers.LSTM(4)(inputs))
    assert analytic_quietly(model) == 5 * 4 * 4 * (3 + 4)
    with pytest.warns(UserWarning, match="loop body"):
        assert count_macs(model, method="profiler") < 5 * 4 * 4 * (3 + 4)


def _concrete_function(model, shape):
    import tensorflow as tf

    function = tf.function(lambda x: model(x, training=False))
    return function.get_concrete_function(tf.TensorSpec(shape, "float32"))


def test_the_traced_graph_is_frozen_only_where_that_changes_the_count():
    from keras_nachos.costs import profiler

    def macs(graph, concrete_function):
        library = {
            f.signature.name: f
            for f in concrete_function.graph.as_graph_def().library.function
        }
        library.update({
            f.signature.name: f for f in graph.as_graph_def().library.function
        })
        return profiler._graph_macs(graph, library)

    # Static shapes, no function call: profiled as traced, the same count.
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, dilation_rate=2, padding="same")(inputs)
    model = keras.Model(inputs, layers.Dense(5)(layers.Flatten()(x)))
    traced = _concrete_function(model, (1, 8, 8, 3))
    assert profiler._graph_to_profile(traced) is traced.graph
    frozen = profiler._freeze(traced)
    assert macs(traced.graph, traced) == macs(frozen, traced) == (
        8 * 8 * 4 * 9 * 3 + 8 * 8 * 4 * 5
    )
    # A loop (control flow, which freezing lowers) is frozen first.
    inputs = keras.Input((5, 3))
    loop = _concrete_function(keras.Model(inputs, layers.LSTM(4)(inputs)), (1, 5, 3))
    assert profiler._graph_to_profile(loop) is not loop.graph
