"""The `keras-nachos` command line: its flags, and `parse`.

A search's flags are the settings of `keras_nachos_cli.config.SEARCH`
(`--batch-size` for `batch_size`); they default to `argparse.SUPPRESS`, so
that what was typed can be told from the defaults (a resumed search compares
only what was typed with what it stored).
"""

import argparse
import json

from keras_nachos_cli import config as config_module
from keras_nachos_cli.checks import THRESHOLD_MODES
from keras_nachos_cli.checks import flag_text
from keras_nachos_cli import options
from keras_nachos_cli.presets import PRESETS

PROG = "keras-nachos"
FORMATS = ("keras", "litert")


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


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (no usage block)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _default(key, schema=config_module.SEARCH):
    return flag_text(schema[key].default)


def _add_data_and_space_arguments(parser):
    s = argparse.SUPPRESS
    parser.add_argument("--dataset", default=s,
                        help="fashion_mnist (Debian's dataset-fashion-mnist), "
                             "digits (scikit-learn) or a tensorflow-datasets "
                             "name prepared in --data-dir "
                             f"(default {_default('dataset')})")
    parser.add_argument("--data-dir", default=s)
    parser.add_argument("--seed", type=int, default=s,
                        help=f"default {_default('seed')}")
    parser.add_argument("--validation-split", type=float, default=s,
                        help=f"default {_default('validation_split')}")
    parser.add_argument("--max-samples", type=int, default=s)
    parser.add_argument("--image-size", type=_int_list, default=s,
                        help="HEIGHT,WIDTH")
    parser.add_argument("--stage-widths", type=_json_value, default=s,
                        help="JSON list of width choices per stage")
    parser.add_argument("--depths", type=_int_list, default=s)
    parser.add_argument("--kernel-sizes", type=_int_list, default=s)
    parser.add_argument("--expansion-ratios", type=_int_list, default=s)
    parser.add_argument("--head-types", type=_name_list, default=s,
                        help="registered head designs (default "
                             f"{_default('head_types')})")
    parser.add_argument("--confidence", action="store_const", const=True,
                        default=s)


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
    parser.add_argument("--population", type=int, default=s,
                        help=f"default {_default('population')}")
    parser.add_argument("--generations", type=int, default=s,
                        help=f"default {_default('generations')}")
    parser.add_argument("--preselect", type=int, default=s,
                        help="candidates bred per slot of a generation: the "
                             "surplus is screened (first exit over --max-macs) "
                             "and ranked by a surrogate before training "
                             f"(default {_default('preselect')})")
    parser.add_argument("--epochs", type=int, default=s,
                        help="training epochs per candidate (default "
                             f"{_default('epochs')}; with --supernet: of the "
                             "front's fine-tuning)")
    parser.add_argument("--batch-size", type=int, default=s,
                        help=f"default {_default('batch_size')}")
    parser.add_argument("--threshold-mode", choices=THRESHOLD_MODES,
                        default=s)
    parser.add_argument("--supernet", default=s, metavar="PATH",
                        help="score candidates on the weights of this "
                             "supernet (`keras-nachos supernet train`), then "
                             "fine-tune the admissible front; the data and "
                             "space arguments default to the supernet's")
    parser.add_argument("--finetune-epochs", type=int, default=s,
                        help="with --supernet: epochs of fine-tuning per front "
                             "candidate (0: none; default --epochs)")


def _add_distributed_arguments(search):
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


def _add_supernet_train_arguments(train):
    s = argparse.SUPPRESS
    schema = config_module.SUPERNET
    _add_data_and_space_arguments(train)
    train.add_argument("--out", required=True, metavar="PATH.keras",
                       help="the supernet file (its arguments go to PATH.json)")
    train.add_argument("--epochs", type=int, default=s,
                       help=f"default {_default('epochs', schema)}")
    train.add_argument("--batch-size", type=int, default=s,
                       help=f"default {_default('batch_size', schema)}")
    train.add_argument("--learning-rate", type=float, default=s,
                       help=f"Adam's, default {_default('learning_rate', schema)}")
    train.add_argument("--num-random", type=int, default=s,
                       help="random subnets per step besides the largest and "
                            "the smallest (default "
                            f"{_default('num_random', schema)})")
    train.add_argument("--overwrite", action="store_true",
                       help="replace an existing supernet file")
    train.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))


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


def _add_export_arguments(export):
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


def build_parser():
    """The `argparse` parser of `keras-nachos` and its commands."""
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
    _add_distributed_arguments(search)

    supernet = sub.add_parser(
        "supernet", help="train a weight-sharing supernet of a search space")
    supernet_sub = supernet.add_subparsers(dest="action", required=True,
                                           parser_class=_Parser)
    _add_supernet_train_arguments(supernet_sub.add_parser(
        "train", help="train the supernet once (then `search --supernet`)"))

    report = sub.add_parser("report", help="print the admissible front, plot it")
    report.add_argument("dir")
    report.add_argument("--no-test", dest="test", action="store_false",
                        help="skip evaluating the front on the test split")

    _add_export_arguments(sub.add_parser(
        "export",
        help="write a solution (of a search folder, or a saved .keras EENN) "
             "as a .keras file or as LiteRT stages for the device",
    ))

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
        `(command, options)`: the command's name (a key of
        `keras_nachos_cli.commands.COMMANDS`) and a dict of its checked
        options. Raises `UsageError` (or exits, for argparse's own errors).
    """
    args = build_parser().parse_args(argv)
    if args.command == "search":
        return "search", options.search_options(args)
    if args.command == "supernet":
        return "supernet_train", options.supernet_options(args)
    if args.command == "report":
        return "report", options.report_options(args)
    if args.command == "export":
        return options.export_options(args)
    if args.command == "run":
        return "run", options.run_options(args)
    return "demo", options.demo_options(args)
