"""A trial's results as Keras Tuner metrics, so they travel over gRPC.

A distributed worker reports a trial to the chief through
`OracleClient.update_trial`, which carries a dict of numbers and nothing
else. So everything the search's results need beyond the two objectives
(thresholds, exit fractions, per-exit accuracies, static MACs, ...) is
flattened into numeric metrics (`"thresholds.0"`, `"thresholds.1"`, ...)
on the worker and unflattened by the oracle on the chief: its fronts are
complete with or without a shared file system.
"""

import math

# Lists of numbers that travel (one metric per item) and single numbers.
LISTS = ("thresholds", "exit_fractions", "exit_accuracies", "static_macs")
NUMBERS = ("final_accuracy", "backbone_macs", "train_seconds",
           "measured_accuracy", "floor_confidence", "scoring_samples")
INTEGERS = ("static_macs", "backbone_macs", "scoring_samples")
SEPARATOR = "."


def flatten_details(metrics):
    """The numeric metrics of a trial's results dict (objectives excluded).

    Example:

    >>> flatten_details({"thresholds": [0.9, 0.8], "final_accuracy": 0.93})
    {'thresholds.0': 0.9, 'thresholds.1': 0.8, 'final_accuracy': 0.93}
    """
    flat = {}
    for name in LISTS:
        for i, value in enumerate(metrics.get(name) or []):
            flat[f"{name}{SEPARATOR}{i}"] = float(value)
    for name in NUMBERS:
        if metrics.get(name) is not None:
            flat[name] = float(metrics[name])
    return flat


def unflatten_details(latest):
    """Inverse of `flatten_details` on `{metric name: last value}`."""
    details = {}
    for name in NUMBERS:
        if name in latest and math.isfinite(latest[name]):
            details[name] = latest[name]
    for name in LISTS:
        items = sorted(
            (int(key.rsplit(SEPARATOR, 1)[1]), value)
            for key, value in latest.items()
            if key.startswith(name + SEPARATOR)
        )
        if items:
            details[name] = [value for _, value in items]
    for name in INTEGERS:
        if name in details:
            value = details[name]
            details[name] = (
                [int(round(v)) for v in value] if isinstance(value, list)
                else int(round(value))
            )
    return details


def latest_metrics(trial):
    """`{name: last value}` of a Keras Tuner trial's metrics."""
    latest = {}
    for name, history in trial.metrics.metrics.items():
        observations = history.get_history()
        if observations:
            latest[name] = float(observations[-1].mean())
    return latest


def as_float(value):
    """`float(value)`, or NaN when it is not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def last_line(message):
    """The last non-blank line of a (trial's error) message, or None."""
    lines = [line for line in str(message).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else None


def read_objectives(trial, accuracy_key, macs_key):
    """`(accuracy, macs, step)` of a Keras Tuner trial: the last value of
    each metric (NaN where missing) and the step of the last one read."""
    values, step = [], 0
    for name in (accuracy_key, macs_key):
        if trial.metrics.exists(name):
            history = trial.metrics.get_history(name)
            values.append(as_float(history[-1].mean()) if history else math.nan)
            if history:
                step = history[-1].step
        else:
            values.append(math.nan)
    return values[0], values[1], step
