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
    """The data set of a search configuration."""
    from keras_nachos import datasets

    return datasets.load(
        config["dataset"],
        validation_split=config["validation_split"],
        max_samples=config.get("max_samples"),
        image_size=config.get("image_size"),
        seed=config["seed"],
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


def _run_search(out, config, resumed, overwrite, verbose=1):
    project = SearchProject(out)
    data = load_dataset(config)  # Before anything is written.
    if resumed:
        print(f"Resuming the search in {out} (pass --overwrite to start over).")
    else:
        config = dict(config, space=space_for(data, config).get_config())
        if overwrite:
            project.clear()
        project.write_config(config)
    tuner = project.tuner(config, overwrite=not resumed)
    print(
        f"Search: {config['population']} candidates x "
        f"{config['generations']} generations on {config['dataset']} "
        f"({len(data.train[1])} train / {len(data.validation[1])} validation), "
        f"min_accuracy={config['min_accuracy']}, "
        f"max_macs={config['max_macs']:,.0f}",
        flush=True,
    )
    tuner.search(
        *data.train,
        validation_data=data.validation,
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        verbose=verbose,
    )
    results = write_results(out, tuner, config, data)
    return tuner, data, results


def search(out, config, resumed, overwrite, verbose=1):
    """`keras-nachos search`: runs (or resumes) a search, writes its results."""
    return _run_search(out, config, resumed, overwrite, verbose)[0]


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
    its file and run with its real early exit on the test split.
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
        f"Pareto plot: {os.path.join(out, 'pareto.png')}; "
        f"done in {time.time() - start:.0f} s."
    )
    return result
