"""A worker of a distributed search: a patient client, a heartbeat and a
backing-off wait at generation barriers.

Keras Tuner's worker (`BaseTuner` with an `OracleClient`) fails at once when
the chief is away for a moment, says nothing while a long trial trains (so a
chief cannot tell a slow worker from a dead one) and, when the oracle has no
trial for it yet (IDLE: a generation's last trials are still running
elsewhere), asks again at once, for ever.
"""

import contextlib
import threading
import time

# A worker waiting at a generation barrier asks again after 0.05 s, then
# twice as long each time, at most this long.
MAX_IDLE_WAIT = 1.0


class PatientClient:
    """A worker's `OracleClient` that waits for a chief that went away.

    Keras Tuner's client calls wait for the chief to be ready, but a call in
    flight when the chief dies fails at once; this one asks again (every
    second, up to `patience` seconds), so a restarted chief finds its workers
    still there.
    """

    def __init__(self, client, patience=600.0):
        self._client = client
        self._patience = patience

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            import grpc

            deadline = time.monotonic() + self._patience
            while True:
                try:
                    return attribute(*args, **kwargs)
                except grpc.RpcError as error:
                    if (error.code() != grpc.StatusCode.UNAVAILABLE
                            or time.monotonic() > deadline):
                        raise
                    time.sleep(1.0)

        return call


def heartbeat_interval(trial_timeout):
    """Seconds between a worker's heartbeats: a quarter of the chief's
    `trial_timeout` (0.2 s to 10 s), 10 s without one."""
    if trial_timeout is None:
        return 10.0
    return min(10.0, max(0.2, trial_timeout / 4))


@contextlib.contextmanager
def heartbeat(oracle, trial_id, interval):
    """Asks the chief for the trial every `interval` seconds while the
    context runs (what the chief's `trial_timeout` listens to)."""
    done = threading.Event()

    def beat():
        while not done.wait(interval):
            try:
                oracle.get_trial(trial_id)
            except Exception:  # The chief is away: the next beat retries.
                pass

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


class IdleWait:
    """The backing-off wait of a tuner the oracle answered IDLE."""

    def __init__(self, longest=MAX_IDLE_WAIT):
        self.longest = longest
        self.wait = 0.0
        self.total = 0.0  # Seconds waited in all.

    def sleep(self):
        self.wait = min(self.longest, max(0.05, 2 * self.wait))
        self.total += self.wait
        time.sleep(self.wait)

    def reset(self):
        self.wait = 0.0
