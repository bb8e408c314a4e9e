"""A search's results files: results.json, results.csv and pareto.png."""

import csv
import json
import os

from keras_nachos.reporting.pareto_plot import plot_pareto


def front_rows(tuner):
    """The admissible front as rows: one dict per solution, best first."""
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
                "tuner_id": s.get("tuner_id"),
                "rule": s.get("rule", "max_probability"),
            }
        )
    return rows


def evaluate_on_test(rows, data):
    """Measures each solution on the test split with its real early exit."""
    import keras

    for row in rows:
        if not os.path.exists(row["model_path"]):
            # A distributed search without a shared folder: the model is on
            # the worker that trained it.
            print(
                f"Solution {row['solution']}: no {row['model_path']} here (it "
                f"was trained on {row.get('tuner_id') or 'another machine'}); "
                "copy that trial folder here to measure it on the test split."
            )
            continue
        model = keras.models.load_model(row["model_path"])
        result = model.predict_early_exit(
            data.test[0], row["thresholds"], rule=row["rule"]
        )
        row["test_accuracy"] = result.accuracy(data.test[1])
        row["test_expected_macs"] = result.expected_macs


def write_results(out, tuner, config, data=None, test=True):
    """Writes results.json, results.csv and pareto.png; prints the front."""
    rows = front_rows(tuner)
    if test and data is not None and rows:
        evaluate_on_test(rows, data)
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
    """The admissible front as a text table."""
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
