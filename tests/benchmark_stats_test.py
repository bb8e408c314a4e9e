"""The seed-noise statistics that benchmarks/search_engines.py prints."""

import importlib.util
import os

import pytest

_PATH = os.path.join(os.path.dirname(__file__), "..", "benchmarks",
                     "search_engines.py")


@pytest.fixture(scope="module")
def engines():
    spec = importlib.util.spec_from_file_location("search_engines", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seed_noise_by_hand(engines):
    # Pool (3, 4, 1, 2), six splits into "ours" and "theirs" pairs. Only the
    # observed {3, 4} has the largest rank sum (7): p = 1/6. Ratios of
    # medians: {3, 4} 3.5/1.5 = 2.33, {2, 4} 3/2 = 1.5, {1, 4} and {2, 3}
    # 2.5/2.5 = 1, {1, 3} 2/3, {1, 2} 1.5/3.5: one split reaches 2x, two
    # reach 1.2x.
    noise = engines.seed_noise([3, 4], [1, 2], target=2.0)
    assert noise["splits"] == 6 and noise["exhaustive"]
    assert noise["rank_sum_p"] == pytest.approx(1 / 6)
    assert noise["share_reaching_target"] == pytest.approx(1 / 6)
    noise = engines.seed_noise([3, 4], [1, 2], target=1.2)
    assert noise["share_reaching_target"] == pytest.approx(2 / 6)


def test_seed_noise_ties_and_sampling(engines):
    # All values equal: every split ties with the observed rank sum.
    noise = engines.seed_noise([1.0, 1.0, 1.0], [1.0, 1.0], target=1.1)
    assert noise["rank_sum_p"] == 1.0
    assert noise["share_reaching_target"] == 0.0
    # Too many splits to enumerate: a seeded random sample of them.
    ours, theirs = list(range(20, 30)), list(range(10))
    noise = engines.seed_noise(ours, theirs, target=1.0, max_splits=5000)
    assert noise["splits"] == 5000 and not noise["exhaustive"]
    assert noise["rank_sum_p"] < 0.01
    assert noise == engines.seed_noise(ours, theirs, target=1.0,
                                       max_splits=5000)
