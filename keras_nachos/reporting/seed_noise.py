"""How firm a comparison over seeds is: relabelling and rank-sum tests."""

import itertools
import math

import numpy as np


def average_ranks(values):
    """1-based ranks of `values`, ties sharing their mean rank.

    Example:

    >>> average_ranks([3.0, 1.0, 3.0, 2.0]).tolist()
    [3.5, 1.0, 3.5, 2.0]
    """
    values = np.asarray(values, dtype="float64")
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    starts = ends - counts + 1
    return ((starts + ends) / 2.0)[inverse]


def seed_noise(ours, theirs, target, max_splits=200_000, seed=0):
    """How firm a ratio of medians is, given the per-seed values.

    Pools the two engines' values and relabels them: every split of the
    pool into groups of the original sizes (or `max_splits` random ones
    when there are more). Returns the share of splits whose ratio of
    medians reaches `target`, and the one-sided rank-sum permutation
    p-value (share of splits whose rank sum for "ours" is at least the
    observed one: the exact Mann-Whitney test when all splits are used).
    """
    pool = np.concatenate([np.asarray(ours, float), np.asarray(theirs, float)])
    n, total = len(ours), len(pool)
    ranks = average_ranks(pool)
    exhaustive = math.comb(total, n) <= max_splits
    if exhaustive:
        splits = np.array(list(itertools.combinations(range(total), n)))
    else:
        rng = np.random.default_rng(seed)
        splits = np.array([rng.permutation(total)[:n]
                           for _ in range(max_splits)])
    mask = np.zeros((len(splits), total), bool)
    np.put_along_axis(mask, splits, True, axis=1)
    mine = np.median(pool[splits], axis=1)
    others = np.broadcast_to(pool, mask.shape)[~mask]
    rest = np.median(others.reshape(len(splits), total - n), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(rest > 0, mine / rest, np.inf)
    rank_sums = ranks[splits].sum(axis=1)
    observed = ranks[:n].sum()
    return {
        "splits": int(len(splits)),
        "exhaustive": bool(exhaustive),
        "share_reaching_target": float(np.mean(ratios >= target)),
        "rank_sum_p": float(np.mean(rank_sums >= observed - 1e-9)),
    }
