"""The checked options of each command, from its parsed arguments.

What argparse cannot check alone: the settings (through the schema of
`keras_nachos_cli.config`), a resume against the stored configuration, a
supernet's own arguments, the distributed roles, the combinations of
`export` and `run`. All of it before TensorFlow starts and before anything
is written; a mistake is a `UsageError`, one line on stderr.
"""

import importlib.util
import json
import math
import os

from keras_nachos_cli import config as config_module
from keras_nachos_cli.checks import flag
from keras_nachos_cli.checks import nearest_existing
from keras_nachos_cli.presets import PRESETS


class UsageError(Exception):
    """A mistake in the command line: printed as one line, exit code 2."""


def _invalid(name, expected, received):
    return UsageError(
        f"Invalid value received for argument `{name}`. Expected {expected}. "
        f"Received: {name}={received}"
    )


def check_settings(schema, given):
    """Checks the settings `given` (a dict) with their flags' names."""
    try:
        schema.check(given, name=flag)
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None


def _given(args, keys):
    """The arguments actually typed (argparse leaves out the others)."""
    return {k: getattr(args, k) for k in keys if hasattr(args, k)}


def _read_json(path, remedy):
    try:
        with open(path) as f:
            stored = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise UsageError(f"{path} is damaged ({error}): {remedy}") from None
    if not isinstance(stored, dict):
        raise UsageError(
            f"{path} is damaged (it holds a {type(stored).__name__}, not a "
            f"JSON object): {remedy}")
    return stored


def check_out_folder(path, name="--out", file=False):
    """Refuses (a `UsageError`) a `path` that is not, and cannot be made, a
    folder this process can write (with `file=True`: a file in such a
    folder): a file, a path under a file, a read-only folder. Checked
    before TensorFlow starts, so that a command is not refused after its
    work, when it writes."""
    existing = os.path.abspath(path)
    if file:
        existing = os.path.dirname(existing)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise _invalid(name, f"a folder ({existing} is a file)", path)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _invalid(
            name, f"a folder this process can write ({existing} is "
            "read-only here)", path)


# ----------------------------------------------------------------------
# A search's configuration: new, resumed, or on a supernet.
def resolve_search_config(out, given, overwrite):
    """The configuration to run: a new one, or the stored one to resume.

    Returns `(config, resumed)`. Raises `UsageError` when a resume is asked
    with arguments that differ from the stored ones (each difference is
    listed), or when a new search lacks a required argument.
    """
    check_settings(config_module.SEARCH, given)
    config_path = os.path.join(out, "search_config.json")
    if os.path.exists(config_path) and not overwrite:
        stored = _read_json(
            config_path, "restore it, or start over with --overwrite."
        )
        mismatches = config_module.SEARCH.differences(stored, given)
        if mismatches:
            listed = "; ".join(
                f"{flag(k)} {json.dumps(new)} (stored: "
                f"{json.dumps(old)})"
                for k, old, new in mismatches
            )
            raise UsageError(
                f"{out} holds a search with other arguments: {listed}. Resume "
                "it with the stored arguments (leave them out), choose another "
                "--out, or pass --overwrite to start over."
            )
        return stored, True
    if not overwrite and os.path.isdir(os.path.join(out, "search")):
        raise UsageError(
            f"{out} holds a Keras Tuner project (search/) but no "
            "search_config.json: restore the file to resume, or pass "
            "--overwrite to start over."
        )
    config, missing = config_module.SEARCH.new(given)
    if missing:
        flags = [flag(k) for k in missing]
        raise UsageError(
            f"{' and '.join(flags)} {'is' if len(flags) == 1 else 'are'} "
            f"required for a new search (there is no search_config.json in "
            f"{out} to resume)"
        )
    return config, False


def _stored_config(out):
    path = os.path.join(out, "search_config.json")
    try:
        with open(path) as f:
            stored = json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
    return stored if isinstance(stored, dict) else None


def supernet_sidecar(path):
    """The arguments a supernet was trained with (`PATH.json` beside
    `PATH.keras`), or None when there is none."""
    sidecar = path[: -len(".keras")] + ".json"
    if not os.path.exists(sidecar):
        return None
    try:
        with open(sidecar) as f:
            trained = json.load(f)["config"]
        if not isinstance(trained, dict):
            raise TypeError("its config is not a JSON object")
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise UsageError(
            f"{sidecar} is damaged ({error}): restore it, or give the data "
            "and space arguments the supernet was trained with (and delete "
            "the file)."
        ) from None
    return trained


def with_supernet_settings(given):
    """A search's arguments with those of its supernet filled in.

    The data and space arguments not given are the supernet's (from its
    `.json`); one given with another value is refused (another split would
    put validation images among the supernet's training images). The data
    split's seed is the supernet's (`data_seed`), so `--seed` only seeds the
    search.
    """
    trained = supernet_sidecar(given["supernet"])
    given = dict(given, supernet=os.path.abspath(given["supernet"]))
    if trained is None:
        return given
    keys = [k for k in config_module.DATA_KEYS + config_module.SPACE_KEYS
            if k != "seed"]
    differ = [
        f"{flag(k)} {json.dumps(given[k])} (supernet: "
        f"{json.dumps(trained.get(k))})"
        for k in keys
        if k in given and json.dumps(given[k]) != json.dumps(trained.get(k))
    ]
    if differ:
        raise UsageError(
            f"--supernet {given['supernet']} was trained with other "
            f"arguments: {'; '.join(differ)}. Leave them out (they default "
            "to the supernet's), or train a supernet for these."
        )
    for key in keys:
        if key not in given and key in trained:
            given[key] = trained[key]
    given["data_seed"] = trained.get("seed", 0)
    return given


def search_options(args):
    """`keras-nachos search`."""
    cluster = cluster_options(args)
    given = _given(args, config_module.SEARCH.keys())
    if given.get("finetune_epochs") is not None and "supernet" not in given:
        stored = _stored_config(args.out)
        if not (stored or {}).get("supernet"):
            raise _invalid(
                "--finetune-epochs", "to be given with --supernet (a "
                "from-scratch search has nothing to fine-tune)",
                given["finetune_epochs"],
            )
    if given.get("supernet") is not None:
        check_settings(config_module.SEARCH, {"supernet": given["supernet"]})
        given = with_supernet_settings(given)
    config, resumed = resolve_search_config(args.out, given, args.overwrite)
    check_out_folder(args.out)
    return {"out": args.out, "config": config, "resumed": resumed,
            "overwrite": args.overwrite, "verbose": args.verbose,
            "cluster": cluster}


def supernet_options(args):
    """`keras-nachos supernet train`."""
    given = _given(args, config_module.SUPERNET.keys())
    check_settings(config_module.SUPERNET, given)
    out = args.out
    if not out.endswith(".keras"):
        raise _invalid("--out", "a file name ending in .keras", out)
    if os.path.isdir(out):
        raise _invalid("--out", "a file name ending in .keras (it is a "
                       "folder)", out)
    if os.path.exists(out) and not args.overwrite:
        raise UsageError(
            f"{out} exists: choose another --out, or pass --overwrite to "
            "replace it."
        )
    check_out_folder(out, file=True)
    config, _ = config_module.SUPERNET.new(given)
    return {"out": out, "config": config, "verbose": args.verbose}


def demo_options(args):
    """`keras-nachos demo`: its preset, as a search configuration."""
    if args.seed < 0:
        raise _invalid("--seed", "a non-negative integer", args.seed)
    if args.solution < 0:
        raise _invalid("--solution", "a non-negative index", args.solution)
    out = args.out or os.path.join("artifacts", f"demo_{args.dataset}")
    preset = dict(PRESETS[args.dataset], seed=args.seed)
    config, resumed = resolve_search_config(out, preset, args.overwrite)
    check_out_folder(out)
    return {"out": out, "config": config, "resumed": resumed,
            "overwrite": args.overwrite, "solution": args.solution}


def report_options(args):
    """`keras-nachos report`."""
    if not os.path.exists(os.path.join(args.dir, "search_config.json")):
        raise _invalid(
            "dir",
            "a search folder (with its search_config.json; run "
            "`keras-nachos search --out DIR ...` first)",
            args.dir,
        )
    return {"out": args.dir, "test": args.test}


# ----------------------------------------------------------------------
# `export` and `run`.
def _check_data_arguments(args):
    if args.max_samples is not None and args.max_samples < 1:
        raise _invalid("--max-samples", "a positive integer", args.max_samples)
    if args.seed < 0:
        raise _invalid("--seed", "a non-negative integer", args.seed)
    if args.data_dir is not None and not os.path.isdir(args.data_dir):
        raise _invalid("--data-dir", "an existing folder", args.data_dir)


def _data_options(args):
    return {"dataset": args.dataset, "data_dir": args.data_dir,
            "max_samples": args.max_samples, "seed": args.seed}


# The optional packages a flag needs (looked up, not imported: no
# TensorFlow before the command runs), as `keras_nachos.deploy` names them.
MICRO_PACKAGES = ("tflite_micro",)
QAT_PACKAGES = ("tensorflow_model_optimization", "tf_keras")


def check_installed(flag, packages, extra):
    """Raises a `UsageError` unless every module of `packages` is installed."""
    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    if missing:
        raise UsageError(
            f"{flag} needs {', '.join(missing)}, which is not installed: "
            f'pip install "keras-nachos[{extra}]"'
        )


def check_output_path(name, path, folder):
    """Checks where an export goes, before anything is written: `path` (a
    folder if `folder`, else a file) is no existing entry of the other kind,
    not under a file, and its nearest existing folder is writable."""
    path = os.path.abspath(path)
    if os.path.exists(path) and os.path.isdir(path) != folder:
        kind = "folder" if folder else "file"
        other = "file" if folder else "folder"
        raise _invalid(name, f"a {kind} path (an existing {other} is in the "
                       "way: choose another path, or remove it)", path)
    existing = nearest_existing(path if folder else os.path.dirname(path))
    if not os.path.isdir(existing):
        raise _invalid(name, f"a path in a folder ({existing} is a file)", path)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _invalid(name, f"a path this process can write to ({existing} "
                       "is read-only for it)", path)


def default_litert_output(source, solution, quantize, qat_epochs):
    """Where `export --format litert` writes without `--output`: beside the
    .keras SOURCE, or in the search folder."""
    suffix = "_litert" + ("_qat" if qat_epochs else "_int8" if quantize else "")
    if os.path.isdir(source):
        return os.path.join(source, f"solution_{solution}{suffix}")
    return os.path.splitext(source)[0] + suffix


def export_options(args):
    """`keras-nachos export`: `("export" or "export_litert", options)`."""
    source = args.dir
    is_search = os.path.isdir(source)
    if is_search:
        if not os.path.exists(os.path.join(source, "search_config.json")):
            raise _invalid(
                "SOURCE",
                "a search folder (with its search_config.json; run "
                "`keras-nachos search --out DIR ...` first) or a .keras file",
                source,
            )
        if args.solution is None:
            raise _invalid("--solution", "an index of the admissible front "
                           "(SOURCE is a search folder)", None)
    elif not (source.endswith(".keras") and os.path.isfile(source)):
        raise _invalid("SOURCE", "a search folder or an existing .keras file",
                       source)
    if args.solution is not None and args.solution < 0:
        raise _invalid("--solution", "a non-negative index", args.solution)
    if args.format != "litert":
        for name, given, value in (("--int8", args.int8, True),
                                   ("--micro", args.micro, True),
                                   ("--qat", args.qat is not None, args.qat)):
            if given:
                raise _invalid(name, "only with --format litert", value)
    if args.qat is not None and args.qat < 1:
        raise _invalid("--qat", "a positive number of epochs", args.qat)
    if args.micro and not (args.int8 or args.qat is not None):
        raise _invalid("--micro", "with --int8 or --qat (microcontrollers "
                       "run the int8 stages)", True)
    needs_data = args.int8 or args.qat is not None
    if needs_data and not is_search and args.dataset is None:
        raise _invalid("--dataset", "the data set to calibrate int8 on (a "
                       ".keras SOURCE with --int8 or --qat)", None)
    if args.thresholds is not None and (
        not isinstance(args.thresholds, list)
        or not all(isinstance(t, (int, float)) for t in args.thresholds)
    ):
        raise _invalid("--thresholds", "a JSON list of numbers", args.thresholds)
    _check_data_arguments(args)
    if args.micro:
        check_installed("--micro", MICRO_PACKAGES, "micro")
    if args.qat is not None:
        check_installed("--qat", QAT_PACKAGES, "tfmot")
    if args.format == "keras":
        if not is_search:
            raise _invalid("--format", "litert for a .keras SOURCE (it is "
                           "already a .keras file)", args.format)
        check_output_path("--output", args.output or os.path.join(
            source, f"solution_{args.solution}.keras"), folder=False)
        return "export", {"out": source, "solution": args.solution,
                          "output": args.output}
    check_output_path("--output", args.output or default_litert_output(
        source, args.solution, needs_data, args.qat), folder=True)
    return "export_litert", {
        "source": source, "solution": args.solution, "output": args.output,
        "quantize": "int8" if needs_data else None, "qat_epochs": args.qat,
        "micro": args.micro, "thresholds": args.thresholds, "rule": args.rule,
        "data": _data_options(args) if args.dataset is not None else None,
    }


def run_options(args):
    """`keras-nachos run`."""
    if not os.path.exists(os.path.join(args.dir, "manifest.json")):
        raise _invalid(
            "EXPORT_DIR",
            "a folder written by `keras-nachos export ... --format litert` "
            "(with its manifest.json)",
            args.dir,
        )
    if args.batch_size < 1:
        raise _invalid("--batch-size", "a positive integer", args.batch_size)
    if args.limit is not None and args.limit < 1:
        raise _invalid("--limit", "a positive integer", args.limit)
    _check_data_arguments(args)
    if args.interpreter == "micro":
        check_installed("--interpreter micro", MICRO_PACKAGES, "micro")
    return {"directory": args.dir, "data": _data_options(args),
            "interpreter": args.interpreter, "batch_size": args.batch_size,
            "limit": args.limit}


# ----------------------------------------------------------------------
# A distributed search (Keras Tuner's chief and workers).
TUNER_VARIABLES = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP",
                   "KERASTUNER_ORACLE_PORT")


def _tuner_environment():
    return {k: os.environ[k] for k in TUNER_VARIABLES if k in os.environ}


def cluster_options(args):
    """The checked distributed options of `search` (a dict).

    `--role`/`--oracle`/`--tuner-id` become Keras Tuner's environment
    variables; variables already set (as Keras Tuner documents them) decide
    when no flag is given.
    """
    env = _tuner_environment()
    role = args.role
    if role is None and "KERASTUNER_ORACLE_IP" in env:
        role = "chief" if "chief" in env.get("KERASTUNER_TUNER_ID", "") else "worker"
    if args.workers is not None:
        if args.workers < 1:
            raise _invalid("--workers", "a positive number of worker processes",
                           args.workers)
        if role is not None or args.oracle or args.tuner_id:
            raise _invalid(
                "--workers",
                "no --role, --oracle or --tuner-id (nor KERASTUNER_* "
                "variables): --workers runs the chief and its workers here",
                args.workers,
            )
    if args.trial_timeout is not None and not (
        math.isfinite(args.trial_timeout) and args.trial_timeout > 0
    ):
        raise _invalid("--trial-timeout", "a positive number of seconds",
                       args.trial_timeout)
    if args.threads is not None and args.threads < 1:
        raise _invalid("--threads", "a positive integer", args.threads)
    if args.cores is not None:
        available = sorted(os.sched_getaffinity(0)) if hasattr(
            os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
        bad = [c for c in args.cores if c not in available]
        if bad:
            raise _invalid("--cores", f"cores among {available}",
                           ",".join(str(c) for c in args.cores))
    oracle = args.oracle
    if oracle is None and "KERASTUNER_ORACLE_IP" in env:
        oracle = f"{env['KERASTUNER_ORACLE_IP']}:{env.get('KERASTUNER_ORACLE_PORT', '')}"
    host = port = None
    if role is not None:
        if oracle is None:
            raise _invalid("--oracle", f"HOST:PORT of the chief (--role {role})",
                           oracle)
        host, _, port = oracle.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise _invalid("--oracle", "HOST:PORT, e.g. 10.0.0.1:8000", oracle)
    elif args.oracle is not None or args.tuner_id is not None:
        raise _invalid("--role", "chief or worker with --oracle / --tuner-id",
                       args.role)
    tuner_id = args.tuner_id
    if role == "chief":
        tuner_id = "chief" if tuner_id is None else tuner_id
        if "chief" not in tuner_id:
            raise _invalid("--tuner-id", 'an id holding "chief" (--role chief)',
                           tuner_id)
    elif role == "worker":
        tuner_id = tuner_id or env.get("KERASTUNER_TUNER_ID")
        if not tuner_id or "chief" in tuner_id:
            raise _invalid(
                "--tuner-id",
                "a worker id without \"chief\" in it, e.g. tuner0 (--role worker)",
                tuner_id,
            )
        if args.overwrite:
            raise _invalid(
                "--overwrite",
                "no --overwrite on a worker (only the chief may start the "
                "search over)",
                True,
            )
    return {
        "workers": args.workers, "role": role, "tuner_id": tuner_id,
        "host": host, "port": None if port is None else int(port),
        "trial_timeout": args.trial_timeout, "threads": args.threads,
        "cores": args.cores,
    }
