"""Tests of `keras_nachos.training.class_means_fitting` (E2CM); the
`shared_data_and_backbone` fixture (trained once per session) is in
tests/conftest.py."""

import keras
import numpy as np
import pytest

from keras_nachos import EarlyExitModel


def test_class_means_and_scales_by_hand(shared_data_and_backbone):
    x, y, backbone = shared_data_and_backbone
    weights_before = [w.copy() for w in backbone.get_weights()]
    model = EarlyExitModel.from_backbone(backbone, ["p1", "p2"], 4, head="class_means")
    model.fit_class_means(x, y, batch_size=37)
    for head, layer in zip(model.heads, ["p1", "p2"]):
        f = keras.Model(backbone.inputs, backbone.get_layer(layer).output).predict(
            x, verbose=0
        ).reshape(len(x), -1).astype("float64")
        mu = np.stack([f[y == k].mean(axis=0) for k in range(4)])
        s = np.array(
            [np.linalg.norm(f[y == k] - mu[k], axis=1).mean() for k in range(4)]
        )
        np.testing.assert_allclose(head.means.numpy(), mu, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(head.scales.numpy(), s, rtol=1e-4)
        d = np.linalg.norm(f[:, None, :] - mu[None], axis=2) / s
        p = np.exp(-d) / np.exp(-d).sum(axis=1, keepdims=True)
        out = model.predict_exits(x[:20])[model.heads.index(head)]
        np.testing.assert_allclose(out, p[:20], rtol=1e-3, atol=1e-5)
    # The network itself was not modified.
    for a, b in zip(weights_before, backbone.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_fit_class_means_errors(shared_data_and_backbone):
    x, y, backbone = shared_data_and_backbone
    model = EarlyExitModel.from_backbone(backbone, ["p1"], 4)
    with pytest.raises(ValueError, match="no ClassMeansHead"):
        model.fit_class_means(x, y)
    model = EarlyExitModel.from_backbone(backbone, ["p1"], 4, head="class_means")
    with pytest.raises(ValueError, match="argument `y`"):
        model.fit_class_means(x, y[:10])
    with pytest.raises(ValueError, match="every class"):
        model.fit_class_means(x[y < 3], y[y < 3])


def test_fit_class_means_checks_the_data_before_any_work(shared_data_and_backbone):
    import tensorflow as tf

    x, y, backbone = shared_data_and_backbone
    model = EarlyExitModel.from_backbone(backbone, ["p1"], 4, head="class_means")
    nan = x.copy()
    nan[7, 0, 0, 0] = np.nan
    means = model.heads[0].means.numpy().copy()
    cases = [
        (x, np.where(y == 0, 12, y), "y", r"Received: y=\[12\]"),
        (x, np.where(y == 0, -1, y), "y", r"Received: y=\[-1\]"),
        (x, np.full_like(y, 4), "y", r"160 of 160 are outside"),
        (x, np.full((len(y), 4), 0.25), "y", "one-hot rows"),
        (nan, y, "x", r"finite numbers: 1 of 160 samples.*index 7"),
        (x[:, :8], y, "x", r"shape \(n, 16, 16, 1\)"),
        (x[:0], y[:0], "x", "at least one sample"),
        (tf.data.Dataset.from_tensor_slices((x, y + 4)).batch(64), None, "x",
         r"labels \(the second item of its batches\).*Received: x=\[4"),
        (tf.data.Dataset.from_tensor_slices((nan, y)).batch(64), None, "x",
         r"inputs \(the first item of its batches\) that are finite"),
    ]
    for inputs, labels, argument, message in cases:
        with pytest.raises(ValueError, match=f"argument `{argument}`.*{message}"):
            model.fit_class_means(inputs, labels)
    assert float(model.heads[0].fitted.numpy()) == 0.0  # nothing fitted
    np.testing.assert_array_equal(model.heads[0].means.numpy(), means)
    # One-hot rows are the class ids they encode.
    model.fit_class_means(x, np.eye(4)[y])
    one_hot_means = model.heads[0].means.numpy().copy()
    model.fit_class_means(x, y)
    np.testing.assert_array_equal(model.heads[0].means.numpy(), one_hot_means)
