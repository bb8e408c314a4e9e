"""A Keras Tuner oracle that survives its workers: timeouts and release.

Keras Tuner's chief waits for ever on a worker that died with a trial, and a
trial ended twice (handed to another worker, then ended late by the first)
would be counted twice. `FaultTolerantOracle` adds what a distributed search
needs to lose nothing, whatever the search algorithm on top of it:

- a heartbeat: a running trial is "heard of" whenever its worker calls
  `create_trial`, `update_trial` or `get_trial` about it (a `NachosSearch`
  worker asks for its trial every few seconds while it trains);
- `trial_timeout`: a trial not heard of for that long is taken from its
  worker and handed to the next one that asks (`release_tuner`); after
  `MAX_SILENCES` such releases it is ended as failed;
- a late `end_trial` of a trial that ended already is ignored;
- a timeline of when each trial was handed out and ended (what
  `benchmarks/distributed_search.py` measures idle shares on).

Subclasses implement `populate_space` and learn results in `trial_ended`.
"""

import time

import keras_tuner
from keras_tuner.engine import trial as trial_module

from keras_nachos.checks import check_float
from keras_nachos.errors import invalid_value

TrialStatus = trial_module.TrialStatus

# A trial whose worker went silent this many times is recorded as failed.
MAX_SILENCES = 3


def check_trial_timeout(trial_timeout):
    """Returns `trial_timeout` checked: None or a positive number."""
    if trial_timeout is not None:
        check_float("trial_timeout", trial_timeout, low=0.0,
                    expected="a positive number of seconds or None")
        if not trial_timeout > 0:
            raise invalid_value(
                "trial_timeout", "a positive number of seconds or None",
                trial_timeout,
            )
    return trial_timeout


class FaultTolerantOracle(keras_tuner.Oracle):
    """`keras_tuner.Oracle` with worker timeouts, release and a timeline.

    Args:
        trial_timeout: Optional positive number of seconds (see the module's
            docstring). Defaults to `None` (wait for ever, as Keras Tuner
            does).
        **kwargs: `keras_tuner.Oracle` arguments.

    Attributes:
        idle_sleep: Seconds `create_trial` sleeps before answering IDLE
            (outside the oracle's lock). `NachosSearch` workers back off on
            their side instead: a sleep here would hold the chief's single
            gRPC thread. For other tuners, set it > 0.
        trial_ended_callback: Optional callable `trial -> None`, called once
            a trial's result is learnt (a distributed chief prints its
            progress line there).
    """

    def __init__(self, trial_timeout=None, **kwargs):
        trial_timeout = check_trial_timeout(trial_timeout)
        super().__init__(**kwargs)
        self.trial_timeout = trial_timeout
        self.idle_sleep = 0.0
        self.trial_ended_callback = None
        # Trial id -> `time.monotonic()` when last heard of (not saved: a
        # restarted chief gives every running trial a full timeout).
        self._heard = {}
        self._silences = {}
        # Trial id -> [{"tuner_id", "handed_out", "ended", "predicted_macs"}]
        # (`time.time()` seconds), this process's trials only.
        self._timeline = {}

    # ------------------------------------------------------------------
    # Hooks for subclasses.

    def trial_ended(self, trial, tuner_id):
        """Called (under the lock) once `trial` ended for good: COMPLETED or
        FAILED, not ended before. `tuner_id` ran it (or None)."""

    def predicted_cost(self, trial_id):
        """The predicted training cost of a trial just handed out (recorded
        in the timeline), or None."""
        return None

    def timeline_generation(self, trial_id):
        """The generation of a trial, for the timeline (or None)."""
        return None

    @property
    def finished(self):
        """Whether the search needs no more trials (besides the budget)."""
        return False

    # ------------------------------------------------------------------
    # Keras Tuner hooks.

    def create_trial(self, tuner_id):
        trial = self._create_trial_locked(tuner_id)
        if trial.status == TrialStatus.IDLE and self.idle_sleep > 0:
            # Outside the oracle's lock, so results can come in.
            time.sleep(self.idle_sleep)
        return trial

    @keras_tuner.synchronized
    def _create_trial_locked(self, tuner_id):
        self._reassign_silent_trials()
        trial = super().create_trial(tuner_id)
        if trial.status == TrialStatus.RUNNING:
            self._heard[trial.trial_id] = time.monotonic()
            self._timeline.setdefault(trial.trial_id, []).append(
                {"tuner_id": tuner_id, "handed_out": time.time(), "ended": None,
                 "predicted_macs": self.predicted_cost(trial.trial_id)})
        return trial

    @keras_tuner.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        self._heard[trial_id] = time.monotonic()
        return super().update_trial(trial_id, metrics, step=step)

    @keras_tuner.synchronized
    def get_trial(self, trial_id):
        """Returns the trial; a worker asking for its running trial says it
        is alive (the heartbeat `trial_timeout` listens to)."""
        if any(t.trial_id == trial_id for t in self.ongoing_trials.values()):
            self._heard[trial_id] = time.monotonic()
        return super().get_trial(trial_id)

    @keras_tuner.synchronized
    def end_trial(self, trial):
        if trial.trial_id in self.end_order:
            # A late end of a trial that ended already (it was handed to
            # another worker, or retried after a chief restart, and its
            # first worker was only slow): ignored, and its tuner is free.
            for tuner_id, running in list(self.ongoing_trials.items()):
                if running.trial_id == trial.trial_id:
                    self.ongoing_trials.pop(tuner_id)
            return
        # Ended by its first worker while queued for another: not again.
        # (Keras Tuner keeps its retry queue private and has no call to take
        # a trial out of it.)
        self._retry_queue = [t for t in self._retry_queue if t != trial.trial_id]
        tuner_id = next(
            (t for t, running in self.ongoing_trials.items()
             if running.trial_id == trial.trial_id),
            None,
        )
        super().end_trial(trial)
        self._heard.pop(trial.trial_id, None)
        for run in self._timeline.get(trial.trial_id, []):
            if run["tuner_id"] == tuner_id and run["ended"] is None:
                run["ended"] = time.time()
        trial = self.trials[trial.trial_id]
        if trial.status not in (TrialStatus.COMPLETED, TrialStatus.FAILED):
            return  # INVALID: Keras Tuner retries it.
        self.trial_ended(trial, tuner_id)

    # ------------------------------------------------------------------
    # Workers that went away.

    def _reassign_silent_trials(self):
        """Takes running trials from workers silent for `trial_timeout`."""
        if self.trial_timeout is None:
            return
        now = time.monotonic()
        for tuner_id, trial in list(self.ongoing_trials.items()):
            last = self._heard.setdefault(trial.trial_id, now)
            if now - last > self.trial_timeout:
                self.release_tuner(
                    tuner_id,
                    f"was silent for {now - last:.0f} s (trial_timeout="
                    f"{self.trial_timeout:g})",
                )

    @keras_tuner.synchronized
    def release_tuner(self, tuner_id, why="went away"):
        """Forgets a worker that went away and hands its trial to the next.

        The trial goes to Keras Tuner's retry queue (the next `create_trial`
        hands it out again, same id and values) and the worker's id is
        forgotten, so the chief can end without it; a trial whose workers
        went away `MAX_SILENCES` times is ended as failed. Called for silent
        workers (`trial_timeout`) and by `keras-nachos search --workers N`
        when one of its worker processes exits.

        Returns:
            The id of the trial taken back, or `None`.
        """
        self.tuner_ids.discard(tuner_id)
        trial = self.ongoing_trials.pop(tuner_id, None)
        if trial is None:
            return None
        self._heard.pop(trial.trial_id, None)
        silences = self._silences.get(trial.trial_id, 0) + 1
        self._silences[trial.trial_id] = silences
        if silences >= MAX_SILENCES:
            trial.status = TrialStatus.FAILED
            trial.message = (
                f"Its worker went away {silences} times (last: {tuner_id} "
                f"{why})."
            )
            self.end_trial(trial)
        else:
            print(
                f"Trial {trial.trial_id}: its worker {tuner_id} {why}; "
                "handing it to the next worker.",
                flush=True,
            )
            # Keras Tuner's only way to hand a trial out again, same id and
            # values: its retry queue (`end_trial(INVALID)` would count a
            # failure against `max_retries_per_trial`, and at 0 end it).
            self._retry_queue.append(trial.trial_id)
            self.save()
        return trial.trial_id

    def retry_running_trials(self):
        """As Keras Tuner's `reload` does: trials that were running when the
        state was saved are handed out again."""
        # Keras Tuner's `reload` does exactly this on its private queue (the
        # only way to hand a trial out again with the same id and values).
        for trial in self.ongoing_trials.values():
            self._retry_queue.append(trial.trial_id)
        self.ongoing_trials = {}

    @keras_tuner.synchronized
    def serving_status(self):
        """`(done, waiting)` for a chief: whether the search is finished with
        no trial running, and how many workers have not been told to stop."""
        done = (self.finished or self.remaining_trials() == 0) and not (
            self.ongoing_trials)
        return done, len(self.tuner_ids)

    def timeline(self):
        """When each trial of this process's run was handed out and ended.

        A list of dicts (`trial_id`, `tuner_id`, `generation`, `handed_out`,
        `ended`: `time.time()` seconds; `ended` is `None` for a run taken
        from a worker that went away; `predicted_macs`: the training cost
        the hand-out order used, or `None`), in hand-out order.
        """
        runs = [
            dict(run, trial_id=trial_id,
                 generation=self.timeline_generation(trial_id))
            for trial_id, trial_runs in self._timeline.items()
            for run in trial_runs
        ]
        return sorted(runs, key=lambda r: r["handed_out"])
