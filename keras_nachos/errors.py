"""Error messages in Keras' wording.

One wording for the library and the command line: the sentences are built
by `keras_nachos_cli.checks` (TensorFlow-free, so the command line answers a
mistake before TensorFlow starts), which also holds the checks of a search's
settings that both use.
"""

from keras_nachos_cli import checks as setting_checks


def invalid_value(argument, expected, received):
    """Returns a `ValueError` worded like Keras' own argument checks.

    Args:
        argument: String, the argument's name.
        expected: String, what a valid value looks like
            (e.g. "a float between 0 and 1").
        received: The value that was passed.

    Returns:
        A `ValueError` to raise:
        "Invalid value received for argument `x`. Expected ... Received: x=...".
    """
    return setting_checks.invalid_value(argument, expected, received)


def invalid_type(argument, expected, received):
    """Like `invalid_value`, for a value of the wrong type (`TypeError`)."""
    return setting_checks.invalid_type(argument, expected, received)


def one_of(values):
    """What a registry accepts, for `invalid_value`'s `expected`.

    Args:
        values: Iterable of the accepted values (names), listed sorted.

    Returns:
        A string: "one of: 'a', 'b', 'c'".

    Example:

    >>> one_of(["sdn", "conv"])
    "one of: 'conv', 'sdn'"
    """
    return "one of: " + ", ".join(repr(v) for v in sorted(values))
