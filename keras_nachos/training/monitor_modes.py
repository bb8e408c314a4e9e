"""Callbacks that monitor one exit get their direction as Keras infers it."""

import keras


def monitor_mode(model, monitor):
    """`"min"` or `"max"` for a logged per-exit quantity, else `None`.

    Per-exit losses (and a MultiExitLoss' terms) are minimised; an exit's
    metric (`exit_1_accuracy`) goes the way of the metric object
    (`accuracy`), as Keras decides for a single-output model.
    """
    name = monitor.removeprefix("val_")
    if name in model._training_state.loss_trackers:
        return "min"
    directions = set()
    for exit_name in model.exit_names:
        if not name.startswith(exit_name + "_"):
            continue
        metric_name = name[len(exit_name) + 1 :]
        names = {metric_name, metric_name.removeprefix("weighted_")}
        for container in model.compiled_metrics_containers():
            for metric in getattr(container, "metrics", None) or []:
                if metric.name in names:
                    # The direction Keras' own callbacks read (no public API).
                    directions.add(getattr(metric, "_direction", None))
    directions.discard(None)
    if len(directions) != 1:
        return None
    return "max" if directions.pop() == "up" else "min"


class MonitorModes(keras.callbacks.Callback):
    """Resolves `mode="auto"` of callbacks that monitor one exit.

    Keras infers whether a monitored metric goes up or down from the metric
    object of that name, but a multi-output model logs `exit_1_accuracy` for
    a metric named `accuracy` (and logs per-exit losses that are no metric
    objects), so `EarlyStopping(monitor="val_exit_1_accuracy")` raises "isn't
    able to automatically determine whether that metric should be maximized
    or minimized" (for a plain Keras multi-output model too). Put before the
    other callbacks (`EarlyExitModel.fit` does), this sets their mode at the
    first epoch end, when the metrics are built and before those callbacks
    resolve it.
    """

    def __init__(self, callbacks):
        super().__init__()
        self.monitors = callbacks

    @staticmethod
    def needed_by(callbacks):
        """The callbacks whose `mode="auto"` this may have to resolve."""
        return [
            c
            for c in callbacks
            if getattr(c, "mode", None) == "auto"
            and isinstance(getattr(c, "monitor", None), str)
        ]

    def on_epoch_end(self, epoch, logs=None):
        for callback in self.monitors:
            if callback.mode != "auto" or (
                getattr(callback, "monitor_op", True) is not None
            ):
                continue  # set by the user, already resolved, or no Keras one
            mode = monitor_mode(self.model, callback.monitor)
            if mode is not None:
                callback.mode = mode
