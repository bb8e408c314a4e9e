"""`MultiExitLoss`: the base of losses that couple the exits of a model."""


class MultiExitLoss:
    """Base class of losses that see every exit's output at once.

    `EarlyExitModel.compile(loss=...)` calls `bind(model)` and then, at each
    step, `compute_terms(y, exit_outputs, sample_weight, training)`, which
    returns `(total, terms)`: the loss to minimise and a dict of named terms
    to log (each name becomes a metric, e.g. `cls_loss`).

    `label_format` says what `fit` checks its labels as: `"class_ids"`
    (class ids in `[0, num_classes)`, one-hot rows converted), `"one_hot"`,
    or `None` (the default: a subclass's targets are its own, passed on
    unchecked).
    """

    term_names = ()
    label_format = None

    def bind(self, model):
        return self

    def compute_terms(self, y, exit_outputs, sample_weight=None, training=True):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
