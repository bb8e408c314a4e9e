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
from tests.testing_utils import NAN
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


def bad_values(space, values):
    """One row per class of bad candidate values: `(values, what the error
    says)`. `values` is a valid candidate of `tiny_space()`."""
    return [
        (dict(values, stage_1_dpeth=2), r"`stage_1_dpeth` is not one of them; "
         r"did you mean `stage_1_depth`\?.*Received: values=\{'stage_1_dpeth': 2\}"),
        (dict(values, dropout=0.1), r"`dropout` is not one of them"),
        (dict(values, stage_1_depth=9), r"`stage_1_depth` one of \[1, 2\]\. "
         r"Received: values=\{'stage_1_depth': 9\}"),
        (dict(values, stage_1_depth=2.0), r"`stage_1_depth` one of \[1, 2\]"),
        (dict(values, stage_1_depth=True), r"`stage_1_depth` one of \[1, 2\]"),
        (dict(values, stage_2_kernel="3"), r"`stage_2_kernel` one of \[3, 5\]"),
        (dict(values, stage_2_width=4), r"`stage_2_width` one of \[8\]"),
        (dict(values, exit_1=1), r"`exit_1` True or False"),
        (dict(values, exit_2_head="sdn"),
         r"`exit_2_head` one of \['global_pool', 'conv'\]"),
        ({k: v for k, v in values.items() if k != "stage_3_expansion"},
         r"`stage_3_expansion` one of \[2, 3\] missing"),
        (dict(values, resolution=8), r"`resolution` is not one of them"),
    ]


def test_decoding_checks_every_key_and_value_before_building(monkeypatch):
    # Before: a misspelt key was ignored, a missing one a KeyError, a float
    # depth a raw TypeError.
    space = tiny_space()
    values = space.repair(space.random_values(seed=3))
    layers = []
    monkeypatch.setattr(keras.layers, "Conv2D", lambda *a, **k: layers.append(a))
    for candidate, message in bad_values(space, values):
        for decode in (space.build, space.check_values):
            with pytest.raises(ValueError, match=r"argument `values`\. "
                               r"Expected .*" + message):
                decode(candidate)
    assert layers == []  # nothing was built
    with pytest.raises(TypeError, match="argument `values`"):
        space.build([("stage_1_depth", 1)])
    assert space.check_values(values) == values
    assert space.check_values(dict(values, **{"tuner/epochs": 2}))
    genes = tiny_space(threshold_mode="genes")
    values = genes.repair(dict(genes.random_values(seed=2), exit_1=True))
    for threshold in (1.5, -0.1, NAN, "0.5", True):
        with pytest.raises(ValueError, match=r"`exit_1_threshold` a float in "
                           r"\[0, 1\]"):
            genes.check_values(dict(values, exit_1_threshold=threshold))
    with pytest.raises(ValueError, match="`exit_1_threshold` a float in "
                       r"\[0, 1\] missing"):
        genes.check_values({k: v for k, v in values.items()
                            if k != "exit_1_threshold"})
