"""An export folder written whole or not at all.

An export writes every file into a staging folder first (a hidden
`.<name>.<random>.partial` folder beside the target, or inside it when it
exists), and moves the files into place only when all of them are written:
a failed export (bad data, a converter error, `KeyboardInterrupt`) removes
the staging folder and leaves the target as it was, absent or holding the
earlier export.

A new target is the staging folder renamed (one atomic rename). Into an
existing folder, each file is moved by an atomic `os.replace`, the manifest
last, then the earlier export's files the new one does not have are
removed; other files in the folder are left alone. Between the moves a
reader sees the earlier manifest with some new files, which
`keras_nachos.deploy.load` refuses (their SHA-256 differ): never a mix that
runs.
"""

import contextlib
import json
import os
import secrets
import shutil

from keras_nachos.deploy.manifest import MANIFEST
from keras_nachos.deploy.specs import is_plain_file_name
from keras_nachos.errors import invalid_value
from keras_nachos_cli.checks import nearest_existing

PARTIAL = ".partial"


def check_export_target(directory, argument="directory"):
    """Checks an export folder argument before any work.

    It must be a path that is not an existing file (nor under one), in a
    folder this process can write to.

    Args:
        directory: The export folder (a path; it may not exist yet).
        argument: Name of the argument, for the error message.

    Returns:
        The folder's absolute path.
    """
    if not isinstance(directory, (str, os.PathLike)) or not os.fspath(directory):
        raise invalid_value(argument, "a folder path", directory)
    path = os.path.abspath(os.fspath(directory))
    existing = nearest_existing(path)
    if not os.path.isdir(existing):
        what = "names" if existing == path else f"is under {existing}, which is"
        raise invalid_value(
            argument,
            f"a folder path (it {what} an existing file: choose another "
            "path, or remove the file)",
            directory,
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise invalid_value(
            argument,
            f"a folder this process can write to ({existing} is read-only "
            "for it: choose another path)",
            directory,
        )
    return path


def _new_folder(parent, name):
    """A new empty folder `parent/.<name>.<random>.partial` (made with
    `os.mkdir`, so with the permissions any folder gets)."""
    while True:
        path = os.path.join(parent, f".{name}.{secrets.token_hex(4)}{PARTIAL}")
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue


@contextlib.contextmanager
def staged_export(directory):
    """Yields a staging folder whose files become `directory`'s on success.

    On an exception (any, `KeyboardInterrupt` included) the staging folder
    is removed and `directory` is left as it was.

    Args:
        directory: The export folder (checked with `check_export_target`).

    Yields:
        The path of the staging folder to write the export into.
    """
    target = check_export_target(directory)
    existed = os.path.isdir(target)
    parent = target if existed else nearest_existing(target)
    staging = _new_folder(parent, os.path.basename(target) or "export")
    try:
        yield staging
        if existed:
            _move_files_into(staging, target)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.rename(staging, target)
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging, ignore_errors=True)


def export_files(directory):
    """The files (names) of the export in `directory` as its manifest names
    them: every file it records, its stage files, `early_exit.tflite` and
    the stages' C headers. An unreadable manifest names none; the manifest
    itself is not listed."""
    try:
        with open(os.path.join(directory, MANIFEST)) as f:
            config = json.load(f)
        names = set(config.get("files") or {})
        for stage in config.get("stages", []):
            names.add(stage["file"])
            names.add(os.path.splitext(stage["file"])[0] + ".h")
        if config.get("single_file"):
            names.add(config["single_file"]["file"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return set()
    return {n for n in names if is_plain_file_name(n) and n != MANIFEST}


def _move_files_into(staging, target):
    """Moves the staged export's files into the existing folder `target`:
    the new files, then the manifest, then the earlier export's files the
    new one lacks are removed."""
    earlier = export_files(target)
    # The earlier one-file early exit, which manifests once left unrecorded.
    earlier.add("early_exit.tflite")
    new = set(os.listdir(staging))
    for name in sorted(new - {MANIFEST}):
        os.replace(os.path.join(staging, name), os.path.join(target, name))
    if MANIFEST in new:
        os.replace(os.path.join(staging, MANIFEST),
                   os.path.join(target, MANIFEST))
    for name in sorted(earlier - new):
        path = os.path.join(target, name)
        if os.path.isfile(path) and not os.path.islink(path):
            os.remove(path)
