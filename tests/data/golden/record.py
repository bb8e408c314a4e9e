"""Records the golden searches of `tests/search/golden_test.py`.

Run once, on the code BEFORE the search package was reorganised (issue 25:
db81455), from a checkout of that code:

    PYTHONPATH=/path/to/old/checkout python tests/data/golden/record.py \
        /path/to/old/checkout

It writes oracle.json, cli_search.json, distributed_run.json (the one-process
run of tests/search/distributed_run.py) and the search folders finished/ and
interrupted/ (the same search killed by SIGKILL after its sixth trial)
here. Never run it again to make the golden test pass: the point of the test
is that the reorganised code gives what the old code gave.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import importlib.util

HERE = os.path.dirname(os.path.abspath(__file__))


def load_golden_test(old_checkout):
    """This checkout's golden_test module, running on the old checkout's
    keras_nachos and tests helpers."""
    sys.path.insert(0, old_checkout)
    spec = importlib.util.spec_from_file_location(
        "golden_test",
        os.path.join(os.path.dirname(os.path.dirname(HERE)), "search",
                     "golden_test.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(old_checkout):
    golden_test = load_golden_test(old_checkout)
    import keras_nachos

    assert keras_nachos.__file__.startswith(old_checkout), keras_nachos.__file__
    env = dict(os.environ, PYTHONPATH=old_checkout)
    with tempfile.TemporaryDirectory() as tmp:
        oracle = {name: golden_test.run_oracle(os.path.join(tmp, name), name)
                  for name in golden_test.ORACLE_RUNS}
    with open(os.path.join(HERE, "oracle.json"), "w") as f:
        json.dump(oracle, f, indent=1)

    finished = os.path.join(HERE, "finished")
    interrupted = os.path.join(HERE, "interrupted")
    for folder in (finished, interrupted):
        shutil.rmtree(folder, ignore_errors=True)
    single = golden_test.single_args()
    done = golden_test.cli(
        ["search", "--out", finished] + golden_test.SEARCH_ARGS + single,
        golden_test.cores(1), cwd=old_checkout, env=env)
    assert done.returncode == 0, done.stderr
    summary = golden_test.results_summary(finished)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "workers")
        done = golden_test.cli(
            ["search", "--out", out, "--workers", "2"] + golden_test.SEARCH_ARGS,
            golden_test.cores(2), cwd=old_checkout, env=env)
        assert done.returncode == 0, done.stderr
        workers = golden_test.results_summary(out)
    with open(os.path.join(HERE, "cli_search.json"), "w") as f:
        json.dump({"single": summary, "workers": workers},
                  f, indent=1)

    # The reference of tests/search/distributed_test.py.
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "tests.search.distributed_run",
             os.path.join(tmp, "search"), "--result",
             os.path.join(HERE, "distributed_run.json")],
            capture_output=True, text=True, env=env, cwd=old_checkout)
        assert done.returncode == 0, done.stderr

    # The same search killed after its sixth trial ended.
    process = subprocess.Popen(
        [sys.executable, "-m", "keras_nachos_cli", "search", "--out",
         interrupted] + golden_test.SEARCH_ARGS + single,
        stdout=subprocess.PIPE, text=True, env=env, cwd=old_checkout,
        preexec_fn=lambda: os.sched_setaffinity(0, golden_test.cores(1)),
    )
    for line in process.stdout:
        if line.startswith("[trial 6/"):
            break
    time.sleep(1.0)
    process.send_signal(signal.SIGKILL)
    process.wait()


if __name__ == "__main__":
    main(os.path.abspath(sys.argv[1]))
