"""Tests of `keras_nachos.search.nsga2.scheduling`: the longest first."""

from keras_nachos.search.nsga2.scheduling import longest_first


def test_the_costliest_first_ties_in_bred_order():
    queued = ["a", "b", "c", "d"]
    costs = {"a": 5.0, "b": 9.0, "c": 9.0, "d": 1.0}
    assert longest_first(queued, costs.get) == "b"
    assert longest_first(["c", "b"], costs.get) == "c"


def test_bred_order_when_a_cost_is_unknown_or_the_budget_ends_inside():
    costs = {"a": 1.0, "b": 9.0, "c": None}
    assert longest_first(["a", "b", "c"], costs.get) == "a"
    assert longest_first(["a", "b"], costs.get, trials_left=1) == "a"
    assert longest_first(["a", "b"], costs.get, trials_left=2) == "b"


def test_nothing_or_one_queued():
    assert longest_first([], lambda r: 1.0) is None
    assert longest_first(["a"], lambda r: None) == "a"
