"""What the `keras-nachos` commands do, once their arguments are checked.

`keras_nachos_cli` parses and checks the command line (without starting
TensorFlow) and calls one of these with checked options.
"""

import json
import os
import time

from keras_nachos.reporting.search_results import write_results
from keras_nachos.search.project import SearchProject

# Errors that are the user's (bad data, a missing file, a damaged state
# file: `DamagedStateError` is a ValueError): printed as one line.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, PermissionError)


def load_dataset(config):
    """The data set of a search configuration (split with `data_seed`, the
    seed of its supernet's data, when it has one; else with `seed`)."""
    from keras_nachos import datasets

    return datasets.load(
        config["dataset"],
        validation_split=config["validation_split"],
        max_samples=config.get("max_samples"),
        image_size=config.get("image_size"),
        seed=config.get("data_seed", config["seed"]),
        data_dir=config.get("data_dir"),
    )


def space_for(data, config):
    """The `SearchSpace` of a configuration, on its data set."""
    from keras_nachos.search import SearchSpace

    return SearchSpace(
        data.input_shape,
        data.num_classes,
        stage_widths=config["stage_widths"],
        depths=tuple(config["depths"]),
        kernel_sizes=tuple(config["kernel_sizes"]),
        expansion_ratios=tuple(config["expansion_ratios"]),
        head_types=tuple(config["head_types"]),
        confidence=config["confidence"],
        threshold_mode=config["threshold_mode"],
    )


class WorkersLost(RuntimeError):
    """Every local worker of `search --workers N` exited before the end."""


# Errors that are the user's (bad data, a missing file, a damaged state
# file: `DamagedStateError` is a ValueError), or a cluster that cannot go
# on: printed as one line.
USER_ERRORS = USER_ERRORS + (WorkersLost,)


def _apply_process_options(cluster):
    """This process's Keras Tuner role (environment) and its CPU share."""
    if cluster.get("cores"):
        os.sched_setaffinity(0, set(cluster["cores"]))
    if cluster.get("threads"):
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(cluster["threads"])
        tf.config.threading.set_inter_op_parallelism_threads(cluster["threads"])
    if cluster.get("role"):
        os.environ["KERASTUNER_TUNER_ID"] = cluster["tuner_id"]
        os.environ["KERASTUNER_ORACLE_IP"] = cluster["host"]
        os.environ["KERASTUNER_ORACLE_PORT"] = str(cluster["port"])


def _run_search(out, config, resumed, overwrite, verbose=1, cluster=None):
    cluster = dict(cluster or {})
    workers = cluster.get("workers")
    if workers:
        cluster.update(role="chief", tuner_id="chief", host="127.0.0.1",
                       port=_free_port())
    role = cluster.get("role")
    _apply_process_options(cluster)
    project = SearchProject(out)
    data = load_dataset(config)  # Before anything is written.
    if resumed:
        if role != "worker":
            print(f"Resuming the search in {out} (pass --overwrite to start over).")
    else:
        config = dict(config, space=space_for(data, config).get_config())
        if overwrite:
            project.clear()
        project.write_config(config)
    tuner = project.tuner(
        config, overwrite=not resumed and role != "worker",
        trial_timeout=cluster.get("trial_timeout"),
    )
    where = {
        None: "",
        "chief": f" (chief on {cluster.get('host')}:{cluster.get('port')}"
                 + (f", {workers} local workers" if workers else "") + ")",
        "worker": f" (worker {cluster.get('tuner_id')} of the chief on "
                  f"{cluster.get('host')}:{cluster.get('port')})",
    }[role]
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
        + where,
        flush=True,
    )
    processes = _start_workers(out, cluster, verbose) if workers else []
    try:
        if processes:
            tuner.worker_monitor = _monitor(processes, out, workers)
        tuner.search(
            *data.train,
            validation_data=data.validation,
            epochs=config["epochs"],
            batch_size=config["batch_size"],
            verbose=verbose,
            **({"finetune_epochs": config.get("finetune_epochs")}
               if config.get("supernet") else {}),
        )
    finally:
        _stop_workers(processes)
    if role == "worker":
        return tuner, data, None  # Only the chief writes results.
    results = write_results(out, tuner, config, data)
    return tuner, data, results


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_devices(workers):
    """Per local worker: `(environment changes, cores)`.

    With GPUs (`CUDA_VISIBLE_DEVICES` listing them, or `nvidia-smi -L`),
    worker `i` sees GPU `i mod count` alone; otherwise the cores this process
    may use are shared out, `cores // workers` (at least 1) each.
    """
    import subprocess

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    gpus = [g for g in (visible or "").split(",") if g.strip() not in ("", "-1")]
    if visible is None:
        try:
            listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True,
                                     text=True, timeout=10).stdout
            gpus = [str(i) for i, line in enumerate(listing.splitlines())
                    if line.startswith("GPU ")]
        except (OSError, subprocess.SubprocessError):
            gpus = []
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


def _start_workers(out, cluster, verbose):
    import subprocess
    import sys

    processes = []
    for i, (env, cores) in enumerate(worker_devices(cluster["workers"])):
        command = [
            sys.executable, "-m", "keras_nachos_cli", "search", "--out", out,
            "--role", "worker", "--tuner-id", f"tuner{i}",
            "--oracle", f"{cluster['host']}:{cluster['port']}",
            "--verbose", str(verbose),
        ]
        if cluster.get("trial_timeout"):
            command += ["--trial-timeout", str(cluster["trial_timeout"])]
        if cores:
            command += ["--cores", ",".join(str(c) for c in cores),
                        "--threads", str(len(cores))]
        environment = dict(os.environ, **env)
        for key in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP",
                    "KERASTUNER_ORACLE_PORT"):
            environment.pop(key, None)
        processes.append(subprocess.Popen(command, env=environment))
    return processes


def _monitor(processes, out, workers):
    """Called by the chief while it serves: a local worker that exited has
    its trial handed to the others; all of them gone ends the search."""
    released = set()

    def check(oracle):
        for i, process in enumerate(processes):
            if i not in released and process.poll() is not None:
                released.add(i)
                if process.returncode != 0:
                    oracle.release_tuner(
                        f"tuner{i}", f"exited with code {process.returncode}")
        if len(released) == len(processes) and not oracle.finished and (
            oracle.remaining_trials() != 0 or oracle.ongoing_trials
        ):
            raise WorkersLost(
                f"All {workers} workers exited before the search ended (their "
                f"output is above); resume with `keras-nachos search --out "
                f"{out} --workers {workers}`."
            )

    return check


def _stop_workers(processes, grace=60.0):
    """Waits for the workers (they stop when told by the chief), then ends
    any that is left."""
    deadline = time.time() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.time()))
        except Exception:
            process.kill()
            process.wait()


def search(out, config, resumed, overwrite, verbose=1, cluster=None):
    """`keras-nachos search`: runs (or resumes) a search, writes its results
    (a distributed worker trains its trials and writes nothing)."""
    return _run_search(out, config, resumed, overwrite, verbose, cluster)[0]


def supernet_train(out, config, verbose=1):
    """`keras-nachos supernet train`: trains a supernet of the configured
    space on the training split, writes `out` (.keras) and its arguments
    beside it (`.json`, which `search --supernet` reads)."""
    import keras

    from keras_nachos.search import Supernet
    from keras_nachos.search.state_files import write_json_atomically

    data = load_dataset(config)  # Before anything is written.
    space = space_for(data, config)
    supernet = Supernet(space, num_random=config["num_random"],
                        seed=config["seed"])
    print(
        f"Supernet: {supernet.count_params():,} weights, "
        f"{len(supernet.heads)} shared heads, on {config['dataset']} "
        f"({len(data.train[1])} train / {len(data.validation[1])} "
        f"validation), {config['epochs']} epochs",
        flush=True,
    )
    supernet.compile(optimizer=keras.optimizers.Adam(config["learning_rate"]))
    start = time.time()
    history = supernet.fit(
        *data.train, validation_data=data.validation, epochs=config["epochs"],
        batch_size=config["batch_size"], verbose=verbose if verbose < 2 else 2,
    )
    seconds = time.time() - start
    directory = os.path.dirname(os.path.abspath(out))
    os.makedirs(directory, exist_ok=True)
    supernet.save(out)
    write_json_atomically(out[: -len(".keras")] + ".json", {
        "config": config,
        "space": space.get_config(),
        "train_seconds": seconds,
        "history": {k: [float(v) for v in vs]
                    for k, vs in history.history.items()},
    }, indent=2)
    last = {k: v[-1] for k, v in history.history.items()}
    print(
        f"Wrote {out} (trained in {seconds:.0f} s; validation accuracy of the "
        f"largest subnet {last.get('val_largest_accuracy', float('nan')):.4f},"
        f" of the smallest {last.get('val_smallest_accuracy', float('nan')):.4f})",
        flush=True,
    )
    return supernet


def report(out, test=True):
    """`keras-nachos report`: the front table, results files and plot."""
    project = SearchProject(out)
    config = project.read_config()
    tuner = project.tuner(config)
    oracle = tuner.oracle
    if not oracle.finished:
        print(
            f"The search in {out} is unfinished: it holds "
            f"{len(oracle.trials)} trials ({oracle.total_evaluations} of "
            f"{oracle.max_trials} evaluations, generation "
            f"{min(oracle.generation + 1, config['generations'])} of "
            f"{config['generations']}). Resume it with `keras-nachos search "
            f"--out {out}`; reported below is what it holds so far."
        )
    data = load_dataset(config) if test else None
    return write_results(out, tuner, config, data, test=test)


def _chosen(front, solution, out):
    if not front:
        raise ValueError(
            f"The search in {out} found no admissible solution: loosen "
            "--min-accuracy or --max-macs, or search longer."
        )
    if solution >= len(front):
        raise ValueError(
            "Invalid value received for argument `--solution`. Expected an "
            f"index in [0, {len(front)}) of the admissible front. "
            f"Received: --solution={solution}"
        )
    return front[solution]


def export(out, solution, output=None):
    """`keras-nachos export`: one admissible solution as a .keras file.

    Writes the model and, beside it, a JSON file with its values, thresholds,
    rule and measured figures. Returns the model's path.
    """
    import keras

    project = SearchProject(out)
    tuner = project.tuner(project.read_config())
    chosen = _chosen(tuner.admissible_front(), solution, out)
    model = keras.models.load_model(chosen["model_path"])
    output = output or os.path.join(out, f"solution_{solution}.keras")
    model.save(output)
    keys = ("values", "thresholds", "rule", "accuracy", "expected_macs",
            "exit_fractions", "static_macs")
    with open(os.path.splitext(output)[0] + ".json", "w") as f:
        json.dump({k: chosen[k] for k in keys if k in chosen}, f, indent=2)
    print(f"Wrote {output} (thresholds {chosen.get('thresholds')})")
    return output


def demo(out, config, resumed, overwrite, solution=0):
    """`keras-nachos demo`: the NACHOS pipeline end to end.

    A short search (progress line per trial), the admissible front as a
    table, the Pareto plot, then the chosen EENN exported, loaded back from
    its file and run with its real early exit on the test split; last, the
    EENN exported as int8 LiteRT stages and run on them the same way.
    """
    import keras

    start = time.time()
    tuner, data, _ = _run_search(out, config, resumed, overwrite)
    path = export(out, solution)
    with open(os.path.splitext(path)[0] + ".json") as f:
        chosen = json.load(f)
    model = keras.models.load_model(path)
    x_test, y_test = data.test
    result = model.predict_early_exit(
        x_test, chosen["thresholds"], rule=chosen.get("rule", "max_probability")
    )
    fractions = ", ".join(
        f"{n} {f:.3f}" for n, f in zip(model.exit_names, result.exit_fractions)
    )
    print(
        f"\nSolution {solution}, exported to {path} and loaded back, with "
        f"its real early exit on the {len(y_test):,} test images:\n"
        f"  accuracy        {result.accuracy(y_test):.4f}   "
        f"(final exit alone: "
        f"{float((model.predict_exits(x_test)[-1].argmax(1) == y_test).mean()):.4f})\n"
        f"  exit fractions  {fractions}\n"
        f"  expected MACs   {result.expected_macs:,.0f}   "
        f"(macs_ratio {result.macs_ratio:.3f} of the backbone's "
        f"{model.backbone_macs:,}: {1 / result.macs_ratio:.2f}x fewer)\n"
        f"Pareto plot: {os.path.join(out, 'pareto.png')}."
    )
    # The last step: the EENN as int8 LiteRT stages for the device, run
    # there with the same early exit.
    print("\nFor the device:")
    export_dir = export_litert(out, solution, quantize="int8", splits=data)
    runtime_result = run(
        export_dir, {"dataset": config["dataset"],
                     "data_dir": config.get("data_dir"),
                     "max_samples": config.get("max_samples"),
                     "seed": config["seed"]},
        splits=data,
    )
    print(f"Done in {time.time() - start:.0f} s.")
    return result, runtime_result


def _solution_source(source, solution, thresholds, rule):
    """`(model, thresholds, rule, search config or None)` of an export."""
    import keras

    if os.path.isdir(source):
        project = SearchProject(source)
        config = project.read_config()
        tuner = project.tuner(config)
        chosen = _chosen(tuner.admissible_front(), solution, source)
        model = keras.models.load_model(chosen["model_path"])
        stored = chosen
    else:
        config = None
        model = keras.models.load_model(source)
        sidecar = os.path.splitext(source)[0] + ".json"
        stored = {}
        if os.path.exists(sidecar):
            with open(sidecar) as f:
                stored = json.load(f)
    thresholds = thresholds if thresholds is not None else stored.get("thresholds")
    rule = rule or stored.get("rule", "max_probability")
    if thresholds is None:
        raise ValueError(
            f"Invalid value received for argument `--thresholds`. Expected the "
            f"thresholds of {source} (it has no .json beside it). "
            "Received: --thresholds=None"
        )
    return model, thresholds, rule, config


def _data_for(model, data, config):
    """The data set to calibrate int8 on, or to evaluate an export on."""
    from keras_nachos import datasets

    if data is None:
        return load_dataset(config)
    height, width = (int(d) for d in model_input_size(model))
    return datasets.load(
        data["dataset"], validation_split=0.1, max_samples=data["max_samples"],
        image_size=(height, width), seed=data["seed"], data_dir=data["data_dir"],
    )


def model_input_size(model_or_runtime):
    """`(height, width)` of an EarlyExitModel's or a runtime's input."""
    if hasattr(model_or_runtime, "backbone"):
        shape = model_or_runtime.backbone.inputs[0].shape
    else:
        shape = model_or_runtime.input_shape
    return shape[1], shape[2]


def export_litert(source, solution=None, output=None, quantize=None,
                  qat_epochs=None, micro=False, thresholds=None, rule=None,
                  data=None, splits=None):
    """`keras-nachos export --format litert`: one .tflite per stage.

    From a search folder's admissible solution or a saved .keras EENN: the
    stages (float, int8 post-training, or int8 after quantisation-aware
    fine-tuning) and their manifest, ready for `keras-nachos run` and
    `keras_nachos.deploy.load`. `splits` (a `DatasetSplits`) replaces
    loading the data. Returns the export folder.
    """
    import numpy as np

    from keras_nachos import deploy

    model, thresholds, rule, config = _solution_source(
        source, solution, thresholds, rule
    )
    suffix = "_litert" + ("_qat" if qat_epochs else "_int8" if quantize else "")
    if output is None:
        output = (os.path.join(source, f"solution_{solution}{suffix}")
                  if os.path.isdir(source)
                  else os.path.splitext(source)[0] + suffix)
    start = time.time()
    if quantize or qat_epochs:
        if splits is None:
            splits = _data_for(model, data, config)
        x_train, y_train = splits.train
        order = np.random.default_rng(0).permutation(len(x_train))[:500]
        representative = x_train[order]
    if qat_epochs:
        manifest = deploy.export_quantization_aware(
            model, output, thresholds, x_train, y_train, rule=rule,
            epochs=qat_epochs, representative_data=representative, verbose=1,
        )
    else:
        manifest = model.export_early_exit(
            output, thresholds, rule=rule, quantize=quantize,
            representative_data=representative if quantize else None,
        )
    if micro:
        manifest = deploy.prepare_for_micro(output)
    kind = ("int8 (quantisation-aware, %d epochs)" % qat_epochs if qat_epochs
            else "int8" if quantize else "float32")
    print(f"Wrote {output}: {len(manifest.stages)} {kind} LiteRT stages, "
          f"{manifest.flash_bytes:,} bytes in all, in {time.time() - start:.0f} s")
    for i, stage in enumerate(manifest.stages):
        arena = (f", TFLite Micro arena {stage.arena_bytes:,} bytes"
                 if stage.arena_bytes else "")
        print(f"  {stage.file}: {stage.bytes:,} bytes{arena}, "
              f"{manifest.exit_costs['cumulative'][i]:,} MACs to "
              f"{manifest.exit_names[i]}")
    if micro:
        print(f"  peak arena {manifest.peak_arena_bytes:,} bytes; C headers "
              f"stage_<n>.h beside the files")
    return output


def run(directory, data, interpreter="litert", batch_size=1, limit=None,
        splits=None):
    """`keras-nachos run`: an export's early exit on a data set's test split.

    `splits` (a `DatasetSplits`) replaces loading `data`. Prints accuracy, exit fractions, expected MACs and the latency per
    sample; returns the `EarlyExitResult`.
    """
    from keras_nachos import deploy

    runtime = deploy.load(directory, interpreter=interpreter)
    if splits is None:
        splits = _data_for(runtime, data, None)
    x_test, y_test = splits.test
    if limit is not None:
        x_test, y_test = x_test[:limit], y_test[:limit]
    start = time.perf_counter()
    result = runtime.predict_early_exit(x_test, batch_size=batch_size)
    elapsed = time.perf_counter() - start
    fractions = ", ".join(
        f"{n} {f:.3f}" for n, f in zip(result.exit_names, result.exit_fractions)
    )
    kind = runtime.manifest.quantize or "float32"
    print(
        f"{directory} ({kind}, {interpreter}, batch {batch_size}) on "
        f"{len(y_test):,} test images of {data['dataset']}:\n"
        f"  accuracy        {result.accuracy(y_test):.4f}\n"
        f"  exit fractions  {fractions}\n"
        f"  expected MACs   {result.expected_macs:,.0f}   (macs_ratio "
        f"{result.macs_ratio:.3f} of the backbone's {result.backbone_macs:,})\n"
        f"  latency         {1000 * elapsed / len(y_test):.3f} ms per sample"
    )
    return result
