"""Tests of `keras_nachos.deploy.export`: stage files, their tensor specs, the
one-file early exit and the export's argument checks."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema

from keras_nachos import deploy
from keras_nachos import rules
from keras_nachos.deploy import export
from keras_nachos.deploy.interpreters import make_interpreter
from tests.deploy.testing_utils import thresholds_between_samples


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
