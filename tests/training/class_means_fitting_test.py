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
