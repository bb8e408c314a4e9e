"""Reading and writing a search's JSON state files safely.

Keras Tuner writes `oracle.json` and each `trial.json` in place, so a search
killed in the middle of a write leaves half a file, and a resume then ends in
a raw `JSONDecodeError`. keras_nachos writes its state files atomically
(a temporary file, then a rename: a reader sees the old file or the new one,
never half of one) and reads them with an error that names the file, says
what is wrong and what to do. Its `.keras` model files are read the same way
(`load_keras_file`): a truncated one is named with what to do, not answered
with Keras' "File not found" or a zip error.
"""

import json
import os
import zipfile
import zlib


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


# What a damaged .keras file raises in `keras.models.load_model` (a zip
# member cut short, a weights file that h5py cannot read, a config that is
# not JSON or lacks a key).
_DAMAGED_MODEL_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError,
                         KeyError, ValueError)


def load_keras_file(path, what, remedy):
    """Loads a `.keras` model file, or raises a `DamagedStateError`.

    Args:
        path: File path.
        what: What the file holds, for the message.
        remedy: What the user should do, for the message.

    Raises:
        FileNotFoundError: There is no such file (callers say why it may be
            missing).
        DamagedStateError: It cannot be read (named, with `remedy`).
    """
    import keras

    if not os.path.isfile(path):
        raise FileNotFoundError(f"No {path} ({what}).")
    if not zipfile.is_zipfile(path):
        size = os.path.getsize(path)
        raise DamagedStateError(
            f"The model file {path} ({what}) is damaged: "
            + ("it is empty" if size == 0 else
               f"its {size:,} bytes are not a complete .keras (zip) file "
               "(truncated?)")
            + f". Nothing else was changed; {remedy}."
        )
    try:
        return keras.models.load_model(path)
    except _DAMAGED_MODEL_ERRORS as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else (
            type(error).__name__)
        raise DamagedStateError(
            f"The model file {path} ({what}) cannot be loaded: "
            f"{type(error).__name__}: {detail[:200]}. Nothing else was "
            f"changed; {remedy}."
        ) from error


def save_keras_file(model, path):
    """Saves `model` to `path` (.keras) through a temporary file, so that a
    process killed while saving leaves the previous file or none, never a
    truncated one."""
    directory, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(directory, f".{name}.partial.keras")
    model.save(temporary)
    os.replace(temporary, path)
