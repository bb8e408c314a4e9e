"""Reading and writing a search's JSON state files safely.

Keras Tuner writes `oracle.json` and each `trial.json` in place, so a search
killed in the middle of a write leaves half a file, and a resume then ends in
a raw `JSONDecodeError`. keras_nachos writes its state files atomically
(a temporary file, then a rename: a reader sees the old file or the new one,
never half of one) and reads them with an error that names the file, says
what is wrong and what to do.
"""

import json
import os


class DamagedStateError(ValueError):
    """A search's state file cannot be read (the message says what to do)."""


def write_json_atomically(path, payload, indent=None, keep_previous=False):
    """Writes `payload` as JSON to `path` through a temporary file.

    Args:
        path: File path.
        payload: JSON-serialisable object.
        indent: Optional indent of the JSON text.
        keep_previous: Boolean, whether the file it replaces is kept as
            `path + ".previous"` (one save earlier).
    """
    temporary = f"{path}.tmp"
    with open(temporary, "w") as f:
        json.dump(payload, f, indent=indent)
        f.flush()
        os.fsync(f.fileno())
    if keep_previous and os.path.exists(path):
        os.replace(path, f"{path}.previous")
    os.replace(temporary, path)


def read_json(path, what, remedy):
    """Reads a JSON state file, or raises a `DamagedStateError`.

    Args:
        path: File path.
        what: What the file holds, for the message.
        remedy: What the user should do, for the message.
    """
    try:
        with open(path) as f:
            text = f.read()
    except OSError as error:
        raise DamagedStateError(
            f"Cannot read {path} ({what}): {error.strerror}. Then {remedy}."
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        detail = (
            "it is empty" if not text.strip()
            else f"it is not valid JSON: {error.msg} at line {error.lineno}, "
            f"column {error.colno} of {len(text):,} characters"
            + (" (truncated?)" if error.pos >= len(text.rstrip()) else "")
        )
        raise DamagedStateError(
            f"The search state file {path} ({what}) is damaged: {detail}. "
            f"Nothing else was changed; {remedy}."
        ) from None
