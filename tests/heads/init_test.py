"""Tests of `keras_nachos/heads/__init__.py`: `get` and the MAC counters it
registers."""

import pytest

import keras_nachos as kn
from keras_nachos import heads
from keras_nachos.costs import layer_macs
from tests.testing_utils import assert_invalid

NAMES = {
    "global_pool": heads.GlobalPoolHead,
    "mixed_pool": heads.MixedPoolHead,
    "sdn": heads.MixedPoolHead,
    "conv": heads.ConvHead,
    "nachos": heads.ConvHead,
    "class_means": heads.ClassMeansHead,
    "e2cm": heads.ClassMeansHead,
}


def test_get_returns_the_class_of_every_name():
    for name, cls in NAMES.items():
        assert heads.get(name) is cls
    assert kn.heads.get is heads.get


@pytest.mark.parametrize("identifier", ["no_such_head", "Conv", "", None, 3])
def test_get_refuses_an_unknown_name_listing_those_that_exist(identifier):
    with pytest.raises(ValueError) as info:
        heads.get(identifier)
    assert str(info.value) == (
        "Invalid value received for argument `head`. Expected one of: "
        "'class_means', 'conv', 'e2cm', 'global_pool', 'mixed_pool', "
        f"'nachos', 'sdn'. Received: head={identifier!r}"
    )
    assert_invalid("head", heads.get, identifier)


def test_get_refuses_an_unhashable_value_with_a_value_error():
    # A dict lookup would raise TypeError: unhashable type.
    assert_invalid("head", heads.get, ["conv"])


def test_registered_mac_counters():
    # ClassMeansHead: K distances x . mu_k over the feature dimension.
    assert layer_macs(heads.ClassMeansHead(4), (1, 6, 6, 5)) == 4 * 6 * 6 * 5
    # MixedPooling2D is an extra: 0 MACs.
    assert layer_macs(heads.MixedPooling2D(2), (1, 8, 8, 3)) == 0
