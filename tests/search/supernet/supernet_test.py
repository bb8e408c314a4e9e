"""Tests of `keras_nachos.search.supernet.supernet`: save and load (files
written before the supernet package existed included), seeded
initialisation, its layers, unsupported spaces and bad arguments."""

import json
import os

import keras
import numpy as np
import pytest

from keras_nachos.search import Supernet
from keras_nachos.search.supernet import ElasticBatchNormalization
from keras_nachos.search.supernet import ElasticDepthwiseConv2D
from keras_nachos.search.supernet import load_supernet
from tests.search.supernet.testing_utils import candidates
from tests.search.supernet.testing_utils import elastic_space
from tests.testing_utils import assert_invalid

DATA = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "data")


def test_the_supernet_saves_and_loads(trained, tmp_path):
    space, supernet, x, _, _ = trained
    values = candidates(space, supernet)[4]
    supernet.reestimate_batch_norm(values, x)
    path = str(tmp_path / "supernet.keras")
    supernet.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, Supernet)
    assert loaded.space.get_config() == space.get_config()
    assert loaded.get_config() == supernet.get_config()
    for a, b in zip(loaded.predict_subnet(values, x),
                    supernet.predict_subnet(values, x)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        loaded.extract(values).predict_exits(x)[0],
        supernet.extract(values).predict_exits(x)[0],
    )
    # Compiled as saved, with the optimizer's state: training goes on (run
    # eagerly: the traced training step is the `trained` fixture's).
    assert loaded.optimizer.iterations.numpy() == supernet.optimizer.iterations.numpy() > 0
    loaded.run_eagerly = True
    loaded.fit(x, x[:, 0, 0, 0] > 0, epochs=1, batch_size=48, verbose=0)
    assert loaded.optimizer.iterations.numpy() == supernet.optimizer.iterations.numpy() + 2


def test_a_supernet_saved_before_the_supernet_package_loads():
    """`tests/data/legacy_supernet.keras` was written by keras_nachos
    db81455 (the single-module supernet) with
    `tests/data/make_legacy_supernet.py`: a compiled `Supernet(seed=5)` fit
    two steps, its batch-norm statistics re-estimated for a candidate; the
    npz holds its weights and the subnet outputs it gave."""
    expected = np.load(os.path.join(DATA, "legacy_supernet.npz"))
    loaded = load_supernet(os.path.join(DATA, "legacy_supernet.keras"))
    assert loaded.space.get_config()["stage_widths"] == [[4, 8], [8]]
    weights = [k for k in expected.files if k.startswith("weight_")]
    assert len(loaded.weights) == len(weights) > 0
    for i, weight in enumerate(loaded.weights):
        np.testing.assert_array_equal(
            np.asarray(weight), expected[f"weight_{i}"], err_msg=weight.path
        )
    x = expected["x"]
    for c, values in enumerate(json.loads(str(expected["values"]))):
        outputs = loaded.predict_subnet(values, x)
        assert len(outputs) == 1 + sum(
            bool(values.get(f"exit_{s}")) for s in loaded.space.exit_positions
        )
        for i, output in enumerate(outputs):
            np.testing.assert_allclose(
                output, expected[f"subnet_{c}_exit_{i}"], rtol=1e-5, atol=1e-6
            )
    assert loaded.optimizer.iterations.numpy() == 2


def test_the_registered_names_and_configs_are_those_files_hold():
    for cls, name in ((Supernet, "Supernet"),
                      (ElasticDepthwiseConv2D, "ElasticDepthwiseConv2D"),
                      (ElasticBatchNormalization, "ElasticBatchNormalization")):
        assert keras.saving.get_registered_name(cls) == f"keras_nachos>{name}"
        assert keras.saving.get_registered_object(f"keras_nachos>{name}") is cls
    depthwise = ElasticDepthwiseConv2D(5, strides=2, name="d")
    assert {"kernel_size": 5, "strides": 2}.items() <= depthwise.get_config().items()
    bn = ElasticBatchNormalization(0.8, name="b")
    assert bn.get_config()["momentum"] == 0.8
    space = elastic_space(depths=(1,), head_types=("sdn",), head_widths=(0,))
    config = Supernet(space, num_random=1, distillation=False,
                      seed=4).get_config()
    assert config == {"space": space.get_config(), "num_random": 1,
                      "distillation": False, "seed": 4, "name": "supernet"}
    assert Supernet.from_config(config).get_config() == config


def test_seeded_supernets_start_equal():
    space = elastic_space()
    a, b = Supernet(space, seed=3), Supernet(space, seed=3)
    for va, vb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(np.asarray(va), np.asarray(vb))
    c = Supernet(space, seed=4)
    assert not np.array_equal(np.asarray(a.stem_conv.kernel),
                              np.asarray(c.stem_conv.kernel))


def test_the_largest_subnet_is_the_call(trained):
    space, supernet, x, _, _ = trained
    outputs = supernet(x[:5])
    assert set(outputs) == {"final"} | {key.name for key in supernet.heads}
    assert outputs["final"].shape == (5, space.num_classes)
    # The blocks' layers are tracked per block, as saved files hold them.
    assert list(supernet.blocks) == [
        f"stage{s}_block{b}" for s in (1, 2, 3) for b in (1, 2)
    ]
    assert list(supernet.blocks["stage1_block1"]) == [
        "expand", "expand_bn", "depthwise", "depthwise_bn", "project",
        "project_bn",
    ]


def test_unsupported_spaces_and_bad_arguments_are_refused(trained):
    space, supernet, x, _, _ = trained
    assert_invalid("space", Supernet, elastic_space(confidence=True))
    assert_invalid("space", Supernet, elastic_space(
        block_types=("inverted_residual", "plain_conv")))
    assert_invalid("space", Supernet, elastic_space(resolutions=(8, 6)))
    assert_invalid("space", Supernet, "space")
    assert_invalid("num_random", Supernet, space, num_random=-1)
    values = supernet.largest_values()
    assert_invalid("values", supernet.predict_subnet,
                   dict(values, stage_1_width=10), x)
    assert_invalid("x", supernet.reestimate_batch_norm, values, x[:0])
    assert_invalid("batch_size", supernet.predict_subnet, values, x,
                   batch_size=0)
    assert_invalid("model", supernet.extract, values, model="model")
    assert_invalid("loss", supernet.compile, loss="mse")
    assert_invalid("supernet", load_supernet, os.path.join(DATA, "none.keras"))


def test_a_file_of_another_model_is_not_a_supernet(tmp_path):
    path = str(tmp_path / "model.keras")
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(path)
    assert_invalid("supernet", load_supernet, path)
    with pytest.raises(ValueError, match="holds a Sequential"):
        load_supernet(path)


def test_extract_checks_values_images_and_model_before_any_tensor_work(
        trained):
    # Before: a KeyError, a raw TypeError or a tf.function binding error,
    # and a misspelt key was ignored.
    space, supernet, x, _, _ = trained
    values = candidates(space, supernet)[2]
    built = space.build(values)
    weights = [w.copy() for w in built.get_weights()]
    statistics = [w.copy() for w in supernet.get_weights()]
    nan = x[:8].copy()
    nan[2, 0, 0, 0] = np.nan
    other = dict(values, exit_1=not values["exit_1"], exit_2=True)
    cases = [
        ((dict(values, stage_2_wdith=16),), {}, "values",
         r"`stage_2_wdith` is not one of them; did you mean `stage_2_width`"),
        ((dict(values, stage_1_kernel=4),), {}, "values",
         r"`stage_1_kernel` one of \[3, 5\]\. Received: values=\{'stage_1_kernel': 4\}"),
        ((dict(values, stage_1_depth=1.0),), {}, "values",
         r"`stage_1_depth` one of \[1, 2\]"),
        ((dict(values, exit_1_head=3),), {}, "values",
         r"`exit_1_head` one of \['global_pool', 'sdn', 'conv'\]"),
        (({k: v for k, v in values.items() if k != "stage_2_depth"},), {},
         "values", r"`stage_2_depth` one of \[1, 2\] missing"),
        ((values,), {"x": x[:8, :4]}, "x", r"images of shape \(n, 8, 8, 1\)"),
        ((values,), {"x": nan}, "x", r"finite numbers: 1 of 8 samples"),
        ((values,), {"x": x[:8], "batch_size": 0}, "batch_size", "positive"),
        ((values,), {"model": space.build(space.repair(other))}, "model",
         r"exits at"),
    ]
    for args, kwargs, argument, message in cases:
        with pytest.raises(ValueError, match=f"argument `{argument}`. "
                           f"Expected .*{message}"):
            supernet.extract(*args, model=kwargs.pop("model", built), **kwargs)
    with pytest.raises(TypeError, match="argument `values`"):
        supernet.extract(list(values.items()))
    for a, b in zip(weights, built.get_weights()):
        np.testing.assert_array_equal(a, b)  # nothing copied into the model
    for a, b in zip(statistics, supernet.get_weights()):
        np.testing.assert_array_equal(a, b)  # nor any statistics re-estimated
    for door in (supernet.predict_subnet, supernet.reestimate_batch_norm):
        with pytest.raises(ValueError, match=r"argument `x`.*finite"):
            door(values, nan)
        with pytest.raises(ValueError, match=r"argument `values`.*`stage_1_dpeth`"):
            door(dict(values, stage_1_dpeth=1), x[:8])
