"""Tests of `keras_nachos.search.inherited_evaluator`: a candidate scored on
inherited weights is the one built for its costs, built again when scored
again; the evaluator's arguments."""

import pytest

from keras_nachos.search import InheritedEvaluator
from keras_nachos.search import SearchSpace
from keras_nachos.search import Supernet
from tests.testing_utils import assert_invalid
from tests.testing_utils import toy_data

MIN_ACCURACY, MAX_MACS = 0.3, 400000


def tiny_space():
    return SearchSpace(
        (16, 16, 1), 4, stage_widths=((4, 8), (8,), (8, 12)),
        depths=(1, 2), kernel_sizes=(3, 5), expansion_ratios=(2, 3),
        head_types=("global_pool", "sdn"), head_widths=(0, 8),
    )


def data():
    return (toy_data(128, input_shape=(16, 16, 1)),
            toy_data(64, input_shape=(16, 16, 1), seed=7))


@pytest.fixture(scope="module")
def evaluator():
    # Untrained weights: what is checked is which model gets them.
    (x, y), (xv, yv) = data()
    return InheritedEvaluator(
        Supernet(tiny_space(), seed=0), (x, y), (xv, yv), MIN_ACCURACY,
        MAX_MACS,
    )


def test_the_candidate_built_for_its_costs_is_the_one_scored(
    evaluator, monkeypatch,
):
    space = tiny_space()
    values = space.random_values(seed=5)
    builds = []
    build = SearchSpace.build
    monkeypatch.setattr(SearchSpace, "build", lambda self, v: builds.append(
        v) or build(self, v))
    assert evaluator.precheck(values) is None
    metrics, model = evaluator(values)
    # Built once, for the precheck's MACs, then filled with inherited weights.
    assert len(builds) == 1
    assert metrics["static_macs"] == model.exit_macs
    # Scoring it again builds it anew (nothing stale is reused).
    again, _ = evaluator(values)
    assert len(builds) == 2
    assert again["accuracy"] == metrics["accuracy"]
    assert metrics["inherited"] is True


def test_inherited_evaluator_arguments(evaluator):
    (x, y), (xv, yv) = data()
    assert_invalid("supernet", InheritedEvaluator, "x", (x, y), (xv, yv),
                   0.5, 1e5)
    assert_invalid("bn_samples", InheritedEvaluator, evaluator.supernet,
                   (x, y), (xv, yv), 0.5, 1e5, bn_samples=0)
