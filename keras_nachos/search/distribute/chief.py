"""The chief of a distributed search: serves the oracle over gRPC.

Keras Tuner's own chief (`oracle_chief.start_server`) serves until it has
polled an empty search for 20 s; this one ends as soon as the search is
finished, no trial is running and every worker has been told to stop (or,
for workers that went away, 5 s after the rest have), and it watches local
worker processes while it serves.
"""

import os
import time

from keras_nachos.search.state_files import write_json_atomically

# Written by a distributed chief when it ends: `FaultTolerantOracle.timeline()`.
TIMELINE_FILE = "timeline.json"


def distributed_role():
    """`"worker"`, `"chief"` or `None` (one process), from Keras Tuner's
    environment variables (`KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP`,
    `KERASTUNER_ORACLE_PORT`)."""
    # Keras Tuner's own reading of its variables (no public API): the role
    # must be the one `BaseTuner` acts on when it makes a worker's client.
    from keras_tuner.src.distribute import utils as dist_utils

    if not dist_utils.has_chief_oracle():
        return None
    return "chief" if dist_utils.is_chief_oracle() else "worker"


def serve(oracle, project_dir, on_poll=None, verbose=1):
    """Serves `oracle` on `KERASTUNER_ORACLE_IP:PORT` until the search ends.

    One server thread, as Keras Tuner's chief (the oracle's lock serialises
    its calls anyway). When done, writes `timeline.json` in `project_dir`.

    Args:
        oracle: A `FaultTolerantOracle`.
        project_dir: The search's project folder.
        on_poll: Optional callable `oracle -> None` called every 0.2 s while
            serving (`keras-nachos search --workers N` watches its worker
            processes there; it may raise to end the search).
        verbose: Integer; `0` prints nothing.
    """
    from concurrent import futures

    import grpc
    # Keras Tuner's gRPC service has no public API: its protos and servicer
    # are what its workers' `OracleClient` speaks to.
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    address = (f"{os.environ['KERASTUNER_ORACLE_IP']}:"
               f"{os.environ['KERASTUNER_ORACLE_PORT']}")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    if server.add_insecure_port(address) == 0:
        raise RuntimeError(
            f"The chief cannot listen on {address} "
            "(KERASTUNER_ORACLE_IP:KERASTUNER_ORACLE_PORT): is the port "
            "in use?"
        )
    server.start()
    served_from = time.time()
    if verbose:
        print(f"Chief: serving the search on {address}", flush=True)
    done_since = None
    try:
        while True:
            time.sleep(0.2)
            done, waiting = oracle.serving_status()
            if on_poll is not None:
                on_poll(oracle)
            if not done:
                done_since = None
                continue
            done_since = done_since or time.monotonic()
            if waiting == 0 or time.monotonic() - done_since > 5.0:
                break
    finally:
        server.stop(grace=1.0)
    write_json_atomically(
        os.path.join(str(project_dir), TIMELINE_FILE),
        {"served_from": served_from, "served_to": time.time(),
         "trials": oracle.timeline()},
    )
