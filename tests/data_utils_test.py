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


# One row per class of bad labels: (labels for 6 samples of 3 classes, what
# the error must say). Every door that takes labels answers these alike.
BAD_LABELS = [
    ([0, 1, 2, 12, 0, 1], r"class ids in \[0, 3\).*1 of 6 are outside, "
     r"the first at index 3.*Received: y=\[12\]"),
    ([0, -1, 2, 1, 0, 1], r"1 of 6 are outside, the first at index 1.*"
     r"Received: y=\[-1\]"),
    ([3] * 6, r"6 of 6 are outside.*Received: y=\[3\]"),
    ([0, 1, 2, 0.5, 0, 1], r"not whole numbers.*Received: y=\[0.5\]"),
    ([0, 1, np.nan, 0, 0, 1], r"NaN or infinite.*Received: y=\[nan\]"),
    ([0, 1, 2, 0, 1], r"6 labels, one per sample.*Received: y='5 labels'"),
    (np.zeros((6, 3, 2)), r"shape \(n,\) \(class ids\) or \(n, 3\)"),
    (np.full((6, 3), 1 / 3), r"one-hot rows.*6 of 6 rows are not"),
    (np.eye(3)[[0, 1, 2, 0, 1, 2]] + np.eye(3)[[1, 1, 1, 1, 1, 1]],
     r"multi-hot.*the first at index 0"),
    (np.eye(4)[[0, 1, 2, 0, 1, 2]], r"shape \(n,\) \(class ids\) or \(n, 3\)"),
    (["cat"] * 6, r"numeric class ids"),
]


@pytest.mark.parametrize("labels, message", BAD_LABELS)
def test_check_labels_refuses_each_class_of_bad_labels(labels, message):
    with pytest.raises(ValueError, match=r"argument `y`\. Expected .*" + message):
        data_utils.check_labels(labels, 3, 6)


def test_check_labels_converts_one_hot_rows_and_keeps_class_ids():
    ids = np.array([0, 2, 1, 2])
    for labels in (ids, ids[:, None], ids.astype("float32"), np.eye(3)[ids],
                   np.eye(3, dtype=bool)[ids], list(ids)):
        converted = data_utils.check_labels(labels, 3, 4)
        assert converted.dtype == np.int64
        np.testing.assert_array_equal(converted, ids)
    with pytest.raises(ValueError, match="argument `y`.*at least one sample"):
        data_utils.check_labels(np.zeros(0), 3)
    # Without a class count: ids >= 0, one-hot rows of any width.
    np.testing.assert_array_equal(data_utils.check_labels(np.eye(5)[ids]), ids)
    with pytest.raises(ValueError, match=r"integers >= 0.*Received: y=\[-2\]"):
        data_utils.check_labels([1, -2])


def test_check_inputs_refuses_non_finite_values_in_one_pass():
    shape = (None, 2, 2)
    x = np.zeros((5, 2, 2), "float32")
    data_utils.check_inputs(x, shape)
    data_utils.check_inputs(np.full((2, 2, 2), 1e308), shape)  # sum overflows
    data_utils.check_inputs(np.zeros((5, 2, 2), "int32"), shape)
    for value, shown in ((np.nan, r"\[nan\]"), (np.inf, r"\[inf\]"),
                         (-np.inf, r"\[-inf\]")):
        bad = x.copy()
        bad[3, 1, 0] = value
        bad[4, 0, 0] = value
        for data in (bad, tf.constant(bad)):
            with pytest.raises(
                ValueError,
                match=r"argument `images`\. Expected images that are finite "
                r"numbers: 2 of 5 samples hold NaN or infinite values, the "
                r"first at index 3\. Received: images=" + shown,
            ):
                data_utils.check_inputs(data, shape, "images", "images")


def test_labelled_data_names_the_argument_and_the_item():
    x = np.zeros((6, 2, 2), "float32")
    y = np.array([0, 1, 2, 0, 1, 2])
    shape = (None, 2, 2)
    pair = data_utils.labelled_data((x, np.eye(3)[y]), shape, 3, "validation_data")
    assert isinstance(pair, data_utils.LabelledData)
    np.testing.assert_array_equal(pair[1], y)
    assert data_utils.labelled_data(pair, shape, 3, "validation_data") is pair
    for data, message in [
        ((x, y + 1), r"labels \(the pair's second item\) that are class ids"),
        ((x[:, :1], y), r"inputs \(the pair's first item\) of shape \(n, 2, 2\)"),
        ((np.where(x == 0, np.nan, x), y), "finite numbers"),
        ((x[:0], y[:0]), r"at least one sample"),
        (tf.data.Dataset.from_tensor_slices((x, y + 3)).batch(4),
         r"labels \(the second item of its batches\)"),
    ]:
        with pytest.raises(ValueError, match=r"argument `validation_data`\. "
                           r"Expected .*" + message):
            data_utils.labelled_data(data, shape, 3, "validation_data")


def test_check_fit_arguments_by_label_format():
    x = np.zeros((4, 2, 2), "float32")
    ids = np.array([0, 2, 1, 2])
    one_hot = np.eye(3)[ids]
    shape = (None, 2, 2)
    arguments = {"x": x, "y": one_hot, "validation_data": (x, one_hot)}
    data_utils.check_fit_arguments(arguments, shape, 3, "class_ids")
    np.testing.assert_array_equal(arguments["y"], ids)
    np.testing.assert_array_equal(arguments["validation_data"][1], ids)
    arguments = {"x": x, "y": ids}
    data_utils.check_fit_arguments(arguments, shape, 3, "class_ids")
    assert arguments["y"] is ids  # class ids are trained on as given
    arguments = {"x": x, "y": one_hot}
    data_utils.check_fit_arguments(arguments, shape, 3, "one_hot")
    assert arguments["y"] is one_hot
    with pytest.raises(ValueError, match=r"argument `y`.*one-hot rows\) for "
                       r"the categorical loss"):
        data_utils.check_fit_arguments({"x": x, "y": ids}, shape, 3, "one_hot")
    with pytest.raises(ValueError, match="argument `y`.*finite"):
        data_utils.check_fit_arguments(
            {"x": x, "y": np.full((4, 5), np.nan)}, shape, 3, None)
    with pytest.raises(ValueError, match=r"argument `validation_data`.*labels "
                       r"\(its second item\).*Received: validation_data=\[7\]"):
        data_utils.check_fit_arguments(
            {"x": x, "y": ids, "validation_data": (x, np.array([0, 1, 7, 2]))},
            shape, 3)


def test_a_dataset_is_checked_by_its_spec_without_being_read():
    reads = []

    def generate():
        reads.append(1)
        yield np.zeros((2, 2), "float32"), 7  # a label no check could see

    data = tf.data.Dataset.from_generator(generate, output_signature=(
        tf.TensorSpec((2, 2), tf.float32), tf.TensorSpec((), tf.int64),
    )).batch(1)
    arguments = {"x": data, "validation_data": data}
    data_utils.check_fit_arguments(arguments, (None, 2, 2), 3)
    data_utils.check_inputs(data, (None, 2, 2))
    assert reads == []
    with pytest.raises(ValueError, match=r"argument `validation_data`.*\(n, 3, 3\)"):
        data_utils.check_fit_arguments({"validation_data": data}, (None, 3, 3), 3)
