import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_nachos import ConvHead
from keras_nachos import EarlyExitModel
from keras_nachos import GlobalPoolHead
from keras_nachos import MixedPoolHead
from keras_nachos.calibration import exit_indices as _exit_indices
from tests.testing_utils import residual_cnn
from tests.testing_utils import small_cnn
from tests.testing_utils import toy_data


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


@pytest.mark.parametrize(
    "points, match",
    [
        (["nope"], "unknown: \\['nope'\\]"),
        (["p1", "p1"], "duplicated: \\['p1'\\]"),
        (["p2", "p1"], "graph order"),
        (["logits"], "output"),
    ],
)
def test_bad_exit_points(points, match):
    with pytest.raises(ValueError, match="argument `exit_points`") as info:
        EarlyExitModel.from_backbone(small_cnn(), points, 4)
    assert info.match(match)


def test_exit_inside_residual_branch_is_rejected():
    backbone = residual_cnn()
    EarlyExitModel.from_backbone(backbone, ["r1_add"], 4)
    with pytest.raises(ValueError, match="r1_conv2.*residual branch"):
        EarlyExitModel.from_backbone(backbone, ["r1_conv2"], 4)


def test_num_classes_must_match_backbone_output():
    with pytest.raises(ValueError, match="argument `num_classes`.*final_head"):
        EarlyExitModel.from_backbone(small_cnn(num_classes=4), ["p1"], 7)
    model = EarlyExitModel.from_backbone(
        small_cnn(num_classes=4), ["p1"], 7, final_head=True
    )
    assert model(np.zeros((1, 16, 16, 1)))["final"].shape == (1, 7)


def test_fit_with_one_label_array_trains_every_exit():
    x, y = toy_data(128)
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4)
    model.compile(keras.optimizers.Adam(1e-2), metrics=["accuracy"])
    history = model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    for name in model.exit_names:
        assert f"{name}_loss" in history.history
        assert f"{name}_accuracy" in history.history
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["final_accuracy"][-1] > 0.5


def test_fit_on_a_dataset_and_evaluate():
    x, y = toy_data(64)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1"], 4)
    model.compile("adam", metrics=["accuracy"])
    model.fit(data, epochs=1, verbose=0)
    logs = model.evaluate(data, return_dict=True, verbose=0)
    assert {"exit_1_accuracy", "final_accuracy", "exit_1_loss"} <= set(logs)


def test_constant_exit_weights_weight_the_total_loss():
    x, y = toy_data(32)
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1"], 4)
    model.compile("sgd", exit_weights=[0.25, 2.0])
    logs = model.evaluate(x, y, batch_size=32, return_dict=True, verbose=0)
    expected = 0.25 * logs["exit_1_loss"] + 2.0 * logs["final_loss"]
    assert logs["loss"] == pytest.approx(expected, rel=1e-5)


def test_sdn_ramp_reaches_relative_depths():
    x, y = toy_data(32)
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4)
    model.compile("sgd", exit_weights="sdn")
    schedule = model._training_state.schedule
    depths = schedule.relative_depths
    assert 0 < depths[0] < depths[1] < 1
    assert schedule.weights(0, 10) == pytest.approx([0.01, 0.01, 1.0])
    np.testing.assert_allclose(
        schedule.weights(5, 10)[:2],
        [min(c, 0.01 + 5 * c / 10) for c in depths],
    )
    model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    np.testing.assert_allclose(
        model._training_state.exit_weights.numpy(),
        schedule.weights(2, 3),
        rtol=1e-6,
    )


def test_bad_exit_weights():
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1"], 4)
    with pytest.raises(ValueError, match="argument `exit_weights`"):
        model.compile("sgd", exit_weights=[1.0])
    with pytest.raises(ValueError, match="argument `exit_weights`"):
        model.compile("sgd", exit_weights="ramp")


def _trained_model(head="global_pool", confidence=False):
    x, y = toy_data(96)
    model = EarlyExitModel.from_backbone(
        small_cnn(), ["p1", "p2"], 4, head=head, confidence=confidence
    )
    model.compile(keras.optimizers.Adam(1e-2))
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    return model, x, y


@pytest.mark.parametrize("rule", ["max_probability", "entropy", "score_margin"])
def test_early_exit_equals_all_exits_then_rule(rule):
    model, x, _ = _trained_model()
    outputs = model.predict_exits(x)
    # Thresholds at the median score of each exit: about half leave.
    from keras_nachos import rules as exit_rules

    r = exit_rules.get(rule)
    thresholds = [float(np.median(r.score(o, None))) for o in outputs[:-1]]
    expected_exit = _exit_indices(outputs, rule, thresholds, 4)
    assert 0 < np.mean(expected_exit == 0) < 1
    for batch_size in (1, 7, 256):
        result = model.predict_early_exit(
            x, thresholds, rule=rule, batch_size=batch_size
        )
        np.testing.assert_array_equal(result.exit_indices, expected_exit)
        taken = np.stack(outputs)[expected_exit, np.arange(len(x))]
        np.testing.assert_array_equal(result.predictions, taken.argmax(axis=1))
        np.testing.assert_allclose(result.probabilities, taken, atol=1e-5)
        np.testing.assert_array_equal(
            result.macs, np.asarray(model.exit_macs)[expected_exit]
        )


def test_early_exit_all_leave_at_first_exit_and_none_leave():
    model, x, _ = _trained_model()
    everyone = model.predict_early_exit(x, [0.0, 0.0], batch_size=32)
    assert np.all(everyone.exit_indices == 0)
    assert everyone.expected_macs == model.exit_macs[0]
    assert everyone.exit_fractions.tolist() == [1.0, 0.0, 0.0]
    nobody = model.predict_early_exit(x, [1.0, 1.0], batch_size=32)
    assert np.all(nobody.exit_indices == 2)
    assert nobody.expected_macs == model.exit_macs[-1]
    final = model.predict_exits(x)[-1]
    np.testing.assert_array_equal(nobody.predictions, final.argmax(axis=1))


def test_early_exit_on_a_dataset_and_empty_input():
    model, x, _ = _trained_model()
    data = tf.data.Dataset.from_tensor_slices((x, np.zeros(len(x)))).batch(10)
    a = model.predict_early_exit(data, [0.5, 0.5])
    b = model.predict_early_exit(x, [0.5, 0.5], batch_size=10)
    np.testing.assert_array_equal(a.exit_indices, b.exit_indices)
    empty = model.predict_early_exit(x[:0], [0.5, 0.5])
    assert empty.predictions.shape == (0,)


@pytest.mark.parametrize(
    "thresholds, match",
    [
        ([0.5], "exactly 2 values"),
        ([0.5, 1.5], "out of range: \\[1.5\\]"),
        (0.5, "argument `thresholds`"),
        (None, "argument `thresholds`"),
    ],
)
def test_bad_thresholds(thresholds, match):
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4)
    with pytest.raises((ValueError, TypeError), match=match):
        model.predict_early_exit(np.zeros((2, 16, 16, 1)), thresholds)


def test_cascade_rule_needs_confidence_heads():
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1"], 4)
    with pytest.raises(ValueError, match="confidence"):
        model.predict_early_exit(
            np.zeros((2, 16, 16, 1)), [0.5], rule="cascade_confidence"
        )


def test_cascade_early_exit_equals_rule_on_all_exits():
    model, x, _ = _trained_model(confidence=True)
    outputs = model.predict_exits(x)
    assert outputs[0].shape == (len(x), 5) and outputs[-1].shape == (len(x), 4)
    thresholds = [0.5, 0.6]
    expected = _exit_indices(outputs, "cascade_confidence", thresholds, 4)
    result = model.predict_early_exit(
        x, thresholds, rule="cascade_confidence", batch_size=16
    )
    np.testing.assert_array_equal(result.exit_indices, expected)


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


def test_head_instance_is_a_template_and_callable_heads():
    template = GlobalPoolHead(4, hidden_units=8)
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4, head=template)
    assert [h.hidden_units for h in model.heads] == [8, 8]
    assert model.heads[0] is not model.heads[1]
    model = EarlyExitModel.from_backbone(
        small_cnn(),
        ["p1", "p2"],
        4,
        head=lambda i, shape: ConvHead(4, filters=(4,), name=f"h{i}"),
    )
    assert [h.name for h in model.heads] == ["h0", "h1"]


def test_conv_heads_adaptive_pooling_makes_reach_costs_grow():
    model = EarlyExitModel.from_backbone(
        small_cnn(), ["b1", "p1", "b2"], 4, head=ConvHead(4, filters=(4, 8, 8))
    )
    reach = model.exit_macs_taken_head
    assert all(a < b for a, b in zip(reach, reach[1:])), reach
    assert model.heads[0].pool_size > 1  # full-resolution head had to shrink


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


def test_exit_macs_by_hand():
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4)
    b1, b2, b3, dense = 16 * 16 * 8 * 9, 8 * 8 * 16 * 9 * 8, 4 * 4 * 16 * 9 * 16, 64
    h1, h2 = 8 * 4, 16 * 4
    assert model.head_macs == [h1, h2, 0]
    assert model.exit_macs == [b1 + h1, b1 + b2 + h1 + h2, b1 + b2 + b3 + dense + h1 + h2]
    assert model.exit_macs_taken_head == [b1 + h1, b1 + b2 + h2, b1 + b2 + b3 + dense]
    assert model.backbone_macs == b1 + b2 + b3 + dense
    assert model.expected_macs([0.5, 0.25, 0.25]) == pytest.approx(
        0.5 * model.exit_macs[0] + 0.25 * model.exit_macs[1]
        + 0.25 * model.exit_macs[2]
    )
    assert model.expected_macs([1, 0, 0], convention="taken_head") == b1 + h1
    with pytest.raises(ValueError, match="argument `exit_fractions`"):
        model.expected_macs([0.5, 0.5])
    with pytest.raises(ValueError, match="argument `convention`"):
        model.expected_macs([1, 0, 0], convention="mean")


@pytest.mark.parametrize("head", ["global_pool", "sdn", "conv"])
def test_exit_macs_match_the_profiler_per_exit(head):
    from keras_nachos import count_macs

    model = EarlyExitModel.from_backbone(
        small_cnn(), ["p1", "p2"], 4, head=head, confidence=True
    )
    for i in range(model.num_exits):
        upto = keras.Model(model.inputs[0], model._exit_tensors[: i + 1])
        assert count_macs(upto, method="profiler") == model.exit_macs[i]
        assert count_macs(upto) == model.exit_macs[i]
