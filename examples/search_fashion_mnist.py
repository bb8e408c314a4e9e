"""A NACHOS search on Fashion-MNIST sized for 2 CPU cores (< 30 minutes).

Candidates train 3 epochs on a 20,000-image stratified subset of the training
split; thresholds and objectives use the 10% validation split carved from the
training data; the admissible front is finally measured on the 10,000 test
images, which the search never sees.

    python examples/search_fashion_mnist.py [--out artifacts/search_fashion_mnist]
"""

from keras_nachos import cli

PRESET = [
    "--dataset", "fashion_mnist",
    "--max-samples", "20000",
    "--min-accuracy", "0.82",
    "--max-macs", "800000",
    "--population", "8",
    "--generations", "3",
    "--epochs", "3",
    "--batch-size", "128",
    "--stage-widths", "[[8, 16], [16, 24], [24, 32]]",
    "--depths", "1,2",
    "--expansion-ratios", "2,3,4",
]

if __name__ == "__main__":
    cli.run_preset(PRESET, __doc__.splitlines()[0], "artifacts/search_fashion_mnist")
