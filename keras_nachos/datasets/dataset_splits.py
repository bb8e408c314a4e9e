"""`DatasetSplits`: what `load` returns."""

import dataclasses

import numpy as np

from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value


@dataclasses.dataclass(frozen=True, repr=False)
class DatasetSplits:
    """Train, validation and test splits of an image classification dataset.

    Args:
        name: String, the dataset's name as passed to `load`.
        train: Tuple `(x, y)` of numpy arrays, or a batched `tf.data.Dataset`
            of `(x, y)` pairs.
        validation: Like `train`, carved out of the training split; `None` when
            `validation_split=0`.
        test: Like `train`; never used for training or model selection.
        num_classes: Integer, the number of classes.
        input_shape: Tuple `(height, width, channels)` of one image.
        class_names: List of strings, or `None` when the source has none.

    Example:

    >>> import numpy as np
    >>> x, y = np.zeros((4, 8, 8, 1), "float32"), np.array([0, 1, 0, 1])
    >>> DatasetSplits("toy", (x, y), None, (x, y), 2, (8, 8, 1))
    DatasetSplits(name='toy', train=4 examples, validation=None, \
test=4 examples, num_classes=2, input_shape=(8, 8, 1))
    """

    name: str
    train: object
    validation: object
    test: object
    num_classes: int
    input_shape: tuple
    class_names: list = None

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise invalid_type("name", "a string", self.name)
        if not self.name:
            raise invalid_value("name", "a non-empty string", self.name)
        for argument in ("train", "validation", "test"):
            split = getattr(self, argument)
            if split is None and argument == "validation":
                continue
            if split is None or (
                isinstance(split, tuple)
                and (len(split) != 2 or len(split[0]) != len(split[1]))
            ):
                raise invalid_value(
                    argument,
                    "a tuple (x, y) of arrays of the same length, or a "
                    "tf.data.Dataset"
                    + (" (or None)" if argument == "validation" else ""),
                    split,
                )
        if not _is_int(self.num_classes):
            raise invalid_type("num_classes", "an integer", self.num_classes)
        if self.num_classes < 1:
            raise invalid_value(
                "num_classes", "a positive integer", self.num_classes
            )
        if not isinstance(self.input_shape, tuple):
            raise invalid_type(
                "input_shape",
                "a tuple (height, width, channels)",
                self.input_shape,
            )
        if not self.input_shape or not all(
            _is_int(d) and d > 0 for d in self.input_shape
        ):
            raise invalid_value(
                "input_shape",
                "a tuple (height, width, channels) of positive integers",
                self.input_shape,
            )
        if self.class_names is not None:
            if not isinstance(self.class_names, list) or not all(
                isinstance(n, str) for n in self.class_names
            ):
                raise invalid_type(
                    "class_names", "None or a list of strings", self.class_names
                )
            if len(self.class_names) != self.num_classes:
                raise invalid_value(
                    "class_names",
                    f"None or a list of num_classes={self.num_classes} names",
                    self.class_names,
                )

    def __repr__(self):
        def describe(split):
            if split is None:
                return "None"
            if isinstance(split, tuple):
                return f"{len(split[0])} examples"
            return "tf.data.Dataset"

        return (
            f"DatasetSplits(name={self.name!r}, "
            f"train={describe(self.train)}, "
            f"validation={describe(self.validation)}, "
            f"test={describe(self.test)}, "
            f"num_classes={self.num_classes}, "
            f"input_shape={self.input_shape})"
        )


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
