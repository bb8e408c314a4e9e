"""Tests of `keras_nachos.deploy.export`: stage files, their tensor specs, the
one-file early exit and the export's argument checks."""

import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema

from keras_nachos import deploy
from keras_nachos import rules
from keras_nachos.deploy import export
from keras_nachos.deploy.interpreters import make_interpreter
from tests.deploy.testing_utils import copy_export
from tests.deploy.testing_utils import folder_state
from tests.deploy.testing_utils import thresholds_between_samples
from tests.testing_utils import toy_data


def test_stage_file_gives_the_keras_stage_outputs_by_name(trained):
    models, x, _ = trained
    model = models["sdn"]
    stage = model.stage_plan.stages[0]
    stage_model = export.stage_export_models(model)[0]
    flatbuffer = export.convert_stage(stage_model)
    spec = export.stage_spec(stage, flatbuffer)
    assert spec.file == "stage_1.tflite" and spec.bytes == len(flatbuffer)
    assert (spec.input.name, spec.input.shape, spec.input.dtype) == (
        "image", [-1, 16, 16, 1], "float32")
    assert (spec.exit.name, spec.exit.shape) == ("exit", [-1, 4])
    # p1's output: 8x8 after one pooling, 8 filters.
    assert (spec.features.name, spec.features.shape) == (
        "features", [-1, 8, 8, 8])
    assert spec.input.scale is None and spec.exit.zero_point is None
    runner = make_interpreter(model_content=flatbuffer).get_signature_runner()
    ours = runner(image=x[:5])
    expected = stage_model.predict(x[:5], verbose=0)
    for name in ("exit", "features"):
        np.testing.assert_allclose(ours[name], expected[name], atol=1e-5)


def test_single_file_function_takes_the_keras_exits(trained):
    # The one-file early exit's function itself (before conversion), one
    # sample at a time, against the staged runner on all samples.
    models, x, _ = trained
    model = models["sdn"]
    rule = rules.get("max_probability")
    thresholds = thresholds_between_samples(
        model, model.predict_exits(x[:40]), rule
    )
    function = export.single_file_function(
        export.stage_export_models(model), rule, model.num_classes
    )
    limits = tf.constant(rule.float32_score_threshold(thresholds))
    expected = model.predict_early_exit(x[:40], thresholds)
    for i in range(40):
        out = function(x[i : i + 1], limits)
        assert int(out["exit_index"][0]) == expected.exit_indices[i], i
        np.testing.assert_allclose(
            out["exit_output"][0], expected.probabilities[i], atol=1e-5
        )
    assert len(set(expected.exit_indices)) == 3  # every exit is taken


def test_checked_rule_serializes_the_rule_and_checks_it_fits(trained):
    models, _, _ = trained
    model = models["sdn"]
    rule, thresholds, serialized = export.checked_rule(
        model, "entropy", [0.4, 0.3]
    )
    assert isinstance(rule, rules.Entropy)
    np.testing.assert_array_equal(thresholds, [0.4, 0.3])
    assert serialized["class_name"] == "Entropy"
    with pytest.raises(ValueError, match="argument `rule`"):
        export.checked_rule(model, "cascade_confidence", [0.4, 0.3])
    for directory in ("", None, 3):
        with pytest.raises(ValueError, match="argument `directory`"):
            export.check_directory(directory)


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


def _bad_representative(x):
    """`(bad representative data, what the error says)` pairs."""
    nan, inf = x.copy(), x.copy()
    nan[3, 2, 2, 0] = np.nan
    inf[0] = np.inf
    return [
        (nan, "1 of 8 samples hold NaN or infinite values, the first at "
         "index 3"),
        (inf, "1 of 8 samples hold NaN or infinite values, the first at "
         "index 0"),
        (tf.data.Dataset.from_tensor_slices((nan, np.zeros(8))).batch(4),
         "hold NaN or infinite values"),
        (x[:0], "a non-empty array of inputs"),
        (x[..., :0], "numeric inputs of shape"),
        (np.full((2, 16, 16, 1), "a"), "numeric inputs of shape"),
        ([[1.0], [2.0, 3.0]], "an array of inputs or a tf.data.Dataset"),
    ]


def test_bad_representative_data_is_refused_before_any_work(
        float_exports, tmp_path, monkeypatch):
    # NaN representative data once crashed the converter (and this process)
    # after an empty folder was made: refused now, nothing written.
    model, _, folder = float_exports["model"]
    monkeypatch.setattr(export, "convert_int8_in_worker", _never)
    earlier = copy_export(folder, tmp_path / "earlier")
    before = folder_state(earlier)
    x, _ = toy_data(8, seed=4)
    for target in (tmp_path / "new", earlier):
        for data, message in _bad_representative(x):
            with pytest.raises((ValueError, TypeError)) as info:
                model.export_early_exit(target, [0.9, 0.9], quantize="int8",
                                        representative_data=data)
            assert "argument `representative_data`" in str(info.value)
            assert message in str(info.value), str(info.value)
    assert folder_state(earlier) == before
    assert os.listdir(tmp_path) == ["earlier"]  # No new folder, no partial.


def _never(*args, **kwargs):
    raise AssertionError("the converter ran")


def _stage_files_of(folder):
    """A `convert_stage` that returns the stage files of the export in
    `folder`, in order (instead of converting)."""
    files = iter([open(os.path.join(folder, f"stage_{n}.tflite"), "rb").read()
                  for n in (1, 2, 3)])
    return lambda *args, **kwargs: next(files)


@pytest.mark.parametrize("failure", [KeyboardInterrupt, RuntimeError])
def test_a_failed_export_leaves_the_target_as_it_was(float_exports, tmp_path,
                                                     monkeypatch, failure):
    model, _, folder = float_exports["model"]
    earlier = copy_export(folder, tmp_path / "earlier")
    (earlier / "notes.txt").write_text("the user's")
    before = folder_state(earlier)

    def interrupted(*args, **kwargs):
        raise failure("the converter stopped")

    # The stage files are written, then the one-file early exit fails.
    monkeypatch.setattr(export, "convert_single_file", interrupted)
    for target in (tmp_path / "new" / "nested", earlier):
        monkeypatch.setattr(export, "convert_stage", _stage_files_of(folder))
        with pytest.raises(failure):
            model.export_early_exit(target, [0.5, 0.5])
    assert folder_state(earlier) == before
    assert sorted(os.listdir(tmp_path)) == ["earlier"]


def test_a_new_export_replaces_the_earlier_one_and_keeps_other_files(
        float_exports, tmp_path, monkeypatch):
    _, _, folder = float_exports["model"]
    other, _, other_folder = float_exports["other"]
    target = copy_export(folder, tmp_path / "export")
    (target / "notes.txt").write_text("the user's")
    (target / "stage_1.h").write_text("// an earlier header")
    monkeypatch.setattr(export, "convert_stage", _stage_files_of(other_folder))
    manifest = other.export_early_exit(target, [0.5, 0.5], single_file=False)
    assert sorted(os.listdir(target)) == [
        "manifest.json", "notes.txt", "stage_1.tflite", "stage_2.tflite",
        "stage_3.tflite"]
    assert sorted(manifest.files) == ["stage_1.tflite", "stage_2.tflite",
                                      "stage_3.tflite"]
    runtime = deploy.load(target)
    assert runtime.verified
    x, _ = toy_data(16, seed=6)
    result = runtime.predict_early_exit(x)
    expected = other.predict_early_exit(x, [0.5, 0.5])
    np.testing.assert_array_equal(result.exit_indices, expected.exit_indices)
    np.testing.assert_allclose(result.probabilities, expected.probabilities,
                               atol=1e-5)


def test_the_target_folder_is_checked_before_any_work(float_exports, tmp_path,
                                                      monkeypatch):
    model = float_exports["model"][0]
    monkeypatch.setattr(export, "convert_stage", _never)
    file = tmp_path / "file.txt"
    file.write_text("not a folder")
    for target, message in ((file, "it names an existing file"),
                            (file / "sub", "is under")):
        with pytest.raises(ValueError, match=f"argument `directory`.*{message}"):
            model.export_early_exit(target, [0.9, 0.9])
    assert sorted(os.listdir(tmp_path)) == ["file.txt"]
