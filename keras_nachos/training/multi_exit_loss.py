"""`MultiExitLoss`: the base of losses that couple the exits of a model."""


class MultiExitLoss:
    """Base class of losses that see every exit's output at once.

    `EarlyExitModel.compile(loss=...)` calls `bind(model)` and then, at each
    step, `compute_terms(y, exit_outputs, sample_weight, training)`, which
    returns `(total, terms)`: the loss to minimise and a dict of named terms
    to log (each name becomes a metric, e.g. `cls_loss`).
    """

    term_names = ()

    def bind(self, model):
        return self

    def compute_terms(self, y, exit_outputs, sample_weight=None, training=True):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
