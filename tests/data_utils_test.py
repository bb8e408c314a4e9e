"""Tests of `keras_nachos.data_utils`: data as arrays, inputs checked."""

import numpy as np
import pytest
import tensorflow as tf

from keras_nachos import data_utils


def test_dataset_arrays_reads_a_dataset_once_and_checks_tuples():
    x = np.arange(12, dtype="float32").reshape(6, 2)
    y = np.arange(6)
    batches = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(6, seed=1).batch(4)
    xs, ys = data_utils.dataset_arrays(batches)
    np.testing.assert_array_equal(xs[:, 0] // 2, ys)  # still aligned
    with pytest.raises(ValueError, match="argument `data`.*one label per sample"):
        data_utils.dataset_arrays((x, y[:5]))
    with pytest.raises(ValueError, match="argument `data`"):
        data_utils.dataset_arrays(x)
    empty = tf.data.Dataset.from_tensor_slices((x[:0], y[:0])).batch(2)
    with pytest.raises(ValueError, match="non-empty dataset"):
        data_utils.dataset_arrays(empty)


def test_check_inputs():
    shape = (None, 8, 8, 1)
    data_utils.check_inputs(np.zeros((0, 8, 8, 1)), shape)  # empty is fine
    data_utils.check_inputs(tf.zeros((2, 8, 8, 1)), shape)
    data_utils.check_inputs(np.zeros((2, 8, 8, 1), "uint8"), shape)
    for bad in (np.zeros((2, 8, 8)), np.zeros((2, 8, 9, 1)),
                np.array([[[["a"]] * 8] * 8] * 2)):
        with pytest.raises(ValueError, match=r"argument `x`.*\(n, 8, 8, 1\)"):
            data_utils.check_inputs(bad, shape)
    only_x = tf.data.Dataset.from_tensor_slices(np.zeros((4, 8, 8, 1))).batch(2)
    data_utils.check_inputs(only_x, shape)
    with pytest.raises(ValueError, match="argument `x`"):
        data_utils.check_inputs(
            tf.data.Dataset.from_tensor_slices({"a": np.zeros((4, 8))}), shape
        )
