"""The guaranteed accuracy floor on new data, and what it costs in MACs.

Two Fashion-MNIST EENNs with different score distributions: the example's
(`examples/fashion_mnist_eenn.py`: SDN heads after stages 1 and 2, trained
jointly, max-probability rule) and E2CM class means fitted at the same exit
points of its trained backbone (class-means rule). Their exit outputs on the
10,000 test images are computed once; then, over `--splits` random splits of
those images into a calibration half and an evaluation half, thresholds are
calibrated on the first `--cal-sizes` images of the calibration half and
judged on the evaluation half (5,000 images):

- plain: today's calibration, the cheapest setting reaching A on the
  calibration images;
- naive: the same for A + `--margin` (a fixed safety margin);
- guaranteed, `floor_confidence` 0.9 and 0.95 (Learn-then-Test, fixed-sequence
  testing with exact binomial p-values): `learned` (the curve learned on 30%
  of the calibration images, tested on the rest) and `shared` (one threshold
  for every exit, tested on all), both for the expected accuracy, and
  `shared, m=5000` (the floor on the accuracy of 5,000 new images, the
  evaluation half's size: the strict reading of what this benchmark counts).

A = the final exit's accuracy on all 10,000 test images minus 0.5 and 1.0
points. A split violates when the evaluation half's accuracy is below A;
guaranteed calibrations that certify nothing are refused (no thresholds, no
violation) and counted apart. Also the relative floor (`max_accuracy_drop`:
at most d below the final exit, judged against the evaluation half's own
final-exit accuracy). Printed per model, calibration size and floor: the
violation share (target <= 1 - confidence, within binomial noise: the 95%
range is printed), the refused share, and the median expected MACs as a
fraction of the network without exits.

Usage:

    python benchmarks/guarantee.py                       # ~45 min on 2 cores, 13 of them training
    python benchmarks/guarantee.py --splits 50 --epochs 1 --max-samples 6000

Writes `guarantee.json` (and `guarantee_outputs.npz`, the cached exit outputs:
`--reuse-outputs` skips the training) in `--out` (default `artifacts/`).
"""

import argparse
import json
import os
import platform
import time

import numpy as np

from _common import load_module  # beside this script


CONFIDENCES = (0.9, 0.95)
DROPS = (0.005, 0.01)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--splits", type=int, default=500)
    parser.add_argument("--cal-sizes", type=int, nargs="+", default=[500, 1000, 5000])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--max-samples", type=int, default=None)
    parser.add_argument("--margin", type=float, default=0.005)
    parser.add_argument("--out", default="artifacts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse-outputs", action="store_true")
    parser.add_argument("--report", action="store_true",
                        help="print the table of an existing guarantee.json")
    return parser.parse_args(argv)


def model_outputs(args):
    """Exit outputs on the test images of both models (cached in --out)."""
    path = os.path.join(args.out, "guarantee_outputs.npz")
    if args.reuse_outputs and os.path.exists(path):
        data = np.load(path)
        return {
            name: ([data[f"{name}_{b}"] for b in range(int(data[f"{name}_exits"]))],
                   data[f"{name}_costs"], float(data[f"{name}_backbone"]))
            for name in ("sdn", "e2cm")
        }, data["y"]
    import keras

    eenn = load_module("examples/fashion_mnist_eenn.py")
    from keras_nachos import EarlyExitModel
    from keras_nachos import datasets

    keras.utils.set_random_seed(args.seed)
    splits = datasets.load("fashion_mnist", validation_split=0.1, seed=args.seed,
                           max_samples=args.max_samples)
    x_test, y_test = splits.test
    start = time.perf_counter()
    sdn = eenn.train_eenn(splits, epochs=args.epochs, verbose=2)
    print(f"EENN trained in {time.perf_counter() - start:.0f} s", flush=True)
    _, exit_points = eenn.build_backbone()
    e2cm = EarlyExitModel.from_backbone(
        sdn.backbone, exit_points, splits.num_classes, head="class_means",
        name="e2cm",
    )
    e2cm.fit_class_means(*splits.train)
    result, arrays = {}, {"y": y_test}
    for name, model in (("sdn", sdn), ("e2cm", e2cm)):
        outputs = model.predict_exits(x_test, batch_size=512)
        costs = np.asarray(model.exit_macs, dtype="float64")
        result[name] = (outputs, costs, float(model.backbone_macs))
        arrays[f"{name}_exits"] = len(outputs)
        arrays[f"{name}_costs"] = costs
        arrays[f"{name}_backbone"] = float(model.backbone_macs)
        for b, o in enumerate(outputs):
            arrays[f"{name}_{b}"] = o
    os.makedirs(args.out, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return result, y_test


def run_splits(outputs, y, costs, rule_name, args, name):
    """Every method on every split; returns rows of results."""
    from keras_nachos import rules
    from keras_nachos.calibration import calibrate_from_outputs
    from keras_nachos.calibration import evaluate_thresholds
    from keras_nachos.calibration import exit_tables
    from keras_nachos.calibration import calibrate as C
    from keras_nachos.calibration import guaranteed_calibration as G
    from keras_nachos.calibration.guarantee import split_indices
    from keras_nachos.calibration.trade_off_search import TradeOffSearch

    rule = rules.get(rule_name)
    k = outputs[-1].shape[1]
    S, R = exit_tables(outputs, y, rule, k)
    score_range = rule.score_threshold_range(k)
    final = float(R[:, -1].mean())
    floors = {f"A-{d * 100:g}pt": final - d for d in DROPS}
    n = len(y)
    rng = np.random.default_rng(args.seed)
    records = {}

    def record(key, evaluation, refused):
        records.setdefault(key, []).append((evaluation, refused))

    start = time.perf_counter()
    for split in range(args.splits):
        order = rng.permutation(n)
        half = n // 2
        calibration_half, evaluation = order[:half], order[half:]
        Se, Re = S[evaluation], R[evaluation]
        final_eval = float(Re[:, -1].mean())
        for size in args.cal_sizes:
            cal = calibration_half[:size]
            Sc, Rc = S[cal], R[cal]
            # One plain curve per split serves plain and naive at every floor.
            settings, cost, accuracy = TradeOffSearch(Sc, Rc, costs, score_range).run()
            # The learned sequences (absolute and relative targets).
            curve_idx, test_idx = split_indices(size, 0.3, split)
            learned = {}
            for kind, target in (("abs", Rc), ("rel", ~(Rc[:, -1:] & ~Rc))):
                s_, _, _ = TradeOffSearch(
                    Sc[curve_idx], target[curve_idx], costs, score_range
                ).run()
                learned[kind] = s_[::-1]
            shared = G.shared_sequence(Sc, score_range)
            everything = np.arange(size)
            outcomes = {
                "learned abs": G.settings_outcomes(
                    Sc[test_idx], Rc[test_idx], costs, learned["abs"]),
                "learned rel": G.settings_outcomes(
                    Sc[test_idx], Rc[test_idx], costs, learned["rel"]),
                "shared": G.settings_outcomes(Sc, Rc, costs, shared),
            }

            def judge(setting, floor_of_eval):
                acc, macs, _ = evaluate_thresholds(Se, Re, costs, setting)
                return acc < floor_of_eval - 1e-12, macs

            def certify(key, seq, part, known, floor_of_eval, min_accuracy=None,
                        drop=None, m=None):
                """Fixed-sequence testing on the calibration images; the
                chosen setting judged on the evaluation half."""
                _, j, ok, _ = G.certify_sequence(
                    Sc, Rc, costs, seq, curve_idx, part, min_accuracy, drop,
                    None, key[3], m, False, outcomes[known],
                )
                if ok:
                    record(key, judge(seq[::-1][j], floor_of_eval), False)
                else:
                    record(key, (False, np.nan), True)

            for label, floor in floors.items():
                for method, goal in (("plain", floor), ("naive", floor + args.margin)):
                    j, _ = C._select(cost, accuracy, min(goal, 0.999), None, False)
                    record((size, label, method, None), judge(settings[j], floor), False)
                for conf in CONFIDENCES:
                    for method, seq, part, m, known in (
                        ("learned", learned["abs"], test_idx, None, "learned abs"),
                        ("shared", shared, everything, None, "shared"),
                        ("shared, m=5000", shared, everything, len(evaluation),
                         "shared"),
                    ):
                        certify((size, label, method, conf), seq, part, known,
                                floor, min_accuracy=floor, m=m)
            for d in DROPS:
                label = f"drop {d * 100:g}pt"
                floor_cal = float(Rc[:, -1].mean()) - d
                j, _ = C._select(cost, accuracy, floor_cal, None, False)
                record((size, label, "plain", None),
                       judge(settings[j], final_eval - d), False)
                for conf in CONFIDENCES:
                    for method, seq, part, known in (
                        ("learned", learned["rel"], test_idx, "learned rel"),
                        ("shared", shared, everything, "shared"),
                    ):
                        certify((size, label, method, conf), seq, part, known,
                                final_eval - d, drop=d)
            if split == 0 and size == args.cal_sizes[-1]:
                # The shortcut above is calibrate_from_outputs itself.
                check = calibrate_from_outputs(
                    [o[cal] for o in outputs], y[cal], costs, rule=rule,
                    num_classes=k, min_accuracy=floors["A-0.5pt"],
                    floor_confidence=0.9, floor_sequence="shared",
                    raise_if_infeasible=False,
                )
                _, j, _, _ = G.certify_sequence(
                    Sc, Rc, costs, shared, curve_idx, np.arange(size),
                    floors["A-0.5pt"], None, None, 0.9, None, False,
                )
                expected = rule.rule_threshold(shared[::-1][j][None])[0].tolist()
                assert np.allclose(check.thresholds, expected), (check, expected)
        if (split + 1) % max(1, args.splits // 10) == 0:
            elapsed = time.perf_counter() - start
            print(f"  {name}: {split + 1}/{args.splits} splits, {elapsed:.0f} s",
                  flush=True)
    rows = []
    for (size, label, method, conf), values in records.items():
        violated = np.array([v[0][0] for v in values], dtype=bool)
        macs = np.array([v[0][1] for v in values], dtype="float64")
        refused = np.array([v[1] for v in values], dtype=bool)
        rows.append({
            "model": name, "cal_size": size, "floor": label, "method": method,
            "confidence": conf, "splits": len(values),
            "violation_share": float(violated.mean()),
            "refused_share": float(refused.mean()),
            "median_macs": float(np.nanmedian(macs)) if np.isfinite(macs).any()
            else None,
        })
    return rows, final


def binomial_range(delta, splits):
    half = 1.96 * np.sqrt(delta * (1 - delta) / splits)
    return max(0.0, delta - half), delta + half


def format_table(payload):
    lines = []
    for name, info in payload["models"].items():
        backbone = info["backbone_macs"]
        lines.append(
            f"\n{name} (final-exit test accuracy {info['final_accuracy']:.4f}, "
            f"rule {info['rule']}); MACs as a fraction of {backbone:,.0f}"
        )
        rows = [r for r in payload["rows"] if r["model"] == name]
        for size in sorted({r["cal_size"] for r in rows}):
            lines.append(f"  calibration images: {size}")
            lines.append(
                "    floor       method            conf   violated  refused  MACs"
            )
            for r in sorted(
                (r for r in rows if r["cal_size"] == size),
                key=lambda r: (r["floor"], r["confidence"] or 0, r["method"]),
            ):
                conf = "-" if r["confidence"] is None else f"{r['confidence']:g}"
                macs = "-" if r["median_macs"] is None else (
                    f"{r['median_macs'] / backbone:.3f}"
                )
                lines.append(
                    f"    {r['floor']:<11} {r['method']:<17} {conf:<6} "
                    f"{r['violation_share']:8.3f} {r['refused_share']:8.3f}  {macs}"
                )
    splits = payload["args"]["splits"]
    for conf in CONFIDENCES:
        lo, hi = binomial_range(1 - conf, splits)
        lines.append(
            f"violated share for a procedure exactly at 1 - {conf:g}: 95% of "
            f"runs of {splits} splits fall in [{lo:.3f}, {hi:.3f}]"
        )
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    path = os.path.join(args.out, "guarantee.json")
    if args.report:
        with open(path) as f:
            print(format_table(json.load(f)))
        return
    start = time.perf_counter()
    models, y = model_outputs(args)
    payload = {"args": vars(args), "models": {}, "rows": [],
               "machine": platform.processor() or platform.machine()}
    for name, rule in (("sdn", "max_probability"), ("e2cm", "class_means")):
        outputs, costs, backbone = models[name]
        rows, final = run_splits(outputs, y, costs, rule, args, name)
        payload["rows"] += rows
        payload["models"][name] = {
            "rule": rule, "final_accuracy": final, "backbone_macs": backbone,
            "exit_macs": costs.tolist(),
        }
    payload["seconds"] = time.perf_counter() - start
    os.makedirs(args.out, exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f, indent=1)
    print(format_table(payload))
    print(f"done in {payload['seconds']:.0f} s; wrote {path}")


if __name__ == "__main__":
    main()
