"""Tests of `keras_nachos.deploy.runtime`: the exported early exit."""

import numpy as np
import pytest

from keras_nachos import EarlyExitModel
from keras_nachos import deploy
from keras_nachos import rules
from keras_nachos.calibration import exit_scores
from tensorflow.lite.python import schema_py_generated as schema
from tests.testing_utils import small_cnn
from tests.testing_utils import toy_data


@pytest.fixture(scope="module")
def trained():
    x, y = toy_data(256, seed=1)
    models = {}
    for name, kwargs in {
        "sdn": {"head": "sdn"},
        "confidence": {"head": "global_pool", "confidence": True},
        "class_means": {"head": "class_means"},
    }.items():
        model = EarlyExitModel.from_backbone(small_cnn(seed=2), ["p1", "p2"], 4, **kwargs)
        if name == "class_means":
            model.compile("adam")
            model.fit(x, y, epochs=3, batch_size=32, verbose=0)
            model.fit_class_means(x, y)
        else:
            model.compile("adam", metrics=["accuracy"])
            model.fit(x, y, epochs=3, batch_size=32, verbose=0)
        models[name] = model
    return models, x, y


def midpoints(scores, quantile):
    """A threshold halfway between two neighbouring scores (no sample sits on
    it, so float rounding cannot flip a decision)."""
    s = np.sort(np.unique(scores))
    i = int(quantile * (len(s) - 1))
    return float((s[i] + s[min(i + 1, len(s) - 1)]) / 2)


RULES = [
    ("sdn", "max_probability"),
    ("sdn", "entropy"),
    ("sdn", "score_margin"),
    ("confidence", "cascade_confidence"),
    ("class_means", "class_means"),
]


def thresholds_between_samples(model, outputs, rule):
    """Thresholds that send some samples out at each early exit, each halfway
    between two samples' exit scores."""
    rule = rules.get(rule)
    S = exit_scores(outputs, rule, model.num_classes)
    u = [midpoints(S[:, i], q) for i, q in enumerate((0.6, 0.4))]
    return rule.rule_threshold(u).tolist()


@pytest.mark.parametrize("model_name, rule", RULES)
def test_float_export_takes_the_keras_exits(trained, tmp_path, model_name, rule):
    models, x, y = trained
    model = models[model_name]
    outputs = model.predict_exits(x)
    thresholds = thresholds_between_samples(model, outputs, rule)
    model.export_early_exit(tmp_path, thresholds, rule=rule)
    runtime = deploy.load(tmp_path)
    # The one-file early exit exists for the rules that decide in the graph;
    # batch 1 runs it, or the stage files with the rule on the host.
    assert runtime.uses_single_file == rules.get(rule).runs_in_graph
    on_host = deploy.load(tmp_path, single_file=False)
    assert not on_host.uses_single_file
    expected = model.predict_early_exit(x, thresholds, rule=rule)
    for batch_size, run in ((1, runtime), (1, on_host), (7, runtime), (64, runtime)):
        result = run.predict_early_exit(x, batch_size=batch_size)
        np.testing.assert_array_equal(result.exit_indices, expected.exit_indices)
        np.testing.assert_array_equal(result.predictions, expected.predictions)
        np.testing.assert_array_equal(result.macs, expected.macs)
        np.testing.assert_allclose(result.probabilities, expected.probabilities,
                                   atol=1e-5)
    assert 0 < np.mean(expected.exit_indices == 2) < 1  # both kinds occur
    for ours, keras_output in zip(runtime.run_stages(x), outputs):
        np.testing.assert_allclose(ours, keras_output, atol=1e-5)


def test_int8_export_runs_close_to_float(trained, tmp_path):
    models, x, y = trained
    model = models["sdn"]
    thresholds = [0.8, 0.8]
    manifest = model.export_early_exit(tmp_path, thresholds, quantize="int8",
                                       representative_data=x[:128])
    assert manifest.quantize == "int8"
    for stage in manifest.stages:
        assert stage.input.dtype == "int8" and stage.exit.dtype == "int8"
    runtime = deploy.load(tmp_path)
    result = runtime.predict_early_exit(x, batch_size=16)
    expected = model.predict_early_exit(x, thresholds)
    assert abs(result.accuracy(y) - expected.accuracy(y)) <= 0.05
    assert np.mean(result.exit_indices == expected.exit_indices) >= 0.9
    outputs = runtime.run_stages(x)
    for ours, keras_output in zip(outputs, model.predict_exits(x)):
        assert np.abs(ours - keras_output).max() < 0.1


def test_int8_features_go_from_stage_to_stage_without_requantising(trained, tmp_path):
    models, x, _ = trained
    models["sdn"].export_early_exit(tmp_path, [0.8, 0.8], quantize="int8",
                                    representative_data=x[:64])
    runtime = deploy.load(tmp_path)
    assert runtime.unchanged_hand_overs == [True, True]


def test_requantising_maps_between_scales():
    from keras_nachos.deploy.manifest import TensorSpec
    from keras_nachos.deploy.runtime import dequantize
    from keras_nachos.deploy.runtime import hands_over_unchanged
    from keras_nachos.deploy.runtime import quantize

    a = TensorSpec("features", [-1, 4], "int8", scale=0.1, zero_point=-10)
    ulp = TensorSpec("features_in", [-1, 4], "int8", scale=0.1 * (1 + 1e-7),
                     zero_point=-10)
    other = TensorSpec("features_in", [-1, 4], "int8", scale=0.2, zero_point=0)
    assert hands_over_unchanged(a, ulp) and not hands_over_unchanged(a, other)
    q = np.array([-128, -10, 0, 126], "int8")
    assert dequantize(q, a).tolist() == pytest.approx([-11.8, 0.0, 1.0, 13.6])
    assert quantize(dequantize(q, a), other).tolist() == [-59, 0, 5, 68]


def test_single_file_decides_on_ties_as_float64(trained, tmp_path):
    # Thresholds exactly at samples' scores, and one float64 ulp above them:
    # the single file's float32 comparison must agree with the float64
    # decision on the host. The ties are taken on LiteRT's own scores (the
    # stage files at batch 1): Keras' differ from them by an ulp on some
    # CPUs, so a tie in Keras is not one in LiteRT.
    models, x, y = trained
    model = models["sdn"]
    rule = rules.get("max_probability")
    model.export_early_exit(tmp_path, [0.5, 0.5])
    runtime = deploy.load(tmp_path)
    on_host = deploy.load(tmp_path, single_file=False)
    assert runtime.uses_single_file and not on_host.uses_single_file
    S = exit_scores(on_host.run_stages(x, batch_size=1), rule, model.num_classes)
    at = [float(np.sort(S[:, i])[len(S) // 2]) for i in range(2)]
    above = [float(np.nextafter(t, 2.0)) for t in at]
    results = {}
    for name, thresholds in (("at", at), ("above", above)):
        expected = on_host.predict_early_exit(x, thresholds=thresholds)
        result = runtime.predict_early_exit(x, thresholds=thresholds)
        np.testing.assert_array_equal(result.exit_indices, expected.exit_indices)
        results[name] = result.exit_indices
    # At the score itself the sample leaves; one ulp above it, it goes on.
    assert np.sum(results["at"] == 0) > np.sum(results["above"] == 0)
    # And both are Keras' decisions away from the ties.
    keras_exits = model.predict_early_exit(x, at).exit_indices
    assert np.mean(keras_exits == results["at"]) >= 0.95


def test_float32_score_thresholds_keep_every_comparison():
    rng = np.random.default_rng(0)
    scores = rng.random(2000).astype("float32")
    u = np.concatenate([
        scores.astype("float64"),
        np.nextafter(scores.astype("float64"), 2.0),
        np.nextafter(scores.astype("float64"), -1.0),
        rng.random(2000),
    ])
    for rule in ("max_probability", "class_means"):  # >= and strict >
        rule = rules.get(rule)
        thresholds = rule.rule_threshold(u)
        v = rule.float32_score_threshold(thresholds)
        assert v.dtype == np.float32
        exact = scores[:, None].astype("float64") >= rule.score_threshold(thresholds)[None]
        np.testing.assert_array_equal(scores[:, None] >= v[None], exact)


def test_single_file_chains_the_stages_by_conditionals(trained, tmp_path):
    models, x, y = trained
    manifest = models["sdn"].export_early_exit(tmp_path, [0.5, 0.5])
    spec = manifest.single_file
    assert spec.file == "early_exit.tflite"
    assert spec.image.shape[0] == 1 and spec.exit_index.dtype == "int32"
    with open(tmp_path / spec.file, "rb") as f:
        flatbuffer = f.read()
    assert len(flatbuffer) == spec.bytes
    # Over all subgraphs (a branch holds the next conditional): one IF per
    # early exit, and every stage's convolutions exactly once.
    model = schema.Model.GetRootAs(flatbuffer)
    codes = [max(model.OperatorCodes(i).BuiltinCode(),
                 model.OperatorCodes(i).DeprecatedBuiltinCode())
             for i in range(model.OperatorCodesLength())]
    ops = [codes[g.Operators(j).OpcodeIndex()]
           for g in (model.Subgraphs(i) for i in range(model.SubgraphsLength()))
           for j in range(g.OperatorsLength())]
    assert ops.count(schema.BuiltinOperator.IF) == 2
    with open(tmp_path / "stage_1.tflite", "rb") as f:
        stage_files = [f.read()]
    for n in (2, 3):
        with open(tmp_path / f"stage_{n}.tflite", "rb") as f:
            stage_files.append(f.read())
    convs = sum(count_ops(b, schema.BuiltinOperator.CONV_2D) for b in stage_files)
    assert ops.count(schema.BuiltinOperator.CONV_2D) == convs > 0


def count_ops(flatbuffer, code):
    model = schema.Model.GetRootAs(flatbuffer)
    codes = [max(model.OperatorCodes(i).BuiltinCode(),
                 model.OperatorCodes(i).DeprecatedBuiltinCode())
             for i in range(model.OperatorCodesLength())]
    return sum(codes[g.Operators(j).OpcodeIndex()] == code
               for g in (model.Subgraphs(i) for i in range(model.SubgraphsLength()))
               for j in range(g.OperatorsLength()))


def test_single_file_argument_is_checked(trained, tmp_path):
    models, x, y = trained
    model = models["sdn"]
    with pytest.raises(ValueError, match="single_file.*entropy rule.*Received: single_file=True"):
        model.export_early_exit(tmp_path, [0.5, 0.5], rule="entropy", single_file=True)
    with pytest.raises(ValueError, match='single_file.*quantize="int8"'):
        model.export_early_exit(tmp_path, [0.5, 0.5], quantize="int8",
                                representative_data=x[:8], single_file=True)
    with pytest.raises(TypeError, match="single_file"):
        model.export_early_exit(tmp_path, [0.5, 0.5], single_file="yes")
    assert not (tmp_path / "manifest.json").exists()  # refused before work
    # An export without it removes the file of an earlier one.
    model.export_early_exit(tmp_path, [0.5, 0.5])
    assert (tmp_path / "early_exit.tflite").exists()
    manifest = model.export_early_exit(tmp_path, [0.5, 0.5], single_file=False)
    assert manifest.single_file is None
    assert not (tmp_path / "early_exit.tflite").exists()
    assert not deploy.load(tmp_path).uses_single_file
