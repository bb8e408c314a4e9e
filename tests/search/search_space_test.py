"""Tests of `keras_nachos.search.search_space`: its config, building,
repairing, user blocks and heads, threshold genes."""

import keras
import keras_tuner as kt
import numpy as np
import pytest

from keras_nachos import GlobalPoolHead
from keras_nachos.search import register_head
from keras_nachos.search.blocks import register_block
from keras_nachos.search.search_space import SearchSpace
from tests.search.testing_utils import tiny_space
from tests.testing_utils import assert_invalid
from tests.testing_utils import assert_round_trip


def test_space_config_round_trips():
    space = tiny_space(resolutions=(8, 16), stem_filters=(4, 8))
    again = assert_round_trip(space, custom_objects={"SearchSpace": SearchSpace})
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


def test_repair_gives_one_set_of_values_per_network():
    space = tiny_space()
    a = space.random_values(seed=6)
    a.update({"exit_1": True, "exit_2": False})
    b = dict(a, exit_2_head="conv", exit_2_head_width=8)
    assert space.repair(a) == space.repair(b)
    assert space.candidate_key(space.repair(a)) == space.candidate_key(space.repair(b))


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"input_shape": (16, 16)}, "input_shape"),
        ({"input_shape": (16, 0, 1)}, "input_shape"),
        ({"num_classes": 1}, "num_classes"),
        ({"stage_widths": ((8,),)}, "stage_widths"),
        ({"stage_widths": ((8,), (0, 4))}, "stage_widths"),
        ({"depths": ()}, "depths"),
        ({"depths": (1, -2)}, "depths"),
        ({"kernel_sizes": (3, 4)}, "kernel_sizes"),
        ({"expansion_ratios": (2.5,)}, "expansion_ratios"),
        ({"stage_strides": (1,)}, "stage_strides"),
        ({"stem_filters": (True,)}, "stem_filters"),
        ({"stem_stride": 0}, "stem_stride"),
        ({"resolutions": (16, 0)}, "resolutions"),
        ({"block_types": ("dense_block",)}, "block_types"),
        ({"head_types": ("fancy",)}, "head_types"),
        ({"head_widths": (-1,)}, "head_widths"),
        ({"confidence": "no"}, "confidence"),
        ({"threshold_mode": "learned"}, "threshold_mode"),
    ],
)
def test_search_space(kwargs, argument):
    options = {"input_shape": (16, 16, 1), "num_classes": 4,
               "stage_widths": ((8,), (8,))}
    options.update(kwargs)
    assert_invalid(argument, SearchSpace, **options)
