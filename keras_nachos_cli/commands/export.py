"""`keras-nachos export`: a solution as a .keras file or as LiteRT stages."""

import contextlib
import json
import os
import secrets
import time

import keras
import numpy as np

from keras_nachos import deploy
from keras_nachos.search.project import SearchProject
from keras_nachos.search.solutions import load_solution_model
from keras_nachos_cli.commands.data import data_for
from keras_nachos_cli.options import default_litert_output


def chosen_solution(front, solution, out):
    """The admissible solution `solution` of the front of the search in
    `out` (a clear error when there is none, or no such index)."""
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
    project = SearchProject(out)
    tuner = project.tuner(project.read_config())
    chosen = chosen_solution(tuner.admissible_front(), solution, out)
    model = load_solution_model(chosen["model_path"])
    output = output or os.path.join(out, f"solution_{solution}.keras")
    keys = ("values", "thresholds", "rule", "accuracy", "expected_macs",
            "exit_fractions", "static_macs")
    sidecar = os.path.splitext(output)[0] + ".json"
    with _written_as(output) as model_path, _written_as(sidecar) as json_path:
        model.save(model_path)
        with open(json_path, "w") as f:
            json.dump({k: chosen[k] for k in keys if k in chosen}, f, indent=2)
    print(f"Wrote {output} (thresholds {chosen.get('thresholds')})")
    return output


@contextlib.contextmanager
def _written_as(path):
    """Yields a temporary path beside `path` (same extension), moved onto
    `path` when the block ends without an error, else removed: a failed
    export leaves no half-written file."""
    folder, name = os.path.split(os.path.abspath(path))
    base, extension = os.path.splitext(name)
    partial = os.path.join(
        folder, f".{base}.{secrets.token_hex(4)}.partial{extension}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def _solution_source(source, solution, thresholds, rule):
    """`(model, thresholds, rule, search config or None)` of an export."""
    if os.path.isdir(source):
        project = SearchProject(source)
        config = project.read_config()
        tuner = project.tuner(config)
        chosen = chosen_solution(tuner.admissible_front(), solution, source)
        model = load_solution_model(chosen["model_path"])
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
    model, thresholds, rule, config = _solution_source(
        source, solution, thresholds, rule
    )
    if output is None:
        output = default_litert_output(source, solution, quantize, qat_epochs)
    start = time.time()
    if quantize or qat_epochs:
        if splits is None:
            splits = data_for(model, data, config)
        x_train, y_train = splits.train
        order = np.random.default_rng(0).permutation(len(x_train))[:500]
        representative = x_train[order]
    # Written whole or not at all, micro headers included (the library
    # stages the folder); a path that cannot be written is one line.
    try:
        if qat_epochs:
            manifest = deploy.export_quantization_aware(
                model, output, thresholds, x_train, y_train, rule=rule,
                epochs=qat_epochs, representative_data=representative,
                verbose=1, micro=micro,
            )
        else:
            manifest = model.export_early_exit(
                output, thresholds, rule=rule, quantize=quantize,
                representative_data=representative if quantize else None,
                micro=micro,
            )
    except OSError as error:
        if isinstance(error, (FileNotFoundError, PermissionError)):
            raise
        raise ValueError(
            f"Cannot write {output}: {error.strerror or error} (choose "
            "another --output)."
        ) from error
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
