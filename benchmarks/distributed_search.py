"""The distributed search on this machine: 1 and 2 pinned workers beside one
unpinned process, side by side in one run, and a replay of the recorded
trial times for 4, 8 and 16 workers.

Runs `keras-nachos search` with the Fashion-MNIST search preset (the
examples' `search_fashion_mnist.py`; `--max-samples` and `--epochs` scale it
down) three times, each in fresh processes:

- one process, unpinned (TensorFlow on every core);
- a chief and 1 worker (`--role worker --cores 0 --threads 1`);
- a chief and 2 workers, on cores 0 and 1, one TensorFlow thread each (as a
  worker per machine owns its machine).

For each: the wall time (start to results), the admissible front, and from
the chief's `timeline.json` (when each trial was handed out and ended) each
worker's idle share: the part of its time, from its first trial to the end
of the search, in which it had no trial (waiting at a generation barrier,
or for the chief). Then the 2-worker run's trial times and barrier gaps are
replayed (bootstrap, 200 draws) with 1 to 16 workers and populations of 8 to
64: the median idle share and the speedup over one worker, and the smallest
population that keeps the idle share under 10%.

Usage:

    python benchmarks/distributed_search.py [--max-samples 20000] [--epochs 3]

Writes `artifacts/distributed/` (the three search folders), the table in
`artifacts/distributed.json` and `artifacts/distributed.png`.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from _common import cpu_name  # noqa: E402  (beside this script)
from _common import free_port  # noqa: E402
from keras_nachos_cli.presets import PRESETS  # noqa: E402  (no TensorFlow)
from keras_nachos_cli.presets import as_flags  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-samples", type=int, default=None,
                        help="default: the preset's (20000)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="default: the preset's (3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(ROOT, "artifacts", "distributed"))
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--no-unpinned", action="store_true",
                        help="skip the unpinned single process (the speedup "
                             "and the targets compare the pinned runs only)")
    return parser.parse_args(argv)


def preset_flags(args):
    config = dict(PRESETS["fashion_mnist"], seed=args.seed)
    if args.max_samples:
        config["max_samples"] = args.max_samples
    if args.epochs:
        config["epochs"] = args.epochs
    return as_flags(config), config


def command(out, flags, *extra):
    return [sys.executable, "-m", "keras_nachos_cli", "search", "--out", out,
            *flags, "--overwrite", *extra]


def clean_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERASTUNER_")}
    env["CUDA_VISIBLE_DEVICES"] = "-1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def run_single(out, flags, log):
    start = time.time()
    with open(log, "w") as f:
        subprocess.run(command(out, flags), env=clean_env(), stdout=f,
                       stderr=subprocess.STDOUT, check=True, cwd=ROOT)
    return time.time() - start


def run_cluster(out, flags, cores, log_prefix):
    """A chief and one pinned worker per core; returns the wall time."""
    port = free_port()
    oracle = ["--oracle", f"127.0.0.1:{port}"]
    start = time.time()
    logs, processes = [], []
    try:
        logs.append(open(f"{log_prefix}_chief.log", "w"))
        processes.append(subprocess.Popen(
            command(out, flags, "--role", "chief", *oracle), env=clean_env(),
            stdout=logs[-1], stderr=subprocess.STDOUT, cwd=ROOT))
        # The chief writes the search's configuration; workers read it.
        config = os.path.join(out, "search", "tuner0.json")
        while not os.path.exists(config):
            if processes[0].poll() is not None:
                raise RuntimeError(f"the chief ended early: see {log_prefix}_chief.log")
            time.sleep(0.2)
        for i, core in enumerate(cores):
            logs.append(open(f"{log_prefix}_tuner{i}.log", "w"))
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "keras_nachos_cli", "search", "--out", out,
                 "--role", "worker", "--tuner-id", f"tuner{i}", *oracle,
                 "--cores", str(core), "--threads", "1"],
                env=clean_env(), stdout=logs[-1], stderr=subprocess.STDOUT,
                cwd=ROOT))
        for process in processes:
            if process.wait() != 0:
                raise RuntimeError(f"a process failed: see {log_prefix}_*.log")
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        for f in logs:
            f.close()
    return time.time() - start


def outcome_of(out):
    """`(admissible front, candidates per generation, every result)`."""
    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    front = [(json.dumps(r["values"], sort_keys=True), r["accuracy"], r["expected_macs"])
             for r in results["admissible_front"]]
    candidates = sorted((c["generation"], json.dumps(c["values"], sort_keys=True))
                        for c in results["candidates"])
    every = sorted((c["generation"], json.dumps(c["values"], sort_keys=True),
                    c["accuracy"], c["macs"]) for c in results["candidates"])
    return front, candidates, every, results


def idle_shares(out):
    """Per worker: idle share from its first trial to the last trial's end."""
    with open(os.path.join(out, "search", "timeline.json")) as f:
        timeline = json.load(f)
    runs = [r for r in timeline["trials"] if r["ended"] is not None]
    end = max(r["ended"] for r in runs)
    shares = {}
    for tuner in sorted({r["tuner_id"] for r in runs}):
        mine = [r for r in runs if r["tuner_id"] == tuner]
        busy = sum(r["ended"] - r["handed_out"] for r in mine)
        span = end - min(r["handed_out"] for r in mine)
        shares[tuner] = 1.0 - busy / span
    return shares, timeline


def trace(timeline):
    """Trial seconds with their predicted costs, and the chief's gaps between
    generations (breeding)."""
    runs = [r for r in timeline["trials"] if r["ended"] is not None]
    durations = [r["ended"] - r["handed_out"] for r in runs]
    predicted = [r.get("predicted_macs") for r in runs]
    predicted = [np.nan if p is None else float(p) for p in predicted]
    gaps = []
    generations = sorted({r["generation"] for r in runs if r["generation"] is not None})
    for g, h in zip(generations, generations[1:]):
        last_end = max(r["ended"] for r in runs if r["generation"] == g)
        first_next = min(r["handed_out"] for r in runs if r["generation"] == h)
        gaps.append(max(0.0, first_next - last_end))
    per_generation = len(runs) / max(1, len(generations))
    trials = np.array([durations, predicted], dtype=float).T
    return trials, gaps, per_generation, len(generations)


def mean_trial_seconds(out):
    """Mean seconds from a trial's hand-out to its end, in one search."""
    runs = [r for r in idle_shares(out)[1]["trials"] if r["ended"] is not None]
    return float(np.mean([r["ended"] - r["handed_out"] for r in runs]))


def simulate(trials, gap, workers, population, generations, rng, longest_first):
    """Makespan and idle share of list scheduling with generation barriers.

    Each generation draws `population` recorded trials (duration, predicted
    cost); they are handed out in the drawn order (as bred) or, as the
    oracle does, by predicted cost, longest first.
    """
    clock, busy = 0.0, 0.0
    for g in range(generations):
        drawn = trials[rng.integers(len(trials), size=population)]
        if longest_first:
            drawn = drawn[np.argsort(-drawn[:, 1], kind="stable")]
        free = np.zeros(workers)
        for t in drawn[:, 0]:
            w = int(np.argmin(free))
            free[w] += t
        clock += free.max() + (gap if g < generations - 1 else 0.0)
        busy += drawn[:, 0].sum()
    return clock, 1.0 - busy / (workers * clock)


def replay(trials, gaps, generations, draws, longest_first=True, seed=0):
    rng = np.random.default_rng(seed)
    gap = float(np.mean(gaps)) if gaps else 0.0
    table = {}
    for population in (8, 16, 32, 64):
        for workers in (1, 2, 4, 8, 16):
            spans, idles = zip(*(
                simulate(trials, gap, workers, population, generations, rng,
                         longest_first)
                for _ in range(draws)))
            table[(population, workers)] = (float(np.median(spans)),
                                            float(np.median(idles)))
    return table, gap


def rank_correlation(x, y):
    """Spearman's rho (no ties expected in trial times)."""
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


def plot(table, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for population in (8, 16, 32, 64):
        ws = [1, 2, 4, 8, 16]
        ax.plot(ws, [100 * table[(population, w)][1] for w in ws], marker="o",
                label=f"population {population}")
    ax.axhline(10, color="grey", linestyle="--", linewidth=1)
    ax.set_xscale("log", base=2)
    ax.set_xticks([1, 2, 4, 8, 16], ["1", "2", "4", "8", "16"])
    ax.set_xlabel("workers")
    ax.set_ylabel("idle share of the workers (%)")
    ax.set_title("Replayed trial times (generation barriers)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    args = parse_args(argv)
    flags, config = preset_flags(args)
    os.makedirs(args.out, exist_ok=True)
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("This benchmark pins 2 workers to 2 cores: it needs 2.")
    runs = {}
    print(f"Fashion-MNIST search preset: {config['population']} x "
          f"{config['generations']} generations, {config['max_samples']} samples, "
          f"{config['epochs']} epochs; CPU {cpu_name()}, {len(cores)} cores", flush=True)
    plan = [
        ("1 process, unpinned", lambda out: run_single(out, flags, out + ".log")),
        ("chief + 1 worker, 1 core", lambda out: run_cluster(out, flags, cores[:1], out)),
        ("chief + 2 workers, 1 core each", lambda out: run_cluster(out, flags, cores[:2], out)),
    ]
    if args.no_unpinned:
        plan = plan[1:]
    for name, run in plan:
        out = os.path.join(args.out, name.split(",")[0].replace(" ", "_").replace("+", ""))
        shutil.rmtree(out, ignore_errors=True)
        print(f"[{name}] running ...", flush=True)
        seconds = run(out)
        front, candidates, every, results = outcome_of(out)
        shares = idle_shares(out)[0] if "worker" in name else {}
        runs[name] = {"out": out, "seconds": seconds, "front": front,
                      "candidates": candidates, "every": every,
                      "hypervolume": results.get("hypervolume_history"),
                      "idle": shares}
        print(f"[{name}] {seconds:.0f} s, {len(front)} admissible, idle "
              + (", ".join(f"{k} {100 * v:.1f}%" for k, v in shares.items()) or "-"),
              flush=True)
    one, two = runs["chief + 1 worker, 1 core"], runs["chief + 2 workers, 1 core each"]
    single = runs.get("1 process, unpinned")
    trials, gaps, per_generation, generations = trace(idle_shares(two["out"])[1])
    durations = trials[:, 0]
    ordered = bool(np.isfinite(trials[:, 1]).all())
    table, gap = replay(trials, gaps, generations, args.draws, longest_first=ordered)
    bred, _ = replay(trials, gaps, generations, args.draws, longest_first=False)

    lines = [
        f"{'run':<32}{'wall s':>8}{'speedup':>9}  {'idle share per worker':<28}"
        "admissible  HV (last)  vs 2 workers: candidates / results / front",
        "-" * 130,
    ]
    for name, run in runs.items():
        idle = ", ".join(f"{k} {100 * v:.1f}%" for k, v in run["idle"].items()) or "-"
        same = " / ".join("same" if run[key] == two[key] else "differ"
                          for key in ("candidates", "every", "front"))
        lines.append(
            f"{name:<32}{run['seconds']:>8.0f}{one['seconds'] / run['seconds']:>8.2f}x"
            f"  {idle:<28}{len(run['front']):>10}  {run['hypervolume'][-1]:>9.4f}  {same}")
    lines += [
        "",
        f"Replay of the 2-worker run's {len(durations)} trial times (median "
        f"{np.median(durations):.1f} s, {per_generation:.1f} trained per generation) "
        f"and barrier gaps (mean {gap:.1f} s), {generations} generations, "
        f"{args.draws} draws: median idle share (speedup over 1 worker), "
        + ("handed out longest predicted first, as the oracle does (rank "
           f"correlation of predicted MACs and trial time: "
           f"{rank_correlation(trials[:, 1], durations):.2f})" if ordered
           else "in the drawn order (no predicted costs recorded)"),
        f"{'population':<12}" + "".join(f"{w:>8} w     " for w in (1, 2, 4, 8, 16)),
    ]
    for population in (8, 16, 32, 64):
        lines.append(f"{population:<12}" + "".join(
            f"{100 * table[(population, w)][1]:>6.1f}% "
            f"({table[(population, 1)][0] / table[(population, w)][0]:>4.1f}x)"
            for w in (1, 2, 4, 8, 16)))
    if ordered:
        lines.append("the same, handed out as bred (no ordering): " + "; ".join(
            f"population {p}: " + ", ".join(
                f"{w} w {100 * bred[(p, w)][1]:.1f}%" for w in (2, 4, 8, 16))
            for p in (8, 16)))
    under = []
    for w in (2, 4, 8, 16):
        fits = [p for p in (8, 16, 32, 64) if table[(p, w)][1] <= 0.10]
        under.append(f"{w} workers: population >= {fits[0]}" if fits
                     else f"{w} workers: none up to 64")
    lines.append("Idle share <= 10%: " + "; ".join(under))
    speedup = one["seconds"] / two["seconds"]
    worst = max(two["idle"].values())
    slower = mean_trial_seconds(two["out"]) / mean_trial_seconds(one["out"])
    busy_two = sum(1 - v for v in two["idle"].values())
    busy_one = sum(1 - v for v in one["idle"].values())
    lines += [
        "",
        f"Mean trial time with 2 workers / with 1 worker: {slower:.3f} (the two "
        "cores share caches, memory bandwidth and the chief). Speedup without "
        f"the start and the end (process start-up, data loading): busy shares "
        f"{busy_two:.3f} / {busy_one:.3f} / {slower:.3f} = "
        f"{busy_two / busy_one / slower:.2f}x",
        "",
        "Targets:",
        f"  2 pinned workers / 1 pinned worker: {speedup:.2f}x (target >= 1.8)",
        f"  idle share of the 2 workers: <= {100 * worst:.1f}% (target <= 10%)",
        f"  same candidates, results and front, 2 workers and 1 worker (both one "
        f"thread per worker): {two['every'] == one['every'] and two['front'] == one['front']}"
        + ("" if single is None else
           "; same candidates as the unpinned process (other thread count): "
           f"{two['candidates'] == single['candidates']}"),
    ]
    table_text = "\n".join(lines)
    print()
    print(table_text)
    plot(table, os.path.join(os.path.dirname(args.out), "distributed.png"))
    with open(os.path.join(os.path.dirname(args.out), "distributed.json"), "w") as f:
        json.dump({
            "cpu": cpu_name(), "config": config,
            "runs": runs,
            "replay": {f"{p}x{w}": v for (p, w), v in table.items()},
            "replay_as_bred": {f"{p}x{w}": v for (p, w), v in bred.items()},
            "table": table_text,
        }, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
