"""Tests of `keras_nachos.search.records`: the records round-trip through
JSON, as they live in the oracle's state."""

import json

from tests.search.testing_utils import run_search


def test_state_round_trip(tmp_path):
    oracle, _ = run_search(tmp_path, seed=4, generations=2)
    state = oracle.get_state()
    json.dumps(state)
    oracle.set_state(state)
    restored = oracle.get_state()
    # Keras Tuner stores a set as a list: its order is arbitrary.
    for s in (state, restored):
        s["tried_so_far"] = sorted(s["tried_so_far"])
    assert restored == state
    assert oracle.archive == state["nsga2"]["archive"]
    assert state["nsga2"]["population"] and state["nsga2"]["random_state"]
