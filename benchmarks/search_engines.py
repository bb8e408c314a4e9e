"""Search engines side by side: keras_nachos vs Keras Tuner RandomSearch vs Optuna NSGA-II.

One search space, one evaluation function and one budget for every engine
(METHODS.md section 5):

- space: the `examples/search_quick.py` preset on scikit-learn's digits at
  16x16 (3 stages with widths [[8, 12], [12, 16], [16, 24]], depths 1-2,
  kernels 3/5/7, expansion 2/3/4, two optional early exits, each with one of
  three head designs and two head widths: 18 hyperparameters);
- constraints: validation accuracy >= `--min-accuracy` (A_min, default 0.95)
  and expected MACs <= `--max-macs` (M_max, default 200,000). At these
  settings about 3 in 4 random candidates are infeasible before training (their
  first exit alone costs more than M_max) and some of the rest miss A_min;
- evaluation (the library's `CachedEvaluation`, the same object type for
  every engine, a fresh one per engine and seed): repair the values
  (`SearchSpace.repair`),
  key them by their canonical JSON; a key seen before is served from the cache
  (no training); otherwise `CandidateEvaluator.precheck` scores a candidate
  whose first exit alone exceeds M_max as infeasible without training, and the
  others are trained (`--epochs` epochs) and scored on the validation split
  (thresholds calibrated under M_max). `CandidateEvaluator` seeds each
  training from the candidate's values, so a candidate gets the same score
  whichever engine asks for it (up to CPU thread nondeterminism);
- budget: P x G trainings (`--population` x `--generations`, default
  8 x 4 = 32) for every engine, i.e. the same number of evaluations that cost
  anything. Cache hits and prechecked candidates (no training; a model build
  and a MAC count, ~0.2 s) are free for every engine: Keras Tuner and Optuna
  keep asking until they have had P x G trainings (at most
  `--max-requests-factor` x P x G requests). Reported as well: requests,
  unique evaluations, cache hits and wall time;
- engines:
  * keras_nachos: `NachosSearch` (constrained NSGA-II, `NSGA2Oracle`) with
    `run_trial` routed to the shared evaluation, `generations=G`, offspring
    pre-selection `preselect=--preselect` (default 4: each generation breeds
    4 x P candidates, drops those its precheck rejects, ranks the others with
    its surrogate and trains P). Its precheck is the library's (the same
    static test as the shared one, through its own `CandidateEvaluator`):
    what it rejects never reaches the shared evaluation. The oracle's own
    cache answers its duplicates. If a generation holds prechecked candidates
    (fewer than P passing in 4 x P), they take a slot and keras_nachos trains
    fewer than P x G. Model files are not written (nor by the other engines).
    `--engines keras_nachos_plain` runs it with `preselect=1` (plain NSGA-II,
    P x G slots, prechecked ones included) as an ablation;
  * kt_random: `keras_tuner.RandomSearch` over
    `space.hyperparameters()`, objective `accuracy` (max) with the expected
    MACs logged as an extra metric: a random search does not use its
    objective to propose candidates, and a list objective would only be
    Keras Tuner's plain sum (MACs minus accuracy), not a Pareto ranking.
    Keras Tuner turns `seed=0` into a random seed, so its seed is `seed + 1`;
  * optuna_nsga2: `optuna.samplers.NSGAIISampler(population_size=P,
    seed=seed)`, directions (maximize accuracy, minimize MACs), every
    hyperparameter suggested by its Keras Tuner type (Choice ->
    `suggest_categorical`, Int -> `suggest_int`, Float -> `suggest_float`,
    Boolean -> `suggest_categorical([False, True])`). Constraints natively:
    `trial.set_constraint` (Optuna >= 5, where `constraints_func` is
    deprecated) or, on Optuna 4, `set_user_attr("constraints", ...)` read by
    `constraints_func`. They are normalised like keras_nachos' violation,
    `(A_min - acc) / (1 - A_min)` and `(macs - M_max) / M_max`, so both GAs
    rank infeasible candidates on the same scale (feasibility is unchanged).
- score: `admissible_hypervolume` (keras_nachos.search.pareto) of every
  candidate an engine evaluated, in the normalised space f1 = error / (1 -
  A_min), f2 = E[MACs] / M_max, reference (1, 1), admissible points only; the
  median over `--seeds` (default 0 1 2). Also reported: unique evaluations,
  trainings, cache hits, wall time, and the hypervolume after each block of P
  evaluations.

BatchNorm statistics: with the ~100 training steps a candidate gets here,
Keras' default BatchNorm momentum (0.99) would leave the moving statistics far
from the data's and every candidate would score at chance on the validation
split; the search blocks use momentum 0.9 (`blocks.BN_MOMENTUM`), which
settles.

Optuna is a benchmark dependency only: `pip install "optuna>=4"` (or
`pip install -e .[bench]`).

`--dataset fashion_mnist` (Debian's `dataset-fashion-mnist`, or
`--data-dir`) runs the same space on Fashion-MNIST at 16x16; use
`--max-samples` to cap train + validation (stratified) so that a run still
fits in about an hour, e.g. `--max-samples 6000 --validation-split 0.3334
--epochs 4 --min-accuracy 0.78 --max-macs 250000` (4,000 training and 2,000
validation images).

Usage:

    python benchmarks/search_engines.py                      # ~70 min on 2 cores
    python benchmarks/search_engines.py --seeds 0 --generations 2 --epochs 1   # smoke test

Writes `artifacts/search_engines.json` and `artifacts/search_engines.png`
(`--replot JSON` redraws the PNG and reprints the table of a results file;
`--replot A.json B.json --out C.json` merges runs of the same problem, e.g.
more seeds run later with `--seeds 3 4`).
"""

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras_tuner as kt  # noqa: E402
import numpy as np  # noqa: E402

from keras_nachos import datasets  # noqa: E402
from keras_nachos.reporting.seed_noise import seed_noise  # noqa: E402
from keras_nachos.search import CachedEvaluation  # noqa: E402
from keras_nachos.search import CandidateEvaluator  # noqa: E402
from keras_nachos.search import NachosSearch  # noqa: E402
from keras_nachos.search import SearchSpace  # noqa: E402
from keras_nachos.search import SpaceHyperModel  # noqa: E402
from keras_nachos.search import admissible_hypervolume  # noqa: E402

ENGINES = ("keras_nachos", "kt_random", "optuna_nsga2", "keras_nachos_plain")
DEFAULT_ENGINES = ("keras_nachos", "kt_random", "optuna_nsga2")
TARGETS = {"optuna_nsga2": 1.1, "kt_random": 1.2}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engines", nargs="+", default=list(DEFAULT_ENGINES),
                        choices=ENGINES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=4,
                        help="Generations including the random first one; "
                             "budget = population x generations trainings.")
    parser.add_argument("--preselect", type=int, default=4,
                        help="keras_nachos' offspring pre-selection factor.")
    parser.add_argument("--max-requests-factor", type=int, default=30,
                        help="Keras Tuner and Optuna stop after this many "
                             "times the budget in requests.")
    parser.add_argument("--min-accuracy", type=float, default=0.95)
    parser.add_argument("--max-macs", type=float, default=200_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--dataset", default="digits",
                        choices=("digits", "fashion_mnist"),
                        help="fashion_mnist needs Debian's "
                             "dataset-fashion-mnist (or --data-dir).")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--max-samples", type=int, default=None,
                        help="Cap on train + validation images "
                             "(stratified), e.g. 6000 for fashion_mnist.")
    parser.add_argument("--validation-split", type=float, default=0.1,
                        help="Share of the training data held out for the "
                             "objectives (0.1: 144 digits images, where one "
                             "image is 0.7 points of accuracy).")
    parser.add_argument("--out", default=None,
                        help="Results JSON (a PNG is written beside it). "
                             "Defaults to artifacts/search_engines.json.")
    parser.add_argument("--quiet", action="store_true",
                        help="No line per evaluation.")
    parser.add_argument("--replot", metavar="JSON", nargs="+",
                        help="Only redraw the PNG (and reprint the table) of "
                             "a results file this script wrote. Several "
                             "files of the same problem (other seeds) are "
                             "merged into --out, which must then be given.")
    return parser.parse_args(argv)


def make_space(data):
    return SearchSpace(
        data.input_shape, data.num_classes,
        stage_widths=[[8, 12], [12, 16], [16, 24]],
        depths=(1, 2), kernel_sizes=(3, 5, 7), expansion_ratios=(2, 3, 4),
        head_types=("global_pool", "sdn", "conv"), head_widths=(0, 32),
    )


# ----------------------------------------------------------------------
# The shared evaluation function.

def network_key(space, values):
    """Key without the head genes of disabled exits (same network)."""
    values = dict(values)
    for s in space.exit_positions:
        if not values.get(f"exit_{s}"):
            values.pop(f"exit_{s}_head", None)
            values.pop(f"exit_{s}_head_width", None)
    return space.candidate_key(values)


def progress_printer(label):
    """`CachedEvaluation(on_result=...)`: a line per fresh evaluation."""

    def report(result, request):
        if result.cached:
            return
        flag = ("admissible" if result.admissible
                else result.status if result.status != "trained"
                else "infeasible")
        print(f"    [{label}] request {request}: acc={result.accuracy:.4f} "
              f"macs={result.expected_macs:,.0f} {flag} "
              f"({result.seconds:.1f}s)", flush=True)

    return report


# ----------------------------------------------------------------------
# Engines.

def run_nachos(shared, space, data, args, seed, workdir, preselect=None):
    # The trials go to the shared evaluation (and its cache).
    tuner = NachosSearch(
        evaluation=shared,
        search_space=space, min_accuracy=args.min_accuracy,
        max_macs=args.max_macs, population_size=args.population,
        generations=args.generations, seed=seed,
        preselect=args.preselect if preselect is None else preselect,
        directory=workdir, project_name=f"nachos_{seed}", overwrite=True,
    )
    tuner.search(verbose=0)
    oracle = tuner.oracle
    archive = oracle.archive
    return {
        "requests": oracle.total_evaluations,
        "engine_cache_hits": oracle.total_evaluations - oracle.unique_evaluations,
        "engine_unique": oracle.unique_evaluations,
        "engine_hypervolume": admissible_hypervolume(
            [e for e in archive if e["status"] == "completed"],
            args.min_accuracy, args.max_macs,
            key=lambda e: (e["accuracy"], e["macs"])),
        "hypervolume_history": oracle.hypervolume_history,
        "engine_prechecked": sum(
            1 for e in archive if e["status"] == "skipped"),
        "engine_screened": oracle.screened,
    }


def run_nachos_plain(shared, space, data, args, seed, workdir):
    return run_nachos(shared, space, data, args, seed, workdir, preselect=1)


class _BenchRandomSearch(kt.RandomSearch):
    def __init__(self, shared, budget, **kwargs):
        self.shared = shared
        self.budget = budget
        super().__init__(**kwargs)

    def run_trial(self, trial, *args, **kwargs):
        result = self.shared(trial.hyperparameters.values)
        if self.shared.trained >= self.budget:
            # Budget spent: no trial after this one.
            self.oracle.max_trials = len(self.oracle.trials)
        return {"accuracy": result.accuracy,
                "expected_macs": result.expected_macs}


def run_kt_random(shared, space, data, args, seed, workdir):
    budget = args.population * args.generations
    tuner = _BenchRandomSearch(
        shared, budget,
        hypermodel=SpaceHyperModel(space),
        hyperparameters=space.hyperparameters(),
        objective=kt.Objective("accuracy", "max"),
        max_trials=budget * args.max_requests_factor,
        seed=seed + 1,  # Keras Tuner replaces seed 0 by a random one.
        directory=workdir, project_name=f"random_{seed}", overwrite=True,
    )
    tuner.search(verbose=0)
    trials = [t for t in tuner.oracle.trials.values()
              if t.status == "COMPLETED"]
    return {"requests": shared.requests, "engine_trials": len(trials)}


def _suggest(trial, hp):
    kind = type(hp).__name__
    if kind == "Boolean":
        return trial.suggest_categorical(hp.name, [False, True])
    if kind == "Choice":
        return trial.suggest_categorical(hp.name, list(hp.values))
    if kind == "Int":
        return trial.suggest_int(hp.name, hp.min_value, hp.max_value,
                                 step=hp.step or 1,
                                 log=hp.sampling == "log")
    if kind == "Float":
        return trial.suggest_float(hp.name, hp.min_value, hp.max_value,
                                   step=hp.step, log=hp.sampling == "log")
    if kind == "Fixed":
        return hp.value
    raise TypeError(f"No Optuna counterpart for {kind} `{hp.name}`.")


def run_optuna(shared, space, data, args, seed, workdir):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    native = hasattr(optuna.trial.Trial, "set_constraint")
    a_min, m_max = args.min_accuracy, args.max_macs

    def constraints(accuracy, macs):
        return {"accuracy": (a_min - accuracy) / (1.0 - a_min),
                "macs": (macs - m_max) / m_max}

    sampler_options = {}
    if not native:  # Optuna 4: constraints through `constraints_func`.
        sampler_options["constraints_func"] = (
            lambda frozen: frozen.user_attrs["constraints"])
    sampler = optuna.samplers.NSGAIISampler(
        population_size=args.population, seed=seed, **sampler_options)
    study = optuna.create_study(
        directions=["maximize", "minimize"], sampler=sampler)
    hps = space.hyperparameters().space

    def objective(trial):
        values = {hp.name: _suggest(trial, hp) for hp in hps}
        result = shared(values)
        violations = constraints(result.accuracy, result.expected_macs)
        if native:
            for name, value in violations.items():
                trial.set_constraint(name, value)
        else:
            trial.set_user_attr("constraints", list(violations.values()))
        return result.accuracy, result.expected_macs

    budget = args.population * args.generations

    def stop_when_spent(study, trial):
        if shared.trained >= budget:
            study.stop()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.optimize(objective, n_trials=budget * args.max_requests_factor,
                       callbacks=[stop_when_spent])
    return {"requests": shared.requests, "optuna_version": optuna.__version__,
            "constraints_api": "set_constraint" if native else
            "constraints_func"}


RUNNERS = {"keras_nachos": run_nachos, "kt_random": run_kt_random,
           "optuna_nsga2": run_optuna, "keras_nachos_plain": run_nachos_plain}


# ----------------------------------------------------------------------

def run_one(engine, seed, space, data, args, workdir):
    evaluator = CandidateEvaluator(
        space, data.train, data.validation, args.min_accuracy, args.max_macs,
        epochs=args.epochs, batch_size=args.batch_size,
    )
    shared = CachedEvaluation(
        evaluator, clear_session=True,
        on_result=None if args.quiet else progress_printer(f"{engine} s{seed}"),
    )
    start = time.time()
    extra = RUNNERS[engine](shared, space, data, args, seed, workdir)
    wall = time.time() - start
    hv = admissible_hypervolume(shared.points(), args.min_accuracy,
                                args.max_macs)
    p = args.population
    requests = extra["requests"]
    # Hypervolume after each block of P trainings (failed ones included).
    trainings = np.cumsum([e.status != "skipped" and not e.cached
                           for e in shared.log])
    anytime = []
    for block in range(p, shared.trained + shared.failed + p, p):
        upto = int(np.searchsorted(trainings, block) + 1)
        anytime.append(admissible_hypervolume(
            shared.points(upto), args.min_accuracy, args.max_macs))
    # The other accounting: the same number of calls to the evaluation
    # function (P x G), a prechecked or cached call counting as one.
    # keras_nachos' own precheck and cache answer inside the engine and
    # never call it.
    same_requests = admissible_hypervolume(
        shared.points(p * args.generations), args.min_accuracy,
        args.max_macs)
    nachos = engine.startswith("keras_nachos")
    cache_hits = shared.cache_hits
    skipped = shared.skipped
    if nachos:
        cache_hits += extra["engine_cache_hits"]
        skipped += extra["engine_prechecked"]
    admissible = sum(1 for e in shared.log if not e.cached and e.admissible)
    return {
        "engine": engine,
        "seed": seed,
        "hypervolume": hv,
        "hypervolume_same_requests": same_requests,
        "requests": requests,
        "unique_evaluations": len(shared.cache)
        + (extra["engine_prechecked"] if nachos else 0),
        "unique_networks": len({network_key(space, e.values)
                                for e in shared.cache.values()}),
        "trained": shared.trained,
        "skipped_by_precheck": skipped,
        "failed": shared.failed,
        "cache_hits": cache_hits,
        "admissible_unique": admissible,
        "wall_seconds": wall,
        "train_seconds": shared.train_seconds,
        "hypervolume_per_block": anytime,
        "points": [
            {"accuracy": e.accuracy, "expected_macs": e.expected_macs,
             "status": e.status, "admissible": e.admissible,
             "request": i + 1}
            for i, e in enumerate(shared.log) if not e.cached
        ],
        **{k: v for k, v in extra.items()
           if k not in ("requests", "hypervolume_history")},
    }


def summarise(runs, engines):
    summary = {}
    for engine in engines:
        mine = sorted((r for r in runs if r["engine"] == engine),
                      key=lambda r: r["seed"])
        summary[engine] = {
            "median_hypervolume": statistics.median(
                r["hypervolume"] for r in mine),
            "hypervolumes": [r["hypervolume"] for r in mine],
            "median_hypervolume_same_requests": statistics.median(
                r["hypervolume_same_requests"] for r in mine),
            "hypervolumes_same_requests": [
                r["hypervolume_same_requests"] for r in mine],
            "seeds": [r["seed"] for r in mine],
            "median_requests": statistics.median(r["requests"] for r in mine),
            "median_unique": statistics.median(
                r["unique_evaluations"] for r in mine),
            "median_trained": statistics.median(r["trained"] for r in mine),
            "cache_hit_rate": sum(r["cache_hits"] for r in mine)
            / max(1, sum(r["requests"] for r in mine)),
            "median_admissible": statistics.median(
                r["admissible_unique"] for r in mine),
            "median_wall_seconds": statistics.median(
                r["wall_seconds"] for r in mine),
        }
    return summary


def _p_value(noise):
    """The p-value for print; a sampled one below 0.001 as "< 0.001"."""
    p = noise["rank_sum_p"]
    if p >= 0.001:
        return f"{p:.3f}"
    return f"{p:.1e}" if noise["exhaustive"] else "< 0.001"


def print_table(summary, args):
    ref = summary.get("keras_nachos", {}).get("median_hypervolume")
    budget = args.population * args.generations
    print()
    print(f"{args.dataset} "
          f"{args.image_size}x{args.image_size}, A_min="
          f"{args.min_accuracy}, M_max={args.max_macs:,.0f} MACs, "
          f"P={args.population}, G={args.generations} (budget {budget} "
          f"trainings), {args.epochs} epochs/candidate, seeds {args.seeds}")
    width = max(24, 6 * len(args.seeds) + 2)
    header = (f"{'engine':<19}{'median HV':>10}  {'HV per seed':<{width}}"
              f"{'asked':>6}{'unique':>7}{'trained':>8}{'hits':>6}"
              f"{'admis.':>7}{'wall s':>8}{'HV/nachos':>10}")
    print(header)
    print("-" * len(header))
    for engine, s in summary.items():
        per_seed = " ".join(f"{v:.3f}" for v in s["hypervolumes"])
        ratio = (s["median_hypervolume"] / ref) if ref else float("nan")
        print(f"{engine:<19}{s['median_hypervolume']:>10.3f}  "
              f"{per_seed:<{width}}"
              f"{s['median_requests']:>6.0f}{s['median_unique']:>7.0f}"
              f"{s['median_trained']:>8.0f}{s['cache_hit_rate']:>6.0%}"
              f"{s['median_admissible']:>7.0f}"
              f"{s['median_wall_seconds']:>8.0f}{ratio:>10.2f}")
    print("(asked/unique/trained/admis.: medians over seeds; hits: cache hits "
          "/ requests over all seeds; admis.: unique admissible candidates)")
    print(f"Same number of evaluation calls ({budget}, a prechecked or "
          "cached call counting as one; keras_nachos' own precheck never "
          "calls):")
    for engine, s in summary.items():
        per_seed = " ".join(
            f"{v:.3f}" for v in s["hypervolumes_same_requests"])
        print(f"{engine:<19}{s['median_hypervolume_same_requests']:>10.3f}  "
              f"{per_seed}")
    verdicts = {}
    for accounting, key, values in (
            ("same_trainings", "median_hypervolume", "hypervolumes"),
            ("same_requests", "median_hypervolume_same_requests",
             "hypervolumes_same_requests")):
        ref = summary.get("keras_nachos", {}).get(key)
        if ref is None:
            continue
        verdicts[accounting] = {}
        ours = dict(zip(summary["keras_nachos"]["seeds"],
                        summary["keras_nachos"][values]))
        for engine, target in TARGETS.items():
            if engine not in summary:
                continue
            other = summary[engine][key]
            if other > 0:
                ratio = ref / other
            else:  # Undefined when neither engine found an admissible point.
                ratio = math.inf if ref > 0 else math.nan
            met = bool(ratio >= target)
            verdicts[accounting][engine] = {
                "ratio": ratio, "target": target, "met": met}
            print(f"{accounting}: keras_nachos / {engine}: {ratio:.2f}x "
                  f"(target >= {target}x): {'MET' if met else 'NOT MET'}")
            theirs = dict(zip(summary[engine]["seeds"],
                              summary[engine][values]))
            if len(ours) < 2 or len(theirs) < 2:
                continue
            noise = seed_noise(list(ours.values()), list(theirs.values()),
                               target)
            shared = sorted(set(ours) & set(theirs))
            noise["seeds_won"] = sum(ours[k] > theirs[k] for k in shared)
            noise["seeds_shared"] = len(shared)
            verdicts[accounting][engine]["seed_noise"] = noise
            print(f"    seeds won {noise['seeds_won']}/{len(shared)}; "
                  f"one-sided rank-sum p = {_p_value(noise)}; "
                  f"ratio >= {target}x in "
                  f"{noise['share_reaching_target']:.1%} of "
                  f"{noise['splits']:,} "
                  f"{'relabellings' if noise['exhaustive'] else 'random relabellings'}"
                  " of the per-seed values")
    return verdicts


def plot(results, path):
    """Two panels: median hypervolume per block of P trainings (thin lines:
    seeds), and every evaluated candidate of every seed in the normalised
    space, admissible box shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    config = results["config"]
    a_min, m_max = config["min_accuracy"], config["max_macs"]
    p = config["population"]
    engines = list(results["summary"])
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    markers = ["o", "s", "^", "D"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5))
    worst = []  # every plotted f1, to size the y axis
    for i, engine in enumerate(engines):
        color = colors[i % len(colors)]
        runs = [r for r in results["runs"] if r["engine"] == engine]
        curves = [r["hypervolume_per_block"] for r in runs]
        for curve in curves:
            xs = [p * (k + 1) for k in range(len(curve))]
            left.plot(xs, curve, "-", lw=0.7, alpha=0.4, color=color)
        length = min(len(c) for c in curves)
        median = [statistics.median(c[k] for c in curves)
                  for k in range(length)]
        left.plot([p * (k + 1) for k in range(length)], median, "-o", lw=2,
                  color=color, label=f"{engine} (median)")
        f1, f2 = [], []
        for r in runs:
            for point in r["points"]:
                if point["status"] == "skipped":
                    continue
                f1.append((1 - point["accuracy"]) / (1 - a_min))
                f2.append(point["expected_macs"] / m_max)
        worst.extend(f1)
        right.scatter(f2, f1, s=18, alpha=0.6, color=color,
                      marker=markers[i % len(markers)], label=engine)
    left.set_xlabel(f"trainings (blocks of P={p})")
    left.set_ylabel("admissible hypervolume")
    left.set_title("Hypervolume against trainings")
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    right.fill_between([0, 1], 0, 1, color="green", alpha=0.08)
    right.axhline(1, color="gray", lw=0.8, ls="--")
    right.axvline(1, color="gray", lw=0.8, ls="--")
    right.set_xlim(0, 1.6)
    # Up to 2.2 x the admissible error band; less when nothing is that bad.
    right.set_ylim(0, min(2.2, max(1.2, 1.05 * max(worst, default=0.0))))
    right.set_xlabel("E[MACs] / M_max")
    right.set_ylabel("validation error / (1 - A_min)")
    right.set_title(f"Trained candidates, all seeds (shaded: admissible, "
                    f"A_min={a_min}, M_max={m_max:,.0f})", fontsize=10)
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _png_path(json_path):
    return os.path.splitext(json_path)[0] + ".png"


# Settings that must agree for result files to be merged.
_PROBLEM_KEYS = ("population", "generations", "min_accuracy", "max_macs",
                 "epochs", "image_size", "batch_size", "validation_split",
                 "preselect", "dataset", "max_samples")


def merge_results(parts):
    """One results dict from several runs of the same problem (other seeds
    or other engines); raises `ValueError` on a setting that differs or an
    (engine, seed) pair given twice."""
    config = dict(parts[0]["config"])
    runs, seen, engines = [], set(), []
    for part in parts:
        for key in _PROBLEM_KEYS:
            if part["config"].get(key) != config.get(key):
                raise ValueError(
                    f"Cannot merge results of different problems: {key}="
                    f"{part['config'].get(key)!r} vs {config.get(key)!r}.")
        for run in part["runs"]:
            pair = (run["engine"], run["seed"])
            if pair in seen:
                raise ValueError(f"Engine {pair[0]} seed {pair[1]} appears in "
                                 "more than one file.")
            seen.add(pair)
            runs.append(run)
        engines += [e for e in part["summary"] if e not in engines]
    config["seeds"] = sorted({run["seed"] for run in runs})
    return {"config": config, "summary": {e: None for e in engines},
            "runs": runs,
            "total_seconds": sum(p.get("total_seconds", 0.0) for p in parts)}


def replot(paths, out=None):
    parts = []
    for path in paths:
        with open(path) as f:
            parts.append(json.load(f))
    if len(parts) > 1 and out is None:
        raise SystemExit("Merging several results files needs --out.")
    try:
        results = merge_results(parts) if len(parts) > 1 else parts[0]
    except ValueError as error:
        raise SystemExit(str(error)) from None
    path = out or paths[0]
    args = argparse.Namespace(**{
        k: results["config"][k]
        for k in ("population", "generations", "min_accuracy", "max_macs",
                  "epochs", "image_size", "seeds")},
        dataset=results["config"].get("dataset", "digits"))
    budget = args.population * args.generations
    for run in results["runs"]:
        if "hypervolume_same_requests" not in run:
            # Files written before the second accounting: their points hold
            # no request numbers (cached requests were not listed), so the
            # first `budget` distinct evaluations stand in (generous to an
            # engine whose requests repeat).
            points = run["points"]
            if points and "request" in points[0]:
                points = [q for q in points if q["request"] <= budget]
            else:
                points = points[:budget]
            run["hypervolume_same_requests"] = admissible_hypervolume(
                [(q["accuracy"], q["expected_macs"]) for q in points],
                args.min_accuracy, args.max_macs)
    results["summary"] = summarise(results["runs"], list(results["summary"]))
    results["targets"] = print_table(results["summary"], args)
    if len(parts) > 1:
        with open(path, "w") as f:
            json.dump(results, f, indent=1)
        print(f"wrote {path}")
    png = _png_path(path)
    plot(results, png)
    print(f"wrote {png}")
    return 0


def main(argv=None):
    args = parse_args(argv)
    if args.replot:
        return replot(args.replot, args.out)
    if args.out is None:
        args.out = os.path.join("artifacts", "search_engines.json")
    if args.population % 4:
        raise SystemExit("--population must be a multiple of 4 (DEAP).")
    data = datasets.load(args.dataset, image_size=(args.image_size,) * 2,
                         validation_split=args.validation_split,
                         data_dir=args.data_dir,
                         max_samples=args.max_samples)
    space = make_space(data)
    workdir = tempfile.mkdtemp(prefix="search_engines_")
    runs = []
    total_start = time.time()
    try:
        for seed in args.seeds:
            for engine in args.engines:
                print(f"== {engine} seed {seed} ==", flush=True)
                run = run_one(engine, seed, space, data, args, workdir)
                runs.append(run)
                print(f"== {engine} seed {seed}: HV {run['hypervolume']:.4f}, "
                      f"{run['requests']} asked, {run['unique_evaluations']} "
                      f"unique, {run['trained']} trained, "
                      f"{run['cache_hits']} cache hits, "
                      f"{run['wall_seconds']:.0f}s (total "
                      f"{time.time() - total_start:.0f}s)", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary = summarise(runs, args.engines)
    verdicts = print_table(summary, args)
    total = time.time() - total_start
    print(f"total {total:.0f}s")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    results = {
        "config": {**vars(args),
                   "space": space.get_config()},
        "summary": summary, "targets": verdicts, "runs": runs,
        "total_seconds": total,
    }
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    png = _png_path(args.out)
    plot(results, png)
    print(f"wrote {args.out} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
