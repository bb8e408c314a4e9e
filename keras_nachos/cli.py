"""The `keras-nachos` command: search, report, export."""

import argparse
import csv
import json
import os
import sys

SEARCH_CONFIG = "search_config.json"
PROJECT = "search"
# Default offspring pre-selection factor (`NachosSearch(preselect=...)`).
PRESELECT = 4


def _space_for(dataset, args):
    from keras_nachos.search.search_space import SearchSpace

    return SearchSpace(
        dataset.input_shape,
        dataset.num_classes,
        stage_widths=args.stage_widths,
        depths=tuple(args.depths),
        kernel_sizes=tuple(args.kernel_sizes),
        expansion_ratios=tuple(args.expansion_ratios),
        head_types=tuple(args.head_types),
        confidence=args.confidence,
        threshold_mode=args.threshold_mode,
    )


def _load_dataset(config):
    from keras_nachos import datasets

    return datasets.load(
        config["dataset"],
        validation_split=config["validation_split"],
        max_samples=config.get("max_samples"),
        image_size=config.get("image_size"),
        seed=config["seed"],
    )


def _tuner(out, config, overwrite=False):
    from keras_nachos.search.nachos_search import NachosSearch
    from keras_nachos.search.search_space import SearchSpace

    return NachosSearch(
        SearchSpace.from_config(config["space"]),
        min_accuracy=config["min_accuracy"],
        max_macs=config["max_macs"],
        population_size=config["population"],
        generations=config["generations"],
        preselect=config.get("preselect", 1),
        seed=config["seed"],
        directory=out,
        project_name=PROJECT,
        overwrite=overwrite,
    )


def search(args):
    """Runs (or resumes) a search and writes its results."""
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, SEARCH_CONFIG)
    if os.path.exists(path) and not args.overwrite:
        with open(path) as f:
            config = json.load(f)
        print(f"Resuming the search in {args.out} (pass --overwrite to restart).")
    else:
        config = {
            "dataset": args.dataset,
            "validation_split": args.validation_split,
            "max_samples": args.max_samples,
            "image_size": args.image_size,
            "seed": args.seed,
            "min_accuracy": args.min_accuracy,
            "max_macs": args.max_macs,
            "population": args.population,
            "generations": args.generations,
            "preselect": args.preselect,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
        }
    data = _load_dataset(config)
    if "space" not in config:
        config["space"] = _space_for(data, args).get_config()
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
    tuner = _tuner(args.out, config, overwrite=args.overwrite)
    print(
        f"Search: {config['population']} candidates x "
        f"{config['generations']} generations on {config['dataset']} "
        f"({len(data.train[1])} train / {len(data.validation[1])} validation), "
        f"min_accuracy={config['min_accuracy']}, max_macs={config['max_macs']:,.0f}",
        flush=True,
    )
    tuner.search(
        *data.train,
        validation_data=data.validation,
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        verbose=args.verbose,
    )
    write_results(args.out, tuner, config, data)
    return tuner


def _front_rows(tuner):
    rows = []
    for i, s in enumerate(tuner.admissible_front()):
        rows.append(
            {
                "solution": i,
                "trial_id": s["trial_id"],
                "accuracy": s["accuracy"],
                "expected_macs": s["expected_macs"],
                "static_macs": s.get("static_macs"),
                "exit_fractions": s.get("exit_fractions"),
                "thresholds": s.get("thresholds"),
                "test_accuracy": s.get("test_accuracy"),
                "test_expected_macs": s.get("test_expected_macs"),
                "values": s["values"],
                "model_path": s["model_path"],
            }
        )
    return rows


def _evaluate_on_test(rows, data, rule):
    import keras

    for row in rows:
        model = keras.models.load_model(row["model_path"])
        result = model.predict_early_exit(
            data.test[0], row["thresholds"], rule=rule
        )
        row["test_accuracy"] = result.accuracy(data.test[1])
        row["test_expected_macs"] = result.expected_macs


def write_results(out, tuner, config, data=None, test=True):
    """Writes results.json, results.csv and pareto.png; prints the front."""
    rows = _front_rows(tuner)
    if test and data is not None and rows:
        rule = "cascade_confidence" if tuner.search_space.confidence else "max_probability"
        _evaluate_on_test(rows, data, rule)
    results = {
        "config": config,
        "admissible_front": rows,
        "pareto_front": [
            {k: s[k] for k in ("trial_id", "accuracy", "expected_macs", "feasible")}
            for s in tuner.pareto_front()
        ],
        "candidates": tuner.all_candidates(),
        "hypervolume_history": tuner.hypervolume_history,
        "unique_evaluations": tuner.oracle.unique_evaluations,
        "total_evaluations": tuner.oracle.total_evaluations,
    }
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=2, default=str)
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["solution", "trial_id", "val_accuracy", "val_expected_macs",
                         "test_accuracy", "test_expected_macs", "exit_fractions",
                         "thresholds", "static_macs"])
        for r in rows:
            writer.writerow([r["solution"], r["trial_id"], r["accuracy"],
                             r["expected_macs"], r["test_accuracy"],
                             r["test_expected_macs"], r["exit_fractions"],
                             r["thresholds"], r["static_macs"]])
    plot_pareto(results, os.path.join(out, "pareto.png"))
    print(format_front(rows, results))
    print(f"Wrote {out}/results.json, results.csv and pareto.png")
    return results


def format_front(rows, results):
    hv = results["hypervolume_history"]
    lines = [
        f"Admissible Pareto front: {len(rows)} solutions "
        f"({results['unique_evaluations']} unique evaluations, "
        f"hypervolume per generation: {', '.join(f'{v:.4f}' for v in hv)})",
        f"{'#':>3} {'trial':>6} {'val acc':>8} {'val E[MACs]':>13} {'test acc':>9} "
        f"{'test E[MACs]':>13}  exit fractions",
    ]
    for r in rows:
        test_acc = "-" if r["test_accuracy"] is None else f"{r['test_accuracy']:.4f}"
        test_macs = ("-" if r["test_expected_macs"] is None
                     else f"{r['test_expected_macs']:,.0f}")
        fractions = " ".join(f"{f:.2f}" for f in (r["exit_fractions"] or []))
        lines.append(
            f"{r['solution']:>3} {r['trial_id']:>6} {r['accuracy']:>8.4f} "
            f"{r['expected_macs']:>13,.0f} {test_acc:>9} {test_macs:>13}  {fractions}"
        )
    return "\n".join(lines)


def plot_pareto(results, path):
    """All candidates, the feasible region shaded, the admissible front."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    config = results["config"]
    a_min, m_max = config["min_accuracy"], config["max_macs"]
    trained = [c for c in results["candidates"] if c.get("status") == "completed"]
    skipped = [c for c in results["candidates"] if c.get("status") == "skipped"]
    fig, ax = plt.subplots(figsize=(7, 5))
    top = max([c["accuracy"] for c in trained] + [a_min]) + 0.02
    ax.fill_between([0, m_max], a_min, top, color="tab:green", alpha=0.12,
                    label="feasible region")
    if trained:
        ax.scatter([c["macs"] for c in trained], [c["accuracy"] for c in trained],
                   s=14, color="gray", alpha=0.7, label="trained candidates")
    if skipped:
        ax.scatter([c["macs"] for c in skipped], [0.0] * len(skipped), marker="x",
                   s=18, color="tab:orange",
                   label="first exit over budget (not trained)")
    front = results["admissible_front"]
    if front:
        pts = sorted((r["expected_macs"], r["accuracy"]) for r in front)
        ax.step([p[0] for p in pts], [p[1] for p in pts], where="post",
                color="tab:red")
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], color="tab:red",
                   zorder=3, label="admissible Pareto front")
    ax.axhline(a_min, color="tab:green", ls="--", lw=1)
    ax.axvline(m_max, color="tab:green", ls="--", lw=1)
    ax.set_xlabel("expected MACs per sample (validation)")
    ax.set_ylabel("validation accuracy")
    # "best": a fixed corner can hide candidates (an infeasible one near
    # M_max sits in the lower right).
    ax.legend(loc="best", framealpha=0.9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(args):
    with open(os.path.join(args.dir, SEARCH_CONFIG)) as f:
        config = json.load(f)
    tuner = _tuner(args.dir, config)
    data = _load_dataset(config) if args.test else None
    return write_results(args.dir, tuner, config, data, test=args.test)


def export(args):
    import keras

    with open(os.path.join(args.dir, SEARCH_CONFIG)) as f:
        config = json.load(f)
    tuner = _tuner(args.dir, config)
    front = tuner.admissible_front()
    if not 0 <= args.solution < len(front):
        raise SystemExit(
            f"Invalid value received for argument `--solution`. Expected an "
            f"index in [0, {len(front)}) of the admissible front. "
            f"Received: --solution={args.solution}"
        )
    chosen = front[args.solution]
    model = keras.models.load_model(chosen["model_path"])
    output = args.output or os.path.join(args.dir, f"solution_{args.solution}.keras")
    model.save(output)
    with open(os.path.splitext(output)[0] + ".json", "w") as f:
        json.dump({k: chosen[k] for k in ("values", "thresholds", "accuracy",
                                          "expected_macs", "exit_fractions",
                                          "static_macs") if k in chosen}, f,
                  indent=2)
    print(f"Wrote {output} (thresholds {chosen.get('thresholds')})")
    return output


def _ints(text):
    return [int(v) for v in text.split(",")]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-nachos",
        description="NACHOS search of early-exit networks under hardware budgets.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("search", help="run or resume a search")
    s.add_argument("--dataset", default="fashion_mnist")
    s.add_argument("--min-accuracy", type=float, required=True)
    s.add_argument("--max-macs", type=float, required=True)
    s.add_argument("--population", type=int, default=8)
    s.add_argument("--generations", type=int, default=3)
    s.add_argument("--preselect", type=int, default=PRESELECT,
                   help="candidates bred per slot of a generation: the "
                        "surplus is screened (first exit over --max-macs) "
                        "and ranked by a surrogate before training")
    s.add_argument("--epochs", type=int, default=1)
    s.add_argument("--batch-size", type=int, default=128)
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--validation-split", type=float, default=0.1)
    s.add_argument("--max-samples", type=int, default=None)
    s.add_argument("--image-size", type=_ints, default=None)
    s.add_argument("--stage-widths", type=json.loads,
                   default=[[16, 24], [24, 32, 40], [40, 48, 64]],
                   help="JSON list of width choices per stage")
    s.add_argument("--depths", type=_ints, default=[1, 2, 3])
    s.add_argument("--kernel-sizes", type=_ints, default=[3, 5, 7])
    s.add_argument("--expansion-ratios", type=_ints, default=[3, 4, 6])
    s.add_argument("--head-types", type=lambda t: t.split(","),
                   default=["global_pool", "sdn", "conv"])
    s.add_argument("--confidence", action="store_true")
    s.add_argument("--threshold-mode", default="calibrated",
                   choices=["calibrated", "genes"])
    s.add_argument("--overwrite", action="store_true")
    s.add_argument("--verbose", type=int, default=1)
    s.set_defaults(func=search)
    r = sub.add_parser("report", help="print the admissible front, plot it")
    r.add_argument("dir")
    r.add_argument("--no-test", dest="test", action="store_false",
                   help="skip evaluating the front on the test split")
    r.set_defaults(func=report)
    e = sub.add_parser("export", help="write a solution as a .keras file")
    e.add_argument("dir")
    e.add_argument("--solution", type=int, required=True)
    e.add_argument("--output", default=None)
    e.set_defaults(func=export)
    return parser


def run_preset(preset, description, default_out, argv=None):
    """Runs `keras-nachos search` with preset arguments (the examples' entry).

    `--out`, `--seed` and `--overwrite` can be given on the command line.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", default=default_out)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    command = ["search", *preset, "--seed", str(args.seed), "--out", args.out]
    if args.overwrite:
        command.append("--overwrite")
    return main(command)


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
