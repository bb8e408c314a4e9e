"""Tests of `keras_nachos.deploy.specs`: the manifest's tensor and file
records, read field by field."""

import pytest

from keras_nachos.deploy.specs import FieldError
from keras_nachos.deploy.specs import StageSpec
from keras_nachos.deploy.specs import TensorSpec
from keras_nachos.deploy.specs import is_plain_file_name

GOOD = {"name": "image", "shape": [-1, 16, 16, 1], "dtype": "int8",
        "scale": 0.02, "zero_point": -3, "position": 0}


def test_a_tensor_spec_round_trips():
    spec = TensorSpec.from_json(dict(GOOD))
    assert spec.quantized and TensorSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize("change, field", [
    ({"name": ""}, "x.name"),
    ({"shape": [-1, "16"]}, "x.shape"),
    ({"shape": [-2, 16]}, "x.shape"),
    ({"shape": "[-1]"}, "x.shape"),
    ({"dtype": "int9"}, "x.dtype"),
    ({"dtype": 8}, "x.dtype"),
    ({"scale": -1.0}, "x.scale"),
    ({"scale": float("nan")}, "x.scale"),
    ({"zero_point": 0.5}, "x.zero_point"),
    ({"zero_point": None}, "x.zero_point"),  # scale without zero point
    ({"position": -1}, "x.position"),
    ({"position": True}, "x.position"),
    ({"colour": "red"}, "x.colour"),
    ({"dtype": None, "shape": None, "name": None}, "x.name"),
])
def test_each_bad_tensor_field_is_named(change, field):
    config = {k: v for k, v in dict(GOOD, **change).items() if v is not None
              or k in ("scale", "zero_point")}
    with pytest.raises(FieldError, match=f"'{field}'"):
        TensorSpec.from_json(config, "x")


def test_a_stage_needs_its_tensors_and_a_plain_file_name():
    tensor = dict(GOOD)
    stage = {"file": "stage_1.tflite", "input": tensor, "exit": tensor,
             "features": None, "bytes": 10, "arena_bytes": None}
    assert StageSpec.from_json(stage).to_json() == stage
    for change, field in (({"file": "../x.tflite"}, "s.file"),
                          ({"exit": None}, "s.exit"),
                          ({"bytes": -1}, "s.bytes"),
                          ({"input": [1]}, "s.input")):
        with pytest.raises(FieldError, match=f"'{field}'"):
            StageSpec.from_json(dict(stage, **change), "s")


def test_plain_file_names_stay_in_the_folder():
    assert is_plain_file_name("stage_1.tflite")
    for name in ("", ".", "..", "../a", "a/b", "/etc/passwd", "a\\b", 3):
        assert not is_plain_file_name(name)
