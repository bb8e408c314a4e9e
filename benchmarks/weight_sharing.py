"""Weight sharing against training from scratch, on the search-engines problem.

The problem is the Fashion-MNIST one of `benchmarks/search_engines.py`
(16x16, 4,000 training and 2,000 validation images, stratified; the
`search_quick` space; A_min = 0.78, M_max = 250,000 MACs; 4 epochs per
candidate; admissible hypervolume in the normalised space, reference (1, 1)).
One run measures, each figure beside its from-scratch counterpart:

1. `supernet`: one `Supernet` of the space trained `--supernet-epochs` epochs on
   the training split (sandwich rule, in-place distillation); its wall time.
2. `fidelity`: `--candidates` random candidates (within the MAC budget, i.e.
   those a search would train) scored three ways: trained from scratch
   (`CandidateEvaluator`, `--epochs` epochs), on inherited weights
   (`InheritedEvaluator`: batch norm re-estimated, thresholds calibrated) and
   fine-tuned from the inherited weights for `--finetune-epochs` epochs (by
   default as many as from scratch: the same epochs per candidate). Kendall
   tau between inherited and from-scratch validation accuracy (the search's
   objective, thresholds calibrated under M_max; and the final exit's), and
   the mean accuracy of fine-tuned minus from-scratch.
3. `search`: for each of `--seeds`, a from-scratch `NachosSearch`
   (`preselect=4`, population 8 x 4 generations) and a supernet search given
   the same wall time *including the supernet's training*: its GA runs
   (population `--supernet-population`) until the time left would not cover
   fine-tuning its front, then its admissible front is fine-tuned. Admissible
   hypervolume (median over the seeds) of the from-scratch search, of the
   supernet search's inherited archive and of its fine-tuned front; the number
   of candidates each evaluated; hypervolume against wall time (the PNG).
4. `reuse`: searches with other budgets (`--reuse-budgets`, default M_max
   150k, 200k, 300k) on the same trained supernet, each given
   `--reuse-seconds` (default 180 s, fine-tuning included), beside a
   from-scratch search of the same budget.

Usage:

    python benchmarks/weight_sharing.py                        # all stages, ~2 h on 2 cores
    python benchmarks/weight_sharing.py --stages supernet fidelity
    python benchmarks/weight_sharing.py --smoke                # minutes: tiny sizes, not figures

Writes `artifacts/weight_sharing.json` (every figure, every candidate), the
trained supernet beside it (`--supernet PATH` reuses one) and
`artifacts/weight_sharing.png` (hypervolume against wall time).
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_nachos import datasets  # noqa: E402
from keras_nachos.search import CandidateEvaluator  # noqa: E402
from keras_nachos.search import InheritedEvaluator  # noqa: E402
from keras_nachos.search import NachosSearch  # noqa: E402
from keras_nachos.search import SearchCallback  # noqa: E402
from keras_nachos.search import Supernet  # noqa: E402
from keras_nachos.search import admissible_hypervolume  # noqa: E402
from search_engines import make_space  # noqa: E402  (the same space)

STAGES = ("supernet", "fidelity", "search", "reuse")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stages", nargs="+", default=list(STAGES),
                        choices=STAGES)
    parser.add_argument("--dataset", default="fashion_mnist",
                        choices=("fashion_mnist", "digits"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--max-samples", type=int, default=6000)
    parser.add_argument("--validation-split", type=float, default=0.3334)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--min-accuracy", type=float, default=0.78)
    parser.add_argument("--max-macs", type=float, default=250_000)
    parser.add_argument("--epochs", type=int, default=4,
                        help="from-scratch epochs per candidate")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--supernet-epochs", type=int, default=12)
    parser.add_argument("--supernet", default=None,
                        help="a trained supernet file to reuse (skips its "
                             "training; its recorded training time counts)")
    parser.add_argument("--bn-samples", type=int, default=1000,
                        help="training images for an inherited candidate's "
                             "batch-norm re-estimation (1,000: Kendall tau "
                             "0.97 against 2,000 over 30 candidates, 0.6 s "
                             "less a candidate)")
    parser.add_argument("--candidates", type=int, default=24)
    parser.add_argument("--finetune-epochs", type=int, default=None,
                        help="default --epochs")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--supernet-population", type=int, default=32)
    parser.add_argument("--reuse-budgets", nargs="+", type=float,
                        default=[150_000, 200_000, 300_000])
    parser.add_argument("--reuse-seconds", type=float, default=180)
    parser.add_argument("--out", default=os.path.join("artifacts",
                                                      "weight_sharing.json"))
    parser.add_argument("--report", action="store_true",
                        help="print the report (and plot) of --out; run nothing")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes to check the script runs")
    args = parser.parse_args(argv)
    if args.finetune_epochs is None:
        args.finetune_epochs = args.epochs
    if args.smoke:
        args.max_samples, args.epochs, args.finetune_epochs = 900, 1, 1
        args.supernet_epochs, args.candidates = 1, 4
        args.seeds, args.generations = [0], 2
        args.population, args.supernet_population = 4, 8
        args.reuse_budgets, args.reuse_seconds = [args.max_macs], 60
    return args


def kendall_tau(a, b):
    from scipy import stats

    return float(stats.kendalltau(a, b).statistic)


# ----------------------------------------------------------------------
# Stages.

def train_supernet(space, data, args, path):
    if args.supernet:
        supernet = keras.models.load_model(args.supernet)
        with open(args.supernet[:-len(".keras")] + ".json") as f:
            seconds = json.load(f)["train_seconds"]
        print(f"supernet: loaded {args.supernet} (trained in {seconds:.0f} s)")
        return supernet, seconds
    supernet = Supernet(space, seed=0)
    supernet.compile(optimizer=keras.optimizers.Adam(3e-3))
    start = time.time()
    history = supernet.fit(*data.train, validation_data=data.validation,
                           epochs=args.supernet_epochs,
                           batch_size=args.batch_size, verbose=2)
    seconds = time.time() - start
    supernet.save(path)
    with open(path[:-len(".keras")] + ".json", "w") as f:
        json.dump({"train_seconds": seconds,
                   "history": {k: [float(v) for v in vs]
                               for k, vs in history.history.items()}}, f)
    print(f"supernet: {args.supernet_epochs} epochs in {seconds:.0f} s")
    return supernet, seconds


def fidelity(space, supernet, data, args):
    scratch = CandidateEvaluator(
        space, data.train, data.validation, args.min_accuracy, args.max_macs,
        epochs=args.epochs, batch_size=args.batch_size,
    )
    inherited = InheritedEvaluator(
        supernet, data.train, data.validation, args.min_accuracy,
        args.max_macs, epochs=args.finetune_epochs, batch_size=args.batch_size,
        bn_samples=args.bn_samples,
    )
    rows, seen, seed = [], set(), 1000
    while len(rows) < args.candidates:
        values = space.random_values(seed=seed)
        seed += 1
        key = space.candidate_key(values)
        if key in seen or scratch.precheck(values) is not None:
            continue
        seen.add(key)
        row = {"values": values}
        for name, evaluate in (
            ("scratch", scratch),
            ("inherited", inherited),
            ("finetuned", lambda v: inherited.finetune(v)),
        ):
            metrics, _ = evaluate(values)
            row[name] = {k: metrics[k] for k in (
                "accuracy", "expected_macs", "final_accuracy", "train_seconds")}
            keras.backend.clear_session()
        rows.append(row)
        print(f"  candidate {len(rows)}/{args.candidates}: accuracy scratch "
              f"{row['scratch']['accuracy']:.4f} inherited "
              f"{row['inherited']['accuracy']:.4f} fine-tuned "
              f"{row['finetuned']['accuracy']:.4f}", flush=True)

    def column(name, key):
        return [r[name][key] for r in rows]

    summary = {
        "kendall_tau_accuracy": kendall_tau(column("inherited", "accuracy"),
                                            column("scratch", "accuracy")),
        "kendall_tau_final_accuracy": kendall_tau(
            column("inherited", "final_accuracy"),
            column("scratch", "final_accuracy")),
        "mean_scratch_accuracy": float(np.mean(column("scratch", "accuracy"))),
        "mean_inherited_accuracy": float(np.mean(column("inherited", "accuracy"))),
        "mean_finetuned_accuracy": float(np.mean(column("finetuned", "accuracy"))),
        "mean_finetuned_minus_scratch": float(np.mean(
            np.subtract(column("finetuned", "accuracy"),
                        column("scratch", "accuracy")))),
        "mean_seconds": {n: float(np.mean(column(n, "train_seconds")))
                         for n in ("scratch", "inherited", "finetuned")},
    }
    return {"candidates": rows, "summary": summary}


class _Timeline(SearchCallback):
    """Logs (seconds, accuracy, MACs, status) per trial and, given a
    `deadline` (time.time()), stops the GA while the time left still covers
    fine-tuning the admissible front (`finetune_seconds` a candidate)."""

    def __init__(self, deadline=None, finetune_seconds=0.0):
        self.started = time.time()
        self.deadline = deadline
        self.finetune_seconds = finetune_seconds
        self.points = []

    def on_trial_end(self, tuner, trial, evaluation):
        if evaluation is not None:
            self.points.append((time.time() - self.started, evaluation.accuracy,
                                evaluation.expected_macs, evaluation.status))
        if self.deadline is not None:
            reserve = len(tuner.admissible_front()) * self.finetune_seconds
            if time.time() + reserve > self.deadline:
                tuner.stop_search()


def hv_curve(points, min_accuracy, max_macs, offset=0.0):
    """Admissible hypervolume after each evaluation: [(seconds, hv)]."""
    curve, seen = [], []
    for seconds, accuracy, macs, _ in points:
        seen.append((accuracy, macs))
        curve.append((offset + seconds,
                      admissible_hypervolume(seen, min_accuracy, max_macs)))
    return curve


def scratch_search(space, data, args, seed, max_macs, workdir):
    tuner = NachosSearch(
        space, args.min_accuracy, max_macs, population_size=args.population,
        generations=args.generations, preselect=4, seed=seed,
        directory=workdir, project_name=f"scratch_{seed}_{max_macs:.0f}",
        overwrite=True,
    )
    timeline = _Timeline()
    tuner.search(*data.train, validation_data=data.validation,
                 epochs=args.epochs, batch_size=args.batch_size, verbose=0,
                 trial_callbacks=[timeline])
    wall = time.time() - timeline.started
    points = timeline.points
    return {
        "seed": seed, "max_macs": max_macs, "wall_seconds": wall,
        # Candidates trained (those the precheck scored without training,
        # over M_max at their first exit, are not counted on either side).
        "evaluated": len(points),
        "screened": tuner.oracle.unique_evaluations,
        "hypervolume": admissible_hypervolume(
            [(a, m) for _, a, m, _ in points], args.min_accuracy, max_macs),
        "admissible": len(tuner.admissible_front()),
        "curve": hv_curve(points, args.min_accuracy, max_macs),
    }


def supernet_search(space, supernet, data, args, seed, max_macs, budget,
                    spent, finetune_seconds, workdir):
    """A supernet search in `budget` seconds, `spent` of them gone already
    (the supernet's training), fine-tuning its front (`finetune_seconds` a
    candidate) included; returns its figures.

    No pre-selection (`preselect=1`): ranking 4x the bred candidates costs a
    build of each for its MACs (~0.3 s), a good part of an inherited
    evaluation (1.0-1.2 s), where it pays for itself against a training.
    """
    tuner = NachosSearch(
        space, args.min_accuracy, max_macs,
        population_size=args.supernet_population, generations=1000,
        preselect=1, seed=seed, supernet=supernet, directory=workdir,
        evaluator_options={"bn_samples": args.bn_samples},
        project_name=f"supernet_{seed}_{max_macs:.0f}", overwrite=True,
    )
    started = time.time()
    timeline = _Timeline(deadline=started + max(0.0, budget - spent),
                         finetune_seconds=finetune_seconds)
    # Stopped at the deadline, the search fine-tunes its front all the same.
    tuner.search(*data.train, validation_data=data.validation,
                 epochs=args.finetune_epochs, batch_size=args.batch_size,
                 verbose=0, finetune_epochs=args.finetune_epochs,
                 trial_callbacks=[timeline])
    wall = time.time() - started
    points = timeline.points
    front = tuner.admissible_front()
    tuned = [(s["finetuned"]["accuracy"], s["finetuned"]["expected_macs"])
             for s in front if "finetuned" in s]
    return {
        "seed": seed, "max_macs": max_macs, "wall_seconds": wall,
        "total_seconds": wall + spent,
        "evaluated": len(points),
        "finetuned": len(tuned),
        "generations": tuner.oracle.generation,
        "hypervolume_inherited": admissible_hypervolume(
            [(a, m) for _, a, m, _ in points], args.min_accuracy, max_macs),
        "hypervolume_finetuned": admissible_hypervolume(
            tuned, args.min_accuracy, max_macs),
        "front": [{"inherited": [s["accuracy"], s["expected_macs"]],
                   "finetuned": [s["finetuned"]["accuracy"],
                                 s["finetuned"]["expected_macs"]]}
                  for s in front if "finetuned" in s],
        "curve": hv_curve(points, args.min_accuracy, max_macs, offset=spent),
    }


# ----------------------------------------------------------------------
# Report.

def print_report(results):
    lines = []
    if "supernet" in results:
        lines.append(f"supernet training: {results['supernet']['seconds']:.0f} s")
    if "fidelity" in results:
        f = results["fidelity"]["summary"]
        n = len(results["fidelity"]["candidates"])
        lines += [
            f"ranking fidelity over {n} random candidates within the budget:",
            f"  Kendall tau inherited vs scratch: accuracy {f['kendall_tau_accuracy']:.3f},"
            f" final exit {f['kendall_tau_final_accuracy']:.3f} (target >= 0.6)",
            f"  mean accuracy: scratch {f['mean_scratch_accuracy']:.4f}, inherited "
            f"{f['mean_inherited_accuracy']:.4f}, fine-tuned "
            f"{f['mean_finetuned_accuracy']:.4f} (fine-tuned - scratch "
            f"{f['mean_finetuned_minus_scratch']:+.4f}; target >= 0)",
            "  seconds per candidate: scratch {scratch:.1f}, inherited "
            "{inherited:.1f}, fine-tune {finetuned:.1f}".format(**f["mean_seconds"]),
        ]
    if "search" in results:
        s = results["search"]
        scratch = statistics.median(r["hypervolume"] for r in s["scratch"])
        inherited = statistics.median(r["hypervolume_inherited"] for r in s["supernet"])
        tuned = statistics.median(r["hypervolume_finetuned"] for r in s["supernet"])
        lines += [
            "search at the same wall time (supernet training included), "
            f"median over {len(s['scratch'])} seeds:",
            f"  {'':24} {'scratch':>9} {'supernet':>9}",
            f"  {'wall s (median)':24} "
            f"{statistics.median(r['wall_seconds'] for r in s['scratch']):>9.0f} "
            f"{statistics.median(r['total_seconds'] for r in s['supernet']):>9.0f}",
            f"  {'candidates scored':24} "
            f"{statistics.median(r['evaluated'] for r in s['scratch']):>9.0f} "
            f"{statistics.median(r['evaluated'] for r in s['supernet']):>9.0f}",
            f"  {'admissible HV':24} {scratch:>9.4f} {tuned:>9.4f}  (fine-tuned "
            f"front; inherited archive {inherited:.4f})",
            f"  HV ratio supernet / scratch: {tuned / scratch if scratch else float('nan'):.2f}x "
            "(target >= 1.3x)",
        ]
    if "reuse" in results:
        lines.append("reuse of the trained supernet (other budgets):")
        lines.append(f"  {'M_max':>9} {'scratch s':>9} {'scratch HV':>10} "
                     f"{'supernet s':>10} {'inherited HV':>12} {'tuned HV':>9}")
        for r in results["reuse"]:
            a, b = r.get("scratch"), r.get("supernet")
            left = (f"{a['wall_seconds']:>9.0f} {a['hypervolume']:>10.4f}"
                    if a else f"{'-':>9} {'-':>10}")
            right = (f"{b['wall_seconds']:>10.0f} "
                     f"{b['hypervolume_inherited']:>12.4f} "
                     f"{b['hypervolume_finetuned']:>9.4f}"
                     if b else f"{'-':>10} {'-':>12} {'-':>9}")
            lines.append(f"  {r['max_macs']:>9,.0f} {left} {right}")
    print("\n".join(lines))


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, runs, color in (("from scratch", results["search"]["scratch"], "C0"),
                              ("supernet (inherited)",
                               results["search"]["supernet"], "C1")):
        for i, run in enumerate(runs):
            curve = np.asarray(run["curve"] or [[0, 0]])
            ax.step(curve[:, 0], curve[:, 1], where="post", color=color,
                    alpha=0.8, label=name if i == 0 else None)
    for i, run in enumerate(results["search"]["supernet"]):
        ax.plot([run["total_seconds"]], [run["hypervolume_finetuned"]], "*",
                color="C3", markersize=12,
                label="supernet, fine-tuned front" if i == 0 else None)
    ax.axvline(results["supernet"]["seconds"], color="gray", ls=":",
               label="supernet trained")
    ax.set_xlabel("wall time, s (2 cores)")
    ax.set_ylabel("admissible hypervolume")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    if args.report:
        with open(args.out) as f:
            results = json.load(f)
        print_report(results)
        if results.get("search", {}).get("supernet"):
            plot(results, args.out[:-len(".json")] + ".png")
        return 0
    data = datasets.load(args.dataset, image_size=(args.image_size,) * 2,
                         validation_split=args.validation_split,
                         data_dir=args.data_dir, max_samples=args.max_samples)
    space = make_space(data)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    results = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            results = json.load(f)  # Stages run before are kept.
    results["config"] = {**vars(args), "space": space.get_config()}
    path = args.out[:-len(".json")] + "_supernet.keras"
    supernet, seconds = train_supernet(space, data, args, path)
    results["supernet"] = {"seconds": seconds,
                           "path": args.supernet or path,
                           "epochs": args.supernet_epochs}
    workdir = tempfile.mkdtemp(prefix="weight_sharing_")

    def save():  # After every stage and seed: an interrupted run keeps them.
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)

    save()
    try:
        if "fidelity" in args.stages:
            print("== fidelity ==", flush=True)
            results["fidelity"] = fidelity(space, supernet, data, args)
            save()
        # A fine-tune costs about what a training from scratch of as many
        # epochs does (fidelity: 23.1 s against 21.9 s): measured by the
        # fidelity stage, else by the from-scratch searches of this run.
        finetune_seconds = results.get("fidelity", {}).get(
            "summary", {}).get("mean_seconds", {}).get("finetuned")

        def estimate(run):
            if finetune_seconds is not None:
                return finetune_seconds
            return (run["wall_seconds"] / max(1, run["evaluated"])
                    * args.finetune_epochs / args.epochs)

        if "search" in args.stages:
            runs = results["search"] = {"scratch": [], "supernet": []}
            for seed in args.seeds:
                print(f"== search seed {seed} ==", flush=True)
                runs["scratch"].append(scratch_search(
                    space, data, args, seed, args.max_macs, workdir))
                save()
                budget = runs["scratch"][-1]["wall_seconds"]
                runs["supernet"].append(supernet_search(
                    space, supernet, data, args, seed, args.max_macs, budget,
                    seconds, estimate(runs["scratch"][-1]), workdir))
                save()
                print(f"   scratch HV {runs['scratch'][-1]['hypervolume']:.4f} "
                      f"({runs['scratch'][-1]['evaluated']} candidates) in "
                      f"{budget:.0f} s; supernet HV "
                      f"{runs['supernet'][-1]['hypervolume_finetuned']:.4f} "
                      f"({runs['supernet'][-1]['evaluated']} candidates)",
                      flush=True)
        if "reuse" in args.stages:
            # The supernet searches first, their from-scratch counterparts
            # after them: the longest part comes last.
            reference = (results.get("search", {}).get("scratch") or [None])[0]
            results["reuse"] = [{"max_macs": m} for m in args.reuse_budgets]
            for row in results["reuse"]:
                print(f"== reuse M_max {row['max_macs']:,.0f}: supernet ==",
                      flush=True)
                row["supernet"] = supernet_search(
                    space, supernet, data, args, 0, row["max_macs"],
                    args.reuse_seconds, 0.0,
                    estimate(reference) if reference else 20.0, workdir)
                save()
            for row in results["reuse"]:
                print(f"== reuse M_max {row['max_macs']:,.0f}: from scratch ==",
                      flush=True)
                row["scratch"] = scratch_search(
                    space, data, args, 0, row["max_macs"], workdir)
                save()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    save()
    print_report(results)
    if results.get("search", {}).get("supernet") and "supernet" in results:
        png = args.out[:-len(".json")] + ".png"
        plot(results, png)
        print(f"wrote {args.out} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
