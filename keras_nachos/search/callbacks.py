"""Callbacks of a search: hooks around its trials, without subclassing.

Keras Tuner's extension points are methods of the tuner (`on_trial_begin`,
`on_trial_end`, `run_trial`): using them means subclassing it. A
`SearchCallback` gets the same moments as a Keras callback gets a fit's:
pass a list to `NachosSearch.search(..., trial_callbacks=[...])`.
"""


class SearchCallback:
    """Base class of the callbacks of a `NachosSearch`.

    Every hook receives the tuner; `on_trial_end` also the trial's
    `Evaluation` (accuracy, expected MACs, status, metrics, seconds). A
    callback may call `tuner.stop_search()` to end the search after the
    current trial (resumable, as an interrupted search is).

    Example:

    ```python
    class Log(SearchCallback):
        def on_trial_end(self, tuner, trial, evaluation):
            print(trial.trial_id, evaluation.accuracy,
                  evaluation.expected_macs)

    tuner.search(x, y, validation_data=(xv, yv), trial_callbacks=[Log()])
    ```
    """

    def on_search_begin(self, tuner):
        """Called before the first trial of this process."""

    def on_trial_begin(self, tuner, trial):
        """Called when `trial` (a `keras_tuner` Trial) starts here."""

    def on_trial_end(self, tuner, trial, evaluation):
        """Called when `trial` ended here. `evaluation` is its `Evaluation`,
        or `None` when the trial raised before it was scored."""

    def on_search_end(self, tuner):
        """Called when this process's part of the search ends."""
