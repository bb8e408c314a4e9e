"""`keras-nachos search`: runs (or resumes) a search, writes its results."""

import contextlib
import os
import sys

import tensorflow as tf

from keras_nachos.reporting.search_results import write_results
from keras_nachos.search import SearchSpace
from keras_nachos.search.distribute.local_cluster import LocalCluster
from keras_nachos.search.distribute.local_cluster import free_port
from keras_nachos.search.head_designs import head_designs
from keras_nachos.search.project import SearchProject
from keras_nachos_cli import config as config_module
from keras_nachos_cli.checks import check_head_types
from keras_nachos_cli.checks import flag
from keras_nachos_cli.commands.data import load_dataset


def check_registered(config):
    """Checks the names of a configuration against the registries, which
    live on TensorFlow's side (a `ValueError` naming the flag)."""
    check_head_types(config_module.SEARCH.value(config, "head_types"),
                     flag("head_types"), known=head_designs())


def space_for(data, config):
    """The `SearchSpace` of a configuration, on its data set."""
    return SearchSpace(data.input_shape, data.num_classes,
                       **config_module.space_arguments(config))


def _apply_process_options(cluster):
    """This process's Keras Tuner role (environment) and its CPU share."""
    if cluster.get("cores"):
        os.sched_setaffinity(0, set(cluster["cores"]))
    if cluster.get("threads"):
        tf.config.threading.set_intra_op_parallelism_threads(cluster["threads"])
        tf.config.threading.set_inter_op_parallelism_threads(cluster["threads"])
    if cluster.get("role"):
        os.environ["KERASTUNER_TUNER_ID"] = cluster["tuner_id"]
        os.environ["KERASTUNER_ORACLE_IP"] = cluster["host"]
        os.environ["KERASTUNER_ORACLE_PORT"] = str(cluster["port"])


def _local_cluster(out, cluster, verbose):
    """The local workers of `--workers N`: `python -m keras_nachos_cli
    search --role worker ...`, each pinned to its cores."""

    def command(tuner_id, cores):
        line = [
            sys.executable, "-m", "keras_nachos_cli", "search", "--out", out,
            "--role", "worker", "--tuner-id", tuner_id,
            "--oracle", f"{cluster['host']}:{cluster['port']}",
            "--verbose", str(verbose),
        ]
        if cluster.get("trial_timeout"):
            line += ["--trial-timeout", str(cluster["trial_timeout"])]
        if cores:
            line += ["--cores", ",".join(str(c) for c in cores),
                     "--threads", str(len(cores))]
        return line

    workers = cluster["workers"]
    return LocalCluster(
        workers, command,
        resume_hint=f"keras-nachos search --out {out} --workers {workers}",
    )


def _where(cluster):
    role = cluster.get("role")
    if role is None:
        return ""
    if role == "worker":
        return (f" (worker {cluster.get('tuner_id')} of the chief on "
                f"{cluster.get('host')}:{cluster.get('port')})")
    workers = cluster.get("workers")
    return (f" (chief on {cluster.get('host')}:{cluster.get('port')}"
            + (f", {workers} local workers" if workers else "") + ")")


def run_search(out, config, resumed, overwrite, verbose=1, cluster=None):
    """Runs (or resumes) a search; returns `(tuner, data, results)`
    (`results` is `None` on a distributed worker: only the chief writes).

    Every check that can refuse it (the folder's lock, the data, the space,
    the supernet, the evaluator's) comes before the first byte is written
    to `out`: a refused search leaves `out` as it was. The search runs
    holding the folder's lock (`search.lock`; not on a worker), which
    `--overwrite` takes before it deletes anything.
    """
    check_registered(config)
    cluster = dict(cluster or {})
    workers = cluster.get("workers")
    if workers:
        cluster.update(role="chief", tuner_id="chief", host="127.0.0.1",
                       port=free_port())
    role = cluster.get("role")
    _apply_process_options(cluster)
    project = SearchProject(out)
    if role != "worker":
        project.lock().check()  # A running search: refused at once.
    data = load_dataset(config)
    if not resumed:
        config = dict(config, space=space_for(data, config).get_config())
    supernet = project.check(config, data)
    lock = project.lock() if role != "worker" else contextlib.nullcontext()
    with lock:
        return _search_holding_the_lock(
            project, config, resumed, overwrite, verbose, cluster, data,
            supernet)


def _search_holding_the_lock(project, config, resumed, overwrite, verbose,
                             cluster, data, supernet):
    out = project.directory
    role = cluster.get("role")
    workers = cluster.get("workers")
    if resumed:
        if role != "worker":
            print(f"Resuming the search in {out} (pass --overwrite to start over).")
    else:
        if overwrite:
            project.clear()
        project.write_config(config)
    tuner = project.tuner(
        config, overwrite=not resumed and role != "worker",
        trial_timeout=cluster.get("trial_timeout"), supernet=supernet,
    )
    print(
        f"Search: {config['population']} candidates x "
        f"{config['generations']} generations on {config['dataset']} "
        f"({len(data.train[1])} train / {len(data.validation[1])} validation), "
        f"min_accuracy={config['min_accuracy']}, "
        f"max_macs={config['max_macs']:,.0f}"
        + "".join(
            f", {key}={config[key]:,.0f}"
            for key in ("max_flash_bytes", "max_ram_bytes")
            if config.get(key) is not None
        )
        + (f", floor_confidence={config['floor_confidence']}"
           if config.get("floor_confidence") is not None else "")
        + _where(cluster),
        flush=True,
    )
    local = _local_cluster(out, cluster, verbose).start() if workers else None
    try:
        if local is not None:
            tuner.worker_monitor = local.monitor
        tuner.search(
            *data.train,
            validation_data=data.validation,
            verbose=verbose,
            **config_module.fit_arguments(config),
        )
    finally:
        if local is not None:
            local.stop()
    if role == "worker":
        return tuner, data, None  # Only the chief writes results.
    results = write_results(out, tuner, config, data)
    return tuner, data, results


def search(out, config, resumed, overwrite, verbose=1, cluster=None):
    """`keras-nachos search`: runs (or resumes) a search, writes its results
    (a distributed worker trains its trials and writes nothing)."""
    return run_search(out, config, resumed, overwrite, verbose, cluster)[0]
