"""A chief's local workers: spawned, pinned to their devices, watched.

`keras-nachos search --workers N` runs the chief in its own process and N
workers beside it (`tuner0`, `tuner1`, ...), each on its own GPU when there
are GPUs, else on its share of the CPU cores. The chief calls the cluster's
`monitor` while it serves: a worker that exits has its trial handed to the
others, and the search ends with `WorkersLost` when none is left.
"""

import os
import socket
import subprocess
import time

# Keras Tuner's own variables: a worker gets its role from its command line,
# never from the chief's environment.
TUNER_VARIABLES = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP",
                   "KERASTUNER_ORACLE_PORT")


class WorkersLost(RuntimeError):
    """Every local worker exited before the search ended."""


def free_port(host="127.0.0.1"):
    """A TCP port free on `host` now (for the chief to serve on)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _visible_gpus():
    """GPU ids: `CUDA_VISIBLE_DEVICES` when set (`-1`: none), else the
    GPUs `nvidia-smi -L` lists (none without the tool)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip() not in ("", "-1")]
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True,
                                 text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(listing.splitlines())
            if line.startswith("GPU ")]


def worker_devices(workers):
    """Per local worker: `(environment changes, cores)`.

    With GPUs (`CUDA_VISIBLE_DEVICES` listing them, or `nvidia-smi -L`),
    worker `i` sees GPU `i mod count` alone (`cores` is `None`); otherwise
    it sees no GPU and gets its share of the cores this process may use,
    `cores // workers` (at least 1) consecutive ones, round the list.

    Args:
        workers: Positive integer, the number of workers.

    Returns:
        A list of `workers` pairs `(dict, list of core ids or None)`.
    """
    gpus = _visible_gpus()
    if gpus:
        return [({"CUDA_VISIBLE_DEVICES": gpus[i % len(gpus)]}, None)
                for i in range(workers)]
    cores = sorted(os.sched_getaffinity(0))
    share = max(1, len(cores) // workers)
    return [
        ({"CUDA_VISIBLE_DEVICES": "-1"},
         [cores[(i * share + j) % len(cores)] for j in range(share)])
        for i in range(workers)
    ]


class LocalCluster:
    """The local worker processes of a chief.

    Args:
        workers: Positive integer, the number of workers.
        command: Callable `command(tuner_id, cores)` returning a worker's
            command line (a list of strings) for its id (`"tuner0"`, ...)
            and its cores (a list, or `None` on a GPU); the worker pins
            itself to them.
        resume_hint: Optional string: what to run again to resume, said by
            `WorkersLost`.

    Example:

    ```python
    cluster = LocalCluster(2, lambda tuner_id, cores: [...])
    with cluster:  # Starts the workers; waits for them at the end.
        tuner.worker_monitor = cluster.monitor
        tuner.search(...)
    ```
    """

    def __init__(self, workers, command, resume_hint=None):
        self.workers = workers
        self.command = command
        self.resume_hint = resume_hint
        self.processes = []
        self._released = set()

    def start(self):
        """Spawns the workers, each with its devices."""
        for i, (env, cores) in enumerate(worker_devices(self.workers)):
            environment = dict(os.environ, **env)
            for key in TUNER_VARIABLES:
                environment.pop(key, None)
            self.processes.append(
                subprocess.Popen(self.command(f"tuner{i}", cores),
                                 env=environment)
            )
        return self

    def monitor(self, oracle):
        """Called by the chief while it serves: releases the trial of a
        worker that failed (`oracle.release_tuner`); raises `WorkersLost`
        when every worker is gone and the search is not done."""
        for i, process in enumerate(self.processes):
            if i not in self._released and process.poll() is not None:
                self._released.add(i)
                if process.returncode != 0:
                    oracle.release_tuner(
                        f"tuner{i}", f"exited with code {process.returncode}")
        if len(self._released) == len(self.processes) and not oracle.finished and (
            oracle.remaining_trials() != 0 or oracle.ongoing_trials
        ):
            raise WorkersLost(
                f"All {self.workers} workers exited before the search ended "
                "(their output is above)"
                + (f"; resume with `{self.resume_hint}`." if self.resume_hint
                   else ".")
            )

    def stop(self, grace=60.0):
        """Waits for the workers (they stop when told by the chief), then
        ends any that is left."""
        deadline = time.time() + grace
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.time()))
            except Exception:
                process.kill()
                process.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
        return False
