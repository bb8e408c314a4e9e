"""Tests of `keras_nachos.models.early_exit_model`: building from a backbone,
exit costs, saving and loading."""

import keras
import numpy as np
import pytest

from keras_nachos import EarlyExitModel
from keras_nachos import MixedPoolHead
from tests.testing_utils import small_cnn
from tests.testing_utils import trained_model as _trained_model


def test_from_backbone_outputs_one_entry_per_exit():
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4)
    assert model.exit_names == ["exit_1", "exit_2", "final"]
    outputs = model(np.zeros((3, 16, 16, 1), "float32"))
    assert sorted(outputs) == ["exit_1", "exit_2", "final"]
    for out in outputs.values():
        assert out.shape == (3, 4)
        np.testing.assert_allclose(np.sum(out, axis=1), 1.0, rtol=1e-5)


def test_logits_backbone_gets_a_softmax():
    model = EarlyExitModel.from_backbone(small_cnn(logits=True), ["p1"], 4)
    out = model(np.random.rand(2, 16, 16, 1).astype("float32"))["final"]
    np.testing.assert_allclose(np.sum(out, axis=1), 1.0, rtol=1e-5)


def test_featuremap_backbone_gets_a_final_head():
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(4, 3, name="c1")(inputs)
    x = keras.layers.Conv2D(4, 3, name="c2")(x)
    backbone = keras.Model(inputs, x)
    model = EarlyExitModel.from_backbone(backbone, ["c1"], 5, head="sdn")
    assert isinstance(model.final_head, MixedPoolHead)
    assert model(np.zeros((1, 16, 16, 1)))["final"].shape == (1, 5)


def test_num_classes_must_match_backbone_output():
    with pytest.raises(ValueError, match="argument `num_classes`.*final_head"):
        EarlyExitModel.from_backbone(small_cnn(num_classes=4), ["p1"], 7)
    model = EarlyExitModel.from_backbone(
        small_cnn(num_classes=4), ["p1"], 7, final_head=True
    )
    assert model(np.zeros((1, 16, 16, 1)))["final"].shape == (1, 7)


@pytest.mark.parametrize("head", ["global_pool", "sdn", "conv"])
def test_save_and_load_give_identical_outputs(tmp_path, head):
    model, x, _ = _trained_model(head=head, confidence=(head == "conv"))
    path = str(tmp_path / "eenn.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, EarlyExitModel)
    assert loaded.exit_names == model.exit_names
    assert loaded.exit_macs == model.exit_macs
    before, after = model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    for name in model.exit_names:
        np.testing.assert_array_equal(before[name], after[name])
    rule = "cascade_confidence" if head == "conv" else "max_probability"
    a = model.predict_early_exit(x, [0.6, 0.6], rule=rule)
    b = loaded.predict_early_exit(x, [0.6, 0.6], rule=rule)
    np.testing.assert_array_equal(a.exit_indices, b.exit_indices)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    # The loaded model is compiled and keeps training.
    loaded.fit(x, np.zeros(len(x)), epochs=1, verbose=0)


@pytest.mark.slow
@pytest.mark.parametrize(
    "builder, points",
    [
        (
            lambda: keras.applications.MobileNetV3Small(
                weights=None, input_shape=(32, 32, 3), classes=10
            ),
            ["expanded_conv_2_add", "expanded_conv_5_add"],
        ),
        (
            lambda: keras.applications.ResNet50V2(
                weights=None, input_shape=(32, 32, 3), classes=10
            ),
            ["conv2_block3_out", "conv3_block4_out", "conv4_block6_out"],
        ),
    ],
)
def test_keras_applications_backbones(builder, points):
    backbone = builder()
    model = EarlyExitModel.from_backbone(backbone, points, 10)
    x = np.random.rand(4, 32, 32, 3).astype("float32") * 255
    outputs = model.predict_exits(x)
    np.testing.assert_allclose(outputs[-1], backbone.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-6)
    result = model.predict_early_exit(x, [0.0] * len(points))
    assert np.all(result.exit_indices == 0)
    costs = model.exit_macs
    assert all(a < b for a, b in zip(costs, costs[1:]))


@pytest.fixture(scope="module")
def model():
    return EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4)


@pytest.mark.parametrize(
    "fractions",
    [[0.5, 0.5], [0.5, 0.6, -0.1], [0.2, 0.2, 0.2], [0.5, 0.5, float("nan")]],
)
def test_bad_exit_fractions(model, fractions):
    with pytest.raises(ValueError, match="argument `exit_fractions`"):
        model.expected_macs(fractions)
    with pytest.raises(ValueError, match="argument `convention`"):
        model.expected_macs([0.2, 0.3, 0.5], convention="flops")


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"exit_points": []}, "exit_points"),
        ({"exit_points": ["nowhere"]}, "exit_points"),
        ({"exit_points": ["p1", "p1"]}, "exit_points"),
        ({"exit_points": ["p2", "p1"]}, "exit_points"),
        ({"num_classes": 4.0}, "num_classes"),
        ({"num_classes": True}, "num_classes"),
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": 5}, "num_classes"),
        ({"head": "fancy"}, "head"),
        ({"confidence": "yes"}, "confidence"),
        ({"final_head": "big"}, "final_head"),
    ],
)
def test_bad_construction_arguments(kwargs, argument):
    options = {"exit_points": ["p1", "p2"], "num_classes": 4}
    options.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=f"argument `{argument}`"):
        EarlyExitModel.from_backbone(small_cnn(), **options)
