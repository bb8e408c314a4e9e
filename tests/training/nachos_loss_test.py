"""Tests of `keras_nachos.training.nachos_loss`."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_nachos as kn
from keras_nachos import EarlyExitModel
from keras_nachos import NachosLoss
from keras_nachos import SupportSetCallback
from keras_nachos import split_support_set
from keras_nachos.training.nachos_loss import cascade_exit_probabilities
from keras_nachos.training.nachos_loss import class_balanced_bce
from keras_nachos.training.nachos_loss import mac_budget_loss
from tests.testing_utils import NAN
from tests.testing_utils import assert_invalid
from tests.testing_utils import build_optimizer
from tests.testing_utils import small_cnn
from tests.testing_utils import toy_data


def test_cascade_probabilities_by_hand():
    c1 = tf.constant([0.5, 0.0, 1.0])
    c2 = tf.constant([0.5, 0.25, 0.3])
    q = cascade_exit_probabilities([c1, c2]).numpy()
    np.testing.assert_allclose(
        q,
        [[0.5, 0.25, 0.25], [0.0, 0.25, 0.75], [1.0, 0.0, 0.0]],
        rtol=1e-6,
    )
    np.testing.assert_allclose(q.sum(axis=1), 1.0)


def test_mac_budget_loss_by_hand():
    q = tf.constant([[0.5, 0.5], [0.0, 1.0]])
    # MACbar = mean(0.5*100 + 0.5*300, 300) = 250; excess 50 over |300-200|.
    assert float(mac_budget_loss(q, [100, 300], 200)) == pytest.approx(0.5)
    assert float(mac_budget_loss(q, [100, 300], 260)) == 0.0


def test_class_balanced_bce_weights_classes_equally():
    target = tf.constant([1.0, 0.0, 0.0, 0.0])
    prediction = tf.constant([0.9, 0.2, 0.2, 0.2])
    pos = -np.log(0.9) * 0.5 / 0.25
    neg = -np.log(0.8) * 0.5 / 0.75
    expected = (pos + 3 * neg) / 4
    assert float(class_balanced_bce(target, prediction)) == pytest.approx(
        expected, rel=1e-5
    )


def _confidence_model():
    return EarlyExitModel.from_backbone(
        small_cnn(), ["p1", "p2"], 4, confidence=True
    )


def test_mac_term_gradient_is_nonzero_over_budget_and_zero_under():
    model = _confidence_model()
    x, y = toy_data(32)
    costs = model.exit_macs
    for max_macs, nonzero in ((costs[0] * 1.01, True), (costs[-1] * 2, False)):
        loss = NachosLoss(
            max_macs=max_macs,
            classification_weight=0.0,
            confidence_weight=0.0,
            support_weight=0.0,
        ).bind(model)
        with tf.GradientTape() as tape:
            outputs = model(x, training=True)
            total, terms = loss.compute_terms(
                y, [outputs[n] for n in model.exit_names]
            )
        grads = tape.gradient(total, model.heads[0].confidence_layer.kernel)
        norm = float(tf.norm(grads)) if grads is not None else 0.0
        assert (norm > 0) == nonzero, (max_macs, norm)


def test_mac_term_lowers_expected_macs_on_a_toy_problem():
    x, y = toy_data(128)

    def expected_macs(macs_weight):
        model = _confidence_model()
        budget = model.exit_macs[0] * 1.05
        model.compile(
            keras.optimizers.Adam(1e-2),
            loss=NachosLoss(max_macs=budget, macs_weight=macs_weight,
                            support_weight=0.0),
        )
        build_optimizer(model)  # the same weights, in about half the time
        model.fit(x, y, epochs=4, batch_size=32, verbose=0)
        outputs = model.predict_exits(x)
        confidences = [tf.constant(o[:, 4]) for o in outputs[:-1]]
        q = cascade_exit_probabilities(confidences).numpy()
        return float(np.mean(q @ np.asarray(model.exit_macs, "float64")))

    without = expected_macs(0.0)
    with_term = expected_macs(10.0)
    assert with_term < 0.9 * without, (with_term, without)


def test_nachos_loss_trains_and_logs_every_term():
    x, y = toy_data(96)
    (x_train, y_train), support = split_support_set(x, y, 0.25, seed=1)
    model = _confidence_model()
    loss = NachosLoss(max_macs=model.exit_macs[1])
    model.compile(keras.optimizers.Adam(1e-2), loss=loss, metrics=["accuracy"])
    callback = SupportSetCallback(support, warmup_epochs=2)
    history = model.fit(
        x_train, y_train, epochs=3, batch_size=24, verbose=0,
        callbacks=[callback],
    )
    logs = history.history
    for name in ("cls_loss", "conf_loss", "macs_loss", "support_loss",
                 "exit_1_accuracy", "final_accuracy"):
        assert name in logs
    # Support term is off during warm-up, on after it.
    assert logs["support_loss"][0] == 0.0 and logs["support_loss"][1] == 0.0
    assert logs["support_loss"][2] > 0.0
    assert len(callback.history) == 2
    table = callback.history[-1]
    assert table.shape == (4, 2) and np.all((0 <= table) & (table <= 1))
    # A by hand for exit 1 on the current weights.
    outputs = model.predict_exits(support[0])
    np.testing.assert_allclose(
        callback.support_accuracy()[:, 0],
        [np.mean(outputs[0][support[1] == k, :4].argmax(1) == k) for k in range(4)],
        rtol=1e-6,
    )


def test_nachos_loss_needs_confidence_heads_and_valid_weights():
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1"], 4)
    with pytest.raises(ValueError, match="confidence"):
        model.compile("adam", loss=NachosLoss())
    with pytest.raises(ValueError, match="argument `macs_weight`"):
        NachosLoss(macs_weight=-1)
    with pytest.raises(ValueError, match="argument `max_macs`"):
        NachosLoss(max_macs=0)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"max_macs": 0}, "max_macs"),
        ({"max_macs": NAN}, "max_macs"),
        ({"classification_weight": -1.0}, "classification_weight"),
        ({"support_weight": NAN}, "support_weight"),
        ({"macs_weight": True}, "macs_weight"),
    ],
)
def test_nachos_loss(kwargs, argument):
    assert_invalid(argument, kn.NachosLoss, **kwargs)
