"""What the benchmarks share: the machine's name, a free port, results files,
and the example and test helpers some of them reuse.

Benchmarks run as scripts (`python benchmarks/NAME.py`), so this module is
imported as `_common` from their folder; the examples and tests they reuse
are loaded by path here (`load_module`), not through `sys.path` edits.
"""

import importlib.util
import json
import os
import platform
import socket
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")


def cpu_name():
    """The CPU's model name (`lscpu`), or what `platform` knows."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in text.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def free_port():
    """A TCP port free on the loopback interface now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_json(path, payload, indent=1):
    """Writes a results file (its folder made if needed); returns `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f, indent=indent)
    return path


def load_module(relative_path):
    """A module of this repository loaded from its file, e.g.
    `load_module("examples/fashion_mnist_eenn.py")`."""
    path = os.path.join(ROOT, relative_path)
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
