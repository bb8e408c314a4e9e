"""Tests of `keras_nachos.search.supernet.sandwich_training`: the sandwich
rule trains the largest and the smallest subnets; fit reports their metrics,
on validation data too; the supernet's losses cannot be replaced."""

import numpy as np
import pytest

from keras_nachos.search import Supernet
from tests.search.supernet.testing_utils import elastic_space
from tests.search.supernet.testing_utils import toy_data
from tests.testing_utils import assert_invalid


def test_training_improves_the_largest_and_the_smallest_subnets(trained):
    space, supernet, x, y, history = trained
    assert set(history.history) == {
        "loss", "largest_accuracy", "smallest_accuracy"
    }
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    x_val, y_val = toy_data(n=60, seed=5)
    for values in (supernet.largest_values(), supernet.smallest_values()):
        supernet.reestimate_batch_norm(values, x)
        final = supernet.predict_subnet(values, x_val)[-1]
        assert np.mean(final.argmax(1) == y_val) > 0.6
    # Validation data: the largest and the smallest subnet's metrics (a
    # supernet of a smaller space: only the names of the metrics matter).
    small_space = elastic_space(
        stage_widths=[[4, 8], [8]], depths=(1,), kernel_sizes=(3,),
        head_types=("sdn",), head_widths=(0,),
    )
    supernet2 = Supernet(small_space, seed=2, num_random=0)
    supernet2.compile(optimizer="adam")
    logs = supernet2.fit(x, y, validation_data=(x_val, y_val), epochs=1,
                         batch_size=48, verbose=0).history
    assert {"val_loss", "val_largest_accuracy", "val_smallest_accuracy"} <= set(logs)


def test_the_supernets_losses_are_its_own(trained):
    _, supernet, _, _, _ = trained
    assert_invalid("metrics", supernet.compile, metrics=["accuracy"])
    assert_invalid("weighted_metrics", supernet.compile,
                   weighted_metrics=["accuracy"])
    assert [m.name for m in supernet.metrics] == [
        "loss", "largest_accuracy", "smallest_accuracy"
    ]


def test_fit_and_evaluate_check_the_data_against_the_space(trained,
                                                           monkeypatch):
    import functools

    import keras

    _, supernet, x, y, _ = trained
    ran = []
    for name in ("fit", "evaluate"):
        original = getattr(keras.Model, name)
        monkeypatch.setattr(keras.Model, name, functools.wraps(original)(
            lambda self, **kwargs: ran.append(kwargs)))
    nan = x.copy()
    nan[4, 1, 1, 0] = np.inf
    for change, argument, message in [
        ({"y": np.where(y == 0, 3, y)}, "y",
         r"class ids in \[0, 3\).*Received: y=\[3\]"),
        ({"y": np.where(y == 0, -1, y)}, "y", r"Received: y=\[-1\]"),
        ({"y": y[:-1]}, "y", "96 labels, one per sample"),
        ({"x": nan}, "x", "finite numbers: 1 of 96 samples"),
        ({"x": x[:, :6]}, "x", r"shape \(n, 8, 8, 1\)"),
        ({"y": np.full((96, 3), 1 / 3)}, "y", "one-hot rows"),
    ]:
        data = dict({"x": x, "y": y}, **change)
        for door in (supernet.fit, supernet.evaluate):
            with pytest.raises(ValueError, match=f"argument `{argument}`. "
                               f"Expected .*{message}"):
                door(data["x"], data["y"], verbose=0)
    with pytest.raises(ValueError, match=r"argument `validation_data`.*"
                       r"Received: validation_data=\[5\]"):
        supernet.fit(x, y, validation_data=(x, np.where(y == 0, 5, y)))
    assert ran == []
    supernet.fit(x, np.eye(3)[y], verbose=0)
    np.testing.assert_array_equal(ran[-1]["y"], y)  # one-hot rows: class ids
