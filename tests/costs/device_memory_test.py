"""Tests of `keras_nachos.costs.device_memory`: int8 flash and RAM estimates."""

import keras
import numpy as np
import pytest

from keras_nachos import EarlyExitModel
from keras_nachos.costs import device_memory
from keras_nachos.search import SearchSpace
from tests.testing_utils import residual_cnn
from tests.testing_utils import small_cnn


def test_activation_peak_by_hand():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)  # Folded: no tensor of its own.
    x = keras.layers.ReLU()(x)
    x = keras.layers.MaxPooling2D()(x)  # 4x4x4
    x = keras.layers.Conv2D(8, 3, padding="same")(x)  # 4x4x8
    model = keras.Model(inputs, x)
    peak, operations = device_memory.activation_peak(model)
    # conv1: 64 in + 256 out; pool: 256 + 64; conv2: 64 + 128.
    assert peak == 320 and operations == 3


def test_residual_branch_stays_alive():
    inputs = keras.Input((4, 4, 2))
    a = keras.layers.Conv2D(2, 1)(inputs)            # 32
    b = keras.layers.Conv2D(8, 1)(a)                 # 128, a still needed
    b = keras.layers.Conv2D(2, 1)(b)                 # 32
    out = keras.layers.Add()([a, b])
    model = keras.Model(inputs, out)
    peak, _ = device_memory.activation_peak(model)
    # Third conv: its input (128) + its output (32) + a (32, kept for the
    # add); the image (32) is dead by then. Without the branch: 160.
    assert peak == 128 + 32 + 32


def test_kernel_and_channels_count_depthwise_outputs():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2)(inputs)
    x = keras.layers.Conv2D(5, 1)(x)
    model = keras.Model(inputs, x)
    kernel, channels = device_memory.kernel_and_channels([model])
    assert kernel == 3 * 3 * 3 * 2 + 6 * 5
    assert channels == 6 + 5


def test_device_costs_of_a_model():
    model = EarlyExitModel.from_backbone(small_cnn(seed=0), ["p1", "p2"], 4)
    costs = model.device_costs
    assert len(costs.flash) == len(costs.arena) == 3
    assert costs.flash_bytes == sum(costs.flash)
    assert costs.ram_bytes == max(costs.arena)
    assert all(a > p for a, p in zip(costs.arena, costs.activations))
    assert model.device_costs is costs  # computed once


def _architectures():
    space = SearchSpace(
        (16, 16, 1), 10, stage_widths=[[8, 12], [12, 16], [16, 24]],
        depths=(1, 2), kernel_sizes=(3, 5), expansion_ratios=(2, 3, 4),
        head_types=("global_pool", "sdn", "conv"),
    )
    # Candidates the constants were not fitted on (seeds 10-13).
    models = [space.build(space.random_values(seed=seed)) for seed in (10, 11, 12, 13)]
    models.append(EarlyExitModel.from_backbone(residual_cnn(), ["r1_add"], 4,
                                               head="sdn"))
    return models


def test_estimates_match_real_int8_files_and_arenas(tmp_path):
    pytest.importorskip("tflite_micro")
    rng = np.random.default_rng(0)
    for i, model in enumerate(_architectures()):
        shape = tuple(model.backbone.inputs[0].shape[1:])
        x = rng.random((32,) + shape, dtype="float32")
        manifest = model.export_early_exit(
            tmp_path / str(i), [0.9] * (model.num_exits - 1), quantize="int8",
            representative_data=x, micro=True,
        )
        costs = model.device_costs
        for stage, flash, arena in zip(manifest.stages, costs.flash, costs.arena):
            assert abs(flash - stage.bytes) <= 0.25 * stage.bytes + 1024, (
                i, stage.file, flash, stage.bytes)
            assert abs(arena - stage.arena_bytes) <= 0.15 * stage.arena_bytes + 512, (
                i, stage.file, arena, stage.arena_bytes)
