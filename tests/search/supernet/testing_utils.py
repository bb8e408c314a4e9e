"""Helpers shared by the supernet's tests: a tiny space with every elastic
decision, toy data and candidates that use every shared head."""

import numpy as np

from keras_nachos.search import SearchSpace


def elastic_space(**overrides):
    """A tiny space with every elastic decision: stem 8 and stage-1 widths
    8/12 at stride 1 (block 1 has a residual for width 8 only), expansion 1
    (no expand conv) among the ratios, two kernel sizes, two depths, all
    three head designs at two widths."""
    options = dict(
        input_shape=(8, 8, 1), num_classes=3,
        stage_widths=[[8, 12], [8, 16], [12, 16]], depths=(1, 2),
        kernel_sizes=(3, 5), expansion_ratios=(1, 2), stem_filters=(4, 8),
        stem_stride=1, head_types=("global_pool", "sdn", "conv"),
        head_widths=(0, 8),
    )
    options.update(overrides)
    return SearchSpace(**options)


def toy_data(n=96, size=8, seed=0):
    """Images whose class is the brightest of three horizontal bands."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(0.0, 0.3, (n, size, size, 1)).astype("float32")
    band = size // 3
    for i, label in enumerate(y):
        x[i, label * band:(label + 1) * band] += 1.0
    return x, y


def candidates(space, supernet):
    """Largest, smallest and random candidates that between them use every
    head design at every exit position."""
    designs = [(k, w) for k in space.head_types for w in space.head_widths]
    out = [supernet.largest_values(), supernet.smallest_values()]
    for seed in range(len(designs)):
        values = space.random_values(seed=seed)
        for s in space.exit_positions:
            kind, width = designs[(seed + s) % len(designs)]
            values.update({f"exit_{s}": True, f"exit_{s}_head": kind,
                           f"exit_{s}_head_width": width})
        out.append(values)
    return out
