"""Fashion-MNIST from its IDX files (or a prepared tfds copy), offline."""

import os

import numpy as np

from keras_nachos.datasets import tfds_source
from keras_nachos.datasets.idx_files import read_idx
from keras_nachos.datasets.resizing import resize_images

# Where Debian's `dataset-fashion-mnist` package puts the four IDX files.
FASHION_MNIST_DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_ENV_VAR = "KERAS_NACHOS_FASHION_MNIST_DIR"

FASHION_MNIST_CLASS_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
FASHION_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def load_fashion_mnist(data_dir, image_size, seed, download):
    """Reads Fashion-MNIST from the first place that has it.

    Looks in `data_dir`, then `$KERAS_NACHOS_FASHION_MNIST_DIR`, then
    `FASHION_MNIST_DEBIAN_DIR`; each may hold the four IDX files or a prepared
    tensorflow-datasets `fashion_mnist`.

    Args:
        data_dir: String or `None`, the first place to look.
        image_size: Tuple `(height, width)`, or `None` to keep 28x28.
        seed: Integer, handed on to a tfds copy.
        download: Boolean, whether tfds may download it when no place has it.

    Returns:
        A tuple `((x_train, y_train), (x_test, y_test), class_names,
        num_classes)`, images float32 in [0, 1], labels int32.
    """
    looked_at = []
    for description, directory in _candidates(data_dir):
        if not directory:
            looked_at.append(f"{description}: not set")
            continue
        if not os.path.isdir(directory):
            looked_at.append(f"{description}: no such directory")
            continue
        found, missing = _find_idx_files(directory)
        if not missing:
            x_train = read_idx(found["x_train"])
            y_train = read_idx(found["y_train"])
            x_test = read_idx(found["x_test"])
            y_test = read_idx(found["y_test"])
            for images, labels, split in [
                (x_train, y_train, "train"),
                (x_test, y_test, "test"),
            ]:
                if images.ndim != 3 or labels.shape != images.shape[:1]:
                    raise ValueError(
                        f"Fashion-MNIST IDX files in {directory} do not match: "
                        f"{split} images have shape {images.shape}, labels "
                        f"{labels.shape}; expected (N, 28, 28) and (N,)."
                    )
            return (
                (_scaled_images(x_train, image_size), y_train.astype(np.int32)),
                (_scaled_images(x_test, image_size), y_test.astype(np.int32)),
                list(FASHION_MNIST_CLASS_NAMES),
                len(FASHION_MNIST_CLASS_NAMES),
            )
        if tfds_source.is_prepared("fashion_mnist", directory):
            return tfds_source.load_tfds(
                "fashion_mnist", directory, image_size, seed, download=False
            )
        looked_at.append(
            f"{description}: missing {', '.join(missing)} and no prepared "
            "tensorflow-datasets fashion_mnist"
        )
    if download:
        return tfds_source.load_tfds(
            "fashion_mnist", data_dir, image_size, seed, download=True
        )
    places = "\n".join(f"  - {line}" for line in looked_at)
    raise FileNotFoundError(
        "Fashion-MNIST was not found. Looked at:\n"
        f"{places}\n"
        "To get it, do one of:\n"
        "  - apt-get install -y dataset-fashion-mnist  (installs the IDX files "
        f"in {FASHION_MNIST_DEBIAN_DIR});\n"
        "  - put the four IDX files (train-images-idx3-ubyte, "
        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte, each optionally .gz) in a directory and set "
        f"{FASHION_MNIST_ENV_VAR}=DIR or pass data_dir=DIR;\n"
        "  - on a machine with internet run `tfds build fashion_mnist "
        "--data_dir DIR`, copy DIR here and pass data_dir=DIR;\n"
        "  - or pass download=True to let tensorflow-datasets download it "
        "(needs internet)."
    )


def _candidates(data_dir):
    """Yields (description, directory or None) in search order."""
    yield f"data_dir={data_dir!r}", data_dir
    from_env = os.environ.get(FASHION_MNIST_ENV_VAR)
    yield f"${FASHION_MNIST_ENV_VAR}={from_env!r}", from_env
    yield (
        f"{FASHION_MNIST_DEBIAN_DIR} (Debian package dataset-fashion-mnist)",
        FASHION_MNIST_DEBIAN_DIR,
    )


def _find_idx_files(directory):
    """Returns ({key: path} of the IDX files found, [missing file names])."""
    found, missing = {}, []
    for key, stem in FASHION_MNIST_FILES.items():
        for candidate in (stem + ".gz", stem):
            path = os.path.join(directory, candidate)
            if os.path.isfile(path):
                found[key] = path
                break
        else:
            missing.append(stem + "[.gz]")
    return found, missing


def _scaled_images(images, image_size):
    x = images.astype(np.float32)[..., np.newaxis] / 255.0
    return resize_images(x, image_size)
