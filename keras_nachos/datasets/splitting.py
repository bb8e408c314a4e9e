"""Seeded, stratified splits: test carve-out, `max_samples`, validation."""

import numpy as np

# Share of the training split that becomes the test split for `digits`, and for
# tfds datasets that have neither a "test" nor a "validation" split.
TEST_FRACTION = 0.2


def seeded_rng(seed, stage):
    """Returns the random generator of one splitting stage.

    One independent stream per stage, so that e.g. the validation split does
    not change when another stage draws a different number of values.

    Args:
        seed: Integer, the seed passed to `load`.
        stage: String, `"test"`, `"max_samples"` or `"validation"`.

    Returns:
        A `numpy.random.Generator`.
    """
    stages = ["test", "max_samples", "validation"]
    return np.random.default_rng([seed, stages.index(stage)])


def per_class_counts(sizes, count):
    """Shares `count` among classes of `sizes` examples, by largest remainder.

    Each class gets the floor of its proportional share; the leftover units go
    to the classes with the largest remainders (ties: lower class first).

    Args:
        sizes: Integer array, the number of examples of each class.
        count: Integer, how many examples to take in all.

    Returns:
        An int64 array, how many examples to take from each class.
    """
    exact = sizes * (count / int(sizes.sum()))
    taken_per_class = np.floor(exact).astype(np.int64)
    leftover = count - taken_per_class.sum()
    by_remainder = np.argsort(-(exact - taken_per_class), kind="stable")
    taken_per_class[by_remainder[:leftover]] += 1
    return taken_per_class


def stratified_split(y, count, rng):
    """Splits indices of `y` into (kept, taken) with `count` taken.

    Each class gives a share of `count` proportional to its size (see
    `per_class_counts`), drawn at random by `rng`. Both index arrays are
    sorted, so the data keep their original order.

    Args:
        y: Integer array of labels.
        count: Integer, how many indices to take.
        rng: A `numpy.random.Generator`, e.g. from `seeded_rng`.

    Returns:
        A tuple `(kept, taken)` of sorted index arrays.
    """
    classes, inverse = np.unique(y, return_inverse=True)
    sizes = np.bincount(inverse, minlength=len(classes))
    taken_per_class = per_class_counts(sizes, count)
    taken = [
        rng.permutation(np.flatnonzero(inverse == c))[:n]
        for c, n in enumerate(taken_per_class)
    ]
    taken = np.sort(np.concatenate(taken)) if taken else np.array([], int)
    kept = np.setdiff1d(np.arange(len(y)), taken, assume_unique=True)
    return kept, taken


def split_training_data(x, y, *, validation_split, max_samples, seed):
    """Caps the training data at `max_samples`, then holds validation out.

    Args:
        x: Array of training images.
        y: Array of their labels.
        validation_split: Float in [0, 1), the share held out for validation.
        max_samples: Optional integer, how many examples train plus
            validation keep (stratified); `None` keeps all.
        seed: Integer, seeds both draws.

    Returns:
        A tuple `(train, validation)` of `(x, y)` tuples; `validation` is
        `None` when `validation_split=0`.
    """
    if max_samples is not None and max_samples < len(y):
        keep, _ = stratified_split(
            y, len(y) - max_samples, seeded_rng(seed, "max_samples")
        )
        x, y = x[keep], y[keep]
    validation = None
    if validation_split > 0:
        num_validation = int(round(validation_split * len(y)))
        keep, held_out = stratified_split(
            y, num_validation, seeded_rng(seed, "validation")
        )
        validation = (x[held_out], y[held_out])
        x, y = x[keep], y[keep]
    return (x, y), validation
