"""`keras-nachos demo`: the NACHOS pipeline end to end."""

import json
import os
import time

import keras

from keras_nachos_cli.commands.export import export
from keras_nachos_cli.commands.export import export_litert
from keras_nachos_cli.commands.run import run
from keras_nachos_cli.commands.search import run_search


def demo(out, config, resumed, overwrite, solution=0):
    """A short search (progress line per trial), the admissible front as a
    table, the Pareto plot, then the chosen EENN exported, loaded back from
    its file and run with its real early exit on the test split; last, the
    EENN exported as int8 LiteRT stages and run on them the same way.

    Returns:
        `(result, runtime_result)`: the `EarlyExitResult`s of the Keras
        model and of the int8 stages on the test split.
    """
    start = time.time()
    tuner, data, _ = run_search(out, config, resumed, overwrite)
    path = export(out, solution)
    with open(os.path.splitext(path)[0] + ".json") as f:
        chosen = json.load(f)
    model = keras.models.load_model(path)
    x_test, y_test = data.test
    result = model.predict_early_exit(
        x_test, chosen["thresholds"], rule=chosen.get("rule", "max_probability")
    )
    fractions = ", ".join(
        f"{n} {f:.3f}" for n, f in zip(model.exit_names, result.exit_fractions)
    )
    print(
        f"\nSolution {solution}, exported to {path} and loaded back, with "
        f"its real early exit on the {len(y_test):,} test images:\n"
        f"  accuracy        {result.accuracy(y_test):.4f}   "
        f"(final exit alone: "
        f"{float((model.predict_exits(x_test)[-1].argmax(1) == y_test).mean()):.4f})\n"
        f"  exit fractions  {fractions}\n"
        f"  expected MACs   {result.expected_macs:,.0f}   "
        f"(macs_ratio {result.macs_ratio:.3f} of the backbone's "
        f"{model.backbone_macs:,}: {1 / result.macs_ratio:.2f}x fewer)\n"
        f"Pareto plot: {os.path.join(out, 'pareto.png')}."
    )
    # The last step: the EENN as int8 LiteRT stages for the device, run
    # there with the same early exit.
    print("\nFor the device:")
    export_dir = export_litert(out, solution, quantize="int8", splits=data)
    runtime_result = run(
        export_dir, {"dataset": config["dataset"],
                     "data_dir": config.get("data_dir"),
                     "max_samples": config.get("max_samples"),
                     "seed": config["seed"]},
        splits=data,
    )
    print(f"Done in {time.time() - start:.0f} s.")
    return result, runtime_result
