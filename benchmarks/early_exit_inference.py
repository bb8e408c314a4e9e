"""Wall-clock speed of a real early exit against the network without exits.

On the Fashion-MNIST EENN of `examples/train_early_exit.py` (loaded from
`artifacts/train_early_exit/eenn.keras`, or trained here for a few epochs when
that file is missing), this times, in one process:

- early exit: `model.predict_early_exit(x, thresholds, batch_size=B)`, the
  library's staged runner (one `tf.function` per stage and its exit; samples
  that leave stop computing);
- full: the backbone alone (`model.backbone`, no exit heads) as one
  `tf.function` with an unknown batch size, called on the same batches of B
  the way the runner calls its stages (the concrete function directly, on
  batches sliced from one tensor per block of 64 batches), its output fetched
  with `.numpy()` per batch. `backbone.predict` is timed
  too, as a check that this baseline is the faster of the two.

Everything is warmed up first. Each early-exit run is timed right next to a
full-network run (order alternating), `--repeats` times; the cores are shared
with other jobs, so the table gives both the ratio of the median times and
the median of the per-pair ratios. B=256 runs on all 10,000 test images, B=1
on the first `--b1-samples` (500 by default).

Operating points come from the example's threshold table (one common
max-probability threshold at every early exit, on the test set, as the example
reports them): the cheapest one within 0.5 points of the final exit's
accuracy, then the next two lower ones.

The per-stage breakdown times each stage (with its exit head) alone, on every
sample in batches of B, next to its share of the MACs. From it, "stage bound"
is the reduction computed like the MAC reduction but with the measured stage
times in place of MACs: sum of stage times / sum over stages of (stage time x
share of samples reaching the stage), what an overhead-free staged runner
would reach. MAC reduction vs stage bound shows how far wall clock is from
proportional to MACs; stage bound vs measured speedup shows the runner's own
overhead and how the staged network compares with the one-function one.

Usage:

    python benchmarks/early_exit_inference.py [--repeats 7] [--b1-samples 500]

Writes everything to `artifacts/early_exit_inference.json`.
"""

import argparse
import os
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from _common import load_module  # noqa: E402

eenn = load_module("examples/fashion_mnist_eenn.py")

from keras_nachos import datasets  # noqa: E402
from keras_nachos.calibration import evaluate_exit_outputs  # noqa: E402


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
    return parser.parse_args(argv)


def load_or_train(path, splits, epochs):
    if os.path.exists(path):
        print(f"loading {path}")
        return keras.models.load_model(path), "loaded"
    print(f"{path} not found: training one for {epochs} epochs")
    keras.utils.set_random_seed(1337)
    return eenn.train_eenn(splits, epochs=epochs), f"trained {epochs} epochs"


def choose_thresholds(model, x, y, candidates=eenn.THRESHOLDS):
    """The cheapest threshold within 0.5 points of the final exit, then the
    next two lower ones (test set, as in the example's table)."""
    outputs = model.predict_exits(x)
    final_acc = float(np.mean(outputs[-1].argmax(1) == y))
    rows = []
    for t in sorted(candidates):
        evaluation = evaluate_exit_outputs(
            outputs, y, model.exit_macs, "max_probability",
            [t] * (len(outputs) - 1), model.num_classes,
        )
        rows.append((t, evaluation.accuracy, evaluation.expected_macs))
    within = [r for r in rows if r[1] >= final_acc - 0.005]
    conservative = min(within, key=lambda r: r[2])[0]
    lower = sorted((r[0] for r in rows if r[0] < conservative), reverse=True)
    return [conservative] + lower[:2], final_acc, rows


def make_full_runner(backbone):
    """The backbone as one graph with an unknown batch size.

    Called like the staged runner calls its stages: the concrete function
    directly, on batches sliced from blocks of 64 batches converted to one
    tensor each.
    """
    shape = (None,) + tuple(backbone.inputs[0].shape[1:])
    spec = tf.TensorSpec(shape, backbone.inputs[0].dtype)

    @tf.function(input_signature=[spec])
    def forward(x):
        return backbone(x, training=False)

    forward = forward.get_concrete_function()
    dtype = backbone.inputs[0].dtype

    def run(x, batch_size):
        predictions = []
        block = batch_size * 64
        for begin in range(0, len(x), block):
            inputs = tf.convert_to_tensor(x[begin : begin + block], dtype=dtype)
            for start in range(0, int(inputs.shape[0]), batch_size):
                batch = inputs[start : start + batch_size]
                predictions.append(forward(batch).numpy().argmax(axis=1))
        return np.concatenate(predictions)

    return run


def stage_timers(model, x, batch_size):
    """One callable per stage: that stage and its exit on every sample of `x`.

    Each stage's inputs (the previous stage's features for every sample, in
    batches of `batch_size`) are computed once beforehand.
    """
    steps = [s.get_concrete_function() for s in model._get_runner()._steps]
    inputs = [
        tf.convert_to_tensor(x[start : start + batch_size])
        for start in range(0, len(x), batch_size)
    ]
    timers = []
    for step in steps:

        def run(step=step, inputs=inputs):
            for batch in inputs:
                step(batch)[1].numpy()

        timers.append(run)
        inputs = [step(batch)[0] for batch in inputs]
    return timers


def time_once(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def measure(baseline, paired, unpaired, repeats):
    """Times `paired` candidates each right next to a `baseline` run.

    Order alternates between repeats. `unpaired` callables (the per-stage
    timers) run once per repeat in the same rounds. Returns
    `(baseline_times, times, ratios, values)`: `times` maps every candidate
    name to its list of seconds, `ratios` each paired one to its list of
    baseline / candidate ratios, `values` the last return values.
    """
    baseline_times = []
    times = {name: [] for name in list(paired) + list(unpaired)}
    ratios = {name: [] for name in paired}
    values = {}
    for repeat in range(repeats):
        for name, fn in paired.items():
            order = [("baseline", baseline), (name, fn)]
            if repeat % 2:
                order.reverse()
            pair = {}
            for key, f in order:
                pair[key], values[key] = time_once(f)
            baseline_times.append(pair["baseline"])
            times[name].append(pair[name])
            ratios[name].append(pair["baseline"] / pair[name])
        for name, fn in unpaired.items():
            times[name].append(time_once(fn)[0])
    return baseline_times, times, ratios, values


def format_table(rows):
    header = (
        f"{'B':>4}{'t':>6}{'n':>7}{'acc EE':>8}{'acc full':>9}{'exit fractions':>21}"
        f"{'MAC red.':>9}{'stage bound':>12}{'full s':>8}{'EE s':>8}"
        f"{'speedup':>9}{'paired':>8}{'spd/red':>9}{'paired/red':>11}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        fractions = " ".join(f"{f:.3f}" for f in r["exit_fractions"])
        lines.append(
            f"{r['batch_size']:>4}{r['threshold']:>6.2f}{r['samples']:>7}"
            f"{r['accuracy_early_exit']:>8.4f}{r['accuracy_full']:>9.4f}"
            f"{fractions:>21}{r['mac_reduction']:>8.2f}x"
            f"{r['stage_bound_speedup']:>11.2f}x"
            f"{r['time_full_s']:>8.3f}{r['time_early_exit_s']:>8.3f}"
            f"{r['speedup']:>8.2f}x{r['speedup_paired']:>7.2f}x"
            f"{r['speedup_over_mac_reduction']:>9.2f}"
            f"{r['speedup_paired_over_mac_reduction']:>11.2f}"
        )
    return "\n".join(lines)


def format_stages(stages, batch_size, samples, time_full):
    header = (
        f"{'stage':>6}{'MACs':>12}{'MAC share':>11}{'time s':>9}"
        f"{'time share':>12}{'time/MAC share':>16}"
    )
    lines = [
        f"Per stage (stage + its exit head), B={batch_size}, {samples} images, "
        "median seconds:",
        header,
        "-" * len(header),
    ]
    total_macs = sum(s["macs"] for s in stages)
    total_time = sum(s["time_s"] for s in stages)
    for i, s in enumerate(stages, start=1):
        mac_share = s["macs"] / total_macs
        time_share = s["time_s"] / total_time
        lines.append(
            f"{i:>6}{s['macs']:>12,}{mac_share:>10.1%}{s['time_s']:>9.3f}"
            f"{time_share:>11.1%}{time_share / mac_share:>16.2f}"
        )
    lines.append(
        f"sum of stages {total_time:.3f} s; full network in one function "
        f"{time_full:.3f} s"
    )
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    wall_start = time.perf_counter()
    splits = datasets.load("fashion_mnist", validation_split=0.1)
    model, origin = load_or_train(args.model, splits, args.train_epochs)
    x_test, y_test = splits.test

    if args.thresholds:
        thresholds, selection = list(args.thresholds), None
    else:
        thresholds, final_acc, selection = choose_thresholds(model, x_test, y_test)
        print(
            f"test: final-exit accuracy {final_acc:.4f}; timing thresholds "
            f"{thresholds} (cheapest within 0.5 points, then two lower ones)"
        )
    num_early = model.num_exits - 1
    costs = model.exit_costs
    stage_macs = [s + h for s, h in zip(costs.stage_macs, costs.head_macs)]
    full_run = make_full_runner(model.backbone)
    print(
        f"threads: intra-op {tf.config.threading.get_intra_op_parallelism_threads()}, "
        f"inter-op {tf.config.threading.get_inter_op_parallelism_threads()} "
        f"(0 = TF default), cpu count {os.cpu_count()}; "
        f"backbone {model.backbone_macs:,} MACs, exits at {model.exit_macs}"
    )

    rows, stage_reports, full_times = [], [], {}
    for batch_size, n in [(256, len(x_test)), (1, args.b1_samples)]:
        x, y = x_test[:n], y_test[:n]
        baseline = lambda: full_run(x, batch_size)  # noqa: E731
        paired = {
            "backbone.predict": lambda: model.backbone.predict(
                x, batch_size=batch_size, verbose=0
            ).argmax(axis=1)
        }
        for t in thresholds:
            paired[f"early_exit_{t}"] = lambda t=t: model.predict_early_exit(
                x, [t] * num_early, batch_size=batch_size
            )
        unpaired = {
            f"stage_{i}": fn
            for i, fn in enumerate(stage_timers(model, x, batch_size))
        }
        for fn in [baseline, *paired.values(), *unpaired.values()]:
            fn()  # warm-up: traces every tf.function and the predict function
        base_times, times, ratios, values = measure(
            baseline, paired, unpaired, args.repeats
        )
        time_full = statistics.median(base_times)
        medians = {k: statistics.median(v) for k, v in times.items()}
        acc_full = float(np.mean(values["baseline"] == y))
        stage_times = [medians[f"stage_{i}"] for i in range(len(stage_macs))]
        stages = [
            {"macs": int(m), "time_s": s, "times_s": times[f"stage_{i}"]}
            for i, (m, s) in enumerate(zip(stage_macs, stage_times))
        ]
        stage_reports.append(
            {"batch_size": batch_size, "samples": n, "stages": stages}
        )
        print(
            f"\nB={batch_size}, {n} test images: full network {time_full:.3f} s "
            f"(tf.function loop), backbone.predict "
            f"{medians['backbone.predict']:.3f} s"
        )
        print(format_stages(stages, batch_size, n, time_full))
        for t in thresholds:
            result = values[f"early_exit_{t}"]
            reduction = 1.0 / result.macs_ratio
            # Share of samples reaching each stage.
            reach = 1.0 - np.concatenate([[0.0], np.cumsum(result.exit_fractions)[:-1]])
            bound = sum(stage_times) / float(np.dot(stage_times, reach))
            speedup = time_full / medians[f"early_exit_{t}"]
            paired_speedup = statistics.median(ratios[f"early_exit_{t}"])
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
                    "stage_bound_speedup": bound,
                    "time_full_s": time_full,
                    "time_early_exit_s": medians[f"early_exit_{t}"],
                    "speedup": speedup,
                    "speedup_paired": paired_speedup,
                    "speedup_over_mac_reduction": speedup / reduction,
                    "speedup_paired_over_mac_reduction": paired_speedup / reduction,
                    "times_s": times[f"early_exit_{t}"],
                    "paired_ratios": ratios[f"early_exit_{t}"],
                }
            )
        full_times[batch_size] = {
            "tf_function_loop": base_times,
            "backbone.predict": times["backbone.predict"],
        }

    print(
        "\nEarly exit (max-probability, same t at every early exit) vs the "
        f"backbone alone; times are medians of {args.repeats} runs, each next "
        "to a full-network run.\nspeedup = ratio of medians, paired = median "
        "of per-pair ratios, red. = MAC reduction (cumulative MACs, every head "
        "on the way paid)"
    )
    print(format_table(rows))
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
            "stages": stage_reports,
            "full_network_times_s": full_times,
            "cpu_count": os.cpu_count(),
        },
    )
    print(f"\nwrote {args.out}")
    print(f"total time {time.perf_counter() - wall_start:.0f} s")


if __name__ == "__main__":
    main()
