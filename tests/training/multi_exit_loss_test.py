"""Tests of `keras_nachos.training.multi_exit_loss`: the base class'
contract (`bind`, `compute_terms`, the config round trip)."""

import pytest

from keras_nachos.training import MultiExitLoss
from keras_nachos import NachosLoss


class MeanOfExits(MultiExitLoss):
    """A user loss: the mean of the exits' first columns, times `scale`."""

    term_names = ("first",)

    def __init__(self, scale=1.0):
        self.scale = scale

    def compute_terms(self, y, exit_outputs, sample_weight=None, training=True):
        first = sum(float(o[0][0]) for o in exit_outputs) / len(exit_outputs)
        return self.scale * first, {"first": first}

    def get_config(self):
        return {"scale": self.scale}


def test_the_base_class_contract():
    loss = MultiExitLoss()
    assert loss.term_names == ()
    assert loss.bind(object()) is loss
    assert loss.get_config() == {}
    assert type(MultiExitLoss.from_config({})) is MultiExitLoss
    with pytest.raises(NotImplementedError):
        loss.compute_terms([0], [[[1.0]]])


def test_a_subclass_round_trips_its_config_and_computes_its_terms():
    loss = MeanOfExits(scale=3.0)
    again = MeanOfExits.from_config(loss.get_config())
    assert type(again) is MeanOfExits and again.scale == 3.0
    total, terms = again.compute_terms(None, [[[0.2, 0.8]], [[0.6, 0.4]]])
    assert total == pytest.approx(1.2) and terms == {"first": pytest.approx(0.4)}
    assert issubclass(NachosLoss, MultiExitLoss)
