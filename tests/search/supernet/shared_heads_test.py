"""Tests of `keras_nachos.search.supernet.shared_heads`: one head per
distinct design at each exit position, keyed by structured `HeadKey`s."""

from keras_nachos.search.supernet import HeadKey
from keras_nachos.search.supernet.shared_heads import make_shared_heads
from keras_nachos.search.supernet.shared_heads import subnet_head_keys
from tests.search.supernet.testing_utils import elastic_space


def test_designs_that_build_the_same_head_share_it():
    space = elastic_space()
    heads, head_keys = make_shared_heads(space)
    # Per position: global_pool and conv at widths 0 and 8, one sdn.
    assert list(heads) == [
        HeadKey(s, kind, width) for s in (1, 2)
        for kind, width in (("global_pool", 0), ("global_pool", 8),
                            ("sdn", 0), ("conv", 0), ("conv", 8))
    ]
    assert len(head_keys) == 2 * 3 * 2
    assert head_keys[(2, "sdn", 8)] == HeadKey(2, "sdn", 0)
    assert head_keys[(1, "conv", 8)] == HeadKey(1, "conv", 8)
    for key, head in heads.items():
        assert head.name == key.name == (
            f"exit{key.position}_{key.head_type}_{key.width}"
        )
    assert type(heads[HeadKey(1, "sdn", 0)]).__name__ == "MixedPoolHead"


def test_a_candidates_exits_use_their_designs_heads():
    space = elastic_space()
    _, head_keys = make_shared_heads(space)
    values = {"exit_1": False, "exit_1_head": "global_pool",
              "exit_1_head_width": 0, "exit_2": True, "exit_2_head": "sdn",
              "exit_2_head_width": 8}
    assert subnet_head_keys(space, head_keys, values) == [HeadKey(2, "sdn", 0)]
    values.update(exit_1=True, exit_1_head="conv", exit_1_head_width=8)
    assert subnet_head_keys(space, head_keys, values) == [
        HeadKey(1, "conv", 8), HeadKey(2, "sdn", 0)
    ]
    # A space with one head type and width has no such genes.
    one = elastic_space(head_types=("conv",), head_widths=(8,))
    _, keys = make_shared_heads(one)
    assert subnet_head_keys(one, keys, {"exit_2": True}) == [
        HeadKey(2, "conv", 8)
    ]
