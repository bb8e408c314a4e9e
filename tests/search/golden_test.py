"""Golden searches: the same tiny seeded searches give the results recorded
before the search package was reorganised (issue 25, recorded on db81455 by
`tests/data/golden/record.py`; never re-record to make these pass).

- The NSGA-II oracle on the synthetic problem (no training): its archive,
  fronts, hypervolume history and screening counts, digit for digit.
- `keras-nachos search` on digits in one process (one thread on one core),
  and with two local workers (`--workers 2`, one core each): its front,
  candidates and hypervolume history. The trained figures are compared to
  1e-6 (relative): another CPU's float kernels may round the training
  differently in the last bits; everything else must be equal.
- A search folder written by the old code, killed in its second generation,
  resumes to the recorded results; a finished one reports them.
"""

import json
import math
import os
import shutil
import subprocess
import sys

import pytest

from tests.search.testing_utils import run_search

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, "tests", "data", "golden")

# The search every golden CLI run makes (a tiny one: 8 candidates trained).
SEARCH_ARGS = [
    "--dataset", "digits", "--max-samples", "800", "--min-accuracy", "0.85",
    "--max-macs", "25000", "--population", "4", "--generations", "2",
    "--epochs", "3", "--batch-size", "32",
    "--stage-widths", "[[4, 8], [8], [8, 12]]", "--depths", "1",
    "--kernel-sizes", "3,5", "--expansion-ratios", "2",
    "--head-types", "global_pool",
]

# The oracle runs recorded: name -> run_search keyword arguments.
ORACLE_RUNS = {
    "plain": dict(seed=1, population_size=8, generations=4),
    "preselected": dict(seed=2, population_size=8, generations=4, preselect=3,
                        static_costs="synthetic"),
}


def synthetic_static_costs(values):
    """Cumulative MACs of the synthetic problem's 4 stages."""
    from tests.search.testing_utils import RESOLUTION

    total, costs = 0.0, []
    for i in range(4):
        total += values[f"depth_{i}"] * values[f"width_{i}"] ** 2 * RESOLUTION[i] ** 2
        costs.append(total)
    return costs


def oracle_summary(oracle):
    return {
        "archive": oracle.archive,
        "pareto_front": oracle.pareto_front(),
        "admissible_front": oracle.admissible_front(),
        "hypervolume_history": oracle.hypervolume_history,
        "unique_evaluations": oracle.unique_evaluations,
        "total_evaluations": oracle.total_evaluations,
        "screened": oracle.screened,
    }


def run_oracle(directory, name):
    kwargs = dict(ORACLE_RUNS[name])
    if kwargs.get("static_costs") == "synthetic":
        kwargs["static_costs"] = synthetic_static_costs
    oracle, _ = run_search(directory, **kwargs)
    return json.loads(json.dumps(oracle_summary(oracle)))


def cli(argv, affinity, cwd=ROOT, env=None):
    """Runs `python -m keras_nachos_cli ARGV` pinned to the cores `affinity`."""
    env = dict(env or os.environ)
    for key in list(env):
        if key.startswith("KERASTUNER_"):
            env.pop(key)
    return subprocess.run(
        [sys.executable, "-m", "keras_nachos_cli"] + list(argv),
        capture_output=True, text=True, env=env, cwd=cwd, timeout=900,
        preexec_fn=lambda: os.sched_setaffinity(0, affinity),
    )


def cores(count):
    available = sorted(os.sched_getaffinity(0))
    return set(available[: min(count, len(available))])


def single_args():
    """One process on one core with one thread (as recorded)."""
    return ["--threads", "1", "--cores", str(min(cores(1)))]


def results_summary(out):
    """What a search folder's results.json says, without paths and worker ids."""
    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    front = []
    for row in results["admissible_front"]:
        row = dict(row)
        row.pop("model_path")
        row.pop("tuner_id")
        front.append(row)
    candidates = []
    for entry in results["candidates"]:
        entry = dict(entry)
        entry.pop("tuner_id", None)
        entry.pop("trial_id", None)
        # Seconds differ from run to run.
        entry["details"] = {k: v for k, v in entry["details"].items()
                            if k != "train_seconds"}
        candidates.append(entry)
    return {
        "admissible_front": front,
        "pareto_front": [
            {k: v for k, v in row.items() if k != "trial_id"}
            for row in results["pareto_front"]
        ],
        "candidates": candidates,
        "hypervolume_history": results["hypervolume_history"],
        "unique_evaluations": results["unique_evaluations"],
        "total_evaluations": results["total_evaluations"],
    }


def assert_same(actual, expected, path="", rel=1e-6):
    """Equal, floats to `rel` (another CPU may round training differently)."""
    if isinstance(expected, float) and isinstance(actual, (int, float)):
        if math.isnan(expected):
            assert math.isnan(actual), path
        else:
            assert actual == pytest.approx(expected, rel=rel, abs=1e-12), path
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and sorted(actual) == sorted(expected), (
            f"{path}: keys {sorted(actual)} != {sorted(expected)}")
        for key in expected:
            assert_same(actual[key], expected[key], f"{path}.{key}", rel)
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (
            f"{path}: {actual} != {expected}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same(a, e, f"{path}[{i}]", rel)
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def golden(name):
    with open(os.path.join(GOLDEN, name)) as f:
        return json.load(f)


@pytest.mark.parametrize("name", sorted(ORACLE_RUNS))
def test_the_oracle_gives_the_recorded_search(tmp_path, name):
    recorded = golden("oracle.json")[name]
    summary = run_oracle(tmp_path, name)
    # No training: exactly the recorded numbers.
    assert summary == recorded


@pytest.mark.slow
def test_one_process_and_two_local_workers_give_the_recorded_search(tmp_path):
    recorded = golden("cli_search.json")
    out = str(tmp_path / "single")
    done = cli(["search", "--out", out] + SEARCH_ARGS + single_args(), cores(1))
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same(results_summary(out), recorded["single"])
    # Two local workers, one core each (the chief pinned to two cores
    # shares them out).
    out = str(tmp_path / "workers")
    done = cli(["search", "--out", out, "--workers", "2"] + SEARCH_ARGS, cores(2))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[tuner0] trial" in done.stdout and "[tuner1] trial" in done.stdout
    assert not os.path.exists(os.path.join(out, "search", "chief.json"))
    assert_same(results_summary(out), recorded["single"])
    # A finished distributed search reports with the default tuner id.
    done = cli(["report", out, "--no-test"], cores(1))
    assert done.returncode == 0 and "Admissible Pareto front" in done.stdout


@pytest.mark.slow
def test_a_search_folder_written_before_resumes_and_reports(tmp_path):
    recorded = golden("cli_search.json")
    # Killed by SIGKILL in its second generation by the old code.
    out = str(tmp_path / "interrupted")
    shutil.copytree(os.path.join(GOLDEN, "interrupted"), out)
    done = cli(["search", "--out", out] + single_args(), cores(1))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Resuming the search" in done.stdout
    assert_same(results_summary(out), recorded["single"])
    # Finished by the old code: the report gives the recorded results
    # (test accuracies measured again from its models).
    out = str(tmp_path / "finished")
    shutil.copytree(os.path.join(GOLDEN, "finished"), out)
    os.remove(os.path.join(out, "results.json"))
    done = cli(["report", out], cores(1))
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same(results_summary(out), recorded["single"])
