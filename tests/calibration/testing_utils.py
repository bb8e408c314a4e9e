"""Synthetic exit outputs shared by the tests of `keras_nachos.calibration`."""

import numpy as np

NUM_CLASSES = 10


COSTS = [10.0, 25.0, 45.0, 70.0]


def synthetic_outputs(
    n=10000,
    num_classes=NUM_CLASSES,
    margins=(2.2, 3.0, 3.8, 4.6),
    confidence=False,
    seed=0,
):
    """Per-exit probabilities with accuracy rising with depth (~0.65 to
    0.96) and confidence correlated with correctness through a shared
    per-sample difficulty; float32 like a model's outputs."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, num_classes, n)
    difficulty = rng.normal(0, 1, n)
    outputs = []
    for b, margin in enumerate(margins):
        logits = rng.normal(0, 1, (n, num_classes))
        logits[np.arange(n), y] += margin - 1.2 * difficulty + rng.normal(0, 0.7, n)
        logits *= 1.5
        p = np.exp(logits - logits.max(1, keepdims=True))
        p = (p / p.sum(1, keepdims=True)).astype("float32")
        if confidence and b < len(margins) - 1:
            c = 1 / (1 + np.exp(-(4 * (p.max(1) - 0.5) + rng.normal(0, 0.5, n))))
            p = np.concatenate([p, c[:, None].astype("float32")], 1)
        outputs.append(p)
    return outputs, y
