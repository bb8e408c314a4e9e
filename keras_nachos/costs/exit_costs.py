"""`ExitCosts`: the MACs of leaving at each exit of an early-exit network."""

import dataclasses

import keras
import numpy as np

from keras_nachos.costs.count_macs import count_macs
from keras_nachos.errors import invalid_value

# How the cost of a sample leaving at exit `b` is counted (METHODS.md, 2).
CONVENTIONS = ("cumulative", "taken_head")


def layer_macs(layer, input_shape):
    """MACs of one call of `layer` (a head or any Keras layer) at a shape.

    Args:
        layer: A Keras layer.
        input_shape: Tuple, the input shape with its batch dimension.

    Returns:
        Integer, the MACs of one sample.
    """
    inputs = keras.Input(tuple(input_shape)[1:])
    return count_macs(keras.Model(inputs, layer(inputs)))


def stage_costs(stage_models, exit_layers):
    """Counts the stages of a network and the heads after them.

    The one stage-costing function: `EarlyExitModel.exit_costs` and NACHOS'
    adaptive head-pooling rule both count through it.

    Args:
        stage_models: List of `B` functional models, the backbone cut at its
            exit points (stage `i` ends where exit `i` is attached).
        exit_layers: List of `B` layers (or `None`), the head applied to each
            stage's output; `None` costs 0 (a backbone whose output already is
            the final classifier).

    Returns:
        An `ExitCosts`.
    """
    if len(stage_models) != len(exit_layers):
        raise invalid_value(
            "exit_layers",
            f"one layer (or None) per stage ({len(stage_models)})",
            exit_layers,
        )
    stages = [count_macs(m) for m in stage_models]
    heads = [
        0 if layer is None else layer_macs(layer, tuple(m.outputs[0].shape))
        for layer, m in zip(exit_layers, stage_models)
    ]
    return ExitCosts(stage_macs=tuple(stages), head_macs=tuple(heads))


@dataclasses.dataclass(frozen=True)
class ExitCosts:
    """The MACs of one sample leaving at each exit, in both conventions.

    Args:
        stage_macs: Tuple of `B` integers, the backbone MACs of each stage
            (`M^bb_i - M^bb_{i-1}`; the last stage ends at the backbone's
            output).
        head_macs: Tuple of `B` integers, the MACs of each exit's head
            (`M^h_i`; the final exit's is 0 when the backbone's own output is
            the final classifier).

    Example:

    >>> costs = ExitCosts(stage_macs=(100, 200), head_macs=(10, 0))
    >>> costs.cumulative, costs.taken_head, costs.backbone
    ([110, 310], [110, 300], 300)
    >>> costs.expected([0.5, 0.5])
    210.0
    """

    stage_macs: tuple
    head_macs: tuple

    def __post_init__(self):
        stages = tuple(int(m) for m in self.stage_macs)
        heads = tuple(int(m) for m in self.head_macs)
        if not stages or len(stages) != len(heads) or min(stages + heads) < 0:
            raise invalid_value(
                "stage_macs",
                "one non-negative integer per exit, as many as `head_macs`",
                (self.stage_macs, self.head_macs),
            )
        object.__setattr__(self, "stage_macs", stages)
        object.__setattr__(self, "head_macs", heads)

    @property
    def num_exits(self):
        return len(self.stage_macs)

    @property
    def cumulative(self):
        """`C_b = M^bb_b + sum_{j<=b} M^h_j`: every head on the way is paid."""
        return [
            int(v)
            for v in np.cumsum(self.stage_macs) + np.cumsum(self.head_macs)
        ]

    @property
    def taken_head(self):
        """`M^bb_b + M^h_b`: the NACHOS/EDANAS reference code's convention."""
        return [
            int(v) for v in np.cumsum(self.stage_macs) + np.asarray(self.head_macs)
        ]

    @property
    def backbone(self):
        """MACs of the network without early exits (backbone + final head)."""
        return int(sum(self.stage_macs) + self.head_macs[-1])

    def per_exit(self, convention="cumulative"):
        """The cost of leaving at each exit in a convention."""
        if convention not in CONVENTIONS:
            raise invalid_value(
                "convention", '"cumulative" or "taken_head"', convention
            )
        return self.cumulative if convention == "cumulative" else self.taken_head

    def expected(self, exit_fractions, convention="cumulative"):
        """Expected MACs per sample, `sum_b pi_b * C_b`.

        Args:
            exit_fractions: `num_exits` non-negative fractions that sum to 1
                (the share of samples leaving at each exit).
            convention: `"cumulative"` (default, every head on the way is
                paid) or `"taken_head"`.

        Returns:
            Float.
        """
        costs = self.per_exit(convention)
        fractions = np.asarray(exit_fractions, dtype="float64").reshape(-1)
        if (
            fractions.shape[0] != self.num_exits
            or not np.all(np.isfinite(fractions))
            or np.any(fractions < 0)
            or abs(fractions.sum() - 1.0) > 1e-6
        ):
            raise invalid_value(
                "exit_fractions",
                f"{self.num_exits} non-negative fractions summing to 1",
                list(np.asarray(exit_fractions).reshape(-1)),
            )
        return float(np.dot(fractions, costs))

    def ratio(self, expected_macs):
        """`macs_ratio`: expected MACs over the network without early exits.

        The one meaning of `macs_ratio` in keras_nachos (results, reports,
        benchmarks): the denominator is `backbone`, the backbone with its
        final classifier and no early exit.
        """
        return float(expected_macs) / self.backbone

    def to_dict(self):
        """A JSON-friendly dict of both conventions and the parts."""
        return {
            "stage_macs": list(self.stage_macs),
            "head_macs": list(self.head_macs),
            "cumulative": self.cumulative,
            "taken_head": self.taken_head,
            "backbone": self.backbone,
        }

    @classmethod
    def from_dict(cls, config):
        return cls(config["stage_macs"], config["head_macs"])
