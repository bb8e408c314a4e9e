import keras
import numpy as np
import pytest

from keras_nachos import ClassMeansHead
from keras_nachos import EarlyExitModel
from keras_nachos import count_macs
from keras_nachos.calibration import exit_indices as _exit_indices
from tests.testing_utils import small_cnn
from tests.testing_utils import toy_data


def _trained_backbone(x, y):
    backbone = small_cnn()
    backbone.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    backbone.fit(x, y, epochs=3, batch_size=32, verbose=0)
    return backbone


@pytest.fixture(scope="module")
def data_and_backbone():
    x, y = toy_data(160, seed=3)
    return x, y, _trained_backbone(x, y)


def test_class_means_and_scales_by_hand(data_and_backbone):
    x, y, backbone = data_and_backbone
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


def test_class_means_macs_early_exit_and_save_load(data_and_backbone, tmp_path):
    x, y, backbone = data_and_backbone
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


def test_combined_mode_trains_only_trained_heads(data_and_backbone):
    x, y, backbone = data_and_backbone
    backbone = keras.models.clone_model(backbone)
    model = EarlyExitModel.from_backbone(
        backbone, ["p1", "p2"], 4, head=["class_means", "global_pool"]
    )
    assert model.trained_exits == [False, True, True]
    model.compile("adam", metrics=["accuracy"])
    history = model.fit(x, y, epochs=1, verbose=0)
    assert "exit_1_loss" not in history.history and "exit_2_loss" in history.history
    model.fit_class_means(x, y)
    assert float(model.heads[0].fitted.numpy()) == 1.0
    assert isinstance(model.heads[0], ClassMeansHead)


def test_fit_class_means_errors(data_and_backbone):
    x, y, backbone = data_and_backbone
    model = EarlyExitModel.from_backbone(backbone, ["p1"], 4)
    with pytest.raises(ValueError, match="no ClassMeansHead"):
        model.fit_class_means(x, y)
    model = EarlyExitModel.from_backbone(backbone, ["p1"], 4, head="class_means")
    with pytest.raises(ValueError, match="argument `y`"):
        model.fit_class_means(x, y[:10])
    with pytest.raises(ValueError, match="every class"):
        model.fit_class_means(x[y < 3], y[y < 3])
