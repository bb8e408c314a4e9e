"""What the `keras-nachos` commands do, once their arguments are checked.

The TensorFlow side of the command line: `keras_nachos_cli.main` imports
this package (which starts TensorFlow) only after `parse` has checked the
arguments, then calls `COMMANDS[command](**options)`.
"""

from keras_nachos.search.distribute.local_cluster import WorkersLost
from keras_nachos.search.folder_lock import FolderInUseError
from keras_nachos_cli.commands import demo
from keras_nachos_cli.commands import export
from keras_nachos_cli.commands import report
from keras_nachos_cli.commands import run
from keras_nachos_cli.commands import search
from keras_nachos_cli.commands import supernet

# Errors that are the user's (bad data, a damaged state file:
# `DamagedStateError` is a ValueError), the environment's (any `OSError`: a
# missing, existing, read-only or full path), a folder another process is
# using, or a cluster that cannot go on: printed as one line, exit code 2.
# So is an `ImportError` of an optional package (`missing_extra`). Anything
# else is a bug and shows its traceback.
USER_ERRORS = (ValueError, OSError, FolderInUseError, WorkersLost)

# The optional packages (top-level modules) and the extra that installs
# each (setup.cfg's `extras_require`).
OPTIONAL_PACKAGES = {
    "ai_edge_litert": "litert",
    "tflite_micro": "micro",
    "tensorflow_model_optimization": "tfmot",
    "tf_keras": "tfmot",
    "sklearn": "digits",
    "optuna": "bench",
}


def missing_extra(error):
    """The extra whose package `error` (an `ImportError`) misses, `""` for
    a library error that already says what to install, else `None` (a
    broken installation or a bug)."""
    if not isinstance(error, ImportError):
        return None
    for cause in (error, error.__cause__):
        name = getattr(cause, "name", None) or ""
        extra = OPTIONAL_PACKAGES.get(name.split(".")[0])
        if extra:
            return extra
    return "" if "pip install" in str(error) else None


def user_error_line(error):
    """The one line `keras-nachos` prints for `error`, or `None` when it is
    not the user's or the environment's (a bug: its traceback is shown)."""
    if isinstance(error, ImportError):
        extra = missing_extra(error)
        if extra is None:
            return None
        line = _first_line(error)
        if extra and "pip install" not in line:
            line += (f" (an optional package: pip install "
                     f"\"keras-nachos[{extra}]\")")
        return line
    if not isinstance(error, USER_ERRORS):
        return None
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.strerror}: {error.filename}"
    return _first_line(error)


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__

# The commands by the name `keras_nachos_cli.parser.parse` gives them.
COMMANDS = {
    "search": search.search,
    "supernet_train": supernet.train,
    "report": report.report,
    "export": export.export,
    "export_litert": export.export_litert,
    "run": run.run,
    "demo": demo.demo,
}
