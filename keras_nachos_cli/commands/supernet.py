"""`keras-nachos supernet train`: a weight-sharing supernet of a space."""

import time

import keras

from keras_nachos.search import Supernet
from keras_nachos.search.folder_lock import file_lock
from keras_nachos.search.state_files import save_keras_file
from keras_nachos.search.state_files import write_json_atomically
from keras_nachos_cli import config as config_module
from keras_nachos_cli.commands.data import load_dataset
from keras_nachos_cli.commands.search import check_registered
from keras_nachos_cli.commands.search import space_for


def train(out, config, verbose=1):
    """Trains a supernet of the configured space on the training split,
    writes `out` (.keras) and its arguments beside it (`.json`, which
    `search --supernet` reads). Returns the supernet.

    Every check comes before anything is written; it trains holding
    `out.lock` (a second `supernet train` to the same file, or a search on
    it, is refused meanwhile) and replaces `out` only once trained, in one
    step (a refused, failed or interrupted training leaves the previous
    file as it was)."""
    check_registered(config)
    lock = file_lock(out, f"The supernet {out}")
    lock.check()
    schema = config_module.SUPERNET
    data = load_dataset(config)
    space = space_for(data, config)
    supernet = Supernet(space, **schema.arguments(config, config_module.SUPERNET_MODEL))
    with lock:
        return _train_holding_the_lock(out, config, verbose, data, space,
                                       supernet)


def _train_holding_the_lock(out, config, verbose, data, space, supernet):
    schema = config_module.SUPERNET
    fit = schema.arguments(config, config_module.FIT)
    print(
        f"Supernet: {supernet.count_params():,} weights, "
        f"{len(supernet.heads)} shared heads, on {config['dataset']} "
        f"({len(data.train[1])} train / {len(data.validation[1])} "
        f"validation), {fit['epochs']} epochs",
        flush=True,
    )
    supernet.compile(optimizer=keras.optimizers.Adam(
        **schema.arguments(config, config_module.OPTIMIZER)))
    start = time.time()
    history = supernet.fit(
        *data.train, validation_data=data.validation,
        verbose=verbose if verbose < 2 else 2, **fit,
    )
    seconds = time.time() - start
    save_keras_file(supernet, out)
    write_json_atomically(out[: -len(".keras")] + ".json", {
        "config": config,
        "space": space.get_config(),
        "train_seconds": seconds,
        "history": {k: [float(v) for v in vs]
                    for k, vs in history.history.items()},
    }, indent=2)
    last = {k: v[-1] for k, v in history.history.items()}
    print(
        f"Wrote {out} (trained in {seconds:.0f} s; validation accuracy of the "
        f"largest subnet {last.get('val_largest_accuracy', float('nan')):.4f},"
        f" of the smallest {last.get('val_smallest_accuracy', float('nan')):.4f})",
        flush=True,
    )
    return supernet
