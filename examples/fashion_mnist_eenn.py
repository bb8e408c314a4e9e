"""A small early-exit CNN for Fashion-MNIST, shared by the example and the benchmark.

The default backbone, "strided_stem", is a functional CNN of three stages, all
3x3 ReLU convolutions with "same" padding:

- stage 1: a stride-2 stem conv (32 filters, 28x28 -> 14x14), a conv (32) and
  a 2x2 max-pool (-> 7x7x32);
- stage 2: two convs (64) and a max-pool (-> 3x3x64);
- stage 3: two convs (96), then a flatten and a softmax classifier.

Early exits (SDN heads by default) sit after the pools of stages 1 and 2.

Why this shape: on a CPU, the wall-clock time of a stage is not proportional
to its MACs when it runs big maps with few channels. A 3x3 conv does
9 x (input channels) MACs per output value, and the work on those values (bias,
ReLU, pooling, moving maps bigger than the cache at batch 256) is not counted
in MACs. The previous backbone ("plain": 16/32/64 filters, stage 1 at 28x28 on
a 1-channel input) spent far more than its share of time in stage 1, where
most samples leave, so an early exit saved less time than MACs. Here no stage
runs a big map with few channels: the strided stem takes stage 1 to 14x14 at
32 channels, and channels grow 32/64/96. Stage 3 has 96 filters, not 128:
at 3x3 maps the 128-filter convs ran faster per MAC than the rest of the
network, so skipping them saved less time than their MACs suggest. The
96-filter network was also as accurate with 11% fewer MACs.

Measured with `benchmarks/early_exit_inference.py` (B=256, 2 shared cores;
stage time share / MAC share, 1.0 = proportional; stage 1 matters most) after
training 6 epochs on the full data ("plain": its former 10-epoch model):

    backbone          spec                              t/M share  final acc  MACs
    strided_stem      c32/2 c32 p|c64 c64 p|c96 c96     1.14 0.86 1.09   0.905   5.83M
    strided_stem_128  c32/2 c32 p|c64 c64 p|c128 c128   1.21 0.93 0.90   0.899   6.57M
    all_strided       c32/2 c32|c64/2 c64|c128/2 c128   1.38 1.00 0.80   0.897   8.13M
    plain             c16 c16 p|c32 c32 p|c64 c64       1.55 0.88 0.73   0.912   7.37M

With the example's 12 epochs (cosine decay), strided_stem reached 0.918 final
and 0.896 exit-1 test accuracy, strided_stem_128 0.916 and 0.898; "plain" had
0.912 and 0.861 after its former 10 epochs at a constant learning rate, and
its full network took 1.5x as long as strided_stem's. The cosine decay is
worth about one point: strided_stem reached 0.908 after 12 epochs at a
constant 1e-3.
"""

import json
import os
import time

import keras
import numpy as np

from keras_nachos import EarlyExitModel

# Backbones as strings: stages separated by "|"; "c32/2" is a 3x3 ReLU conv
# with 32 filters and stride 2 ("same" padding), "c64" one with stride 1, "p"
# a 2x2 max-pool. Early exits sit at the end of every stage but the last.
BACKBONES = {
    "strided_stem": "c32/2 c32 p | c64 c64 p | c96 c96",
    "strided_stem_128": "c32/2 c32 p | c64 c64 p | c128 c128",
    "all_strided": "c32/2 c32 | c64/2 c64 | c128/2 c128",
    "plain": "c16 c16 p | c32 c32 p | c64 c64",
}
DEFAULT_BACKBONE = "strided_stem"
# The same max-probability threshold at every early exit. At 1.0 a sample
# still leaves early when its float32 softmax saturates to exactly 1.0 (the
# rule fires at `max p >= t`): a few percent of Fashion-MNIST's test images.
THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


def parse_backbone(spec):
    """`"c32/2 c32 p | c64"` -> `[[("conv", 32, 2), ("conv", 32, 1),
    ("pool",)], [("conv", 64, 1)]]`."""
    stages = []
    for stage in spec.split("|"):
        layers = []
        for token in stage.split():
            if token == "p":
                layers.append(("pool",))
            elif token.startswith("c"):
                filters, _, strides = token[1:].partition("/")
                layers.append(("conv", int(filters), int(strides or 1)))
            else:
                raise ValueError(f"unknown layer {token!r} in backbone {spec!r}")
        stages.append(layers)
    return stages


def build_backbone(
    backbone=DEFAULT_BACKBONE, input_shape=(28, 28, 1), num_classes=10
):
    """The CNN without early exits, every layer named.

    Returns `(model, exit_points)`: the last layer of every stage but the last.
    """
    stages = parse_backbone(BACKBONES.get(backbone, backbone))
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    exit_points = []
    for s, layers in enumerate(stages, start=1):
        conv = 0
        for layer in layers:
            if layer[0] == "pool":
                name = f"stage{s}_pool"
                x = keras.layers.MaxPooling2D(name=name)(x)
            else:
                conv += 1
                name = f"stage{s}_conv{conv}"
                x = keras.layers.Conv2D(
                    layer[1],
                    3,
                    strides=layer[2],
                    padding="same",
                    activation="relu",
                    name=name,
                )(x)
        if s < len(stages):
            exit_points.append(name)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(
        num_classes, activation="softmax", name="classifier"
    )(x)
    return keras.Model(inputs, outputs, name="fashion_cnn"), exit_points


def build_eenn(
    head="sdn", num_classes=10, backbone=DEFAULT_BACKBONE, learning_rate=1e-3
):
    """The backbone with exits after stages 1 and 2, compiled for training."""
    backbone, exit_points = build_backbone(backbone, num_classes=num_classes)
    model = EarlyExitModel.from_backbone(
        backbone, exit_points, num_classes, head=head, name="fashion_eenn"
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def train_eenn(
    splits,
    head="sdn",
    epochs=5,
    batch_size=128,
    verbose=2,
    backbone=DEFAULT_BACKBONE,
    cosine_decay=True,
):
    """Builds and trains an EENN on `splits` (a `datasets.load` result).

    Adam at 1e-3, decayed to 0 along a cosine over the training steps unless
    `cosine_decay=False`.
    """
    x_train, y_train = splits.train
    learning_rate = 1e-3
    if cosine_decay:
        steps = epochs * -(-len(y_train) // batch_size)
        learning_rate = keras.optimizers.schedules.CosineDecay(1e-3, steps)
    model = build_eenn(
        head,
        num_classes=splits.num_classes,
        backbone=backbone,
        learning_rate=learning_rate,
    )
    model.fit(
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=epochs,
        validation_data=splits.validation,
        verbose=verbose,
    )
    return model


def exit_summary(model, x, y):
    """Per-exit accuracy (every sample through every exit) and costs."""
    outputs = model.predict_exits(x)
    accuracies = [float(np.mean(o.argmax(axis=1) == y)) for o in outputs]
    return {
        "exit_names": list(model.exit_names),
        "accuracy": accuracies,
        "exit_macs": list(model.exit_macs),
        "exit_macs_taken_head": list(model.exit_macs_taken_head),
        "head_macs": list(model.head_macs),
        "backbone_macs": int(model.backbone_macs),
    }


def threshold_table(model, x, y, thresholds=THRESHOLDS, batch_size=256):
    """One row per threshold `t` (the same at every early exit)."""
    rows = []
    num_early = model.num_exits - 1
    for t in thresholds:
        result = model.predict_early_exit(
            x, [t] * num_early, batch_size=batch_size
        )
        rows.append(
            {
                "threshold": float(t),
                "accuracy": result.accuracy(y),
                "exit_fractions": [float(f) for f in result.exit_fractions],
                "expected_macs": result.expected_macs,
                "expected_macs_taken_head": model.expected_macs(
                    result.exit_fractions, convention="taken_head"
                ),
                "macs_ratio": result.macs_ratio,
            }
        )
    return rows


def format_summary(summary):
    header = f"{'exit':<8}{'test acc':>10}{'cum. MACs':>14}{'taken-head MACs':>18}"
    lines = [header, "-" * len(header)]
    for name, acc, macs, taken in zip(
        summary["exit_names"],
        summary["accuracy"],
        summary["exit_macs"],
        summary["exit_macs_taken_head"],
    ):
        lines.append(f"{name:<8}{acc:>10.4f}{macs:>14,}{taken:>18,}")
    lines.append(
        f"backbone without early exits: {summary['backbone_macs']:,} MACs"
    )
    return "\n".join(lines)


def format_threshold_table(rows, exit_names):
    fractions = " ".join(f"{n:>7}" for n in exit_names)
    header = (
        f"{'t':>5}{'test acc':>10}  {fractions}{'E[MACs]':>13}"
        f"{'ratio':>8}{'reduction':>11}"
    )
    lines = [
        f"{'':>17}{'exit fractions':^{8 * len(exit_names)}}",
        header,
        "-" * len(header),
    ]
    for row in rows:
        fr = " ".join(f"{f:>7.3f}" for f in row["exit_fractions"])
        lines.append(
            f"{row['threshold']:>5.2f}{row['accuracy']:>10.4f}  {fr}"
            f"{row['expected_macs']:>13,.0f}{row['macs_ratio']:>8.3f}"
            f"{1.0 / row['macs_ratio']:>10.2f}x"
        )
    return "\n".join(lines)


def write_json(path, payload):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)


class Stopwatch:
    """`with Stopwatch() as w: ...; w.seconds`."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
