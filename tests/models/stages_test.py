"""Tests of `keras_nachos.models.stages`: the stages chained are the model."""

import keras
import numpy as np
import pytest

from keras_nachos import EarlyExitModel
from keras_nachos.models import stages
from tests.testing_utils import small_cnn
from tests.testing_utils import toy_data


@pytest.fixture(scope="module")
def model():
    # A logits backbone: its final exit is a softmax layer after the last
    # stage; conv heads with a confidence column at the early exits.
    return EarlyExitModel.from_backbone(
        small_cnn(logits=True), ["p1", "p2"], 4, head="sdn", confidence=True
    )


def test_stage_names_and_bounds():
    first, middle, last = stages.stages(3)
    assert [s.name for s in (first, middle, last)] == [
        "stage_1", "stage_2", "stage_3"]
    assert middle.file_name == "stage_2.tflite"
    assert (first.input_name, middle.input_name) == ("image", "features_in")
    assert first.output_names == ("exit", "features")
    assert last.output_names == ("exit",)
    assert first.is_first and last.is_last and not middle.is_last
    bounds = ["in", ["c1", "c2"], "out"]
    assert [s.bounds(*bounds) for s in (first, middle, last)] == [
        ("in", "c1"), ("c1", "c2"), ("c2", "out")]


def test_segments_and_exit_layers_chained_give_the_model(model):
    x, _ = toy_data(24)
    plan = model.stage_plan
    assert model.stage_plan is plan  # built once
    assert [len(plan.segments), len(plan.exit_layers)] == [3, 3]
    assert plan.exit_layers[:2] == model.heads
    assert isinstance(plan.exit_layers[2], keras.layers.Softmax)
    features, outputs = x, []
    for segment, exit_layer in zip(plan.segments, plan.exit_layers):
        features = segment(features)
        outputs.append(exit_layer(features))
    for ours, expected in zip(outputs, model.predict_exits(x)):
        np.testing.assert_allclose(ours, expected, atol=1e-6)
    # The segments share the backbone's layers (and weights).
    assert plan.segments[1].get_layer("b2") is model.backbone.get_layer("b2")
    assert model.stage_models[0].output is plan.cuts[0]


def test_export_models_are_named_and_chain_to_the_model(model):
    x, _ = toy_data(24)
    export_models = model.stage_plan.export_models()
    assert [m.name for m in export_models] == ["stage_1", "stage_2", "stage_3"]
    assert [m.inputs[0].name for m in export_models] == [
        "image", "features_in", "features_in"]
    features, outputs = x, []
    for stage, stage_model in zip(model.stage_plan.stages, export_models):
        out = stage_model.predict(features, verbose=0)
        assert tuple(out) == stage.output_names
        outputs.append(out["exit"])
        features = out.get("features")
    for ours, expected in zip(outputs, model.predict_exits(x)):
        np.testing.assert_allclose(ours, expected, atol=1e-6)
    assert outputs[0].shape == (24, 5)  # the confidence column too


def test_backbone_segments_without_heads():
    backbone = small_cnn()
    cuts = [backbone.get_layer(n).output for n in ("p1", "p2")]
    segments = stages.backbone_segments(backbone.inputs[0], cuts,
                                        backbone.outputs[0])
    x, _ = toy_data(4)
    features = x
    for segment in segments:
        features = segment(features)
    np.testing.assert_allclose(features, backbone(x), atol=1e-6)
    assert [s.output.shape[1:] for s in segments] == [
        (8, 8, 8), (4, 4, 16), (4,)]


def test_a_plan_needs_one_exit_layer_and_output_per_stage(model):
    plan = model.stage_plan
    with pytest.raises(ValueError, match="argument `exit_layers`.*one entry per stage \\(3\\)"):
        stages.StagePlan(plan.inputs, plan.cuts, plan.output,
                         plan.exit_layers[:2], plan.exit_outputs)
    with pytest.raises(ValueError, match="argument `exit_outputs`"):
        stages.StagePlan(plan.inputs, plan.cuts, plan.output,
                         plan.exit_layers, plan.exit_outputs[1:])
