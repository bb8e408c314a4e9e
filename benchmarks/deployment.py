"""The example's EENN on the device formats, side by side in one run.

On the Fashion-MNIST EENN of `examples/train_early_exit.py` (loaded from
`artifacts/train_early_exit/eenn.keras`, or trained here for a few epochs when
that file is missing), this exports the EENN with
`keras_nachos.deploy` and measures, per format:

- Keras: `model.predict_early_exit` (the library's staged runner);
- LiteRT float: `model.export_early_exit(dir)` run by `deploy.load(dir)`,
  whose batch 1 runs the one-file early exit (`early_exit.tflite`: the stages
  chained by in-graph conditionals, one `invoke` per sample);
- LiteRT float stages: the same export's stage files with the rule on the
  host between them (`deploy.load(dir, single_file=False)`);
- LiteRT int8 PTQ: `quantize="int8"`, calibrated on 500 training images;
- LiteRT int8 QAT: `deploy.export_quantization_aware` (tensorflow-model-
  optimization, in a worker process) after `--qat-epochs` of fine-tuning on
  `--qat-samples` training images (skipped when tfmot is not installed);
- TFLite Micro int8: the PTQ stages on TFLite Micro's interpreter
  (`deploy.load(dir, interpreter="micro")`), each with its measured arena,
  on the first `--micro-samples` test images (it runs reference kernels, a
  few ms per image on this host).

For each: every exit's test accuracy, the early exit's accuracy and exit
fractions at the operating points of `benchmarks/early_exit_inference.py`
(the example's table: the cheapest common max-probability threshold within
0.5 points of the final exit, then the next two lower), the file bytes
(flash) and TFLite Micro arena bytes (RAM), and the batch-1 latency per
sample of the early exit against the same format's full network without
exits (the backbone alone, converted the same way; for Keras one
`tf.function`). Latencies are medians of `--repeats` runs, each early-exit
run next to a full-network run, order alternating.

Usage:

    python benchmarks/deployment.py [--b1-samples 500] [--repeats 3]

Writes `artifacts/deployment.json` and the exports under
`artifacts/deployment/`.
"""

import argparse
import json
import os
import statistics
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import early_exit_inference as inference  # noqa: E402  (beside this script)
from _common import cpu_name  # noqa: E402

from keras_nachos import datasets  # noqa: E402
from keras_nachos import deploy  # noqa: E402
from keras_nachos.deploy.export import convert_stage  # noqa: E402
from keras_nachos.deploy.interpreters import make_interpreter  # noqa: E402
from keras_nachos.deploy.micro import micro_available  # noqa: E402
from keras_nachos.deploy.micro import micro_interpreter_class  # noqa: E402
from keras_nachos.deploy.micro import arena_bytes  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model",
        default=os.path.join("artifacts", "train_early_exit", "eenn.keras"),
    )
    parser.add_argument("--out", default=os.path.join("artifacts", "deployment"))
    parser.add_argument("--b1-samples", type=int, default=500)
    parser.add_argument("--micro-samples", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--qat-epochs", type=int, default=1)
    parser.add_argument("--qat-samples", type=int, default=20000)
    parser.add_argument("--qat-learning-rate", type=float, default=1e-5)
    parser.add_argument("--train-epochs", type=int, default=3)
    return parser.parse_args(argv)


class FlatbufferNetwork:
    """A one-file network (the backbone without exits) on an interpreter."""

    def __init__(self, flatbuffer, micro=False):
        self.micro = micro
        if micro:
            self.interpreter = micro_interpreter_class().from_bytes(
                flatbuffer, arena_size=arena_bytes(flatbuffer)
            )
        else:
            # Run as the runtime's batch-1 path runs a stage: the input
            # written in place, the output read in place.
            self.interpreter = make_interpreter(model_content=flatbuffer)
            self.interpreter.allocate_tensors()
            self.interpreter.invoke()
            self.input = self.interpreter.tensor(
                self.interpreter.get_input_details()[0]["index"])
            self.output = self.interpreter.tensor(
                self.interpreter.get_output_details()[0]["index"])
        details = make_interpreter(model_content=flatbuffer).get_input_details()[0]
        self.scale, self.zero_point = details["quantization"]
        self.dtype = details["dtype"]

    def prepare(self, x):
        if self.dtype == np.float32:
            return x.astype("float32")
        q = np.round(x / self.scale) + self.zero_point
        return np.clip(q, -128, 127).astype(self.dtype)

    def run_per_sample(self, x):
        for sample in x:
            if self.micro:
                self.interpreter.set_input(sample[None], 0)
                self.interpreter.invoke()
                self.interpreter.get_output(0)
            else:
                self.input()[0] = sample
                self.interpreter.invoke()
                np.array(self.output())


def stage_times(runtime, calls=300):
    """Seconds per call of each stage alone, one sample (the stage bound)."""
    times = []
    for stage in runtime.stages:
        if runtime.interpreter == "micro":
            invoke = stage.interpreter.invoke
        else:
            invoke = stage.single_sample()[0]
        invoke()
        begin = time.perf_counter()
        for _ in range(calls):
            invoke()
        times.append((time.perf_counter() - begin) / calls)
    return times


def stage_bound(times, fractions):
    """The speedup an overhead-free runner would reach: all stage times over
    each stage's time weighted by the share of samples reaching it."""
    reach = np.cumsum(np.asarray(fractions)[::-1])[::-1]
    return sum(times) / float(np.dot(times, reach))


def latency(early_exit, full, repeats):
    """Median seconds of both, each early-exit run next to a full run."""
    times = {"early_exit": [], "full": []}
    for repeat in range(repeats):
        order = [("early_exit", early_exit), ("full", full)]
        if repeat % 2:
            order.reverse()
        for name, fn in order:
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def evaluate(name, run_stages, predict, full, x_test, y_test, x_b1, thresholds,
             exit_costs, repeats, files, arenas, times=None):
    """One format's row: accuracies, fractions, latency, sizes."""
    print(f"[{name}] every exit on {len(y_test):,} test images", flush=True)
    outputs = run_stages(x_test)
    row = {
        "format": name,
        "samples": len(y_test),
        "per_exit_accuracy": [float(np.mean(o.argmax(1) == y_test)) for o in outputs],
        "bytes": files,
        "arena_bytes": arenas,
        "points": [],
    }
    for t in thresholds:
        result = predict(x_test, [t, t], 256)
        print(f"[{name}] t={t}: batch-1 latency on {len(x_b1)} images", flush=True)
        timed = latency(lambda: predict(x_b1, [t, t], 1), lambda: full(x_b1), repeats)
        reduction = exit_costs.backbone / result.expected_macs
        row["points"].append({
            "threshold": t,
            "accuracy": result.accuracy(y_test),
            "exit_fractions": [float(f) for f in result.exit_fractions],
            "mac_reduction": reduction,
            "early_exit_ms": 1000 * timed["early_exit"] / len(x_b1),
            "full_ms": 1000 * timed["full"] / len(x_b1),
            "speedup": timed["full"] / timed["early_exit"],
            "stage_bound": None if times is None else stage_bound(
                times, result.exit_fractions),
        })
    return row


def format_rows(rows):
    lines = [
        f"{'format':<18}{'bytes':>9}{'arena':>8}   per-exit acc          "
        f"{'t':>5}{'acc':>8}  exit fractions     MAC red. bound  EE ms  full ms "
        "speedup  spd/red",
        "-" * 142,
    ]
    for row in rows:
        for i, p in enumerate(row["points"]):
            size = f"{sum(row['bytes']):>9,}" if row["bytes"] else f"{'-':>9}"
            arena = (f"{max(row['arena_bytes']):>8,}" if row["arena_bytes"]
                     else f"{'-':>8}")
            head = (
                f"{row['format']:<18}{size}{arena}   "
                + " ".join(f"{a:.4f}" for a in row["per_exit_accuracy"])
                if i == 0 else " " * 59
            )
            lines.append(
                f"{head:<59}{p['threshold']:>5.2f}{p['accuracy']:>8.4f}  "
                + " ".join(f"{f:.3f}" for f in p["exit_fractions"])
                + f"  {p['mac_reduction']:>6.2f}x "
                + (f"{p['stage_bound']:>5.2f}x" if p["stage_bound"] else "     -")
                + f" {p['early_exit_ms']:>6.3f} "
                f"{p['full_ms']:>7.3f} {p['speedup']:>6.2f}x {p['speedup'] / p['mac_reduction']:>7.2f}"
            )
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    splits = datasets.load("fashion_mnist", validation_split=0.1, seed=1337)
    x_train, y_train = splits.train
    x_test, y_test = splits.test
    model, origin = inference.load_or_train(args.model, splits, args.train_epochs)
    thresholds, _, _ = inference.choose_thresholds(model, x_test, y_test)
    print(f"Operating points (common max-probability thresholds): {thresholds}")
    representative = x_train[np.random.default_rng(0).permutation(len(x_train))[:500]]
    x_b1 = x_test[: args.b1_samples]
    os.makedirs(args.out, exist_ok=True)
    costs = model.exit_costs
    rows = []

    # Keras.
    full_keras = inference.make_full_runner(model.backbone)
    rows.append(evaluate(
        "Keras", lambda x: model.predict_exits(x),
        lambda x, t, b: model.predict_early_exit(x, t, batch_size=b),
        lambda x: full_keras(x, 1), x_test, y_test, x_b1, thresholds, costs,
        args.repeats, None, None,
    ))

    def litert_row(name, directory, backbone_flatbuffer, interpreter="litert",
                   samples=None, single_file=True):
        runtime = deploy.load(directory, interpreter=interpreter,
                              single_file=single_file)
        full = FlatbufferNetwork(backbone_flatbuffer, micro=interpreter == "micro")
        xs, ys = (x_test, y_test) if samples is None else (x_test[:samples], y_test[:samples])
        xb = x_b1 if samples is None else x_b1[: min(len(x_b1), samples)]
        manifest = runtime.manifest
        return evaluate(
            name, lambda x: runtime.run_stages(x),
            lambda x, t, b: runtime.predict_early_exit(x, batch_size=b, thresholds=t),
            lambda x: full.run_per_sample(full.prepare(x)), xs, ys, xb,
            thresholds, costs, args.repeats,
            [manifest.single_file.bytes] if runtime.uses_single_file
            else [s.bytes for s in manifest.stages],
            [s.arena_bytes for s in manifest.stages] if manifest.peak_arena_bytes else None,
            times=stage_times(runtime),
        )

    print("Converting the backbone alone (float32, int8)", flush=True)
    backbone_float = convert_stage(model.backbone)
    backbone_int8 = convert_stage(model.backbone, "int8", representative)
    print("Exporting: LiteRT float32", flush=True)
    float_dir = os.path.join(args.out, "float32")
    model.export_early_exit(float_dir, [thresholds[0]] * 2)
    rows.append(litert_row("LiteRT float32", float_dir, backbone_float))
    rows.append(litert_row("LiteRT fp32 stages", float_dir, backbone_float,
                           single_file=False))
    print("Exporting: LiteRT int8 PTQ", flush=True)
    ptq_dir = os.path.join(args.out, "int8_ptq")
    model.export_early_exit(ptq_dir, [thresholds[0]] * 2, quantize="int8",
                            representative_data=representative,
                            micro=micro_available())
    rows.append(litert_row("LiteRT int8 PTQ", ptq_dir, backbone_int8))
    qat_seconds = None
    try:
        deploy.check_tfmot_installed()
        has_tfmot = True
    except (ImportError, AttributeError) as error:
        print(f"skipping QAT: {error}")
        has_tfmot = False
    if has_tfmot:
        print(f"Exporting: LiteRT int8 QAT ({args.qat_epochs} epochs on "
              f"{args.qat_samples} images)", flush=True)
        qat_dir = os.path.join(args.out, "int8_qat")
        order = np.random.default_rng(1).permutation(len(x_train))[: args.qat_samples]
        qat_start = time.time()
        deploy.export_quantization_aware(
            model, qat_dir, [thresholds[0]] * 2, x_train[order], y_train[order],
            epochs=args.qat_epochs, learning_rate=args.qat_learning_rate,
            representative_data=representative,
        )
        qat_seconds = time.time() - qat_start
        rows.append(litert_row("LiteRT int8 QAT", qat_dir, backbone_int8))
    if micro_available():
        rows.append(litert_row("TFLite Micro int8", ptq_dir, backbone_int8,
                               interpreter="micro", samples=args.micro_samples))

    print()
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; model {origin}; "
          f"LiteRT interpreter: {deploy.interpreters.interpreter_name()}")
    print(format_rows(rows))
    by_name = {r["format"]: r for r in rows}
    print("\nTargets:")
    lite = by_name["LiteRT float32"]
    ratios = [p["speedup"] / p["mac_reduction"] for p in lite["points"]]
    print(f"  LiteRT float32 batch-1 speedup / MAC reduction: "
          f"{min(ratios):.2f}-{max(ratios):.2f} (target >= 0.9; one file)")
    staged = by_name["LiteRT fp32 stages"]
    ratios = [p["speedup"] / p["mac_reduction"] for p in staged["points"]]
    print(f"  LiteRT float32 stage files, rule on the host: "
          f"{min(ratios):.2f}-{max(ratios):.2f}")
    ptq = by_name["LiteRT int8 PTQ"]
    ratios = [p["speedup"] / p["mac_reduction"] for p in ptq["points"]]
    print(f"  LiteRT int8 batch-1 speedup / MAC reduction: "
          f"{min(ratios):.2f}-{max(ratios):.2f}")
    for name, target in (("LiteRT int8 PTQ", 0.5), ("LiteRT int8 QAT", 0.2)):
        if name not in by_name:
            continue
        gaps = [100 * (f["accuracy"] - q["accuracy"])
                for f, q in zip(lite["points"], by_name[name]["points"])]
        print(f"  {name} early-exit accuracy below float: "
              + ", ".join(f"{g:+.2f}" for g in gaps)
              + f" points (target <= {target})")
    print(f"  int8 / float32 file bytes: "
          f"{sum(ptq['bytes']) / sum(staged['bytes']):.3f} (target <= 0.3)")
    payload = {
        "cpu": cpu_name(), "model": origin, "thresholds": thresholds,
        "qat_epochs": args.qat_epochs, "qat_samples": args.qat_samples,
        "qat_learning_rate": args.qat_learning_rate,
        "qat_seconds": qat_seconds, "rows": rows,
        "seconds": time.time() - start,
    }
    with open(os.path.join(os.path.dirname(args.out) or ".", "deployment.json"), "w") as f:
        json.dump(payload, f, indent=2)
    print(f"\ndone in {time.time() - start:.0f} s")
    return payload


if __name__ == "__main__":
    main()
