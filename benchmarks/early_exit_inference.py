"""Wall-clock speed of a real early exit against the network without exits.

On the Fashion-MNIST EENN of `examples/train_early_exit.py` (loaded from
`artifacts/train_early_exit/eenn.keras`, or trained here for a few epochs when
that file is missing), this times, in one process and interleaved:

- early exit: `model.predict_early_exit(x, thresholds, batch_size=B)` (the
  library's staged runner: one `tf.function` per stage, only the samples still
  in flight go on);
- full: the backbone alone (`model.backbone`, no exit heads), as one
  `tf.function` with an unknown batch size, called on the same batches of B
  from numpy, its output fetched with `.numpy()` per batch: the same mechanism
  the staged runner uses per stage. `backbone.predict(x, batch_size=B)` is
  timed too, to show it is the slower of the two (Keras builds a data adapter
  and iterator per call).

Everything is warmed up first; each early-exit run is timed right next to a
full-network run (order alternating), `--repeats` times; the table gives the
medians of the times, their ratio, and the median of the per-pair ratios (the
cores are shared with other jobs, whose load comes and goes).
Operating points come from the example's threshold table (the same common
max-probability thresholds, on the test set): the cheapest one whose accuracy
is within 0.5 points of the final exit's, and the next two lower (more
aggressive) ones. They are chosen on test because this measures speed at the
example's reported operating points; the validation split would give slightly
different ones (here it picked t=0.7, which loses 0.9 points on test).

Batch size 256 runs on all 10,000 test images; batch size 1 on the first
`--b1-samples` (500 by default). Unless `--no-profile`, it also breaks the
early-exit time down by component (stage calls, syncs, gathers) and times two
prototypes of a faster runner (`staged_runner_prototypes.py`, not library
code) in the same interleaved rounds.

Usage:

    python benchmarks/early_exit_inference.py [--repeats 7] [--b1-samples 500]

Writes everything to `artifacts/early_exit_inference.json`.
"""

import argparse
import os
import statistics
import sys
import time

import keras
import numpy as np
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples"))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import fashion_mnist_eenn as eenn  # noqa: E402
import staged_runner_prototypes as prototypes  # noqa: E402

from keras_nachos import datasets  # noqa: E402
from keras_nachos import exit_rules  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model",
        default=os.path.join("artifacts", "train_early_exit", "eenn.keras"),
    )
    parser.add_argument(
        "--out", default=os.path.join("artifacts", "early_exit_inference.json")
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--b1-samples",
        type=int,
        default=500,
        help="Test images timed at batch size 1 (default 500).",
    )
    parser.add_argument(
        "--thresholds",
        type=float,
        nargs="*",
        default=None,
        help="Common thresholds to time (default: from the example's table).",
    )
    parser.add_argument(
        "--train-epochs",
        type=int,
        default=3,
        help="Epochs when no trained model is found (default 3).",
    )
    parser.add_argument(
        "--no-profile",
        action="store_true",
        help="Skip the per-component breakdown of the early-exit run.",
    )
    return parser.parse_args(argv)


def load_or_train(path, splits, epochs):
    if os.path.exists(path):
        print(f"loading {path}")
        return keras.models.load_model(path), "loaded"
    print(f"{path} not found: training one for {epochs} epochs")
    keras.utils.set_random_seed(1337)
    return eenn.train_eenn(splits, epochs=epochs), f"trained {epochs} epochs"


def choose_thresholds(model, x, y, candidates=eenn.THRESHOLDS):
    """Operating points from the example's threshold table (test set).

    Returns the cheapest common threshold whose accuracy is within 0.5 points
    of the final exit's, then the next two lower thresholds of the table (more
    aggressive), and the table's rows `(t, accuracy, expected MACs)`.
    """
    outputs = model.predict_exits(x)
    final_acc = float(np.mean(outputs[-1].argmax(1) == y))
    stacked = np.stack(outputs)
    rows = []
    for t in sorted(candidates):
        idx = exit_rules.apply_rule(
            "max_probability", outputs, [t] * (len(outputs) - 1), model.num_classes
        )
        predictions = stacked[idx, np.arange(len(idx))].argmax(1)
        fractions = np.bincount(idx, minlength=len(outputs)) / len(idx)
        rows.append(
            (t, float(np.mean(predictions == y)), model.expected_macs(fractions))
        )
    within = [r for r in rows if r[1] >= final_acc - 0.005]
    conservative = min(within, key=lambda r: r[2])[0]
    lower = sorted((r[0] for r in rows if r[0] < conservative), reverse=True)
    return [conservative] + lower[:2], final_acc, rows


def make_full_runner(backbone):
    """The backbone as one graph with an unknown batch size."""
    shape = (None,) + tuple(backbone.inputs[0].shape[1:])
    spec = tf.TensorSpec(shape, backbone.inputs[0].dtype)

    @tf.function(input_signature=[spec])
    def forward(x):
        return backbone(x, training=False)

    def run(x, batch_size):
        predictions = []
        for start in range(0, len(x), batch_size):
            batch = tf.convert_to_tensor(x[start : start + batch_size])
            predictions.append(forward(batch).numpy().argmax(axis=1))
        return np.concatenate(predictions)

    run.forward = forward
    return run


def time_once(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def measure_paired(baseline, candidates, repeats):
    """Times each candidate right next to a run of `baseline`.

    The cores are shared with other jobs whose load comes and goes within
    seconds, so each candidate run is paired with an adjacent baseline run
    (order alternating between repeats); the median of the per-pair ratios is
    robust to that load, the ratio of medians less so.

    Returns `(baseline_times, times, ratios, values)`; `times` and `ratios`
    map candidate names to lists, `values["baseline"]` is the baseline's last
    return value.
    """
    baseline_times = []
    times = {name: [] for name in candidates}
    ratios = {name: [] for name in candidates}
    values = {}
    for repeat in range(repeats):
        for name, fn in candidates.items():
            order = [("baseline", baseline), (name, fn)]
            if repeat % 2:
                order.reverse()
            pair = {}
            for key, f in order:
                pair[key], values[key] = time_once(f)
            baseline_times.append(pair["baseline"])
            times[name].append(pair[name])
            ratios[name].append(pair["baseline"] / pair[name])
    return baseline_times, times, ratios, values


def profile_early_exit(model, x, thresholds, batch_size, repeats):
    """Where the early-exit time goes, by re-running the runner's loop with timers.

    Mirrors `StagedRunner.run` (keras_nachos/early_exit_inference.py) step by
    step. Also times each stage alone on the batch sizes that reach it (the
    compute the early exit cannot avoid) and on full batches.
    """
    runner = model._get_runner()
    rule = exit_rules.get("max_probability")
    thresholds = np.asarray(thresholds, "float64")
    num_classes = model.num_classes
    last = len(runner._steps) - 1
    best = None
    for _ in range(repeats):
        t = {
            "to_tensor": 0.0,
            "stage_calls": [0.0] * len(runner._steps),
            "numpy_sync": 0.0,
            "rule": 0.0,
            "gather": 0.0,
            "bookkeeping": 0.0,
        }
        sizes = [[] for _ in runner._steps]
        start_all = time.perf_counter()
        for start in range(0, len(x), batch_size):
            t0 = time.perf_counter()
            features = tf.cast(x[start : start + batch_size], runner.input_dtype)
            t["to_tensor"] += time.perf_counter() - t0
            n = int(features.shape[0])
            t0 = time.perf_counter()
            batch_exit = np.full(n, last, dtype="int32")
            batch_probs = np.zeros((n, num_classes), dtype="float32")
            pending = np.arange(n)
            carry = rule.initial_carry(n)
            t["bookkeeping"] += time.perf_counter() - t0
            for i, step in enumerate(runner._steps):
                sizes[i].append(int(features.shape[0]))
                t0 = time.perf_counter()
                features, output = step(features)
                t1 = time.perf_counter()
                output = output.numpy()
                t2 = time.perf_counter()
                t["stage_calls"][i] += t1 - t0
                t["numpy_sync"] += t2 - t1
                if i == last:
                    batch_probs[pending] = output[:, :num_classes]
                    break
                fires, carry = rule.decide(output, thresholds[i], num_classes, carry)
                t3 = time.perf_counter()
                t["rule"] += t3 - t2
                leaving = pending[fires]
                batch_exit[leaving] = i
                batch_probs[leaving] = output[fires, :num_classes]
                stay = ~fires
                t4 = time.perf_counter()
                t["bookkeeping"] += t4 - t3
                if not stay.any():
                    break
                if fires.any():
                    keep = np.flatnonzero(stay)
                    features = tf.gather(features, keep)
                    pending = pending[keep]
                t["gather"] += time.perf_counter() - t4
            t0 = time.perf_counter()
            batch_probs.argmax(axis=1)
            t["bookkeeping"] += time.perf_counter() - t0
        t["total"] = time.perf_counter() - start_all
        if best is None or t["total"] < best["total"]:
            best, best_sizes = t, sizes
    # Each stage alone on full batches (what the full network pays per stage).
    full_stage = []
    stage_inputs = tf.convert_to_tensor(x[:batch_size])
    feats = [stage_inputs]
    for step in runner._steps:
        features, _ = step(feats[-1])
        feats.append(features)
    n_batches = len(best_sizes[0])
    for i, step in enumerate(runner._steps):
        samples = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(n_batches):
                _, out = step(feats[i])
                out.numpy()
            samples.append(time.perf_counter() - t0)
        full_stage.append(statistics.median(samples))
    best["samples_per_stage"] = [int(sum(s)) for s in best_sizes]
    best["stage_time_full_batches"] = full_stage
    return best


def format_prototypes(rows):
    header = (
        f"{'runner':<10}{'B':>4}{'t':>6}{'acc':>8}{'same exit':>10}"
        f"{'library s':>10}{'proto s':>9}{'lib spd':>9}{'proto spd':>10}"
        f"{'proto spd/red':>14}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['runner']:<10}{r['batch_size']:>4}{r['threshold']:>6.2f}"
            f"{r['accuracy']:>8.4f}{r['same_exit_as_library']:>10.4f}"
            f"{r['time_library_s']:>10.3f}{r['time_s']:>9.3f}"
            f"{r['speedup_library_paired']:>8.2f}x{r['speedup_paired']:>9.2f}x"
            f"{r['speedup_paired_over_mac_reduction']:>14.2f}"
        )
    return "\n".join(lines)


def call_costs(model, forward, x, batch_size, calls, repeats):
    """Seconds per call of the full network and of each stage (best of repeats).

    At batch size 1 these show the fixed cost of one `tf.function` call,
    which early exit pays once per stage a sample goes through.
    """
    runner = model._get_runner()
    inputs = [tf.convert_to_tensor(x[:batch_size])]
    for step in runner._steps[:-1]:
        inputs.append(step(inputs[-1])[0])

    def best(fn, inp):
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(calls):
                out = fn(inp)
                (out[1] if isinstance(out, tuple) else out).numpy()
            samples.append((time.perf_counter() - start) / calls)
        return min(samples)

    return {
        "batch_size": batch_size,
        "full": best(forward, inputs[0]),
        "stages": [best(step, inp) for step, inp in zip(runner._steps, inputs)],
    }


def format_call_costs(costs):
    stages = ", ".join(f"{1e3 * s:.3f}" for s in costs["stages"])
    return (
        f"Per-call cost at B={costs['batch_size']} (best of repeats, ms): full "
        f"network {1e3 * costs['full']:.3f}; stage+exit steps {stages} (sum "
        f"{1e3 * sum(costs['stages']):.3f})"
    )


def format_table(rows):
    header = (
        f"{'B':>4}{'t':>6}{'n':>7}{'acc EE':>8}{'acc full':>9}{'MAC ratio':>10}"
        f"{'MAC red.':>9}{'full s':>9}{'EE s':>9}{'speedup':>9}{'spd/red':>9}"
        f"{'spd(paired)':>12}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['batch_size']:>4}{r['threshold']:>6.2f}{r['samples']:>7}"
            f"{r['accuracy_early_exit']:>8.4f}{r['accuracy_full']:>9.4f}"
            f"{r['macs_ratio']:>10.3f}{r['mac_reduction']:>8.2f}x"
            f"{r['time_full_s']:>9.3f}{r['time_early_exit_s']:>9.3f}"
            f"{r['speedup']:>8.2f}x{r['speedup_over_mac_reduction']:>9.2f}"
            f"{r['speedup_paired']:>11.2f}x"
        )
    return "\n".join(lines)


def format_profile(profile, thresholds, batch_size):
    stage = profile["stage_calls"]
    full = profile["stage_time_full_batches"]
    total = profile["samples_per_stage"][0]
    bound = sum(
        t * reach / total for t, reach in zip(full, profile["samples_per_stage"])
    )
    lines = [
        f"Early-exit time breakdown, B={batch_size}, t={thresholds[0]:.2f} "
        f"(best of repeats, seconds):",
        f"  samples reaching each stage: {profile['samples_per_stage']}",
        "  stage tf.function calls: "
        + ", ".join(f"{s:.3f}" for s in stage)
        + f"  (sum {sum(stage):.3f})",
        "  same stages on full batches (what the full network pays): "
        + ", ".join(f"{s:.3f}" for s in profile["stage_time_full_batches"])
        + f"  (sum {sum(profile['stage_time_full_batches']):.3f})",
        f"  output .numpy(): {profile['numpy_sync']:.3f}   input tf.cast: "
        f"{profile['to_tensor']:.3f}   rule.decide: {profile['rule']:.3f}   "
        f"tf.gather + index: {profile['gather']:.3f}   numpy bookkeeping: "
        f"{profile['bookkeeping']:.3f}",
        f"  total: {profile['total']:.3f}",
        f"  linear-scaling bound (each stage's full-batch time x share of "
        f"samples reaching it): {bound:.3f} s, i.e. at most "
        f"{sum(full) / bound:.2f}x over the same stages run on every sample "
        f"({sum(full):.3f} s)",
    ]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    wall_start = time.perf_counter()
    splits = datasets.load("fashion_mnist", validation_split=0.1)
    model, origin = load_or_train(args.model, splits, args.train_epochs)
    x_test, y_test = splits.test

    if args.thresholds:
        thresholds = list(args.thresholds)
        selection = None
    else:
        thresholds, final_acc, selection = choose_thresholds(
            model, x_test, y_test
        )
        print(
            f"test: final-exit accuracy {final_acc:.4f}; timing thresholds "
            f"{thresholds} (cheapest within 0.5 points, then two more "
            "aggressive ones)"
        )
    num_early = model.num_exits - 1
    full_run = make_full_runner(model.backbone)
    fused_run = prototypes.make_fused_early_exit(model)
    print(
        f"threads: intra-op {tf.config.threading.get_intra_op_parallelism_threads()}, "
        f"inter-op {tf.config.threading.get_inter_op_parallelism_threads()} "
        f"(0 = TF default), cpu count {os.cpu_count()}"
    )

    rows = []
    prototype_rows = []
    profiles = []
    full_times = {}
    for batch_size, n in [(256, len(x_test)), (1, args.b1_samples)]:
        x, y = x_test[:n], y_test[:n]
        baseline = lambda: full_run(x, batch_size)  # noqa: E731
        candidates = {
            "backbone.predict": lambda: model.backbone.predict(
                x, batch_size=batch_size, verbose=0
            ).argmax(axis=1),
        }
        for t in thresholds:
            candidates[f"early_exit_{t}"] = (
                lambda t=t: model.predict_early_exit(
                    x, [t] * num_early, batch_size=batch_size
                )
            )
            if not args.no_profile:
                if batch_size > 1:
                    candidates[f"rebatched_{t}"] = (
                        lambda t=t: prototypes.rebatched_early_exit(
                            model, x, [t] * num_early, batch_size
                        )
                    )
                candidates[f"fused_{t}"] = lambda t=t: fused_run(
                    x, [t] * num_early, batch_size
                )
        # Warm-up: traces every tf.function and the predict function.
        baseline()
        for fn in candidates.values():
            fn()
        base_times, times, ratios, values = measure_paired(
            baseline, candidates, args.repeats
        )
        time_full = statistics.median(base_times)
        medians = {k: statistics.median(v) for k, v in times.items()}
        acc_full = float(np.mean(values["baseline"] == y))
        predict_ratio = statistics.median(ratios["backbone.predict"])
        print(
            f"\nB={batch_size}, {n} test images: full network as a tf.function "
            f"loop {time_full:.3f} s, backbone.predict "
            f"{medians['backbone.predict']:.3f} s (paired ratio "
            f"{predict_ratio:.2f})"
        )
        if predict_ratio > 1.0:
            print(
                "NOTE: backbone.predict beat the tf.function loop here; the "
                "table's baseline is still the tf.function loop."
            )
        for t in thresholds:
            result = values[f"early_exit_{t}"]
            reduction = 1.0 / result.macs_ratio
            speedup = time_full / medians[f"early_exit_{t}"]
            rows.append(
                {
                    "batch_size": batch_size,
                    "threshold": t,
                    "samples": n,
                    "accuracy_early_exit": result.accuracy(y),
                    "accuracy_full": acc_full,
                    "exit_fractions": [float(f) for f in result.exit_fractions],
                    "macs_ratio": result.macs_ratio,
                    "mac_reduction": reduction,
                    "time_full_s": time_full,
                    "time_early_exit_s": medians[f"early_exit_{t}"],
                    "speedup": speedup,
                    "speedup_over_mac_reduction": speedup / reduction,
                    "speedup_paired": statistics.median(ratios[f"early_exit_{t}"]),
                    "times_s": times[f"early_exit_{t}"],
                    "paired_ratios": ratios[f"early_exit_{t}"],
                }
            )
            for kind in ("rebatched", "fused"):
                key = f"{kind}_{t}"
                if key not in medians:
                    continue
                predictions, exit_indices = values[key]
                paired = statistics.median(ratios[key])
                prototype_rows.append(
                    {
                        "runner": kind,
                        "batch_size": batch_size,
                        "threshold": t,
                        "samples": n,
                        "accuracy": float(np.mean(predictions == y)),
                        "same_exit_as_library": float(
                            np.mean(exit_indices == result.exit_indices)
                        ),
                        "mac_reduction": reduction,
                        "time_full_s": time_full,
                        "time_library_s": medians[f"early_exit_{t}"],
                        "time_s": medians[key],
                        "speedup": time_full / medians[key],
                        "speedup_paired": paired,
                        "speedup_library_paired": statistics.median(
                            ratios[f"early_exit_{t}"]
                        ),
                        "speedup_paired_over_mac_reduction": paired / reduction,
                        "times_s": times[key],
                    }
                )
        full_times[batch_size] = {
            "tf_function_loop": base_times,
            "backbone.predict": times["backbone.predict"],
        }
        if batch_size == 256 and not args.no_profile:
            for t in thresholds:
                profile = profile_early_exit(
                    model, x, [t] * num_early, batch_size, args.repeats
                )
                profiles.append({"batch_size": batch_size, "threshold": t, **profile})

    print(
        "\nEarly exit (max-probability, same t at both early exits) vs the "
        "backbone alone, Fashion-MNIST test; times are medians of "
        f"{args.repeats} runs, each next to a full-network run; "
        "spd(paired) = median of those pairs' ratios"
    )
    print(format_table(rows))
    for p in profiles:
        print()
        print(format_profile(p, [p["threshold"]], p["batch_size"]))
    costs = []
    if not args.no_profile:
        print()
        for batch_size, calls in [(1, 200), (256, 20)]:
            costs.append(
                call_costs(
                    model, full_run.forward, x_test, batch_size, calls, args.repeats
                )
            )
            print(format_call_costs(costs[-1]))
    if prototype_rows:
        print(
            "\nPrototype runners (benchmarks/staged_runner_prototypes.py, NOT "
            "library code), timed in the same rounds; speedups are paired "
            "medians"
        )
        print(format_prototypes(prototype_rows))
    eenn.write_json(
        args.out,
        {
            "model": args.model,
            "model_origin": origin,
            "backbone_macs": model.backbone_macs,
            "exit_macs": model.exit_macs,
            "repeats": args.repeats,
            "threshold_selection_on_test": selection,
            "rows": rows,
            "profiles": profiles,
            "prototype_rows": prototype_rows,
            "full_network_times_s": full_times,
            "call_costs_s": costs,
            "cpu_count": os.cpu_count(),
        },
    )
    print(f"\nwrote {args.out}")
    print(f"total time {time.perf_counter() - wall_start:.0f} s")


if __name__ == "__main__":
    main()
