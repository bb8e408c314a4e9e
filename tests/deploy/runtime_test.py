"""Tests of `keras_nachos.deploy.runtime`: the exported early exit."""

import numpy as np
import pytest

from keras_nachos import deploy
from keras_nachos import rules
from keras_nachos.calibration import exit_scores
from tests.deploy.testing_utils import thresholds_between_samples
from tests.testing_utils import assert_invalid
from tests.testing_utils import toy_data

RULES = [
    ("sdn", "max_probability"),
    ("sdn", "entropy"),
    ("sdn", "score_margin"),
    ("confidence", "cascade_confidence"),
    ("class_means", "class_means"),
]


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


@pytest.fixture(scope="module")
def int8_export(trained, tmp_path_factory):
    """`trained["sdn"]` exported in int8 (calibrated on 128 samples) once:
    `(manifest, folder)` (one converter worker for the int8 tests)."""
    models, x, _ = trained
    folder = tmp_path_factory.mktemp("int8")
    manifest = models["sdn"].export_early_exit(
        folder, [0.8, 0.8], quantize="int8", representative_data=x[:128])
    return manifest, folder


def test_int8_export_runs_close_to_float(trained, int8_export):
    models, x, y = trained
    model = models["sdn"]
    thresholds = [0.8, 0.8]
    manifest, folder = int8_export
    assert manifest.quantize == "int8"
    for stage in manifest.stages:
        assert stage.input.dtype == "int8" and stage.exit.dtype == "int8"
    runtime = deploy.load(folder)
    result = runtime.predict_early_exit(x, batch_size=16)
    expected = model.predict_early_exit(x, thresholds)
    assert abs(result.accuracy(y) - expected.accuracy(y)) <= 0.05
    assert np.mean(result.exit_indices == expected.exit_indices) >= 0.9
    outputs = runtime.run_stages(x)
    for ours, keras_output in zip(outputs, model.predict_exits(x)):
        assert np.abs(ours - keras_output).max() < 0.1


def test_int8_features_go_from_stage_to_stage_without_requantising(
        trained, int8_export):
    _, x, _ = trained
    runtime = deploy.load(int8_export[1])
    assert runtime.unchanged_hand_overs == [True, True]
    nan = x[:2].copy()
    nan[0, 0, 0, 0] = np.nan  # int8 would quantise it to some integer.
    assert_invalid("x", runtime.predict_early_exit, nan)


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


def test_non_finite_images_are_refused(float_exports):
    # A NaN image would predict a class (int8 exports quantise it to some
    # integer): refused, named, for every way of running.
    runtime = deploy.load(float_exports["model"][2])
    x, _ = toy_data(4, seed=5)
    for value in (np.nan, np.inf, -np.inf):
        bad = x.copy()
        bad[1, 3, 3, 0] = value
        for run in (runtime.predict_early_exit, runtime.run_stages,
                    lambda images: runtime.predict_early_exit(images, 3)):
            assert_invalid("x", run, bad)
    assert runtime.predict_early_exit(x).exit_indices.shape == (4,)
