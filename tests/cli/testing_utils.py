"""Helpers shared by the tests of `keras_nachos_cli`."""

import contextlib
import io
import json
import os
import subprocess
import sys

import keras_nachos_cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A search that trains in seconds: digits, 4 candidates, 1 generation.
TINY = [
    "--dataset", "digits", "--max-samples", "400", "--min-accuracy", "0.15",
    "--max-macs", "200000", "--population", "4", "--generations", "1",
    "--epochs", "1", "--batch-size", "64",
    "--stage-widths", "[[4, 8], [8], [8, 12]]", "--depths", "1",
    "--kernel-sizes", "3", "--expansion-ratios", "2",
    "--head-types", "global_pool", "--verbose", "0",
]


def main_output(argv):
    """`keras_nachos_cli.main(argv)`: `(exit code, stdout, stderr)`."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = keras_nachos_cli.main(argv)
        except SystemExit as exit:  # argparse's own errors
            code = exit.code
    return code, out.getvalue(), err.getvalue()


def run_cli(*argv):
    """Runs the command in a fresh interpreter; returns (code, out, err, modules)."""
    code = (
        "import json, sys, keras_nachos_cli\n"
        f"code = keras_nachos_cli.main({list(argv)!r})\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'keras_nachos'))))\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
    )
    lines = done.stdout.strip().splitlines()
    modules = json.loads(lines[-1]) if lines else None
    return done.returncode, "\n".join(lines[:-1]), done.stderr, modules
