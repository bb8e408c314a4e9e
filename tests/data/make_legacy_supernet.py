"""Writes legacy_supernet.keras and .npz with the code on PYTHONPATH.

The committed files were written by keras_nachos db81455 (the single-module
`search/supernet.py`, before the supernet package), to check that such files
still load: `PYTHONPATH=<a db81455 checkout> python make_legacy_supernet.py DIR`.
"""
import json
import sys

import keras
import numpy as np

from keras_nachos.search import SearchSpace, Supernet

out_dir = sys.argv[1]
space = SearchSpace(
    (8, 8, 1), 3, stage_widths=[[4, 8], [8]], depths=(1, 2),
    kernel_sizes=(3, 5), expansion_ratios=(1, 2), stem_filters=(4, 8),
    stem_stride=1, head_types=("global_pool", "sdn"),
    head_widths=(0, 4),
)
rng = np.random.default_rng(0)
x = rng.normal(size=(16, 8, 8, 1)).astype("float32")
y = rng.integers(0, 3, 16)
supernet = Supernet(space, seed=5)
supernet.compile(optimizer=keras.optimizers.Adam(1e-2))
supernet.fit(x, y, epochs=1, batch_size=8, verbose=0)
values = [supernet.largest_values(), supernet.smallest_values()]
for seed in (1, 2):
    v = space.random_values(seed=seed)
    v.update({"exit_1": True, "exit_1_head": "global_pool", "exit_1_head_width": 4})
    values.append(v)
supernet.reestimate_batch_norm(values[2], x)
supernet.save(f"{out_dir}/legacy_supernet.keras")
arrays = {"x": x, "values": np.array(json.dumps(values))}
for i, w in enumerate(supernet.weights):
    arrays[f"weight_{i}"] = np.asarray(w)
for c, v in enumerate(values):
    for i, o in enumerate(supernet.predict_subnet(v, x)):
        arrays[f"subnet_{c}_exit_{i}"] = o
np.savez_compressed(f"{out_dir}/legacy_supernet.npz", **arrays)
print(len(supernet.weights), "weights", supernet.optimizer.iterations.numpy())
