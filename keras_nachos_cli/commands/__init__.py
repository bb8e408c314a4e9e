"""What the `keras-nachos` commands do, once their arguments are checked.

The TensorFlow side of the command line: `keras_nachos_cli.main` imports
this package (which starts TensorFlow) only after `parse` has checked the
arguments, then calls `COMMANDS[command](**options)`.
"""

from keras_nachos.search.distribute.local_cluster import WorkersLost
from keras_nachos_cli.commands import demo
from keras_nachos_cli.commands import export
from keras_nachos_cli.commands import report
from keras_nachos_cli.commands import run
from keras_nachos_cli.commands import search
from keras_nachos_cli.commands import supernet

# Errors that are the user's (bad data, a missing file, a damaged state
# file: `DamagedStateError` is a ValueError), or a cluster that cannot go
# on: printed as one line.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError,
               PermissionError, WorkersLost)

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
