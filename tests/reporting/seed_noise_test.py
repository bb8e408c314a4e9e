"""The seed-noise statistics that benchmarks/search_engines.py prints."""

import pytest
from scipy.stats import rankdata

from keras_nachos.reporting.seed_noise import average_ranks
from keras_nachos.reporting.seed_noise import seed_noise


def test_average_ranks_match_scipy():
    values = [3.0, 1.0, 3.0, 2.0, 2.0, 2.0, 7.5, 0.5]
    assert average_ranks(values).tolist() == rankdata(values).tolist()


def test_seed_noise_by_hand():
    # Pool (3, 4, 1, 2), six splits into "ours" and "theirs" pairs. Only the
    # observed {3, 4} has the largest rank sum (7): p = 1/6. Ratios of
    # medians: {3, 4} 3.5/1.5 = 2.33, {2, 4} 3/2 = 1.5, {1, 4} and {2, 3}
    # 2.5/2.5 = 1, {1, 3} 2/3, {1, 2} 1.5/3.5: one split reaches 2x, two
    # reach 1.2x.
    noise = seed_noise([3, 4], [1, 2], target=2.0)
    assert noise["splits"] == 6 and noise["exhaustive"]
    assert noise["rank_sum_p"] == pytest.approx(1 / 6)
    assert noise["share_reaching_target"] == pytest.approx(1 / 6)
    noise = seed_noise([3, 4], [1, 2], target=1.2)
    assert noise["share_reaching_target"] == pytest.approx(2 / 6)


def test_seed_noise_ties_and_sampling():
    # All values equal: every split ties with the observed rank sum.
    noise = seed_noise([1.0, 1.0, 1.0], [1.0, 1.0], target=1.1)
    assert noise["rank_sum_p"] == 1.0
    assert noise["share_reaching_target"] == 0.0
    # Too many splits to enumerate: a seeded random sample of them.
    ours, theirs = list(range(20, 30)), list(range(10))
    noise = seed_noise(ours, theirs, target=1.0, max_splits=5000)
    assert noise["splits"] == 5000 and not noise["exhaustive"]
    assert noise["rank_sum_p"] < 0.01
    assert noise == seed_noise(ours, theirs, target=1.0,
                                       max_splits=5000)
