"""Tests of `keras_nachos/datasets/__init__.py`: the public names."""

import ast
import pathlib

import keras_nachos
from keras_nachos import datasets

PUBLIC_NAMES = [
    "DatasetSplits",
    "FASHION_MNIST_CLASS_NAMES",
    "FASHION_MNIST_DEBIAN_DIR",
    "FASHION_MNIST_ENV_VAR",
    "FASHION_MNIST_FILES",
    "TFDS_DATA_DIR_ENV_VAR",
    "load",
    "read_idx",
]
# Imported only inside the functions that need them.
HEAVY_MODULES = {"tensorflow", "tensorflow_datasets", "sklearn", "keras"}


def test_public_names_are_importable_from_the_package():
    for name in PUBLIC_NAMES:
        assert hasattr(datasets, name), name
    assert keras_nachos.datasets is datasets
    assert callable(datasets.load) and callable(datasets.read_idx)
    assert datasets.FASHION_MNIST_ENV_VAR == "KERAS_NACHOS_FASHION_MNIST_DIR"
    assert datasets.TFDS_DATA_DIR_ENV_VAR == "TFDS_DATA_DIR"
    assert len(datasets.FASHION_MNIST_CLASS_NAMES) == 10


def test_modules_import_heavy_libraries_lazily():
    package = pathlib.Path(datasets.__file__).parent
    modules = sorted(package.glob("*.py"))
    assert len(modules) > 1
    for path in modules:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in HEAVY_MODULES, (path, name)
