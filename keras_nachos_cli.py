"""The `keras-nachos` command: argument parsing and checking only.

This module lives beside the `keras_nachos` package, not inside it, so that
`keras-nachos --help` and every mistake in the arguments are answered at once:
importing `keras_nachos` starts TensorFlow (its Keras classes must be
registered for `keras.models.load_model`), which takes seconds. Arguments are
checked here first; only then does the command import `keras_nachos.commands`
and do the work. A user mistake ends in one line on stderr (argparse style,
exit code 2), never in a traceback; `--traceback` shows one anyway.
"""

import argparse
import json
import logging
import math
import os
import sys

PROG = "keras-nachos"
HEAD_TYPES = ("global_pool", "sdn", "conv")
THRESHOLD_MODES = ("calibrated", "genes")

# Defaults of a new search (`search`, `demo`). A resumed search takes its
# stored values; arguments given again must match them.
SEARCH_DEFAULTS = {
    "dataset": "fashion_mnist",
    "data_dir": None,
    "validation_split": 0.1,
    "max_samples": None,
    "image_size": None,
    "seed": 0,
    "population": 8,
    "generations": 3,
    "preselect": 4,
    "epochs": 1,
    "batch_size": 128,
    "stage_widths": [[16, 24], [24, 32, 40], [40, 48, 64]],
    "depths": [1, 2, 3],
    "kernel_sizes": [3, 5, 7],
    "expansion_ratios": [3, 4, 6],
    "head_types": list(HEAD_TYPES),
    "confidence": False,
    "threshold_mode": "calibrated",
    "max_flash_bytes": None,
    "max_ram_bytes": None,
    "supernet": None,
    "finetune_epochs": None,
    "floor_confidence": None,
}
# `keras-nachos supernet train`: the data and the space as for a search, and
# its own training settings.
DATA_KEYS = ("dataset", "data_dir", "validation_split", "max_samples",
             "image_size", "seed")
SPACE_KEYS = ("stage_widths", "depths", "kernel_sizes", "expansion_ratios",
              "head_types", "confidence")
SUPERNET_DEFAULTS = dict(
    {k: SEARCH_DEFAULTS[k] for k in DATA_KEYS + SPACE_KEYS},
    threshold_mode="calibrated", epochs=20, batch_size=64,
    learning_rate=3e-3, num_random=2,
)
REQUIRED_FOR_NEW = ("min_accuracy", "max_macs")
# Values of configs written before the key was stored.
LEGACY_DEFAULTS = {"preselect": 1}

# The main job's presets (`keras-nachos demo --dataset ...`, and the search
# examples): a few minutes on digits, about 15 on Fashion-MNIST (2 cores).
PRESETS = {
    "digits": {
        "dataset": "digits",
        "image_size": [16, 16],
        "min_accuracy": 0.90,
        "max_macs": 250000.0,
        "population": 8,
        "generations": 2,
        "epochs": 8,
        "batch_size": 64,
        "stage_widths": [[8, 12], [12, 16], [16, 24]],
        "depths": [1, 2],
        "expansion_ratios": [2, 3, 4],
    },
    "fashion_mnist": {
        "dataset": "fashion_mnist",
        "max_samples": 20000,
        "min_accuracy": 0.82,
        "max_macs": 800000.0,
        "population": 8,
        "generations": 3,
        "epochs": 3,
        "batch_size": 128,
        "stage_widths": [[8, 16], [16, 24], [24, 32]],
        "depths": [1, 2],
        "expansion_ratios": [2, 3, 4],
    },
}


class UsageError(Exception):
    """A mistake in the command line: printed as one line, exit code 2."""


def _invalid(flag, expected, received):
    return UsageError(
        f"Invalid value received for argument `{flag}`. Expected {expected}. "
        f"Received: {flag}={received}"
    )


# ----------------------------------------------------------------------
# Value parsers (argparse `type=`): a ValueError becomes argparse's one-line
# "invalid ... value" error.
def _int_list(text):
    values = [int(v) for v in str(text).split(",") if v.strip()]
    if not values:
        raise ValueError(text)
    return values


def _name_list(text):
    values = [v.strip() for v in str(text).split(",") if v.strip()]
    if not values:
        raise ValueError(text)
    return values


def _json_value(text):
    return json.loads(text)


_int_list.__name__ = "comma-separated integers"
_name_list.__name__ = "comma-separated names"
_json_value.__name__ = "JSON"


# ----------------------------------------------------------------------
# Checks of the search arguments (no TensorFlow, no file written).
def _positive_ints(flag, values, odd=False):
    if not isinstance(values, list) or not values or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0
        and (v % 2 == 1 or not odd)
        for v in values
    ):
        kind = "odd positive integers" if odd else "positive integers"
        raise _invalid(flag, f"a non-empty list of {kind}", values)


def check_search_arguments(given):
    """Raises `UsageError` for the first bad value among `given` (a dict)."""
    for key, value in given.items():
        flag = "--" + key.replace("_", "-")
        if key == "min_accuracy":
            if not (isinstance(value, float) and 0.0 <= value < 1.0):
                raise _invalid(flag, "a float in [0, 1)", value)
        elif key == "max_macs":
            if not (isinstance(value, float) and value > 0 and math.isfinite(value)):
                raise _invalid(flag, "a positive number of MACs", value)
        elif key in ("max_flash_bytes", "max_ram_bytes"):
            if value is not None and not (
                isinstance(value, float) and value > 0 and math.isfinite(value)
            ):
                raise _invalid(flag, "a positive number of bytes", value)
        elif key == "floor_confidence":
            if value is not None and not (
                isinstance(value, float) and 0.0 < value < 1.0
            ):
                raise _invalid(flag, "a float in (0, 1), e.g. 0.9", value)
        elif key == "validation_split":
            if not (isinstance(value, float) and 0.0 < value < 1.0):
                raise _invalid(flag, "a float in (0, 1)", value)
        elif key == "population":
            if value < 4 or value % 4:
                raise _invalid(
                    flag,
                    "a positive multiple of 4 (NSGA-II's tournaments draw in "
                    "fours)",
                    value,
                )
        elif key in ("generations", "preselect", "epochs", "batch_size"):
            if value < 1:
                raise _invalid(flag, "a positive integer", value)
        elif key in ("finetune_epochs", "num_random"):
            if value is not None and value < 0:
                raise _invalid(flag, "a non-negative integer", value)
        elif key == "learning_rate":
            if not (value > 0 and math.isfinite(value)):
                raise _invalid(flag, "a positive float", value)
        elif key == "supernet":
            if value is not None and not (
                os.path.isfile(value) and value.endswith(".keras")
            ):
                raise _invalid(
                    flag, "a .keras file written by `keras-nachos supernet "
                    "train`", value,
                )
        elif key == "max_samples":
            if value is not None and value < 2:
                raise _invalid(flag, "an integer >= 2", value)
        elif key == "seed":
            if value < 0:
                raise _invalid(flag, "a non-negative integer", value)
        elif key == "image_size":
            if value is not None:
                _positive_ints(flag, value)
                if len(value) != 2:
                    raise _invalid(flag, "two positive integers HEIGHT,WIDTH", value)
        elif key == "stage_widths":
            if not (
                isinstance(value, list) and len(value) >= 2
                and all(isinstance(ws, list) for ws in value)
            ):
                raise _invalid(
                    flag,
                    "a JSON list of at least 2 lists of widths, one per stage "
                    "(e.g. [[8, 12], [12, 16], [16, 24]])",
                    json.dumps(value),
                )
            for widths in value:
                _positive_ints(flag, widths)
        elif key in ("depths", "expansion_ratios"):
            _positive_ints(flag, value)
        elif key == "kernel_sizes":
            _positive_ints(flag, value, odd=True)
        elif key == "head_types":
            unknown = [h for h in value if h not in HEAD_TYPES]
            if unknown:
                raise _invalid(
                    flag, f"names among {', '.join(HEAD_TYPES)}", ",".join(value)
                )
        elif key == "dataset":
            if not value:
                raise _invalid(flag, "a dataset name", value)
        elif key == "data_dir":
            if value is not None and not os.path.isdir(value):
                raise _invalid(flag, "an existing folder", value)


def _given(args, keys):
    """The arguments actually typed (argparse leaves out the others)."""
    return {k: getattr(args, k) for k in keys if hasattr(args, k)}


def resolve_search_config(out, given, overwrite):
    """The configuration to run: a new one, or the stored one to resume.

    Returns `(config, resumed)`. Raises `UsageError` when a resume is asked
    with arguments that differ from the stored ones (each difference is
    listed), or when a new search lacks a required argument.
    """
    check_search_arguments(given)
    config_path = os.path.join(out, "search_config.json")
    if os.path.exists(config_path) and not overwrite:
        try:
            with open(config_path) as f:
                stored = json.load(f)
        except (OSError, json.JSONDecodeError) as error:
            raise UsageError(
                f"{config_path} is damaged ({error}): restore it, or start over "
                "with --overwrite."
            ) from None
        mismatches = _differences(stored, given)
        if mismatches:
            listed = "; ".join(
                f"--{k.replace('_', '-')} {json.dumps(new)} (stored: "
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
    missing = ["--" + k.replace("_", "-") for k in REQUIRED_FOR_NEW
               if k not in given]
    if missing:
        raise UsageError(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
            f"required for a new search (there is no search_config.json in "
            f"{out} to resume)"
        )
    config = dict(SEARCH_DEFAULTS)
    config.update(given)
    return config, False


def _stored_config(out):
    path = os.path.join(out, "search_config.json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


def supernet_sidecar(path):
    """The arguments a supernet was trained with (`PATH.json` beside
    `PATH.keras`), or None when there is none."""
    sidecar = path[: -len(".keras")] + ".json"
    if not os.path.exists(sidecar):
        return None
    try:
        with open(sidecar) as f:
            return json.load(f)["config"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise UsageError(
            f"{sidecar} is damaged ({error}): restore it, or give the data "
            "and space arguments the supernet was trained with (and delete "
            "the file)."
        ) from None


def supernet_arguments(given):
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
    differ = [
        f"--{k.replace('_', '-')} {json.dumps(given[k])} (supernet: "
        f"{json.dumps(trained.get(k))})"
        for k in DATA_KEYS + SPACE_KEYS
        if k != "seed" and k in given and json.dumps(given[k]) != json.dumps(
            trained.get(k))
    ]
    if differ:
        raise UsageError(
            f"--supernet {given['supernet']} was trained with other "
            f"arguments: {'; '.join(differ)}. Leave them out (they default "
            "to the supernet's), or train a supernet for these."
        )
    for key in DATA_KEYS + SPACE_KEYS:
        if key != "seed" and key not in given and key in trained:
            given[key] = trained[key]
    given["data_seed"] = trained.get("seed", 0)
    return given


def check_supernet_arguments(args):
    """`keras-nachos supernet train`: its checked options."""
    given = _given(args, tuple(SUPERNET_DEFAULTS))
    check_search_arguments(given)
    out = args.out
    if not out.endswith(".keras"):
        raise _invalid("--out", "a file name ending in .keras", out)
    if os.path.exists(out) and not args.overwrite:
        raise UsageError(
            f"{out} exists: choose another --out, or pass --overwrite to "
            "replace it."
        )
    config = dict(SUPERNET_DEFAULTS)
    config.update(given)
    return {"out": out, "config": config, "verbose": args.verbose}


def _differences(stored, given):
    def normal(value):
        if isinstance(value, (list, tuple)):
            return [normal(v) for v in value]
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return value
        return float(value)

    def stored_value(key):
        if key in stored:
            return stored[key]
        space = stored.get("space", {})
        if key in space:
            return space[key]
        return LEGACY_DEFAULTS.get(key, SEARCH_DEFAULTS.get(key))

    return [
        (key, stored_value(key), value)
        for key, value in given.items()
        if normal(stored_value(key)) != normal(value)
    ]


# ----------------------------------------------------------------------
# The parser.
class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (no usage block)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


SEARCH_KEYS = tuple(SEARCH_DEFAULTS) + REQUIRED_FOR_NEW


def _add_search_arguments(parser):
    s = argparse.SUPPRESS
    _add_data_and_space_arguments(parser)
    parser.add_argument("--min-accuracy", type=float, default=s,
                        help="the accuracy floor A_min (required for a new search)")
    parser.add_argument("--max-macs", type=float, default=s,
                        help="the expected-MACs budget M_max (required for a new "
                             "search)")
    parser.add_argument("--max-flash-bytes", type=float, default=s,
                        help="a budget on the int8 stage files together "
                             "(estimated; candidates over it are dropped "
                             "before training)")
    parser.add_argument("--max-ram-bytes", type=float, default=s,
                        help="a budget on the largest stage's TFLite Micro "
                             "arena (estimated, likewise)")
    parser.add_argument("--floor-confidence", type=float, default=s,
                        help="guarantee --min-accuracy on new data with this "
                             "confidence: the accuracy objective becomes the "
                             "lower confidence bound (default: none)")
    parser.add_argument("--population", type=int, default=s, help="default 8")
    parser.add_argument("--generations", type=int, default=s, help="default 3")
    parser.add_argument("--preselect", type=int, default=s,
                        help="candidates bred per slot of a generation: the "
                             "surplus is screened (first exit over --max-macs) "
                             "and ranked by a surrogate before training "
                             "(default 4)")
    parser.add_argument("--epochs", type=int, default=s,
                        help="training epochs per candidate (default 1; with "
                             "--supernet: of the front's fine-tuning)")
    parser.add_argument("--batch-size", type=int, default=s, help="default 128")
    parser.add_argument("--threshold-mode", choices=THRESHOLD_MODES, default=s)
    parser.add_argument("--supernet", default=s, metavar="PATH",
                        help="score candidates on the weights of this "
                             "supernet (`keras-nachos supernet train`), then "
                             "fine-tune the admissible front; the data and "
                             "space arguments default to the supernet's")
    parser.add_argument("--finetune-epochs", type=int, default=s,
                        help="with --supernet: epochs of fine-tuning per front "
                             "candidate (0: none; default --epochs)")


def _add_data_and_space_arguments(parser):
    s = argparse.SUPPRESS
    parser.add_argument("--dataset", default=s,
                        help="fashion_mnist (Debian's dataset-fashion-mnist), "
                             "digits (scikit-learn) or a tensorflow-datasets "
                             "name prepared in --data-dir "
                             "(default fashion_mnist)")
    parser.add_argument("--data-dir", default=s)
    parser.add_argument("--seed", type=int, default=s, help="default 0")
    parser.add_argument("--validation-split", type=float, default=s,
                        help="default 0.1")
    parser.add_argument("--max-samples", type=int, default=s)
    parser.add_argument("--image-size", type=_int_list, default=s,
                        help="HEIGHT,WIDTH")
    parser.add_argument("--stage-widths", type=_json_value, default=s,
                        help="JSON list of width choices per stage")
    parser.add_argument("--depths", type=_int_list, default=s)
    parser.add_argument("--kernel-sizes", type=_int_list, default=s)
    parser.add_argument("--expansion-ratios", type=_int_list, default=s)
    parser.add_argument("--head-types", type=_name_list, default=s,
                        help=f"among {','.join(HEAD_TYPES)}")
    parser.add_argument("--confidence", action="store_const", const=True,
                        default=s)


FORMATS = ("keras", "litert")


def _add_data_arguments(parser, required):
    parser.add_argument(
        "--dataset", required=required, default=None,
        help="fashion_mnist, digits or a prepared tensorflow-datasets name"
             + ("" if required else " (the int8 calibration images of a "
                ".keras SOURCE; a search folder uses its own)"),
    )
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--max-samples", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0,
                        help="the data set's split seed (a search's --seed)")


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


def check_export_arguments(args):
    """Checks `keras-nachos export`; returns its options."""
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
        for flag, given, value in (("--int8", args.int8, True),
                                   ("--micro", args.micro, True),
                                   ("--qat", args.qat is not None, args.qat)):
            if given:
                raise _invalid(flag, "only with --format litert", value)
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
    if args.format == "keras":
        if not is_search:
            raise _invalid("--format", "litert for a .keras SOURCE (it is "
                           "already a .keras file)", args.format)
        return {"out": source, "solution": args.solution,
                "output": args.output}
    return {
        "source": source, "solution": args.solution, "output": args.output,
        "quantize": "int8" if needs_data else None, "qat_epochs": args.qat,
        "micro": args.micro, "thresholds": args.thresholds, "rule": args.rule,
        "data": _data_options(args) if args.dataset is not None else None,
    }


def check_run_arguments(args):
    """Checks `keras-nachos run`; returns its options."""
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
    return {"directory": args.dir, "data": _data_options(args),
            "interpreter": args.interpreter, "batch_size": args.batch_size,
            "limit": args.limit}


def _tuner_environment():
    return {k: os.environ[k] for k in (
        "KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
        if k in os.environ}


def check_cluster_arguments(args):
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


def build_parser():
    parser = _Parser(
        prog=PROG,
        description="NACHOS search of early-exit networks under hardware budgets.",
    )
    parser.add_argument("--traceback", action="store_true",
                        help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True,
                                parser_class=_Parser)

    search = sub.add_parser("search", help="run or resume a search")
    _add_search_arguments(search)
    search.add_argument("--out", required=True, help="the search folder")
    search.add_argument("--overwrite", action="store_true",
                        help="start over in --out (its search is deleted)")
    search.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    distributed = search.add_argument_group(
        "distributed search (Keras Tuner's chief and workers)")
    distributed.add_argument(
        "--workers", type=int, default=None, metavar="N",
        help="run a chief and N local worker processes (tuner0, tuner1, ...), "
             "each on its share of the cores (or on its own GPU)")
    distributed.add_argument(
        "--role", choices=("chief", "worker"), default=None,
        help="this process's part in a cluster (with --oracle; a worker also "
             "with --tuner-id); Keras Tuner's KERASTUNER_* variables are "
             "honoured as well")
    distributed.add_argument("--oracle", default=None, metavar="HOST:PORT",
                             help="where the chief serves the search")
    distributed.add_argument("--tuner-id", default=None, metavar="ID",
                             help="a worker's id (tuner0, tuner1, ...)")
    distributed.add_argument(
        "--trial-timeout", type=float, default=None, metavar="SECONDS",
        help="give a trial to another worker when its worker is silent that "
             "long (default: wait for ever)")
    distributed.add_argument(
        "--threads", type=int, default=None,
        help="TensorFlow threads of this process (intra- and inter-op)")
    distributed.add_argument("--cores", type=_int_list, default=None,
                             metavar="LIST",
                             help="pin this process to these CPU cores")

    supernet = sub.add_parser(
        "supernet", help="train a weight-sharing supernet of a search space")
    supernet_sub = supernet.add_subparsers(dest="action", required=True,
                                           parser_class=_Parser)
    train = supernet_sub.add_parser(
        "train", help="train the supernet once (then `search --supernet`)")
    _add_data_and_space_arguments(train)
    train.add_argument("--out", required=True, metavar="PATH.keras",
                       help="the supernet file (its arguments go to PATH.json)")
    train.add_argument("--epochs", type=int, default=argparse.SUPPRESS,
                       help="default 20")
    train.add_argument("--batch-size", type=int, default=argparse.SUPPRESS,
                       help="default 64")
    train.add_argument("--learning-rate", type=float,
                       default=argparse.SUPPRESS, help="Adam's, default 3e-3")
    train.add_argument("--num-random", type=int, default=argparse.SUPPRESS,
                       help="random subnets per step besides the largest and "
                            "the smallest (default 2)")
    train.add_argument("--overwrite", action="store_true",
                       help="replace an existing supernet file")
    train.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))

    report = sub.add_parser("report", help="print the admissible front, plot it")
    report.add_argument("dir")
    report.add_argument("--no-test", dest="test", action="store_false",
                        help="skip evaluating the front on the test split")

    export = sub.add_parser(
        "export",
        help="write a solution (of a search folder, or a saved .keras EENN) "
             "as a .keras file or as LiteRT stages for the device",
    )
    export.add_argument("dir", metavar="SOURCE",
                        help="a search folder, or a .keras EENN file")
    export.add_argument("--solution", type=int, default=None,
                        help="the admissible solution (a search folder)")
    export.add_argument("--output", default=None)
    export.add_argument("--format", choices=FORMATS, default="keras",
                        help="keras (default): one .keras file; litert: one "
                             ".tflite per stage and a manifest.json")
    export.add_argument("--int8", action="store_true",
                        help="litert: full-integer int8 stages (post-training "
                             "quantisation on training images)")
    export.add_argument("--qat", type=int, default=None, metavar="EPOCHS",
                        help="litert: int8 after EPOCHS of quantisation-aware "
                             "fine-tuning (needs keras-nachos[tfmot])")
    export.add_argument("--micro", action="store_true",
                        help="litert int8: also measure each stage's TFLite "
                             "Micro arena and write C array headers (needs "
                             "keras-nachos[micro])")
    _add_data_arguments(export, required=False)
    export.add_argument("--thresholds", type=_json_value, default=None,
                        help="a .keras SOURCE without its .json: the "
                             "thresholds, as a JSON list")
    export.add_argument("--rule", default=None,
                        help="a .keras SOURCE without its .json: the rule")

    run = sub.add_parser(
        "run", help="evaluate an exported EENN (LiteRT stages) on a data set"
    )
    run.add_argument("dir", metavar="EXPORT_DIR")
    _add_data_arguments(run, required=True)
    run.add_argument("--interpreter", choices=("litert", "micro"),
                     default="litert")
    run.add_argument("--batch-size", type=int, default=1,
                     help="1 (default): sample by sample, as on a device")
    run.add_argument("--limit", type=int, default=None,
                     help="evaluate the first LIMIT test images only")

    demo = sub.add_parser(
        "demo",
        help="the NACHOS pipeline end to end: search, front, plot, export, "
             "real early exit",
    )
    demo.add_argument("--dataset", choices=sorted(PRESETS), default="digits")
    demo.add_argument("--out", default=None,
                      help="default artifacts/demo_<dataset>")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--solution", type=int, default=0,
                      help="the admissible solution to export (0: the most "
                           "accurate)")
    demo.add_argument("--overwrite", action="store_true")
    return parser


def parse(argv=None):
    """Parses and checks a command line; returns the plan to run.

    Returns:
        `(command, options)`: the command name and a dict of checked
        options. Raises `UsageError` (or exits, for argparse's own errors).
    """
    args = build_parser().parse_args(argv)
    if args.command == "search":
        cluster = check_cluster_arguments(args)
        given = _given(args, SEARCH_KEYS)
        if given.get("finetune_epochs") is not None and "supernet" not in given:
            stored = _stored_config(args.out)
            if not (stored or {}).get("supernet"):
                raise _invalid(
                    "--finetune-epochs", "to be given with --supernet (a "
                    "from-scratch search has nothing to fine-tune)",
                    given["finetune_epochs"],
                )
        if given.get("supernet") is not None:
            check_search_arguments({"supernet": given["supernet"]})
            given = supernet_arguments(given)
        config, resumed = resolve_search_config(
            args.out, given, args.overwrite
        )
        return "search", {"out": args.out, "config": config, "resumed": resumed,
                          "overwrite": args.overwrite, "verbose": args.verbose,
                          "cluster": cluster}
    if args.command == "supernet":
        return "supernet_train", check_supernet_arguments(args)
    if args.command == "report":
        if not os.path.exists(os.path.join(args.dir, "search_config.json")):
            raise _invalid(
                "dir",
                "a search folder (with its search_config.json; run "
                "`keras-nachos search --out DIR ...` first)",
                args.dir,
            )
        return "report", {"out": args.dir, "test": args.test}
    if args.command == "export":
        options = check_export_arguments(args)
        return ("export" if args.format == "keras" else "export_litert"), options
    if args.command == "run":
        return "run", check_run_arguments(args)
    if args.seed < 0:
        raise _invalid("--seed", "a non-negative integer", args.seed)
    if args.solution < 0:
        raise _invalid("--solution", "a non-negative index", args.solution)
    out = args.out or os.path.join("artifacts", f"demo_{args.dataset}")
    preset = dict(PRESETS[args.dataset], seed=args.seed)
    config, resumed = resolve_search_config(out, preset, args.overwrite)
    return "demo", {"out": out, "config": config, "resumed": resumed,
                    "overwrite": args.overwrite, "solution": args.solution}


def main(argv=None):
    """Runs `keras-nachos`; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    show_traceback = "--traceback" in argv
    try:
        command, options = parse(argv)
    except UsageError as error:
        return _fail(error)
    # This program's own output: TensorFlow's retracing notes and start-up
    # chatter say nothing to a user of the command.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    from keras_nachos import commands  # Starts TensorFlow.

    try:
        getattr(commands, command)(**options)
    except commands.USER_ERRORS as error:
        if show_traceback:
            raise
        return _fail(error)
    return 0


def _fail(error):
    print(f"{PROG}: error: {str(error).splitlines()[0]}", file=sys.stderr)
    return 2


def run_preset(name, description, default_out, argv=None):
    """Runs `keras-nachos search` with a preset (the examples' entry point).

    `--out`, `--seed` and `--overwrite` can be given on the command line.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", default=default_out)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    command = ["search", "--out", args.out]
    for key, value in dict(PRESETS[name], seed=args.seed).items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, list):
            text = json.dumps(value) if key == "stage_widths" else ",".join(
                str(v) for v in value
            )
        else:
            text = str(value)
        command += [flag, text]
    if args.overwrite:
        command.append("--overwrite")
    return main(command)


if __name__ == "__main__":
    sys.exit(main())
