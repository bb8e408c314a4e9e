"""One search per folder: a lock file that names its holder.

Two searches writing one folder would both train everything and leave a
folder that mixes their files (the configuration of one, the oracle and
results of the other), which `report` would then pair up into wrong figures.
So a search holds a lock file in its folder while it runs,
`<directory>/<project_name>.lock` (`search.lock` beside `search/` for
`keras-nachos search`): a JSON object with the holder's host, process id and
start time. It is created atomically (a complete temporary file hard-linked
to the lock's name: the lock appears whole or not at all, and of two
processes creating it at once exactly one succeeds).

A second holder is refused with a `FolderInUseError` that names the first
(host, process id, since when, its command). A lock whose holder is gone (on
this host, no such process any more: a search killed with `kill -9`) is
taken over with a message; the process of a holder on another host cannot
be checked, so its lock is refused with the way to remove it.

A lock is reentrant in its process (`keras-nachos search` holds its folder's
lock, and `NachosSearch.search` takes it again), and released when its
`with` block ends, however it ends, or at the latest when the process exits
(`atexit`). Distributed workers take none: the chief holds the search.

Only the standard library is used here: tests start a holder process
without TensorFlow.
"""

import atexit
import contextlib
import datetime
import functools
import json
import os
import socket
import sys
import threading
import time

LOCK_SUFFIX = ".lock"


class FolderInUseError(RuntimeError):
    """Another process holds the lock (the message names it and says what
    to do)."""


def search_lock(directory, project_name):
    """The `FolderLock` of a search's folder.

    Args:
        directory: The folder (`NachosSearch`'s `directory`, or `--out`).
        project_name: The Keras Tuner project in it (`search` for the
            command line).
    """
    directory = os.fspath(directory or ".")
    return FolderLock(
        os.path.join(directory, f"{project_name}{LOCK_SUFFIX}"),
        what=f"The search folder {directory}",
    )


def file_lock(path, what):
    """The `FolderLock` of a file a long command writes (`keras-nachos
    supernet train`'s supernet): `PATH.lock` beside it.

    Args:
        path: The file.
        what: What it is, for the messages (e.g. "The supernet x.keras").
    """
    return FolderLock(os.fspath(path) + LOCK_SUFFIX, what=what)


def tuner_lock(tuner):
    """The lock a tuner's search holds: its folder's, none on a worker."""
    if getattr(tuner, "role", None) == "worker":
        return contextlib.nullcontext()
    return search_lock(tuner.directory, tuner.project_name)


def holding_search_lock(search):
    """Decorates `NachosSearch.search`: the search runs holding its folder's
    lock (`tuner_lock`), taken before anything else."""

    @functools.wraps(search)
    def locked(tuner, *args, **kwargs):
        with tuner_lock(tuner):
            return search(tuner, *args, **kwargs)

    return locked


def overwrite_lock(tuner_kwargs, role):
    """The lock `BaseTuner(..., overwrite=True)` holds while it deletes the
    project folder (none without `overwrite`, or on a worker, which may not
    overwrite)."""
    if not tuner_kwargs.get("overwrite") or role == "worker":
        return contextlib.nullcontext()
    return search_lock(tuner_kwargs.get("directory"),
                       tuner_kwargs.get("project_name") or "untitled_project")


# The locks this process holds: real path -> `_Held`.
_HELD = {}
_HELD_GUARD = threading.Lock()


class _Held:
    def __init__(self, holder):
        self.holder = holder
        self.count = 1


class FolderLock:
    """A lock file naming its holder; a reentrant context manager.

    Args:
        path: The lock file's path.
        what: What it guards, for the messages (e.g. "The search folder
            runs/a").

    Example:

    ```python
    with search_lock("runs/a", "search"):
        ...  # Nobody else holds runs/a/search.lock meanwhile.
    ```
    """

    def __init__(self, path, what):
        self.path = os.fspath(path)
        self.what = what

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
        return False

    @property
    def _key(self):
        return os.path.realpath(self.path)

    def held_here(self):
        """Whether this process holds the lock."""
        held = _HELD.get(self._key)
        return held is not None and held.holder["pid"] == os.getpid()

    def holder(self):
        """The holder recorded in the lock file (a dict), or `None` when
        there is no lock file. Raises `FolderInUseError` when the file is
        damaged."""
        try:
            with open(self.path) as f:
                text = f.read()
        except FileNotFoundError:
            return None
        try:
            holder = json.loads(text)
            if not (isinstance(holder, dict) and isinstance(holder.get("pid"), int)):
                raise ValueError("not a lock")
        except ValueError:
            raise FolderInUseError(
                f"{self.what} has a damaged lock file {self.path}. If no "
                f"process is using it, delete {self.path} and run the command "
                "again."
            ) from None
        return holder

    def check(self):
        """Raises `FolderInUseError` when another live process (or one on
        another host) holds the lock; writes nothing. A stale lock passes
        (`acquire` takes it over)."""
        if self.held_here():
            return
        holder = self.holder()
        if holder is not None and _state(holder) != "gone":
            raise FolderInUseError(self._refusal(holder))

    def running_holder(self):
        """`describe(holder)` of another process holding the lock now (alive,
        or on another host), else `None`."""
        if self.held_here():
            return None
        try:
            holder = self.holder()
        except FolderInUseError:
            return None
        if holder is None or _state(holder) == "gone":
            return None
        return describe(holder)

    def acquire(self):
        """Takes the lock (again, when this process holds it), making its
        folder if needed.

        Raises:
            FolderInUseError: Another process holds it (the folders made
                for the lock are removed again: a refusal leaves nothing).
        """
        key = self._key
        with _HELD_GUARD:
            held = _HELD.get(key)
            if held is not None and held.holder["pid"] == os.getpid():
                held.count += 1
                return
            _HELD.pop(key, None)  # A forked parent's: not this process'.
        created = _make_dirs(os.path.dirname(os.path.abspath(self.path)))
        holder = _this_process()
        try:
            for _ in range(5):
                if self._create(holder):
                    break
                current = self.holder()
                if current is None:
                    continue  # Released meanwhile: try again.
                if _state(current) != "gone":
                    raise FolderInUseError(self._refusal(current))
                if self._take_over(current):
                    print(
                        f"Taking over the lock {self.path}: its holder, "
                        f"{describe(current)}, is gone (killed?).",
                        flush=True,
                    )
            else:
                raise FolderInUseError(
                    f"{self.what}: its lock {self.path} keeps changing hands "
                    "(other processes are taking it): run the command again "
                    "when they are done."
                )
        except BaseException:
            _remove_dirs(created)
            raise
        with _HELD_GUARD:
            _HELD[key] = _Held(holder)

    def release(self):
        """Releases the lock (the file goes when its last holder in this
        process releases it)."""
        key = self._key
        with _HELD_GUARD:
            held = _HELD.get(key)
            if held is None or held.holder["pid"] != os.getpid():
                return
            held.count -= 1
            if held.count > 0:
                return
            del _HELD[key]
        self._remove_if_mine(held.holder)

    def _remove_if_mine(self, holder):
        try:
            current = self.holder()
        except FolderInUseError:
            return
        if current is not None and _same(current, holder):
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)

    def _create(self, holder):
        """Creates the lock file holding `holder`; `False` if it exists."""
        temporary = f"{self.path}.{holder['pid']}.tmp"
        with open(temporary, "w") as f:
            json.dump(holder, f)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(temporary, self.path)
            return True
        except FileExistsError:
            return False
        except OSError:
            # No hard links on this file system: exclusive creation instead.
            return self._create_exclusively(holder)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(temporary)

    def _create_exclusively(self, holder):
        try:
            descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        with os.fdopen(descriptor, "w") as f:
            json.dump(holder, f)
        return True

    def _take_over(self, stale):
        """Removes the lock file of the gone holder `stale`; `False` when
        another process replaced it meanwhile (it is put back)."""
        aside = f"{self.path}.{os.getpid()}.stale"
        try:
            os.replace(self.path, aside)
        except FileNotFoundError:
            return False
        try:
            with open(aside) as f:
                moved = json.load(f)
        except ValueError:
            moved = None
        if moved is not None and not _same(moved, stale):
            # A live holder's fresh lock: give it back.
            with contextlib.suppress(OSError):
                os.link(aside, self.path)
            os.remove(aside)
            return False
        os.remove(aside)
        return True

    def _refusal(self, holder):
        here = socket.gethostname()
        if holder.get("host") == here:
            what_to_do = (
                f"Wait for it to end or stop it (kill {holder['pid']}); one "
                "folder holds one search at a time, so another --out runs a "
                "second one."
            )
        else:
            what_to_do = (
                f"Its process cannot be checked from {here}: if it has ended, "
                f"delete {self.path} and run the command again."
            )
        return (f"{self.what} is in use by {describe(holder)} (lock file "
                f"{self.path}). {what_to_do}")


def describe(holder):
    """`process 123 on host h since 2025-01-31 12:00:00 (keras-nachos
    search ...)`."""
    since = holder.get("since")
    text = f"process {holder['pid']} on host {holder.get('host')}"
    if since:
        text += f" since {since}"
    if holder.get("command"):
        text += f" ({holder['command']})"
    return text


def _this_process():
    command = " ".join([os.path.basename(sys.argv[0] or "python")]
                       + sys.argv[1:]) if sys.argv else ""
    if len(command) > 120:
        command = command[:117] + "..."
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "since": datetime.datetime.now().isoformat(sep=" ", timespec="seconds"),
        "time": time.time(),
        "process_start": _process_start(os.getpid()),
        "command": command,
    }


def _same(a, b):
    return all(a.get(k) == b.get(k) for k in ("host", "pid", "time"))


def _state(holder):
    """`"alive"`, `"gone"` or `"unknown"` (another host)."""
    if holder.get("host") != socket.gethostname():
        return "unknown"
    pid = holder["pid"]
    if pid <= 0:
        return "gone"
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return "gone"
    except PermissionError:
        pass  # Another user's process: alive.
    started = _process_start(pid)
    if started is not None and started == "zombie":
        return "gone"
    recorded = holder.get("process_start")
    if recorded is not None and started is not None and started != recorded:
        return "gone"  # The process id was given to another process.
    return "alive"


def _process_start(pid):
    """The process' start time in clock ticks since boot (Linux), `"zombie"`
    for a process that has ended but not been waited for, or `None`."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces.
    fields = stat[stat.rfind(")") + 2:].split()
    if not fields:
        return None
    if fields[0] in ("Z", "X"):
        return "zombie"
    return int(fields[19]) if len(fields) > 19 else None


def _make_dirs(directory):
    """Creates `directory` and its missing parents; returns those created,
    deepest first."""
    missing = []
    path = directory
    while path and not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    os.makedirs(directory, exist_ok=True)
    return missing


def _remove_dirs(directories):
    for path in directories:
        try:
            os.rmdir(path)
        except OSError:
            return  # Not empty (or gone): the rest is kept too.


@atexit.register
def _release_all():
    """At exit: removes the lock files this process still holds."""
    for key, held in list(_HELD.items()):
        if held.holder["pid"] == os.getpid():
            held.count = 1
            FolderLock(key, "").release()
