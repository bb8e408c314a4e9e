"""A NACHOS search on scikit-learn's 8x8 digits that finishes in minutes.

Runs `keras-nachos search` with a small preset (digits resized to 16x16,
8 candidates x 2 generations, 8 epochs each), then prints the admissible
Pareto front (validation accuracy and expected MACs, and the same solutions
measured on the held-out test split) and writes results.json, results.csv
and pareto.png to --out.

    python examples/search_quick.py [--out artifacts/search_quick] [--overwrite]
"""

from keras_nachos import cli

PRESET = [
    "--dataset", "digits",
    "--image-size", "16,16",
    "--min-accuracy", "0.90",
    "--max-macs", "250000",
    "--population", "8",
    "--generations", "2",
    "--epochs", "8",
    "--batch-size", "64",
    "--stage-widths", "[[8, 12], [12, 16], [16, 24]]",
    "--depths", "1,2",
    "--expansion-ratios", "2,3,4",
]

if __name__ == "__main__":
    cli.run_preset(PRESET, __doc__.splitlines()[0], "artifacts/search_quick")
