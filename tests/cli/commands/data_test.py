"""Tests of `keras_nachos_cli.commands.data`."""

import numpy as np

from keras_nachos import datasets
from keras_nachos_cli import config
from keras_nachos_cli.commands import data


def _same(a, b):
    for split in ("train", "validation", "test"):
        for x, y in zip(getattr(a, split), getattr(b, split)):
            np.testing.assert_array_equal(x, y)
    assert a.input_shape == b.input_shape


def test_load_dataset_splits_with_the_config(monkeypatch):
    new, _ = config.SEARCH.new({
        "dataset": "digits", "max_samples": 300, "image_size": [12, 12],
        "seed": 4, "validation_split": 0.2})
    splits = data.load_dataset(new)
    _same(splits, datasets.load("digits", validation_split=0.2,
                                max_samples=300, image_size=(12, 12), seed=4))
    assert splits.input_shape == (12, 12, 1) and len(splits.validation[1]) == 60
    # A supernet's search splits with the supernet's seed.
    _same(data.load_dataset(dict(new, seed=9, data_seed=4)), splits)


def test_the_data_of_an_export_at_the_model_input_size():
    class Runtime:
        input_shape = (1, 10, 10, 1)

    assert data.model_input_size(Runtime()) == (10, 10)
    options = {"dataset": "digits", "data_dir": None, "max_samples": 200,
               "seed": 1}
    splits = data.data_for(Runtime(), options, None)
    _same(splits, datasets.load("digits", validation_split=0.1,
                                max_samples=200, image_size=(10, 10), seed=1))
