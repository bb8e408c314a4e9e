"""Tests of `keras_nachos.heads.class_means_head` (E2CM exits); the
`shared_data_and_backbone` fixture (trained once per session) is in
tests/conftest.py."""

import keras
import numpy as np

from keras_nachos import EarlyExitModel
from keras_nachos import count_macs
from keras_nachos.calibration import exit_indices as _exit_indices


def test_class_means_macs_early_exit_and_save_load(shared_data_and_backbone, tmp_path):
    x, y, backbone = shared_data_and_backbone
    model = EarlyExitModel.from_backbone(backbone, ["p1", "p2"], 4, head="e2cm")
    model.fit_class_means(x, y)
    assert model.head_macs[:2] == [4 * 8 * 8 * 8, 4 * 4 * 4 * 16]
    upto = keras.Model(model.inputs[0], model._exit_tensors[:2])
    assert count_macs(upto, method="profiler") == model.exit_macs[1]
    outputs = model.predict_exits(x)
    t = [float(np.median(o.max(axis=1))) for o in outputs[:2]]
    expected = _exit_indices(outputs, "max_probability", t, 4)
    result = model.predict_early_exit(x, t, batch_size=16)
    np.testing.assert_array_equal(result.exit_indices, expected)
    assert 0 < np.mean(result.exit_indices == 0) < 1
    assert result.accuracy(y) > 0.5
    path = str(tmp_path / "e2cm.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    again = loaded.predict_early_exit(x, t)
    np.testing.assert_array_equal(again.exit_indices, result.exit_indices)
    np.testing.assert_array_equal(again.predictions, result.predictions)
