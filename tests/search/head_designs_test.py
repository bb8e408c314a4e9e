"""Tests of `keras_nachos.search.head_designs`: the registry of the search
space's head designs, `get` and `make_head`."""

import numpy as np
import pytest

from keras_nachos import heads
from keras_nachos.search import head_designs
from tests.testing_utils import assert_invalid


BUILT_IN = ("conv", "global_pool", "sdn")


@pytest.fixture
def registry(monkeypatch):
    """The module with the built-in designs only, restored after the test
    (registrations are global: other tests register designs of their own)."""
    builders = head_designs._HEAD_BUILDERS
    monkeypatch.setattr(
        head_designs, "_HEAD_BUILDERS", {name: builders[name] for name in BUILT_IN}
    )
    return head_designs


def test_built_in_designs_and_their_widths(registry):
    assert registry.head_designs() == ["conv", "global_pool", "sdn"]
    pool = head_designs.make_head("global_pool", 5, 12, True, "h1")
    assert type(pool) is heads.GlobalPoolHead
    assert (pool.num_classes, pool.hidden_units, pool.confidence, pool.name) == (
        5, 12, True, "h1"
    )
    # Width 0 means no hidden layer.
    assert head_designs.make_head("global_pool", 5, 0, False, "h").hidden_units is None
    sdn = head_designs.make_head("sdn", 3, 64, False, "h2")
    assert type(sdn) is heads.MixedPoolHead and sdn.num_classes == 3
    conv = head_designs.make_head("conv", 4, 8, False, "h3")
    assert type(conv) is heads.ConvHead
    assert (conv.filters, conv.pool_size) == ((8, 16, 32), 2)
    # Width 0 defaults to 16 filters, and a width below 4 is raised to 4.
    assert head_designs.make_head("conv", 4, 0, False, "h").filters == (16, 32, 64)
    assert head_designs.make_head("conv", 4, 2, False, "h").filters == (4, 8, 16)
    out = np.asarray(conv(np.zeros((2, 8, 8, 3), "float32")))
    assert out.shape == (2, 4)


def test_get_returns_the_builder():
    for name in head_designs.head_designs():
        assert head_designs.get(name) is head_designs._HEAD_BUILDERS[name]


@pytest.mark.parametrize("identifier", ["no_such_head", "mixed_pool", None])
def test_get_refuses_an_unknown_design_listing_those_that_exist(
    registry, identifier
):
    with pytest.raises(ValueError) as info:
        head_designs.get(identifier)
    assert str(info.value) == (
        "Invalid value received for argument `head_type`. Expected one of: "
        f"'conv', 'global_pool', 'sdn'. Received: head_type={identifier!r}"
    )
    assert_invalid("head_type", head_designs.make_head, identifier, 4, 8, False, "h")


def test_register_head_adds_a_design(registry):
    def builder(k, width, conf, name):
        return heads.GlobalPoolHead(k, hidden_units=2 * width, confidence=conf,
                                    name=name)

    assert registry.register_head("twice", builder) is builder
    assert registry.head_designs() == ["conv", "global_pool", "sdn", "twice"]
    assert registry.get("twice") is builder
    head = registry.make_head("twice", 3, 5, False, "h")
    assert head.hidden_units == 10 and head.name == "h"
    with pytest.raises(ValueError, match="Expected one of: 'conv', "
                       "'global_pool', 'sdn', 'twice'. Received: head_type='x'"):
        registry.get("x")


@pytest.mark.parametrize("name, builder", [(3, lambda *a: None), ("h", "not callable")])
def test_register_head_refuses_bad_arguments(registry, name, builder):
    assert_invalid("builder", registry.register_head, name, builder)
    assert registry.head_designs() == ["conv", "global_pool", "sdn"]
