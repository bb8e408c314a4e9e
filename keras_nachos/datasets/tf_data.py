"""Numpy splits as batched, prefetching `tf.data.Dataset`s."""


def to_dataset(split, batch_size, shuffle=False, seed=None):
    """Turns an `(x, y)` split into a batched, prefetching dataset.

    Args:
        split: Tuple `(x, y)` of numpy arrays.
        batch_size: Integer, the batch size.
        shuffle: Boolean, whether to reshuffle the whole split every epoch.
        seed: Optional integer, the shuffle seed.

    Returns:
        A `tf.data.Dataset` of `(x, y)` batches.
    """
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(split)
    if shuffle:
        dataset = dataset.shuffle(
            len(split[1]), seed=seed, reshuffle_each_iteration=True
        )
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
