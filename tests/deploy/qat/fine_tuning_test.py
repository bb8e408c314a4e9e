"""Tests of `keras_nachos.deploy.qat.fine_tuning`: the losses QAT fine-tunes
with are the model's own (the fine-tuning itself runs in the worker:
tests/deploy/qat/export_test.py)."""

import numpy as np
import pytest

from keras_nachos import EarlyExitModel
from keras_nachos.deploy.qat import fine_tuning
from tests.testing_utils import small_cnn
from tests.testing_utils import toy_data


def test_exit_losses_are_the_compiled_models_exit_losses():
    x, y = toy_data(16)
    model = EarlyExitModel.from_backbone(
        small_cnn(), ["p1", "p2"], 4, head=["class_means", "global_pool"],
        confidence=True,
    )
    losses = fine_tuning.exit_losses(model)
    # One per output of the rebuild: the exits, then the features at the
    # two exit points; none for the E2CM exit (fitted, not trained).
    assert len(losses) == 5
    assert losses[0] is None and losses[3:] == [None, None]
    model.compile()  # The default loss: sparse categorical cross-entropy.
    outputs = model(x)
    assert outputs["exit_2"].shape == (16, 5)  # with its confidence column
    model.compute_loss(x, y, outputs)
    trackers = model._training_state.loss_trackers
    for i, name in ((1, "exit_2"), (2, "final")):
        expected = float(trackers[f"{name}_loss"].result())
        assert float(losses[i](y, outputs[name])) == pytest.approx(expected, rel=1e-6)
    assert np.isfinite(expected)
