"""Tests of `keras_nachos.functional_graph`: the one reader of Keras' graph
internals."""

import os

import keras
import numpy as np
import pytest

import keras_nachos
from keras_nachos import functional_graph
from tests.testing_utils import residual_cnn
from tests.testing_utils import small_cnn

layers = keras.layers


def test_nodes_come_in_the_order_keras_runs_them():
    model = residual_cnn()
    names = [node.operation.name for node in functional_graph.nodes(model)]
    assert names[:2] == [model.layers[0].name, "stem"]
    # Every node after the ones it reads: r1_add after both branches.
    for earlier, later in (("stem", "r1_conv1"), ("r1_conv2", "r1_add"),
                           ("r1_add", "r2_conv1"), ("r2_add", names[-1])):
        assert names.index(earlier) < names.index(later)
    assert len(names) == len(model.layers)
    first = functional_graph.nodes(model)[0]
    assert first.is_input and first.inputs == ()
    assert first.outputs == (model.inputs[0],)


def test_a_node_holds_its_call_and_computes_on_other_values():
    a, b = keras.Input((3,), name="a"), keras.Input((3,), name="b")
    added = layers.Add(name="add")([a, b])
    model = keras.Model([a, b], layers.Dense(2, name="d")(added))
    (node,) = functional_graph.calls_of(model, model.get_layer("add"))
    assert not node.is_input
    assert node.inputs == (a, b) and node.outputs == (added,)
    assert node.args == ([a, b],) and node.kwargs == {}
    values = {id(a): np.ones((1, 3)), id(b): np.full((1, 3), 2.0)}
    args, kwargs = node.call_arguments(values)
    out = node.operation(*args, **kwargs)
    np.testing.assert_array_equal(out, np.full((1, 3), 3.0))


def test_a_shared_layer_has_one_node_per_call():
    shared = layers.Dense(4, name="shared")
    a, b = keras.Input((3,)), keras.Input((5, 3))
    model = keras.Model([a, b], [shared(a), shared(b)])
    calls = functional_graph.calls_of(model, shared)
    assert sorted(tuple(node.outputs[0].shape) for node in calls) == [
        (None, 4), (None, 5, 4)]


def test_a_cut_sub_model_has_only_its_own_nodes():
    model = small_cnn()
    middle = keras.Model(model.get_layer("p1").output,
                         model.get_layer("p2").output)
    names = [node.operation.name for node in functional_graph.nodes(middle)]
    assert names[1:] == ["b2", "p2"]
    assert functional_graph.nodes(middle)[0].is_input


def test_sequential_and_subclassed_models():
    functional = small_cnn()
    sequential = keras.Sequential(
        [keras.Input((16, 16, 1))] + functional.layers[1:], name="seq"
    )
    assert functional_graph.is_functional(functional)
    assert not functional_graph.is_functional(sequential)
    graph = functional_graph.graph_of(sequential)
    assert graph is not None and graph is not sequential
    assert functional_graph.graph_of(functional) is functional
    assert [n.operation.name for n in functional_graph.nodes(sequential)][1:] == [
        layer.name for layer in functional.layers[1:]]

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    subclassed = Subclassed()
    subclassed(np.zeros((1, 3)))
    unbuilt = keras.Sequential([layers.Dense(2)])
    for model in (subclassed, unbuilt, layers.Dense(2)):
        assert functional_graph.graph_of(model) is None
        assert not functional_graph.is_functional(model)
    with pytest.raises(TypeError, match="argument `model`"):
        functional_graph.nodes(subclassed)


def test_producer_is_the_layer_that_returns_a_tensor():
    model = small_cnn()
    assert functional_graph.producer(model, model.outputs[0]) is (
        model.get_layer("logits"))
    assert functional_graph.producer(model, keras.Input((2,))) is None


def test_nothing_else_reads_the_graph_internals():
    root = os.path.dirname(keras_nachos.__file__)
    readers = []
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if name.endswith(".py") and not path.endswith("functional_graph.py"):
                text = open(path).read()
                if "_nodes_by_depth" in text or "_keras_history" in text:
                    readers.append(os.path.relpath(path, root))
    assert readers == []
