import keras
import keras_tuner as kt
import numpy as np
import pytest

from keras_nachos import GlobalPoolHead
from keras_nachos.search.blocks import register_block
from keras_nachos.search.candidate_evaluator import CandidateEvaluator
from keras_nachos.search.search_space import SearchSpace
from keras_nachos.search import register_head


def tiny_space(**kwargs):
    options = dict(
        input_shape=(8, 8, 1),
        num_classes=3,
        stage_widths=((4, 8), (8,), (8, 12)),
        depths=(1, 2),
        kernel_sizes=(3, 5),
        expansion_ratios=(2, 3),
        stem_stride=1,
        head_types=("global_pool", "conv"),
        head_widths=(0, 8),
    )
    options.update(kwargs)
    return SearchSpace(**options)


def test_space_config_round_trips():
    space = tiny_space(resolutions=(8, 16), stem_filters=(4, 8))
    again = SearchSpace.from_config(space.get_config())
    assert again.get_config() == space.get_config()
    hp = space.hyperparameters()
    assert kt.HyperParameters.from_config(hp.get_config()).get_config() == hp.get_config()
    names = [p.name for p in hp.space]
    assert names[:2] == ["resolution", "stem_filters"]
    assert {"stage_1_depth", "stage_2_kernel", "exit_1", "exit_2_head"} <= set(names)
    assert "stage_2_width" not in names  # one choice: fixed, not a gene


def test_build_is_deterministic_and_follows_the_values():
    space = tiny_space()
    values = space.random_values(seed=3)
    values.update({"exit_1": True, "exit_2": True, "exit_2_head": "conv"})
    a, b = space.build(values), space.build(values)
    assert a.exit_points == ["stage1_out", "stage2_out"]
    assert a.exit_macs == b.exit_macs
    expected = {"global_pool": "GlobalPoolHead", "conv": "ConvHead"}
    assert type(a.heads[0]).__name__ == expected[values["exit_1_head"]]
    assert type(a.heads[1]).__name__ == "ConvHead"
    depth = values["stage_1_depth"]
    names = [layer.name for layer in a.backbone.layers]
    assert f"stage1_block{depth}_project" in names
    assert f"stage1_block{depth + 1}_project" not in names
    x = np.random.rand(2, 8, 8, 1).astype("float32")
    for out_a, out_b in zip(a.predict_exits(x), a.predict_exits(x)):
        np.testing.assert_array_equal(out_a, out_b)


def test_genome_without_exit_is_repaired_or_rejected():
    space = tiny_space()
    values = space.random_values(seed=1)
    values.update({"exit_1": False, "exit_2": False})
    with pytest.raises(ValueError, match="at least one early exit"):
        space.build(values)
    repaired = space.repair(values)
    assert repaired["exit_1"] is True and repaired["exit_2"] is False
    assert space.build(repaired).num_exits == 2


def test_users_extend_blocks_and_heads():
    def conv_block(x, filters, kernel_size, expansion, stride, name):
        return keras.layers.Conv2D(filters, kernel_size, strides=stride,
                                   padding="same", name=f"{name}_mine")(x)

    register_block("my_block", conv_block)
    register_head("wide_pool", lambda k, width, conf, name: GlobalPoolHead(
        k, hidden_units=64, confidence=conf, name=name))
    space = tiny_space(block_types=("my_block", "inverted_residual"),
                       head_types=("wide_pool",))
    values = space.random_values(seed=0)
    values.update({f"stage_{s}_block": "my_block" for s in (1, 2, 3)})
    model = space.build(values)
    assert any(layer.name.endswith("_mine") for layer in model.backbone.layers)
    assert all(h.hidden_units == 64 for h in model.heads)
    with pytest.raises(ValueError, match="argument `head_types`"):
        tiny_space(head_types=("nope",))


def test_threshold_genes_mode():
    space = tiny_space(threshold_mode="genes")
    names = [p.name for p in space.hyperparameters().space]
    assert "exit_1_threshold" in names
    values = space.random_values(seed=2)
    values.update({"exit_1": True, "exit_2": False, "exit_1_threshold": 0.7})
    assert space.thresholds(values) == [0.7]


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


def test_repair_gives_one_set_of_values_per_network():
    space = tiny_space()
    a = space.random_values(seed=6)
    a.update({"exit_1": True, "exit_2": False})
    b = dict(a, exit_2_head="conv", exit_2_head_width=8)
    assert space.repair(a) == space.repair(b)
    assert space.candidate_key(space.repair(a)) == space.candidate_key(space.repair(b))


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
        counts.append(live_graphs())
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
