"""A NACHOS search on scikit-learn's 8x8 digits that finishes in minutes.

Runs `keras-nachos search` with a small preset (digits resized to 16x16,
8 candidates x 2 generations, 8 epochs each), then prints the admissible
Pareto front (validation accuracy and expected MACs, and the same solutions
measured on the held-out test split) and writes results.json, results.csv
and pareto.png to --out.

    python examples/search_quick.py [--out artifacts/search_quick] [--overwrite]
"""

import sys

import keras_nachos_cli

if __name__ == "__main__":
    # The preset is `keras_nachos_cli.presets.PRESETS["digits"]` (also the main job's,
    # `keras-nachos demo --dataset digits`).
    sys.exit(
        keras_nachos_cli.run_preset(
            "digits", __doc__.splitlines()[0], "artifacts/search_quick"
        )
    )
