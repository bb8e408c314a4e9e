"""The `keras-nachos` command.

This package lives beside the `keras_nachos` package, not inside it, so that
`keras-nachos --help` and every mistake in the arguments are answered at once:
importing `keras_nachos` starts TensorFlow (its Keras classes must be
registered for `keras.models.load_model`), which takes seconds. Arguments are
checked first (`parser`, `options`, with the settings' schema of `config`);
only then does `main` import `keras_nachos_cli.commands` (the TensorFlow
side) and do the work. A user mistake or a problem of the environment (a
missing optional package, a read-only or existing path, a folder another
search is using, a damaged state file) ends in one line on stderr (argparse
style, exit code 2), never in a traceback; `--traceback` shows one anyway.
"""

import argparse
import logging
import os
import sys

from keras_nachos_cli.options import UsageError
from keras_nachos_cli.parser import PROG
from keras_nachos_cli.parser import parse
from keras_nachos_cli.presets import PRESETS
from keras_nachos_cli.presets import as_flags


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
    from keras_nachos_cli import commands  # Starts TensorFlow.

    try:
        commands.COMMANDS[command](**options)
    except Exception as error:
        line = commands.user_error_line(error)
        if show_traceback or line is None:
            raise  # A bug: its traceback.
        return _fail(line)
    return 0


def _fail(error):
    line = error if isinstance(error, str) else str(error)
    print(f"{PROG}: error: {(line.splitlines() or [''])[0]}", file=sys.stderr)
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
    command += as_flags(dict(PRESETS[name], seed=args.seed))
    if args.overwrite:
        command.append("--overwrite")
    return main(command)
