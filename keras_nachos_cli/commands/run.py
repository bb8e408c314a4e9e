"""`keras-nachos run`: an export's early exit on a data set's test split."""

import time

from keras_nachos import deploy
from keras_nachos_cli.commands.data import data_for


def run(directory, data, interpreter="litert", batch_size=1, limit=None,
        splits=None):
    """Runs the LiteRT stages in `directory` with their early exit on the
    test split of `data` (the `--dataset` options; `splits`, a
    `DatasetSplits`, replaces loading it). Prints accuracy, exit fractions,
    expected MACs and the latency per sample; returns the `EarlyExitResult`.
    """
    runtime = deploy.load(directory, interpreter=interpreter)
    if splits is None:
        splits = data_for(runtime, data, None)
    x_test, y_test = splits.test
    if limit is not None:
        x_test, y_test = x_test[:limit], y_test[:limit]
    start = time.perf_counter()
    result = runtime.predict_early_exit(x_test, batch_size=batch_size)
    elapsed = time.perf_counter() - start
    fractions = ", ".join(
        f"{n} {f:.3f}" for n, f in zip(result.exit_names, result.exit_fractions)
    )
    kind = runtime.manifest.quantize or "float32"
    print(
        f"{directory} ({kind}, {interpreter}, batch {batch_size}) on "
        f"{len(y_test):,} test images of {data['dataset']}:\n"
        f"  accuracy        {result.accuracy(y_test):.4f}\n"
        f"  exit fractions  {fractions}\n"
        f"  expected MACs   {result.expected_macs:,.0f}   (macs_ratio "
        f"{result.macs_ratio:.3f} of the backbone's {result.backbone_macs:,})\n"
        f"  latency         {1000 * elapsed / len(y_test):.3f} ms per sample"
    )
    return result
