"""Tests of `keras_nachos_cli` (`main`, `run_preset`, `python -m`): the
command answers argument mistakes and `--help` before TensorFlow starts."""

import configparser
import os
import subprocess
import sys

import keras_nachos_cli
from tests.cli.testing_utils import ROOT
from tests.cli.testing_utils import run_cli


def test_argument_errors_come_before_tensorflow_starts(tmp_path):
    code, _, err, modules = run_cli(
        "search", "--out", str(tmp_path / "run"), "--min-accuracy", "2",
        "--max-macs", "1e5",
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert modules == [], modules  # no tensorflow, keras, keras_nachos
    code, _, err, _ = run_cli("search", "--out", str(tmp_path), "--depths", "x")
    assert code == 2 and "argument --depths" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err, _ = run_cli("report", str(tmp_path / "nothing"))
    assert code == 2 and "argument `dir`" in err


def test_help_comes_before_tensorflow_starts():
    code = (
        "import json, sys, keras_nachos_cli\n"
        "try:\n"
        "    keras_nachos_cli.main(['search', '--help'])\n"
        "except SystemExit as exit:\n"
        "    print(exit.code)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'keras_nachos'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, cwd=ROOT)
    lines = done.stdout.strip().splitlines()
    assert lines[-2:] == ["0", "[]"], done.stderr[-2000:]
    assert "--min-accuracy" in done.stdout


def test_python_m_keras_nachos_cli():
    # How `search --workers N` starts its local workers.
    done = subprocess.run(
        [sys.executable, "-m", "keras_nachos_cli", "search", "--out", "x",
         "--population", "6"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(
        "keras-nachos: error: Invalid value received for argument "
        "`--population`.")
    done = subprocess.run([sys.executable, "-m", "keras_nachos_cli", "--help"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and "usage: keras-nachos" in done.stdout


def test_the_console_script_is_main():
    setup = configparser.ConfigParser()
    setup.read(os.path.join(ROOT, "setup.cfg"))
    scripts = setup["options.entry_points"]["console_scripts"].strip()
    assert scripts == "keras-nachos = keras_nachos_cli:main"
    assert callable(keras_nachos_cli.main)
    assert "keras_nachos_cli" not in setup["options"].get("py_modules", "")


def test_run_preset_runs_the_search_command(monkeypatch):
    commands = []
    monkeypatch.setattr(keras_nachos_cli, "main",
                        lambda argv: commands.append(argv) or 0)
    assert keras_nachos_cli.run_preset(
        "digits", "quick", "artifacts/q", ["--seed", "3", "--overwrite"]) == 0
    assert commands == [[
        "search", "--out", "artifacts/q", "--dataset", "digits",
        "--image-size", "16,16", "--min-accuracy", "0.9",
        "--max-macs", "250000.0", "--population", "8", "--generations", "2",
        "--epochs", "8", "--batch-size", "64",
        "--stage-widths", "[[8, 12], [12, 16], [16, 24]]", "--depths", "1,2",
        "--expansion-ratios", "2,3,4", "--seed", "3", "--overwrite",
    ]]


def test_a_user_or_environment_error_is_one_line_and_a_bug_a_traceback(
        tmp_path, monkeypatch):
    import pytest

    from keras_nachos.search import DamagedStateError
    from keras_nachos.search import FolderInUseError
    from keras_nachos_cli import commands
    from tests.cli.testing_utils import main_output

    (tmp_path / "search_config.json").write_text("{}")
    argv = ["report", str(tmp_path)]
    one_line = [
        (PermissionError(13, "Permission denied", "/srv/out/search.lock"),
         "Permission denied: /srv/out/search.lock"),
        (OSError(30, "Read-only file system", "/ro/run"),
         "Read-only file system: /ro/run"),
        (FileExistsError("/x/solution_0.keras exists: pass --output"),
         "/x/solution_0.keras exists: pass --output"),
        (ModuleNotFoundError("No module named 'ai_edge_litert'",
                             name="ai_edge_litert"),
         "No module named 'ai_edge_litert' (an optional package: pip install "
         "\"keras-nachos[litert]\")"),
        (ImportError('Running on TFLite Micro needs the tflite-micro '
                     'package: pip install "keras-nachos[micro]".'),
         'Running on TFLite Micro needs the tflite-micro package: pip '
         'install "keras-nachos[micro]".'),
        (FolderInUseError("The search folder x is in use by process 7"),
         "The search folder x is in use by process 7"),
        (DamagedStateError("The model file x is damaged: truncated.\nmore"),
         "The model file x is damaged: truncated."),
    ]
    for error, line in one_line:
        def fail(**options):
            raise error

        monkeypatch.setitem(commands.COMMANDS, "report", fail)
        code, _, err = main_output(argv)
        assert code == 2 and err == f"keras-nachos: error: {line}\n", err
        with pytest.raises(type(error)):  # --traceback shows it anyway.
            main_output(["--traceback"] + argv)
    bugs = [TypeError("unsupported operand"),
            ModuleNotFoundError("No module named 'numpy._core.x'",
                                name="numpy._core.x"),
            KeyError("thresholds")]
    for error in bugs:
        def fail(**options):
            raise error

        monkeypatch.setitem(commands.COMMANDS, "report", fail)
        with pytest.raises(type(error)):
            main_output(argv)
