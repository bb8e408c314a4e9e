"""Fitting E2CM class means with running sums over batches."""

import keras
import numpy as np
import tensorflow as tf

from keras_nachos.data_utils import check_batch_size
from keras_nachos.data_utils import check_data
from keras_nachos.data_utils import check_finite
from keras_nachos.data_utils import check_labels
from keras_nachos.errors import invalid_value
from keras_nachos.heads import ClassMeansHead


def _batches(x, y, batch_size, num_classes):
    """`(inputs, class ids)` batches; a dataset's are checked as they are
    read (the fitting reads it twice anyway, and changes nothing before
    both passes are done)."""
    if isinstance(x, tf.data.Dataset):
        for element in x:
            if not isinstance(element, (tuple, list)) or len(element) < 2:
                raise invalid_value(
                    "x", "a tf.data.Dataset of (inputs, labels) batches", x
                )
            inputs = element[0]
            check_finite(inputs, "x", "inputs (the first item of its batches)")
            yield inputs, check_labels(
                element[1], num_classes, len(inputs), "x",
                "labels (the second item of its batches)",
            )
        return
    for start in range(0, len(y), batch_size):
        yield x[start : start + batch_size], y[start : start + batch_size]


def fit_class_means(model, x, y=None, batch_size=256, verbose=0):
    """Fits every `ClassMeansHead` of an `EarlyExitModel` (see its method).

    Array data is checked before any work (`data_utils.check_data`: inputs
    of the model's shape, finite, class ids in `[0, num_classes)`, one-hot
    rows converted); a dataset's element spec likewise, its values as each
    batch is read.
    """
    check_batch_size(batch_size)
    if isinstance(x, tf.data.Dataset):
        model._check_inputs(x)
    else:
        x, y = check_data(x, y, model.inputs[0].shape, model.num_classes)
    heads = [
        (i, h) for i, h in enumerate(model.heads) if isinstance(h, ClassMeansHead)
    ]
    if not heads:
        raise ValueError(
            "The model has no ClassMeansHead exit: build it with "
            '`head="class_means"` (or a list of head designs that names it).'
        )
    cuts = [model._cut_tensors[i] for i, _ in heads]
    features_of = keras.Model(model.inputs[0], cuts)
    extract = tf.function(
        lambda batch: features_of(batch, training=False), reduce_retracing=True
    )
    k = model.num_classes
    sums = [np.zeros((k, h.feature_dim)) for _, h in heads]
    distance_sums = [np.zeros(k) for _ in heads]
    counts = np.zeros(k)

    def features(batch):
        out = extract(tf.cast(batch, model.inputs[0].dtype))
        out = out if isinstance(out, (list, tuple)) else [out]
        return [np.asarray(f, "float64").reshape(len(f), -1) for f in out]

    for batch, labels in _batches(x, y, batch_size, k):
        counts += np.bincount(labels, minlength=k)
        for total, f in zip(sums, features(batch)):
            np.add.at(total, labels, f)
    if np.any(counts == 0):
        missing = np.flatnonzero(counts == 0).tolist()
        raise invalid_value(
            "y", f"samples of every class (none of classes {missing})", missing
        )
    means = [total / counts[:, None] for total in sums]
    for batch, labels in _batches(x, y, batch_size, k):
        for total, mu, f in zip(distance_sums, means, features(batch)):
            np.add.at(total, labels, np.linalg.norm(f - mu[labels], axis=1))
    for (_, head), mu, total in zip(heads, means, distance_sums):
        scales = np.maximum(total / counts, 1e-12)
        head.means.assign(mu.astype("float32"))
        head.scales.assign(scales.astype("float32"))
        head.fitted.assign(1.0)
    return model
