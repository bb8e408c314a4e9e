"""Fixtures of the tests of `keras_nachos.datasets`."""

import pytest

from keras_nachos import datasets
from keras_nachos.datasets import fashion_mnist


@pytest.fixture
def no_fashion_mnist_elsewhere(monkeypatch, tmp_path):
    """Hides the env var and the Debian copy, so only data_dir counts."""
    monkeypatch.delenv(datasets.FASHION_MNIST_ENV_VAR, raising=False)
    monkeypatch.setattr(
        fashion_mnist, "FASHION_MNIST_DEBIAN_DIR", str(tmp_path / "no-debian")
    )
