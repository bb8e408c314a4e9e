"""Fixtures shared by the tests of `keras_nachos.search`."""

import pytest


@pytest.fixture(scope="session")
def finished(tmp_path_factory):
    """A finished search (scored by a formula: its files are what is
    tested), to be copied (`fresh_copy`) by tests that change it."""
    from tests.search.testing_utils import make_formula_tuner

    directory = tmp_path_factory.mktemp("finished")
    tuner = make_formula_tuner(directory, overwrite=True)
    tuner.search(verbose=0)
    return directory, tuner.all_candidates()
