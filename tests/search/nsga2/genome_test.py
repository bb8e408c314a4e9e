"""Tests of `keras_nachos.search.nsga2.genome`: repaired values are re-encoded."""

from tests.search.testing_utils import run_search


def test_repair_is_applied_and_the_genome_re_encoded(tmp_path):
    def at_least_one_exit(values):
        if not any(values[f"exit_{k}"] for k in range(3)):
            values["exit_2"] = True
        return values

    oracle, tuner = run_search(
        tmp_path, repair=at_least_one_exit, generations=3
    )
    assert all(
        any(e["values"][f"exit_{k}"] for k in range(3)) for e in oracle.archive
    )
    population = oracle._population
    for record in population.members + population.offspring:
        decoded, _ = population.codec.decode(oracle.hyperparameters, record.genome)
        assert decoded == record.values
