"""The progress lines a search prints: one per trial, per worker, per
fine-tuned candidate."""

import time


def hms(seconds):
    """`H:MM:SS` of a number of seconds."""
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class SearchDisplay:
    """Formats a search's progress (Keras Tuner's `Display` is the oracle's
    and prints a hyperparameter table per trial; a search prints one line).

    Args:
        verbose: `0` (nothing), `1` (a line per trial) or `2`.
    """

    def __init__(self, verbose=1):
        self.verbose = verbose
        self.start = time.time()
        # Trials finished before this process started (a resumed search):
        # the remaining time is estimated from this run's pace.
        self.trials_done_at_start = 0

    def show(self, line):
        if self.verbose:
            print(line, flush=True)

    def trial_line(self, oracle, trial, role=None):
        """The line of a trial whose result the oracle recorded."""
        # Evaluations include candidates scored without training (precheck)
        # and cache hits, which never become Keras Tuner trials.
        done = oracle.total_evaluations
        total = oracle.max_trials
        trained = len(finished_trials(oracle))
        elapsed = time.time() - self.start
        new = max(1, trained - self.trials_done_at_start)
        remaining = elapsed / new * max(0, total - done)
        record = oracle.record_for(trial.trial_id) or {}
        acc = record.get("accuracy")
        macs = record.get("macs")
        acc = float("nan") if acc is None else acc
        macs = float("nan") if macs is None else macs
        if record.get("status") == "failed" or trial.status in ("FAILED", "INVALID"):
            verdict = f"FAILED: {record.get('reason') or trial.message}"
        else:
            verdict = "feasible" if record.get("feasible") else "infeasible"
        if role == "chief" and record.get("tuner_id"):
            verdict += f" on {record['tuner_id']}"
        return (
            f"[trial {done}/{total}] generation {record.get('generation', '?')} "
            f"accuracy={acc:.4f} expected_macs={macs:,.0f} {verdict} "
            f"(trained {trained}, elapsed {hms(elapsed)}, "
            f"remaining ~{hms(remaining)})"
        )

    def worker_line(self, tuner_id, trial, result, idle_seconds):
        """A worker's line, from its own result (it never reads the
        oracle)."""
        elapsed = hms(time.time() - self.start)
        if trial.status != "COMPLETED" or result is None:
            reason = (trial.message or "").strip().splitlines()
            return (f"[{tuner_id}] trial {trial.trial_id} FAILED: "
                    f"{reason[-1] if reason else 'failed'} (elapsed {elapsed})")
        return (
            f"[{tuner_id}] trial {trial.trial_id} accuracy="
            f"{result.accuracy:.4f} expected_macs={result.expected_macs:,.0f} "
            f"(elapsed {elapsed}, idle {idle_seconds:.1f} s)"
        )

    @staticmethod
    def finetune_line(index, count, record, metrics, seconds):
        """The line of a fine-tuned front candidate."""
        return (
            f"[fine-tune {index + 1}/{count}] trial "
            f"{record['trial_id']}: accuracy {record['accuracy']:.4f}"
            f" -> {metrics['accuracy']:.4f}, expected_macs "
            f"{record['macs']:,.0f} -> {metrics['expected_macs']:,.0f}"
            f" ({seconds:.1f} s)"
        )


def finished_trials(oracle):
    """The oracle's trials that ended (completed, failed or invalid)."""
    return [
        t for t in oracle.trials.values()
        if t.status in ("COMPLETED", "FAILED", "INVALID")
    ]
