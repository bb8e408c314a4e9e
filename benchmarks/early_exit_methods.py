"""Early-exit methods side by side on Fashion-MNIST: accuracy against expected MACs.

One backbone (a plain 4-stage CNN, 16/32/64/128 filters, two 3x3 ReLU convs per
stage, 2x2 max-pool after stages 1-3, flatten + softmax) with early exits after
the pools of stages 1, 2 and 3. The backbone is trained ONCE as a plain
classifier and reused (frozen) by every method that needs a trained backbone:

(a) joint: backbone + SDN heads (mixed pooling + dense) trained together from
    scratch with one cross-entropy per exit, constant weights 1; max
    probability rule. Same number of epochs as the plain backbone.
(b) sdn: SDN heads trained on the frozen pretrained backbone ("IC-only");
    max probability rule.
(c) entropy: the model of (a) with BranchyNet's entropy rule.
(d) nachos: SDN heads with a confidence output trained on the frozen
    pretrained backbone (NACHOS' second phase) with `NachosLoss` (MAC budget
    `--nachos-budget` x backbone MACs, support-set term refreshed by
    `SupportSetCallback` after a warm-up, the support set a class-balanced 10%
    of the training split held out from the head training); cascade rule.
    Frozen rather than joint so that it differs from (b) only in loss and
    rule: same backbone, same head design, same head epochs.
(e) e2cm: class means (`fit_class_means` on the training split) at the three
    exits of the plain pretrained backbone; no gradient training; class_means
    rule.
(f) combined: one `EarlyExitModel` with `head=[...]` mixing class-means exits
    and trained SDN exits. Candidates: every mixed assignment of
    {class means, SDN} to the three exit points, and "both at every depth"
    (class means on each stage's last conv, whose max-pool costs no MACs, then
    the SDN head on the pool: 6 early exits). The SDN heads are those of (b)
    (on a frozen backbone each head's training is independent of the others,
    so their weights are copied) and the class means those fitted by
    `fit_class_means` (copied from fitted E2CM models). The candidate used in
    the main table is chosen on VALIDATION (lowest validation MAC fraction at
    -0.5 points); every candidate is listed.

For each method, thresholds are calibrated on the validation split
(`calibrate_thresholds`): the trade-off curve, and for a floor of
validation final-exit accuracy - 0.5 (- 1.0) points the cheapest thresholds
meeting it. Those thresholds are applied to the test split (on cached exit
outputs with `calibration.evaluate_exit_outputs`; the -0.5 point is also checked with a
real `predict_early_exit`), giving test accuracy and expected MACs as a
fraction of the network without exits (`backbone_macs`). The test curve is
every validation-curve point's thresholds re-evaluated on test; its cheapest
point within 0.5 (1.0) points of the test final accuracy is reported too, for
transparency only (it is chosen on test).

MACs are cumulative: a sample leaving at exit b paid the backbone up to b and
every head on the way.

Usage:

    python benchmarks/early_exit_methods.py                 # full data, ~15 min on 2 shared cores
    python benchmarks/early_exit_methods.py --max-samples 3000 --epochs 1 --head-epochs 1

Writes `early_exit_methods.json` and `early_exit_methods.png` in `--out`
(default `artifacts/`).
"""

import argparse
import itertools
import json
import math
import os
import sys
import time

import keras
import numpy as np

from keras_nachos import ClassMeansHead
from keras_nachos import EarlyExitModel
from keras_nachos import NachosLoss
from keras_nachos import SupportSetCallback
from keras_nachos import datasets
from keras_nachos import split_support_set
from keras_nachos.calibration import calibrate_thresholds
from keras_nachos.calibration import evaluate_exit_outputs

FILTERS = (16, 32, 64, 128)
EXIT_POINTS = ["stage1_pool", "stage2_pool", "stage3_pool"]
PRE_POOL_POINTS = ["stage1_conv2", "stage2_conv2", "stage3_conv2"]
DROPS = (0.5, 1.0)  # accuracy drops, in points


# ----------------------------------------------------------------------
# Models.
# ----------------------------------------------------------------------
def build_backbone(input_shape=(28, 28, 1), num_classes=10, filters=FILTERS):
    """The plain CNN without early exits, every layer named."""
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for stage, f in enumerate(filters, start=1):
        for conv in (1, 2):
            x = keras.layers.Conv2D(
                f, 3, padding="same", activation="relu",
                name=f"stage{stage}_conv{conv}",
            )(x)
        if stage < len(filters):
            x = keras.layers.MaxPooling2D(name=f"stage{stage}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name="fashion_cnn4")


def optimizer(lr):
    return keras.optimizers.Adam(lr)


def weights_digest(model):
    return float(sum(float(np.abs(w).sum()) for w in model.get_weights()))


# ----------------------------------------------------------------------
# Calibration and evaluation.
# ----------------------------------------------------------------------
class Method:
    """A model, its exit rule (thresholds are calibrated for that rule)."""

    def __init__(self, key, label, model, rule, train_s, own_train_s, note=""):
        self.key = key
        self.label = label
        self.model = model
        self.rule = rule
        self.train_s = train_s
        self.own_train_s = own_train_s
        self.note = note


def accuracy_of(output, y, k):
    return float(np.mean(output[:, :k].argmax(axis=1) == y))


def apply_thresholds(model, outputs, y, rule, thresholds):
    """Accuracy, expected MACs, exit fractions and exit index on cached outputs."""
    evaluation = evaluate_exit_outputs(
        outputs, y, model.exit_macs, rule, thresholds, model.num_classes
    )
    return {
        "accuracy": evaluation.accuracy,
        "expected_macs": evaluation.expected_macs,
        "exit_fractions": evaluation.exit_fractions,
        "index": evaluation.exit_indices,
    }


def evaluate_method(method, splits, verbose=True):
    """Calibrates on validation, evaluates on test; returns a JSON-able dict."""
    model = method.model
    k = model.num_classes
    x_val, y_val = splits.validation
    x_test, y_test = splits.test
    start = time.perf_counter()
    val_out = model.predict_exits(x_val)
    test_out = model.predict_exits(x_test)
    full = float(model.backbone_macs)
    val_final = accuracy_of(val_out[-1], y_val, k)
    test_final = accuracy_of(test_out[-1], y_test, k)
    out = {
        "label": method.label,
        "note": method.note,
        "rule": method.rule,
        "exit_names": list(model.exit_names),
        "exit_points": list(model.exit_points),
        "heads": [type(h).__name__ for h in model.heads],
        "exit_macs": list(model.exit_macs),
        "exit_macs_fraction": [m / full for m in model.exit_macs],
        "head_macs": list(model.head_macs),
        "backbone_macs": int(model.backbone_macs),
        "val_exit_accuracy": [accuracy_of(o, y_val, k) for o in val_out],
        "test_exit_accuracy": [accuracy_of(o, y_test, k) for o in test_out],
        "val_final_accuracy": val_final,
        "test_final_accuracy": test_final,
        "train_s": method.train_s,
        "own_train_s": method.own_train_s,
        "floors": {},
    }
    curve = None
    for drop in DROPS:
        floor = val_final - drop / 100.0
        calib = calibrate_thresholds(
            model, (x_val, y_val), rule=method.rule, min_accuracy=floor
        )
        if curve is None:
            curve = calib.curve
        thresholds = [float(v) for v in calib.thresholds]
        val_eval = apply_thresholds(model, val_out, y_val, method.rule, thresholds)
        test_eval = apply_thresholds(model, test_out, y_test, method.rule, thresholds)
        entry = {
            "val_floor": floor,
            "thresholds": thresholds,
            "feasible": bool(calib.feasible),
            "val_accuracy": val_eval["accuracy"],
            "val_macs_fraction": val_eval["expected_macs"] / full,
            "val_exit_fractions": val_eval["exit_fractions"],
            "calibration_accuracy": float(calib.accuracy),
            "calibration_macs_fraction": float(calib.expected_macs) / full,
            "test_accuracy": test_eval["accuracy"],
            "test_macs_fraction": test_eval["expected_macs"] / full,
            "test_exit_fractions": test_eval["exit_fractions"],
        }
        if drop == DROPS[0]:
            # The same thresholds through the real, staged early exit.
            real = model.predict_early_exit(x_test, thresholds, rule=method.rule)
            entry["real_early_exit"] = {
                "test_accuracy": real.accuracy(y_test),
                "test_macs_fraction": real.expected_macs / full,
                "same_exit_as_cached": float(
                    np.mean(real.exit_indices == test_eval["index"])
                ),
            }
        out["floors"][str(drop)] = entry
    # The validation curve and its thresholds re-evaluated on test.
    points = []
    for p in curve:
        thresholds = [float(v) for v in p.thresholds]
        t = apply_thresholds(model, test_out, y_test, method.rule, thresholds)
        points.append({
            "val_macs_fraction": p.expected_macs / full,
            "val_accuracy": p.accuracy,
            "test_macs_fraction": t["expected_macs"] / full,
            "test_accuracy": t["accuracy"],
            "thresholds": thresholds,
        })
    out["curve"] = points
    for drop in DROPS:
        ok = [p for p in points if p["test_accuracy"] >= test_final - drop / 100.0 - 1e-12]
        best = min(ok, key=lambda p: p["test_macs_fraction"]) if ok else None
        out["floors"][str(drop)]["test_curve_macs_fraction"] = (
            None if best is None else best["test_macs_fraction"]
        )
        out["floors"][str(drop)]["test_curve_accuracy"] = (
            None if best is None else best["test_accuracy"]
        )
    out["eval_s"] = time.perf_counter() - start
    if verbose:
        f5 = out["floors"][str(DROPS[0])]
        print(
            f"[{method.key}] final test {test_final:.4f}; -0.5: test acc "
            f"{f5['test_accuracy']:.4f} at {f5['test_macs_fraction']:.3f} "
            f"(val {f5['val_accuracy']:.4f} at {f5['val_macs_fraction']:.3f}); "
            f"real early exit {f5['real_early_exit']['test_accuracy']:.4f} at "
            f"{f5['real_early_exit']['test_macs_fraction']:.3f} "
            f"({out['eval_s']:.0f} s)",
            flush=True,
        )
    return out


# ----------------------------------------------------------------------
# Output.
# ----------------------------------------------------------------------
def _pct(value):
    return "   -  " if value is None else f"{100 * value:6.2f}"


def format_table(rows, backbone):
    header = (
        f"{'method':<38}{'final':>7} | {'acc@-0.5':>8}{'MAC%':>7} | "
        f"{'acc@-1.0':>8}{'MAC%':>7} | {'curve MAC% -0.5/-1.0':>20} | "
        f"{'train s (own)':>14}"
    )
    lines = [header, "-" * len(header)]
    lines.append(
        f"{'plain backbone (no exits)':<38}{100 * backbone['test_accuracy']:7.2f} | "
        f"{'':>8}{100.0:7.2f} | {'':>8}{100.0:7.2f} | {'':>20} | "
        f"{backbone['train_s']:8.0f} ({backbone['train_s']:3.0f})"
    )
    for key, r in rows:
        a, b = r["floors"][str(DROPS[0])], r["floors"][str(DROPS[1])]
        curve = f"{_pct(a['test_curve_macs_fraction'])} /{_pct(b['test_curve_macs_fraction'])}"
        lines.append(
            f"{('(' + key + ') ' + r['label'])[:38]:<38}"
            f"{100 * r['test_final_accuracy']:7.2f} | "
            f"{100 * a['test_accuracy']:8.2f}{_pct(a['test_macs_fraction']):>7} | "
            f"{100 * b['test_accuracy']:8.2f}{_pct(b['test_macs_fraction']):>7} | "
            f"{curve:>20} | {r['train_s']:8.0f} ({r['own_train_s']:3.0f})"
        )
    return "\n".join(lines)


def format_exits(rows):
    cells = []
    for key, r in rows:
        cells.append((
            f"({key})",
            " ".join(f"{100 * m:5.1f}" for m in r["exit_macs_fraction"]),
            " ".join(f"{100 * a:5.1f}" for a in r["test_exit_accuracy"]),
            " ".join(f"{f:5.3f}" for f in r["floors"][str(DROPS[0])]["test_exit_fractions"]),
        ))
    titles = ("method", "exit MACs, % of backbone", "test acc per exit, all samples (%)",
              "test exit fractions @-0.5")
    widths = [max(len(t), *(len(c[i]) for c in cells)) for i, t in enumerate(titles)]
    fmt = lambda row: " | ".join(f"{v:<{w}}" for v, w in zip(row, widths)).rstrip()  # noqa: E731
    lines = [fmt(titles), "-" * len(fmt(titles))] + [fmt(c) for c in cells]
    return "\n".join(lines)


def format_candidates(candidates, chosen):
    header = (
        f"{'combined candidate (exit: head)':<58}{'val MAC% -0.5':>14}"
        f"{'test acc -0.5':>14}{'test MAC% -0.5':>15}{'test MAC% -1.0':>15}"
    )
    lines = [header, "-" * len(header)]
    for name, r in candidates.items():
        a, b = r["floors"][str(DROPS[0])], r["floors"][str(DROPS[1])]
        mark = " *" if name == chosen else ""
        lines.append(
            f"{(name + mark)[:58]:<58}{_pct(a['val_macs_fraction']):>14}"
            f"{100 * a['test_accuracy']:>14.2f}{_pct(a['test_macs_fraction']):>15}"
            f"{_pct(b['test_macs_fraction']):>15}"
        )
    return "\n".join(lines)


def plot(rows, backbone_accuracy, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    low, high = backbone_accuracy, backbone_accuracy
    for i, (key, r) in enumerate(rows):
        pts = sorted(r["curve"], key=lambda p: p["val_macs_fraction"])
        xs = [p["test_macs_fraction"] for p in pts]
        ys = [p["test_accuracy"] for p in pts]
        color = colors[i % len(colors)]
        ax.plot(xs, ys, "-", lw=1.3, color=color, label=f"({key}) {r['label']}")
        a = r["floors"][str(DROPS[0])]
        ax.plot([a["test_macs_fraction"]], [a["test_accuracy"]], "o", ms=7,
                color=color, markeredgecolor="black")
        low = min(low, r["test_final_accuracy"])
        high = max([high] + ys)
    ax.axhline(backbone_accuracy, color="black", ls="--", lw=1,
               label=f"plain backbone, test acc {backbone_accuracy:.4f}")
    ax.axhline(backbone_accuracy - 0.005, color="gray", ls=":", lw=1,
               label="backbone - 0.5 points")
    ax.axvline(0.5, color="gray", ls="-.", lw=0.8)
    ax.set_xlim(0, 1.05)
    ax.set_ylim(low - 0.04, high + 0.006)
    ax.set_xlabel("expected MACs / backbone MACs (test)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Fashion-MNIST early exit: validation-calibrated thresholds on test\n"
                 "(dots: thresholds chosen on validation at -0.5 points)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return None if math.isnan(float(obj)) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


# ----------------------------------------------------------------------
# Main.
# ----------------------------------------------------------------------
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=8,
                        help="Epochs of the plain backbone and of the joint EENN (a) (default 8).")
    parser.add_argument("--head-epochs", type=int, default=5,
                        help="Epochs of heads on the frozen backbone, (b) and (d) (default 5).")
    parser.add_argument("--max-samples", type=int, default=None,
                        help="Cap train+validation (stratified) for quick runs; test stays whole.")
    parser.add_argument("--out", default="artifacts",
                        help="Folder of early_exit_methods.json / .png (default artifacts).")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--nachos-budget", type=float, default=0.5,
                        help="NachosLoss max_macs as a fraction of backbone MACs (default 0.5).")
    parser.add_argument("--support-warmup", type=int, default=None,
                        help="SupportSetCallback warm-up epochs (default: half the head epochs).")
    parser.add_argument("--seed", type=int, default=1337)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    t0 = time.perf_counter()
    keras.utils.set_random_seed(args.seed)
    splits = datasets.load(
        "fashion_mnist", validation_split=0.1, seed=args.seed, max_samples=args.max_samples
    )
    x_train, y_train = splits.train
    x_val, y_val = splits.validation
    x_test, y_test = splits.test
    k = splits.num_classes
    print(f"train {len(y_train)}, validation {len(y_val)}, test {len(y_test)}", flush=True)
    fit_kw = dict(batch_size=args.batch_size, verbose=2)

    # --- The plain backbone, trained once. ---------------------------------
    keras.utils.set_random_seed(args.seed)
    backbone = build_backbone(splits.input_shape, k)
    backbone.compile(optimizer(args.lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    print(f"\n== plain backbone ({backbone.count_params():,} params), {args.epochs} epochs", flush=True)
    start = time.perf_counter()
    backbone.fit(x_train, y_train, epochs=args.epochs, **fit_kw)
    t_backbone = time.perf_counter() - start
    backbone.trainable = False  # frozen for every method that reuses it
    backbone_digest = weights_digest(backbone)
    backbone_test_acc = float(
        np.mean(backbone.predict(x_test, batch_size=256, verbose=0).argmax(1) == y_test)
    )
    print(f"backbone test accuracy {backbone_test_acc:.4f} ({t_backbone:.0f} s)", flush=True)

    methods = []

    # --- (a) joint EENN from scratch; (c) its entropy rule. ------------------
    keras.utils.set_random_seed(args.seed + 1)
    joint = EarlyExitModel.from_backbone(
        build_backbone(splits.input_shape, k), EXIT_POINTS, k, head="sdn", name="joint"
    )
    joint.compile(optimizer(args.lr), metrics=["accuracy"], exit_weights=None)
    print(f"\n== (a) joint EENN (backbone + SDN heads, constant weights), {args.epochs} epochs",
          flush=True)
    start = time.perf_counter()
    joint.fit(x_train, y_train, epochs=args.epochs, **fit_kw)
    t_joint = time.perf_counter() - start
    methods.append(Method("a", "joint SDN heads, max prob", joint, "max_probability",
                          t_joint, t_joint, "backbone and heads trained jointly from scratch"))
    methods.append(Method("c", "joint SDN heads, entropy", joint, "entropy",
                          t_joint, t_joint, "the model of (a), entropy rule"))

    # --- (b) SDN heads on the frozen backbone. ------------------------------
    keras.utils.set_random_seed(args.seed + 2)
    sdn = EarlyExitModel.from_backbone(backbone, EXIT_POINTS, k, head="sdn", name="sdn_ic")
    sdn.compile(optimizer(args.lr), metrics=["accuracy"])
    assert all(
        any(w is hw for h in sdn.heads for hw in h.trainable_weights)
        for w in sdn.trainable_weights
    ), "only the heads may train"
    print(f"\n== (b) SDN heads on the frozen backbone ({len(sdn.trainable_weights)} "
          f"trainable tensors), {args.head_epochs} epochs", flush=True)
    start = time.perf_counter()
    sdn.fit(x_train, y_train, epochs=args.head_epochs, **fit_kw)
    t_sdn = time.perf_counter() - start
    methods.insert(1, Method("b", "SDN heads on frozen bb, max prob", sdn, "max_probability",
                             t_backbone + t_sdn, t_sdn,
                             "IC-only: heads trained on the frozen pretrained backbone"))

    # --- (d) NACHOS confidence heads on the frozen backbone. -----------------
    keras.utils.set_random_seed(args.seed + 3)
    nachos = EarlyExitModel.from_backbone(
        backbone, EXIT_POINTS, k, head="sdn", confidence=True, name="nachos"
    )
    budget = args.nachos_budget * nachos.backbone_macs
    nachos.compile(optimizer(args.lr), loss=NachosLoss(max_macs=budget), metrics=["accuracy"])
    (x_head, y_head), support = split_support_set(x_train, y_train, fraction=0.1, seed=args.seed)
    warmup = (
        args.support_warmup if args.support_warmup is not None
        else max(1, args.head_epochs // 2)
    )
    print(f"\n== (d) NACHOS confidence heads on the frozen backbone, NachosLoss(max_macs="
          f"{budget:,.0f} = {args.nachos_budget:g} x backbone), support set "
          f"{len(support[1])} held out, warm-up {warmup}, {args.head_epochs} epochs", flush=True)
    start = time.perf_counter()
    nachos.fit(x_head, y_head, epochs=args.head_epochs,
               callbacks=[SupportSetCallback(support, warmup_epochs=warmup)], **fit_kw)
    t_nachos = time.perf_counter() - start
    methods.append(Method("d", "NACHOS loss conf heads, cascade", nachos, "cascade_confidence",
                          t_backbone + t_nachos, t_nachos,
                          "NachosLoss + support set, heads on the frozen pretrained backbone"))

    # --- (e) E2CM class means. ----------------------------------------------
    e2cm = EarlyExitModel.from_backbone(backbone, EXIT_POINTS, k, head="class_means", name="e2cm")
    start = time.perf_counter()
    e2cm.fit_class_means(x_train, y_train)
    t_e2cm = time.perf_counter() - start
    print(f"\n== (e) E2CM class means fitted in {t_e2cm:.1f} s", flush=True)
    methods.append(Method("e", "E2CM class means, class_means", e2cm, "class_means",
                          t_backbone + t_e2cm, t_e2cm,
                          "no training of exits"))

    # Class means on each stage's last conv (before the free max-pool).
    e2cm_pre = EarlyExitModel.from_backbone(
        backbone, PRE_POOL_POINTS, k, head="class_means", name="e2cm_pre_pool"
    )
    start = time.perf_counter()
    e2cm_pre.fit_class_means(x_train, y_train)
    t_e2cm_pre = time.perf_counter() - start

    # --- (f) combined: class means and trained SDN heads in one model. ------
    sdn_head = dict(zip(EXIT_POINTS, sdn.heads))
    cm_head = dict(zip(EXIT_POINTS, e2cm.heads))
    cm_head.update(zip(PRE_POOL_POINTS, e2cm_pre.heads))
    designs = []
    for assignment in itertools.product(["class_means", "sdn"], repeat=len(EXIT_POINTS)):
        if len(set(assignment)) > 1:
            designs.append((list(EXIT_POINTS), list(assignment)))
    both_points = [p for pair in zip(PRE_POOL_POINTS, EXIT_POINTS) for p in pair]
    designs.append((both_points, ["class_means", "sdn"] * len(EXIT_POINTS)))
    candidates, candidate_models = {}, {}
    print(f"\n== (f) {len(designs)} combined designs (SDN heads of (b), class means of (e))",
          flush=True)
    for points, heads in designs:
        if points == both_points:
            name = "s1,s2,s3: CM on conv2 + SDN on pool (6 early exits)"
        else:
            name = " ".join(f"s{p[5]}:{'CM' if h == 'class_means' else 'SDN'}"
                            for p, h in zip(points, heads))
        model = EarlyExitModel.from_backbone(backbone, points, k, head=heads, name="combined")
        for p, h in zip(points, model.heads):
            source = cm_head[p] if isinstance(h, ClassMeansHead) else sdn_head[p]
            h.set_weights(source.get_weights())
        own = t_sdn + t_e2cm + (t_e2cm_pre if points == both_points else 0.0)
        method = Method("f", "combined CM + SDN, max prob", model, "max_probability",
                        t_backbone + own, own,
                        f"one EarlyExitModel, {name} (s = stage pool unless noted)")
        candidates[name] = evaluate_method(method, splits, verbose=False)
        candidate_models[name] = method
        c = candidates[name]["floors"][str(DROPS[0])]
        print(f"  {name}: val MAC {c['val_macs_fraction']:.3f} at -0.5, test acc "
              f"{c['test_accuracy']:.4f} at {c['test_macs_fraction']:.3f}", flush=True)
    chosen = min(
        candidates,
        key=lambda n: (candidates[n]["floors"][str(DROPS[0])]["val_macs_fraction"],
                       candidates[n]["floors"][str(DROPS[1])]["val_macs_fraction"]),
    )

    # --- Evaluate. -----------------------------------------------------------
    print("\n== calibration (validation) and test evaluation", flush=True)
    results = []
    for method in methods:
        results.append((method.key, evaluate_method(method, splits)))
    results.append(("f", candidates[chosen]))
    results.sort(key=lambda kv: kv[0])
    assert weights_digest(backbone) == backbone_digest, "the frozen backbone changed"

    backbone_row = {"test_accuracy": backbone_test_acc, "train_s": t_backbone}
    table = format_table(results, backbone_row)
    by_key = dict(results)
    best_key = min(
        by_key, key=lambda kk: by_key[kk]["floors"][str(DROPS[0])]["test_macs_fraction"]
    )
    best = by_key[best_key]["floors"][str(DROPS[0])]
    target_met = best["test_macs_fraction"] <= 0.5

    print()
    print(f"Fashion-MNIST, {len(y_train)} train / {len(y_val)} val / {len(y_test)} test; "
          f"backbone {FILTERS} x2 convs, exits after {EXIT_POINTS}; "
          f"backbone MACs {sdn.backbone_macs:,}")
    print("Thresholds chosen on VALIDATION for floor = val final acc - 0.5 / 1.0 points; "
          "test accuracy (%) and test expected MACs (% of backbone) reported.")
    print("'curve MAC%': cheapest point of the test curve within 0.5 / 1.0 points of the "
          "test final accuracy (chosen on test, for transparency).")
    print("train s: total incl. the shared backbone pretraining (own part in parentheses).\n")
    print(table)
    print()
    print(format_exits(results))
    print()
    print(format_candidates(candidates, chosen))
    print("(* = chosen on validation for row (f))")
    comparison = {
        other: {
            str(d): by_key["f"]["floors"][str(d)]["test_macs_fraction"]
            - by_key[other]["floors"][str(d)]["test_macs_fraction"]
            for d in DROPS
        }
        for other in ("b", "e")
    }
    print(
        "\n(f) vs (b) / (e), test MAC fraction difference at -0.5: "
        f"{comparison['b']['0.5']:+.3f} / {comparison['e']['0.5']:+.3f}, at -1.0: "
        f"{comparison['b']['1.0']:+.3f} / {comparison['e']['1.0']:+.3f} (negative: (f) cheaper)"
    )
    print(f"\nbest at -0.5 points (test MAC fraction): ({best_key}) {by_key[best_key]['label']}: "
          f"test acc {best['test_accuracy']:.4f} at {best['test_macs_fraction']:.3f} of the "
          f"backbone MACs -> target <= 0.50 {'MET' if target_met else 'NOT met'}")

    os.makedirs(args.out, exist_ok=True)
    png = os.path.join(args.out, "early_exit_methods.png")
    plot(results, backbone_test_acc, png)
    total_s = time.perf_counter() - t0
    payload = {
        "config": {
            "epochs": args.epochs, "head_epochs": args.head_epochs,
            "max_samples": args.max_samples, "batch_size": args.batch_size, "lr": args.lr,
            "nachos_budget": args.nachos_budget, "support_warmup": warmup, "seed": args.seed,
            "filters": list(FILTERS), "exit_points": EXIT_POINTS,
            "train_samples": int(len(y_train)), "validation_samples": int(len(y_val)),
            "test_samples": int(len(y_test)),
            "mac_convention": "cumulative (every head on the way is paid)",
            "drops_points": list(DROPS),
        },
        "backbone": {
            "test_accuracy": backbone_test_acc, "train_s": t_backbone,
            "backbone_macs": int(sdn.backbone_macs),
        },
        "table": table,
        "exit_table": format_exits(results),
        "methods": {key: r for key, r in results},
        "combined_candidates": candidates,
        "combined_chosen": chosen,
        "combined_vs_b_and_e_macs_fraction_difference": comparison,
        "best_method": best_key,
        "best_test_macs_fraction_at_-0.5": best["test_macs_fraction"],
        "target_50pct_at_-0.5_met": bool(target_met),
        "fit_times_s": {"backbone": t_backbone, "joint": t_joint, "sdn_heads": t_sdn,
                        "nachos_heads": t_nachos, "class_means": t_e2cm,
                        "class_means_pre_pool": t_e2cm_pre},
        "total_s": total_s,
    }
    path = os.path.join(args.out, "early_exit_methods.json")
    with open(path, "w") as f:
        json.dump(jsonable(payload), f, indent=1)
    print(f"\nwrote {path} and {png}; total {total_s:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
