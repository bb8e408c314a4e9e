"""A NACHOS search on scikit-learn's 8x8 digits that finishes in minutes.

Runs `keras-nachos search` with a small preset, then prints the admissible
Pareto front (validation accuracy and expected MACs, and the same solutions
measured on the held-out test split) and writes results.json, results.csv
and pareto.png to --out.

    python examples/search_quick.py [--out artifacts/search_quick]
"""

import argparse

from keras_nachos import cli


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="artifacts/search_quick")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    argv = [
        "search",
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
        "--seed", str(args.seed),
        "--out", args.out,
    ]
    if args.overwrite:
        argv.append("--overwrite")
    cli.main(argv)


if __name__ == "__main__":
    main()
