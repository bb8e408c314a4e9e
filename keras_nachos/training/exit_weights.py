"""Weights of the per-exit losses, and how they change during training."""

import keras
import numpy as np

from keras_nachos.checks import check_int
from keras_nachos.checks import is_real
from keras_nachos.errors import invalid_value


class ExitWeightSchedule:
    """Base class: per-exit loss weights as a function of the epoch."""

    def bind(self, model):
        self.num_exits = model.num_exits
        return self

    def weights(self, epoch, epochs):
        """Returns one weight per exit for a 0-based `epoch` of `epochs`."""
        raise NotImplementedError

    @staticmethod
    def get(identifier, model):
        """Turns `None`, a list of floats, `"sdn"` or a schedule into one."""
        if identifier is None:
            return ConstantExitWeights([1.0] * model.num_exits).bind(model)
        if isinstance(identifier, ExitWeightSchedule):
            return identifier.bind(model)
        if isinstance(identifier, str) and identifier == "sdn":
            return SDNRamp().bind(model)
        if isinstance(identifier, (list, tuple, np.ndarray)):
            weights = list(np.asarray(identifier).reshape(-1))
            if not _non_negative_numbers(weights):
                raise invalid_value(
                    "exit_weights",
                    f"{model.num_exits} non-negative floats, one per exit "
                    f"{model.exit_names}",
                    identifier,
                )
            return ConstantExitWeights(weights).bind(model)
        raise invalid_value(
            "exit_weights",
            'None, a list of floats (one per exit), "sdn" or an '
            "ExitWeightSchedule",
            identifier,
        )


@keras.saving.register_keras_serializable(package="keras_nachos")
class ConstantExitWeights(ExitWeightSchedule):
    """The same weights at every epoch (BranchyNet, EDANAS use all ones)."""

    def __init__(self, weights):
        if not isinstance(weights, (list, tuple)) or not _non_negative_numbers(
            weights
        ):
            raise invalid_value(
                "weights", "a list of non-negative floats, one per exit", weights
            )
        self._weights = [float(w) for w in weights]

    def bind(self, model):
        if len(self._weights) != model.num_exits or any(
            w < 0 for w in self._weights
        ):
            raise invalid_value(
                "exit_weights",
                f"{model.num_exits} non-negative floats, one per exit "
                f"{model.exit_names}",
                self._weights,
            )
        return super().bind(model)

    def weights(self, epoch, epochs):
        return list(self._weights)

    def get_config(self):
        return {"weights": list(self._weights)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_nachos")
class SDNRamp(ExitWeightSchedule):
    """Shallow-Deep Networks' ramp of the early exits' weights.

    `w_i(epoch) = min(C_i, 0.01 + epoch * C_i / E)` for early exit `i`, with
    `C_i` its relative depth and `E` the number of epochs; the final exit's
    weight stays 1.

    Args:
        relative_depths: Optional list of `C_i`, one per early exit. Defaults
            to the share of the backbone's MACs spent before each exit point.
        epochs: Optional `E`. Defaults to the `epochs` given to `fit`.
    """

    def __init__(self, relative_depths=None, epochs=None):
        if relative_depths is not None and (
            not isinstance(relative_depths, (list, tuple))
            or not _non_negative_numbers(relative_depths)
        ):
            raise invalid_value(
                "relative_depths",
                "None or a list of non-negative floats, one per early exit",
                relative_depths,
            )
        if epochs is not None:
            check_int("epochs", epochs, min_value=1,
                      expected="None or a positive integer")
        self.relative_depths = (
            None if relative_depths is None else [float(c) for c in relative_depths]
        )
        self.epochs = epochs

    def bind(self, model):
        super().bind(model)
        if self.relative_depths is None:
            stages = np.cumsum(model.exit_costs.stage_macs)
            self.relative_depths = (stages[:-1] / stages[-1]).tolist()
        if len(self.relative_depths) != model.num_exits - 1:
            raise invalid_value(
                "relative_depths",
                f"{model.num_exits - 1} values, one per early exit",
                self.relative_depths,
            )
        return self

    def weights(self, epoch, epochs):
        total = self.epochs or epochs
        early = [
            min(c, 0.01 + epoch * c / max(1, total)) for c in self.relative_depths
        ]
        return early + [1.0]

    def get_config(self):
        return {"relative_depths": self.relative_depths, "epochs": self.epochs}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _non_negative_numbers(values):
    return all(is_real(v) and float(v) >= 0 for v in values)


class ExitWeightScheduler(keras.callbacks.Callback):
    """Sets the exit weights at the start of each epoch (added by `fit`)."""

    def __init__(self, schedule, variable, epochs):
        super().__init__()
        self.schedule = schedule
        self.variable = variable
        self.epochs = epochs

    def on_epoch_begin(self, epoch, logs=None):
        self.variable.assign(
            np.asarray(self.schedule.weights(epoch, self.epochs), "float32")
        )
