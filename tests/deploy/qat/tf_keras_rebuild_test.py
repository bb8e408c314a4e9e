"""Tests of `keras_nachos.deploy.qat.tf_keras_rebuild`: an `EarlyExitModel`
rebuilt in tf_keras gives its outputs (run in the worker process: tf_keras
must not be imported by this one)."""

import os

import keras
import pytest

from keras_nachos import EarlyExitModel
from keras_nachos import deploy
from keras_nachos.deploy import qat
from tests.deploy.qat.testing_utils import requires_tfmot
from tests.testing_utils import toy_data


@requires_tfmot
def test_tf_keras_rebuild_gives_the_keras_outputs_for_every_head(rebuild_run):
    models, _, diffs = rebuild_run
    assert len(diffs) == len(models)
    for model, model_diffs in zip(models[:6], diffs):
        assert len(model_diffs) == model.num_exits == 3
        assert max(model_diffs) < 1e-5, (model.heads[0].name, model_diffs)


@requires_tfmot
def test_worker_errors_name_the_layer_it_cannot_rebuild(tmp_path):
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", name="b1")(inputs)
    x = keras.layers.RMSNormalization(name="norm")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(4, activation="softmax")(x)
    model = EarlyExitModel.from_backbone(keras.Model(inputs, outputs), ["b1"], 4)
    x, y = toy_data(32)
    with pytest.raises(qat.QuantizationAwareTrainingError) as info:
        deploy.export_quantization_aware(model, tmp_path, [0.9], x, y, epochs=1)
    message = str(info.value)
    assert "`norm`" in message and "RMSNormalization" in message, message
    assert not os.path.exists(tmp_path / "manifest.json")
