"""Tests of `keras_nachos.search.space_hypermodel`: any Keras Tuner tuner
builds (repaired) candidates of a `SearchSpace`."""

import keras_tuner as kt

from keras_nachos import EarlyExitModel
from keras_nachos.search import SpaceHyperModel
from tests.search.testing_utils import tiny_space


def test_a_hypermodel_builds_the_repaired_candidate():
    space = tiny_space()
    hypermodel = SpaceHyperModel(space)
    hp = space.hyperparameters()
    values = space.random_values(seed=3)
    values.update({f"exit_{s}": False for s in space.exit_positions})
    hp.values = dict(values)
    model = hypermodel.build(hp)
    assert isinstance(model, EarlyExitModel)
    # Every exit was off: the repair switched the middle one on.
    expected = space.build(space.repair(values))
    assert model.exit_macs == expected.exit_macs and model.num_exits == 2


def test_keras_tuner_random_search_samples_the_space(tmp_path):
    space = tiny_space()
    tuner = kt.RandomSearch(
        SpaceHyperModel(space), objective="accuracy", max_trials=1,
        hyperparameters=space.hyperparameters(), directory=str(tmp_path),
        project_name="p",
    )
    names = {p.name for p in tuner.oracle.get_space().space}
    assert names == {p.name for p in space.hyperparameters().space}
