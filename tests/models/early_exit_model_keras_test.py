"""An EarlyExitModel behaves like any Keras multi-output model around
fit, evaluate and predict: sample and class weights, mixed precision,
callbacks that monitor one exit, XLA, tf.data (tf.distribute:
early_exit_trainer_test.py), and the heads pass Keras' own layer
conformance test."""

import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_nachos import EarlyExitModel
from keras_nachos import NachosLoss
from tests.testing_utils import small_cnn
from tests.testing_utils import toy_data

def _model(points=("p1", "p2"), **kwargs):
    return EarlyExitModel.from_backbone(small_cnn(), list(points), 4, **kwargs)


def _nachos_model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # adaptive pooling: exit 2 not cheaper
        model = _model(head="conv", confidence=True)
    return model, NachosLoss(max_macs=model.exit_macs[0] * 1.5)


def _compile(model, loss, learning_rate):
    model.compile(keras.optimizers.SGD(learning_rate), loss=loss)
    if isinstance(loss, NachosLoss):  # every term on, the support one too
        loss.support_active.assign(1.0)
        loss.support_matrix.assign(np.full(loss.support_matrix.shape, 0.3))


def _plain_twin(model):
    """The same layers as a plain Keras multi-output model."""
    return keras.Model(model.input, model.output)


def _weights(model):
    return [v.numpy() for v in model.trainable_variables]


def _restore(model, values):
    for v, value in zip(model.trainable_variables, values):
        v.assign(value)


def _dtype(tensor):
    return keras.backend.standardize_dtype(tensor.dtype)


def _assert_all_close(a, b, **kwargs):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, **kwargs)


# ----------------------------------------------------------------------
# 2. sample_weight.
# ----------------------------------------------------------------------
def test_fit_and_evaluate_take_sample_weight():
    x, y = toy_data(32)
    w = np.random.default_rng(0).uniform(0.0, 2.0, 32).astype("float32")
    model = _model()
    model.compile("sgd", metrics=["accuracy"], weighted_metrics=["accuracy"])
    model.fit(x, y, sample_weight=w, batch_size=16, epochs=1, verbose=0)
    logs = model.evaluate(
        x, y, sample_weight=w, batch_size=16, return_dict=True, verbose=0
    )
    assert np.isfinite(logs["loss"])
    assert {"exit_1_weighted_accuracy", "final_weighted_accuracy"} <= set(logs)


def test_sample_weighted_losses_match_a_plain_keras_model():
    x, y = toy_data(40)
    w = np.random.default_rng(1).uniform(0.0, 2.0, 40).astype("float32")
    model = _model()
    model.compile("sgd", exit_weights=[0.5, 0.25, 1.0])
    plain = _plain_twin(model)
    plain.compile(
        "sgd",
        loss={n: "sparse_categorical_crossentropy" for n in model.exit_names},
        loss_weights={"exit_1": 0.5, "exit_2": 0.25, "final": 1.0},
    )
    labels = {n: y for n in model.exit_names}
    # batch_size 16: batches of 16, 16, 8 (a partial last batch).
    ours = model.evaluate(
        x, y, sample_weight=w, batch_size=16, return_dict=True, verbose=0
    )
    theirs = plain.evaluate(
        x, labels, sample_weight=w, batch_size=16, return_dict=True, verbose=0
    )
    for name in ["loss", "exit_1_loss", "exit_2_loss", "final_loss"]:
        assert ours[name] == pytest.approx(theirs[name], rel=1e-5), name
    # By hand, one batch: sum_n w_n CE_n / n per exit, weighted sum.
    model.compile("sgd", exit_weights=[0.5, 0.25, 1.0])
    outputs = model(x)
    total = model.compute_loss(x, y, outputs, sample_weight=w)
    assert tuple(total.shape) == ()
    expected = 0.0
    for name, weight in zip(model.exit_names, [0.5, 0.25, 1.0]):
        ce = keras.losses.sparse_categorical_crossentropy(y, outputs[name])
        by_hand = float(np.sum(w * np.asarray(ce)) / len(y))
        tracker = model._training_state.loss_trackers[f"{name}_loss"]
        assert float(tracker.result()) == pytest.approx(by_hand, rel=1e-5)
        expected += weight * by_hand
    assert float(total) == pytest.approx(expected, rel=1e-5)


def test_one_sgd_step_matches_a_plain_keras_model():
    """The loss is the batch mean, not a per-sample vector (its gradient
    was the sum over the batch: steps `batch_size` times too large)."""
    x, y = toy_data(32)
    model = _model()
    start = _weights(model)
    model.compile(keras.optimizers.SGD(0.1))
    model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    ours = _weights(model)
    _restore(model, start)
    plain = _plain_twin(model)
    plain.compile(
        keras.optimizers.SGD(0.1),
        loss={n: "sparse_categorical_crossentropy" for n in model.exit_names},
    )
    labels = {n: y for n in model.exit_names}
    plain.fit(x, labels, batch_size=32, epochs=1, shuffle=False, verbose=0)
    _assert_all_close(ours, _weights(model), rtol=1e-4, atol=1e-6)


def test_a_plain_loss_function_is_reduced_and_weighted():
    """A `fn(y_true, y_pred)` loss, as Keras' `compile` accepts one."""
    x, y = toy_data(32)
    w = _half_weights(32)

    def my_loss(y_true, y_pred):
        return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)

    model = _model()
    model.compile("sgd", loss=my_loss)
    ours = model.evaluate(
        x, y, sample_weight=w, batch_size=32, return_dict=True, verbose=0
    )
    model.compile("sgd", loss=keras.losses.SparseCategoricalCrossentropy())
    expected = model.evaluate(
        x, y, sample_weight=w, batch_size=32, return_dict=True, verbose=0
    )
    assert ours == pytest.approx(expected, rel=1e-6)
    model.compile("sgd", loss=lambda a, b: my_loss(a, b))
    history = model.fit(x, y, sample_weight=w, verbose=0).history
    assert np.isfinite(history["loss"][0])


def _half_weights(n):
    """Weight 2 on the first half, 0 on the second: sum(w * l) / n is then
    the mean loss over the first half."""
    return np.r_[np.full(n // 2, 2.0), np.zeros(n - n // 2)].astype("float32")


@pytest.mark.parametrize("nachos", [False, True])
def test_zero_weights_are_the_same_as_training_on_the_other_half(nachos):
    x, y = toy_data(32)
    w = _half_weights(32)
    if nachos:
        model, loss = _nachos_model()
    else:
        model, loss = _model(), "sparse_categorical_crossentropy"
    start = _weights(model)
    _compile(model, loss, 0.05)
    weighted = model.evaluate(
        x, y, sample_weight=w, batch_size=32, return_dict=True, verbose=0
    )
    half = model.evaluate(
        x[:16], y[:16], batch_size=16, return_dict=True, verbose=0
    )
    for name, value in half.items():
        assert weighted[name] == pytest.approx(value, rel=1e-5, abs=1e-7), name
    model.fit(
        x, y, sample_weight=w, batch_size=32, shuffle=False, verbose=0
    )
    after_weighted = _weights(model)
    _restore(model, start)
    _compile(model, loss, 0.05)
    model.fit(x[:16], y[:16], batch_size=16, shuffle=False, verbose=0)
    _assert_all_close(after_weighted, _weights(model), rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------
# 3. class_weight.
# ----------------------------------------------------------------------
@pytest.mark.parametrize("nachos", [False, True])
def test_class_weight_weights_each_class(nachos):
    x, y = toy_data(32)
    class_weight = {0: 0.5, 1: 2.0, 2: 1.0, 3: 0.0}
    w = np.asarray([class_weight[int(k)] for k in y], "float32")
    if nachos:
        model, loss = _nachos_model()
    else:
        model, loss = _model(), "sparse_categorical_crossentropy"
    start = _weights(model)
    # A zero learning rate: the logged training loss is the loss at `start`.
    model.compile(keras.optimizers.SGD(0.0), loss=loss)
    history = model.fit(
        x, y, class_weight=class_weight, batch_size=32, verbose=0
    ).history
    logs = model.evaluate(
        x, y, sample_weight=w, batch_size=32, return_dict=True, verbose=0
    )
    unweighted = model.evaluate(x, y, batch_size=32, return_dict=True, verbose=0)
    assert history["loss"][0] == pytest.approx(logs["loss"], rel=1e-5)
    assert logs["loss"] != pytest.approx(unweighted["loss"], rel=1e-3)
    # A real step: class_weight and the same sample_weight move the weights
    # the same way.
    model.compile(keras.optimizers.SGD(0.05), loss=loss)
    model.fit(x, y, class_weight=class_weight, batch_size=32, verbose=0)
    with_class_weight = _weights(model)
    _restore(model, start)
    model.compile(keras.optimizers.SGD(0.05), loss=loss)
    model.fit(x, y, sample_weight=w, batch_size=32, verbose=0)
    _assert_all_close(with_class_weight, _weights(model), rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------------
# 1. Mixed precision.
# ----------------------------------------------------------------------
@pytest.fixture
def mixed_bfloat16():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("head", ["global_pool", "sdn", "nachos"])
def test_mixed_bfloat16_fit_evaluate_predict(mixed_bfloat16, head):
    x, y = toy_data(32)
    if head == "nachos":
        model, loss = _nachos_model()
    else:
        model, loss = _model(head=head), "sparse_categorical_crossentropy"
    for h in model.heads:  # the body in bfloat16, the output layers in float32
        assert h.compute_dtype == "bfloat16"
        assert h.classifier.compute_dtype == "float32"
    model.compile("adam", loss=loss, metrics=["accuracy"])
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0).history
    logs = model.evaluate(x, y, return_dict=True, verbose=0)
    assert all(np.all(np.isfinite(v)) for v in history.values()), history
    assert all(np.isfinite(v) for v in logs.values()), logs
    outputs = model.predict(x, verbose=0)
    for name in model.exit_names[:-1]:
        assert outputs[name].dtype == np.float32
        probabilities = outputs[name][:, :4]
        assert np.all(np.isfinite(outputs[name]))
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    # The final exit is the backbone's own output: small_cnn's Dense softmax
    # computes in bfloat16 under the policy (as in any Keras model).
    assert model.backbone.outputs[0].dtype == "bfloat16"
    assert outputs["final"].dtype == model.backbone.outputs[0].dtype
    assert np.all(np.isfinite(outputs["final"].astype("float32")))


def test_mixed_bfloat16_final_softmax_and_final_head_in_float32(
    mixed_bfloat16,
):
    x, y = toy_data(16)
    logits = EarlyExitModel.from_backbone(small_cnn(logits=True), ["p1"], 4)
    inputs = keras.Input((16, 16, 1))
    features = keras.layers.Conv2D(4, 3, name="c1")(inputs)
    features = keras.layers.Conv2D(4, 3, name="c2")(features)
    headed = EarlyExitModel.from_backbone(
        keras.Model(inputs, features), ["c1"], 4
    )
    for model in (logits, headed):
        outputs = model.predict(x, verbose=0)
        assert {str(v.dtype) for v in outputs.values()} == {"float32"}
        model.compile("adam")
        history = model.fit(x, y, verbose=0).history
        assert np.isfinite(history["loss"][0])


def test_mixed_bfloat16_class_means_in_float32(mixed_bfloat16):
    x, y = toy_data(64)
    model = _model(head="class_means")
    model.fit_class_means(x, y)
    head = model.heads[0]
    features = keras.Model(model.input, model._cut_tensors[0])(x)
    f = np.asarray(features, "float64").reshape(len(x), -1)
    mu = head.means.numpy().astype("float64")
    d = np.linalg.norm(f[:, None, :] - mu[None], axis=-1)
    z = -d / head.scales.numpy()
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    out = model.predict(x, verbose=0)["exit_1"]
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-4)


@pytest.mark.parametrize("nachos", [False, True])
def test_compute_loss_takes_bfloat16_outputs(nachos):
    """Outputs of any dtype (a custom head, a backbone's own bfloat16
    output) give a float32 loss, as Keras' losses convert them."""
    x, y = toy_data(16)
    if nachos:
        model, loss = _nachos_model()
    else:
        model, loss = _model(), "sparse_categorical_crossentropy"
    model.compile("sgd", loss=loss)
    outputs = model(x)
    expected = float(model.compute_loss(x, y, outputs))
    low = {n: tf.cast(v, "bfloat16") for n, v in outputs.items()}
    total = model.compute_loss(x, y, low)
    assert total.dtype == "float32"
    assert float(total) == pytest.approx(expected, rel=2e-2)


# ----------------------------------------------------------------------
# 4. Callbacks that monitor one exit.
# ----------------------------------------------------------------------
def _fit_with(model, callbacks, epochs=2):
    x, y = toy_data(32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(
            x,
            y,
            validation_data=(x, y),
            batch_size=16,
            epochs=epochs,
            callbacks=callbacks,
            verbose=0,
        )
    messages = [str(w.message) for w in caught]
    unavailable = [
        m for m in messages if "not available" in m or "only with" in m
    ]
    assert not unavailable, unavailable


def test_callbacks_monitoring_an_exit_infer_their_direction(tmp_path):
    model = _model()
    model.compile(
        "adam",
        metrics=[
            "accuracy",
            keras.metrics.SparseCategoricalCrossentropy(name="xent"),
        ],
    )
    path = str(tmp_path / "best.weights.h5")
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_exit_1_accuracy", patience=5
    )
    checkpoint = keras.callbacks.ModelCheckpoint(
        path,
        monitor="val_final_accuracy",
        save_best_only=True,
        save_weights_only=True,
    )
    reduce_lr = keras.callbacks.ReduceLROnPlateau(monitor="val_exit_1_loss")
    # A metric that goes down, whose name says nothing: from the metric.
    down = keras.callbacks.EarlyStopping(monitor="val_exit_2_xent")
    # Set by the user: left alone.
    user = keras.callbacks.EarlyStopping(monitor="exit_2_accuracy", mode="min")
    _fit_with(model, [early_stopping, checkpoint, reduce_lr, down, user])
    assert early_stopping.monitor_op is keras.ops.greater
    assert checkpoint.monitor_op is keras.ops.greater
    assert reduce_lr.monitor_op is keras.ops.less
    assert down.monitor_op is keras.ops.less
    assert user.monitor_op is keras.ops.less
    assert (early_stopping.mode, checkpoint.mode, reduce_lr.mode) == (
        "max",
        "max",
        "min",
    )
    assert os.path.exists(path)
    assert early_stopping.best is not None and checkpoint.best is not None


def test_callbacks_monitoring_nachos_terms():
    model, loss = _nachos_model()
    model.compile("adam", loss=loss, metrics=["accuracy"])
    term = keras.callbacks.ReduceLROnPlateau(monitor="val_cls_loss")
    accuracy = keras.callbacks.EarlyStopping(monitor="val_exit_2_accuracy")
    total = keras.callbacks.EarlyStopping(monitor="val_loss")
    _fit_with(model, [term, accuracy, total], epochs=1)
    assert term.monitor_op is keras.ops.less
    assert accuracy.monitor_op is keras.ops.greater
    assert total.monitor_op is keras.ops.less


# ----------------------------------------------------------------------
# 5. XLA.
# ----------------------------------------------------------------------
@pytest.mark.parametrize("nachos", [False, True])
def test_jit_compile_fit_evaluate_predict(nachos):
    x, y = toy_data(32)
    w = np.random.default_rng(2).uniform(0.5, 1.5, 32).astype("float32")
    if nachos:
        model, loss = _nachos_model()
    else:
        model, loss = _model(), "sparse_categorical_crossentropy"
    model.compile("adam", loss=loss, metrics=["accuracy"], jit_compile=True)
    assert model.jit_compile
    history = model.fit(
        x, y, sample_weight=w, batch_size=16, epochs=2, verbose=0
    ).history
    assert np.all(np.isfinite(history["loss"]))
    jitted = model.evaluate(
        x, y, sample_weight=w, batch_size=16, return_dict=True, verbose=0
    )
    jitted_outputs = model.predict(x, batch_size=16, verbose=0)
    model.compile("adam", loss=loss, metrics=["accuracy"], jit_compile=False)
    if nachos:  # compile rebinds the loss: same support state as before
        model._training_state.multi_exit_loss.support_active.assign(0.0)
    eager = model.evaluate(
        x, y, sample_weight=w, batch_size=16, return_dict=True, verbose=0
    )
    assert jitted == pytest.approx(eager, rel=1e-4, abs=1e-6)
    for name, value in model.predict(x, batch_size=16, verbose=0).items():
        np.testing.assert_allclose(jitted_outputs[name], value, atol=1e-5)


def test_jit_compiled_loss_reads_the_exit_weights_variable():
    x, y = toy_data(32)
    model = _model()
    model.compile("sgd", exit_weights=[1.0, 1.0, 1.0], jit_compile=True)
    before = model.evaluate(x, y, batch_size=32, return_dict=True, verbose=0)
    model._training_state.exit_weights.assign([0.0, 0.0, 2.0])
    after = model.evaluate(x, y, batch_size=32, return_dict=True, verbose=0)
    assert after["loss"] == pytest.approx(2.0 * before["final_loss"], rel=1e-5)


# ----------------------------------------------------------------------
# 6. tf.data.
# ----------------------------------------------------------------------
def test_tf_data_fit_evaluate_predict_and_early_exit():
    x, y = toy_data(48)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    model = _model()
    model.compile("adam", metrics=["accuracy"])
    history = model.fit(data, validation_data=data, epochs=2, verbose=0)
    assert {"val_exit_1_accuracy", "val_final_loss"} <= set(history.history)
    from_data = model.evaluate(data, return_dict=True, verbose=0)
    from_arrays = model.evaluate(
        x, y, batch_size=16, return_dict=True, verbose=0
    )
    assert from_data == pytest.approx(from_arrays, rel=1e-5)
    predicted = model.predict(data, verbose=0)
    inputs_only = model.predict(data.map(lambda a, b: a), verbose=0)
    for name, value in model.predict(x, verbose=0).items():
        np.testing.assert_allclose(predicted[name], value, atol=1e-6)
        np.testing.assert_allclose(inputs_only[name], value, atol=1e-6)
    a = model.predict_early_exit(data, [0.4, 0.4])
    b = model.predict_early_exit(x, [0.4, 0.4])
    np.testing.assert_array_equal(a.exit_indices, b.exit_indices)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    report = model.evaluate_early_exit(data, thresholds=[0.4, 0.4])
    expected = model.evaluate_early_exit(x, y, thresholds=[0.4, 0.4])
    ours, theirs = report.to_dict(), expected.to_dict()
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        if isinstance(value, (str, type(None))) or (
            isinstance(value, list) and value and isinstance(value[0], str)
        ):
            assert ours[key] == value, key
        else:
            np.testing.assert_allclose(ours[key], value, rtol=1e-6, err_msg=key)


def test_tf_data_with_sample_and_class_weights():
    x, y = toy_data(32)
    w = _half_weights(32)
    model = _model()
    model.compile("sgd")
    weighted = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(32)
    logs = model.evaluate(weighted, return_dict=True, verbose=0)
    half = model.evaluate(
        x[:16], y[:16], batch_size=16, return_dict=True, verbose=0
    )
    assert logs == pytest.approx(half, rel=1e-5)
    model.fit(weighted, verbose=0)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    model.fit(data, class_weight={0: 1.0, 1: 2.0, 2: 0.5, 3: 1.0}, verbose=0)


# ----------------------------------------------------------------------
# 8. Keras' layer conformance test for the heads.
# ----------------------------------------------------------------------
def _run_layer_test(**kwargs):
    from keras.src import testing  # tests only: the library uses keras.*

    class Conformance(testing.TestCase):
        def runTest(self):
            pass

    Conformance().run_layer_test(**kwargs)


@pytest.mark.parametrize(
    "layer_cls, init_kwargs, input_shape, output_shape",
    [
        ("GlobalPoolHead", {"num_classes": 3}, (2, 8, 8, 4), (2, 3)),
        ("GlobalPoolHead", {"num_classes": 3}, (2, 5), (2, 3)),
        (
            "GlobalPoolHead",
            {"num_classes": 3, "hidden_units": 5, "pooling": "max",
             "confidence": True},
            (2, 6, 4),
            (2, 4),
        ),
        ("MixedPoolHead", {"num_classes": 3, "target_size": 2}, (2, 8, 8, 4),
         (2, 3)),
        ("MixedPoolHead", {"num_classes": 3, "confidence": True},
         (2, 9, 7, 4), (2, 4)),
        ("ConvHead", {"num_classes": 3, "filters": (4, 4), "pool_size": 2},
         (2, 7, 7, 4), (2, 3)),
        ("ConvHead", {"num_classes": 3, "filters": (4,), "confidence": True},
         (2, 8, 8, 4), (2, 4)),
        ("MixedPooling2D", {"pool_size": 2}, (2, 8, 8, 4), (2, 4, 4, 4)),
        ("MixedPooling2D", {"pool_size": 3}, (2, 7, 8, 4), (2, 2, 2, 4)),
    ],
)
def test_heads_pass_keras_layer_conformance(
    layer_cls, init_kwargs, input_shape, output_shape
):
    from keras_nachos import heads

    _run_layer_test(
        layer_cls=getattr(heads, layer_cls),
        init_kwargs=init_kwargs,
        input_shape=input_shape,
        expected_output_shape=output_shape,
        expected_output_dtype="float32",
    )


def test_class_means_head_passes_keras_layer_conformance():
    from keras_nachos.heads import ClassMeansHead

    # Fitted from data, not by gradients: no trainable weight to train.
    _run_layer_test(
        layer_cls=ClassMeansHead,
        init_kwargs={"num_classes": 3},
        input_shape=(2, 4, 4, 2),
        expected_output_shape=(2, 3),
        expected_output_dtype="float32",
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=3,
        run_training_check=False,
    )


@pytest.mark.parametrize(
    "policy, body, output",
    [
        ("mixed_float16", "float16", "float32"),
        ("mixed_bfloat16", "bfloat16", "float32"),
        ("float64", "float64", "float64"),
    ],
)
def test_heads_sublayers_follow_the_dtype_policy(policy, body, output):
    from keras_nachos import heads

    features = np.random.default_rng(0).normal(size=(2, 8, 8, 4))
    for head in [
        heads.GlobalPoolHead(3, hidden_units=4, confidence=True, dtype=policy),
        heads.MixedPoolHead(3, target_size=2, dtype=policy),
        heads.ConvHead(3, filters=(4,), pool_size=2, dtype=policy),
        heads.ClassMeansHead(3, dtype=policy),
    ]:
        out = head(features)
        assert _dtype(out) == output, head.name
        assert [layer.compute_dtype for layer in head.body] == [body] * len(
            head.body
        )
        variables = "float64" if policy == "float64" else "float32"
        assert {_dtype(w) for w in head.weights} == {variables}
        clone = head.__class__.from_config(head.get_config())
        assert clone.dtype_policy.name == policy
        assert clone.get_config() == head.get_config()
