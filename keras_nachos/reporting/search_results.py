"""A search's results files: results.json, results.csv and pareto.png."""

import csv
import json
import os

from keras_nachos.reporting.pareto_plot import plot_pareto
from keras_nachos.search.solutions import load_solution_model
from keras_nachos.search.state_files import DamagedStateError


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
        if "finetuned" in s:
            tuned = s["finetuned"]
            rows[-1]["finetuned"] = {
                key: tuned.get(key)
                for key in ("accuracy", "expected_macs", "admissible",
                            "thresholds", "exit_fractions", "finetune_epochs")
            }
            rows[-1]["finetuned_model_path"] = s["finetuned_model_path"]
    return rows


def evaluate_on_test(rows, data):
    """Measures each solution on the test split with its real early exit.

    A solution whose model is missing or damaged is left unmeasured (its
    test figures stay `None`) with a line that says why and what to do; the
    others are measured.
    """
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
        model = _model_or_none(row, row["model_path"])
        if model is not None:
            result = model.predict_early_exit(
                data.test[0], row["thresholds"], rule=row["rule"]
            )
            row["test_accuracy"] = result.accuracy(data.test[1])
            row["test_expected_macs"] = result.expected_macs
        tuned = row.get("finetuned")
        if tuned and os.path.exists(row["finetuned_model_path"]):
            model = _model_or_none(row, row["finetuned_model_path"])
            if model is None:
                continue
            result = model.predict_early_exit(
                data.test[0], tuned["thresholds"], rule=row["rule"]
            )
            tuned["test_accuracy"] = result.accuracy(data.test[1])
            tuned["test_expected_macs"] = result.expected_macs


def _model_or_none(row, path):
    """The model at `path`, or `None` (and a line saying why) if damaged."""
    try:
        return load_solution_model(path)
    except DamagedStateError as error:
        print(f"Solution {row['solution']} is not measured on the test "
              f"split: {error}", flush=True)
        return None


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
    confidence = (results.get("config") or {}).get("floor_confidence")
    if confidence is not None:
        lines.insert(1, (
            f"val acc: the guaranteed accuracy (lower confidence bound at "
            f"{confidence:g} on the validation samples the thresholds never "
            f"saw); admissible: min_accuracy holds on new data with "
            f"confidence {confidence:g}"
        ))
    for r in rows:
        test_acc = "-" if r["test_accuracy"] is None else f"{r['test_accuracy']:.4f}"
        test_macs = ("-" if r["test_expected_macs"] is None
                     else f"{r['test_expected_macs']:,.0f}")
        fractions = " ".join(f"{f:.2f}" for f in (r["exit_fractions"] or []))
        lines.append(
            f"{r['solution']:>3} {r['trial_id']:>6} {r['accuracy']:>8.4f} "
            f"{r['expected_macs']:>13,.0f} {test_acc:>9} {test_macs:>13}  {fractions}"
        )
    tuned_rows = [r for r in rows if r.get("finetuned")]
    if tuned_rows:
        lines.append(
            "Inherited weights above; after fine-tuning "
            f"({tuned_rows[0]['finetuned']['finetune_epochs']} epochs, "
            "thresholds calibrated again):"
        )
        lines.append(
            f"{'#':>3} {'trial':>6} {'val acc':>8} {'val E[MACs]':>13} "
            f"{'test acc':>9} {'test E[MACs]':>13}  admissible"
        )
        for r in tuned_rows:
            t = r["finetuned"]
            test_acc = ("-" if t.get("test_accuracy") is None
                        else f"{t['test_accuracy']:.4f}")
            test_macs = ("-" if t.get("test_expected_macs") is None
                         else f"{t['test_expected_macs']:,.0f}")
            lines.append(
                f"{r['solution']:>3} {r['trial_id']:>6} {t['accuracy']:>8.4f} "
                f"{t['expected_macs']:>13,.0f} {test_acc:>9} {test_macs:>13}  "
                f"{'yes' if t['admissible'] else 'no'}"
            )
    return "\n".join(lines)
