"""A NACHOS search on Fashion-MNIST sized for 2 CPU cores (< 30 minutes).

Candidates train 3 epochs on a 20,000-image stratified subset of the training
split; thresholds and objectives use the 10% validation split carved from the
training data; the admissible front is finally measured on the 10,000 test
images, which the search never sees.

    python examples/search_fashion_mnist.py [--out artifacts/search_fashion_mnist]
"""

import sys

import keras_nachos_cli

if __name__ == "__main__":
    # The preset is `keras_nachos_cli.presets.PRESETS["fashion_mnist"]` (also the main job's,
    # `keras-nachos demo --dataset fashion_mnist`).
    sys.exit(
        keras_nachos_cli.run_preset(
            "fashion_mnist", __doc__.splitlines()[0], "artifacts/search_fashion_mnist"
        )
    )
