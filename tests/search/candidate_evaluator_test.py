"""Tests of `keras_nachos.search.candidate_evaluator`: the precheck, scoring
on validation data, seeding, no traced graph left behind."""

import keras
import numpy as np
import pytest

from keras_nachos.search.candidate_evaluator import CandidateEvaluator
from tests.search.testing_utils import tiny_space


def test_precheck_scores_over_budget_candidates_without_training():
    space = tiny_space()
    values = space.random_values(seed=4)
    x, y = np.zeros((4, 8, 8, 1), "float32"), np.zeros(4, "int32")
    costs = space.build(values).exit_macs
    tight = CandidateEvaluator(space, (x, y), (x, y), 0.5, costs[0] - 1)
    skipped = tight.precheck(values)
    assert skipped["accuracy"] == 0.0 and skipped["expected_macs"] == costs[0]
    assert "max_macs" in skipped["skipped"]
    loose = CandidateEvaluator(space, (x, y), (x, y), 0.5, costs[0])
    assert loose.precheck(values) is None


def test_candidate_evaluator_scores_on_validation_only():
    from tests.testing_utils import toy_data

    space = tiny_space(input_shape=(16, 16, 1), num_classes=4)
    x, y = toy_data(96, input_shape=(16, 16, 1))
    xv, yv = toy_data(48, input_shape=(16, 16, 1), seed=9)
    values = space.random_values(seed=5)
    evaluator = CandidateEvaluator(space, (x, y), (xv, yv), 0.3, 1e9, epochs=2)
    metrics, model = evaluator(values)
    outputs = model.predict_exits(xv)
    result = model.predict_early_exit(xv, metrics["thresholds"])
    assert metrics["accuracy"] == pytest.approx(result.accuracy(yv))
    assert metrics["expected_macs"] == pytest.approx(result.expected_macs)
    assert metrics["static_macs"] == model.exit_macs
    assert metrics["final_accuracy"] == np.mean(outputs[-1].argmax(1) == yv)


def test_candidate_seeding_leaves_the_callers_random_streams_alone():
    import random

    space = tiny_space()
    values = space.random_values(seed=1)
    x, y = np.zeros((4, 8, 8, 1), "float32"), np.zeros(4, "int32")
    evaluator = CandidateEvaluator(space, (x, y), (x, y), 0.5, 1e9)
    random.seed(123)
    np.random.seed(123)
    with evaluator.seeded(values):
        first = evaluator.build_and_compile(values).get_weights()
    after = (random.random(), np.random.random())
    with evaluator.seeded(values):
        second = evaluator.build_and_compile(values).get_weights()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    random.seed(123)
    np.random.seed(123)
    assert after == (random.random(), np.random.random())


def test_candidate_training_leaves_no_traced_graph_behind():
    """TF's `tf.custom_gradient` registers every trace's gradient function
    globally and never removes it (which keeps each candidate's graphs
    alive); the evaluator drops the registrations of its candidates, and a
    model it returned still trains afterwards."""
    import gc

    from tensorflow.python.framework.func_graph import FuncGraph

    from keras_nachos.search.candidate_evaluator import _gradient_registry
    from tests.testing_utils import toy_data

    def live_graphs():
        gc.collect()
        return sum(isinstance(o, FuncGraph) for o in gc.get_objects())

    registry = _gradient_registry()
    assert registry is not None
    space = tiny_space(input_shape=(16, 16, 1), num_classes=4)
    x, y = toy_data(64, input_shape=(16, 16, 1))
    evaluator = CandidateEvaluator(space, (x, y), (x, y), 0.3, 1e9, epochs=1)
    counts = []
    for seed in range(3):
        model = None
        keras.backend.clear_session()
        before = set(registry)
        _, model = evaluator(space.random_values(seed=seed))
        assert set(registry) == before
        # (Counting the live objects is slow in a long test session.)
        counts.append(live_graphs() if seed != 1 else None)
    # The graphs of earlier candidates are gone: the count does not grow.
    assert counts[2] <= counts[0]
    # Without the release every candidate's graphs stay alive.
    keras.backend.clear_session()
    plain = space.build(space.random_values(seed=7))
    plain.compile("adam")
    start = live_graphs()
    plain.fit(x, y, epochs=1, verbose=0)
    del plain
    keras.backend.clear_session()
    assert live_graphs() > start
    # The returned model trains again (its training step was traced already).
    history = model.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])


def test_the_evaluator_checks_its_data_when_it_is_made():
    space = tiny_space()  # (8, 8, 1) images, 3 classes
    x, y = np.zeros((6, 8, 8, 1), "float32"), np.array([0, 1, 2, 0, 1, 2])
    nan = x.copy()
    nan[2, 1, 1, 0] = np.nan
    for train, validation, argument, message in [
        ((x[:, :4], y), (x, y), "train_data", r"shape \(n, 8, 8, 1\)"),
        ((x, y), (x, y + 1), "validation_data",
         r"class ids in \[0, 3\).*Received: validation_data=\[3\]"),
        ((x, y - 1), (x, y), "train_data", r"Received: train_data=\[-1\]"),
        ((x, y[:5]), (x, y), "train_data", "one label per sample"),
        ((x, y), (nan, y), "validation_data", "finite numbers"),
        ((x, y), (x[:0], y[:0]), "validation_data", "at least one sample"),
        ((x, np.full((6, 3), 1 / 3)), (x, y), "train_data", "one-hot rows"),
    ]:
        with pytest.raises(ValueError, match=f"argument `{argument}`.*{message}"):
            CandidateEvaluator(space, train, validation, 0.5, 1e9)
    for options, argument in [({"epochs": 0}, "epochs"),
                              ({"batch_size": 0}, "batch_size")]:
        with pytest.raises(ValueError, match=f"argument `{argument}`"):
            CandidateEvaluator(space, (x, y), (x, y), 0.5, 1e9, **options)
    evaluator = CandidateEvaluator(space, (x, np.eye(3)[y]), (x, y), 0.5, 1e9)
    np.testing.assert_array_equal(evaluator.train_data[1], y)
