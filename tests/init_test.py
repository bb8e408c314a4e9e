"""The library sets no global state, on import or on use."""

import ast
import os
import pathlib
import subprocess
import sys

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_nachos"
ROOT = PACKAGE.parent


def python(code, **env):
    environment = dict(os.environ, **env)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        cwd=str(ROOT), env=environment,
    )


def test_import_writes_no_environment_variable():
    # Before: `import keras_nachos` set KERAS_BACKEND.
    # TensorFlow sets a few variables of its own on import: compare with the
    # environment after the stack keras_nachos builds on is imported.
    code = (
        "import os, json\n"
        "import tensorflow, keras, keras_tuner, deap, matplotlib\n"
        "before = dict(os.environ)\n"
        "import keras_nachos, keras_nachos.search, keras_nachos.reporting\n"
        "import keras_nachos_cli.commands\n"
        "after = dict(os.environ)\n"
        "print(json.dumps({k: after[k] for k in after if before.get(k) != after[k]}))\n"
    )
    environment = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, cwd=str(ROOT), env=environment)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "{}"


def test_another_keras_backend_gets_a_clear_error():
    # Keras' other backends need JAX or PyTorch, not installed here: make
    # Keras report another backend, as it would under KERAS_BACKEND=jax.
    done = python(
        "import keras\n"
        "keras.backend.backend = lambda: 'jax'\n"
        "import keras_nachos\n"
    )
    assert done.returncode != 0
    assert "keras_nachos needs Keras' TensorFlow backend" in done.stderr
    assert "'jax'" in done.stderr and "KERAS_BACKEND=tensorflow" in done.stderr


def test_plots_leave_matplotlib_backend_and_pyplot_alone():
    # Before: plotting called `matplotlib.use("Agg")`.
    code = (
        "import matplotlib\n"
        "matplotlib.use('svg')\n"
        "import matplotlib.pyplot as plt\n"
        "from keras_nachos.reporting.pareto_plot import plot_pareto\n"
        "from keras_nachos.reporting.early_exit_report import EarlyExitReport\n"
        "results = {'config': {'min_accuracy': 0.5, 'max_macs': 100.0},\n"
        "           'candidates': [{'status': 'completed', 'accuracy': 0.6, 'macs': 50.0}],\n"
        "           'admissible_front': [{'accuracy': 0.6, 'expected_macs': 50.0}]}\n"
        "plot_pareto(results, 'pareto_test.png')\n"
        "report = EarlyExitReport('max_probability', [0.5], ['exit_1', 'final'], 0.6,\n"
        "    [0.5, 0.5], [0.5, 0.6], [0.5, 0.7], [10, 20], [10, 20], 15.0, 15.0, 20,\n"
        "    0.6)\n"
        "report.plot('report_test.png')\n"
        "print(matplotlib.get_backend(), len(plt.get_fignums()))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, cwd="/tmp")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "svg 0"


# Where TensorFlow or Keras has no public API for what the library needs;
# each import says why in a comment above it.
ALLOWED_PRIVATE_IMPORTS = {
    ("costs/profiler.py", "tensorflow.python.framework"),
    ("costs/profiler.py", "tensorflow.python.framework.convert_to_constants"),
    ("search/candidate_evaluator.py", "tensorflow.python.framework"),
}


def test_no_private_keras_or_tensorflow_imports():
    found = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.startswith(("keras.src", "tensorflow.python")):
                    found.add((str(path.relative_to(PACKAGE)), name))
    assert found <= ALLOWED_PRIVATE_IMPORTS, found - ALLOWED_PRIVATE_IMPORTS
    for relative, _ in found:
        text = (PACKAGE / relative).read_text()
        assert "no public API" in text, relative
