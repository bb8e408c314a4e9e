"""Checks of a search's settings, in Keras' wording, without TensorFlow.

One function per setting of `keras_nachos_cli.config` (`check_population`,
`check_max_macs`, ...): it returns the value (numbers as `float` or `int`,
lists as lists) or raises a `ValueError` (a `TypeError` for a value of the
wrong type) that names the argument it is given. The command line passes
its flag (`--population`), the library its keyword (`population_size`, the
default), so both refuse the same values with the same sentence:

    Invalid value received for argument `population_size`. Expected a
    positive multiple of 4 (NSGA-II's tournaments draw in fours).
    Received: population_size=6

A flag shows the value as it is typed (`--kernel-sizes=3,4`), a keyword its
repr, as `keras_nachos.errors` does. Pure Python: importing `keras_nachos`
starts TensorFlow, and the command line checks its arguments before that.
"""

import json
import math
import numbers
import os


def nearest_existing(path):
    """`path`, or its nearest ancestor that exists (where a path that is
    not there yet would be created: the export and `--out` checks)."""
    while not os.path.lexists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


# ----------------------------------------------------------------------
# Keras' wording. The names of the command line (flags, `--population`)
# show a value as it is typed; the library's keywords show its repr, as
# `keras_nachos.errors` does.
def flag(key):
    """The command-line flag of a setting: `--batch-size` for `batch_size`."""
    return "--" + key.replace("_", "-")


def flag_text(value):
    """A value as typed on the command line: `3,5` for `[3, 5]`, JSON for a
    list of lists (`--stage-widths`), `str` otherwise."""
    if isinstance(value, (list, tuple)):
        if any(isinstance(v, (list, tuple)) for v in value):
            return json.dumps(value)
        return ",".join(str(v) for v in value)
    return str(value)


def _is_flag(name):
    return name.startswith("-")


def _shown(name, value):
    return flag_text(value) if _is_flag(name) else repr(value)


def _or_none(name):
    # `None` cannot be typed: a flag is left out instead.
    return "" if _is_flag(name) else ", or None"


def invalid_value(name, expected, value):
    """A `ValueError`: "Invalid value received for argument `name`. Expected
    ... Received: name=value"."""
    return ValueError(
        f"Invalid value received for argument `{name}`. Expected {expected}. "
        f"Received: {name}={_shown(name, value)}"
    )


def invalid_type(name, expected, value):
    """A `TypeError` worded like `invalid_value`."""
    return TypeError(
        f"Invalid type received for argument `{name}`. Expected {expected}. "
        f"Received: {name}={_shown(name, value)} of type "
        f"{type(value).__name__}"
    )


def _is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    # numpy's bool is no `numbers.Real`; numpy's ints and floats are.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _integer(value, name, min_value, expected):
    if not _is_integer(value) or value < min_value:
        raise invalid_value(name, expected, value)
    return int(value)


def _positive_number(value, name, expected, allow_none):
    """A positive number (infinity included: no budget), or `None`."""
    if value is None and allow_none:
        return None
    if not _is_real(value):
        raise invalid_type(name, expected, value)
    if not float(value) > 0:  # NaN fails too.
        raise invalid_value(name, expected, value)
    return float(value)


def _open_unit(value, name, expected):
    """A float in (0, 1) (NaN fails)."""
    if not (_is_real(value) and 0.0 < float(value) < 1.0):
        raise invalid_value(name, expected, value)
    return float(value)


def _integers(value, name, odd=False):
    kind = "odd positive integers" if odd else "positive integers"
    if not isinstance(value, (list, tuple)) or not value or not all(
        _is_integer(v) and v > 0 and (v % 2 == 1 or not odd) for v in value
    ):
        raise invalid_value(name, f"a non-empty list of {kind}", value)
    return [int(v) for v in value]


# ----------------------------------------------------------------------
# One check per setting. Each returns the value (numbers as `float` or
# `int`, lists as lists) and takes the name to report, defaulting to the
# library's keyword.
def check_min_accuracy(value, name="min_accuracy"):
    """The accuracy floor A_min: a float in [0, 1) (`0.0`: no floor)."""
    expected = "a float in [0, 1)"
    if value is None:
        raise invalid_value(name, expected + " (0.0 means no floor)", value)
    if not _is_real(value):
        raise invalid_type(name, expected, value)
    if not 0.0 <= float(value) < 1.0:  # NaN fails too.
        raise invalid_value(name, expected, value)
    return float(value)


def check_max_macs(value, name="max_macs"):
    """The expected-MACs budget M_max: a positive number (infinity: none)."""
    if value is None:
        raise invalid_value(
            name, "a positive number of MACs (float('inf') means no budget)",
            value,
        )
    return _positive_number(value, name, "a positive number of MACs", False)


def check_device_budget(value, name):
    """`max_flash_bytes` / `max_ram_bytes`: a positive number of bytes or
    `None` (no budget)."""
    return _positive_number(
        value, name, "a positive number of bytes" + _or_none(name), True
    )


def check_max_flash_bytes(value, name="max_flash_bytes"):
    """The flash budget of the int8 stage files together, or `None`."""
    return check_device_budget(value, name)


def check_max_ram_bytes(value, name="max_ram_bytes"):
    """The budget of the largest stage's TFLite Micro arena, or `None`."""
    return check_device_budget(value, name)


def check_floor_confidence(value, name="floor_confidence"):
    """`None`, or the confidence of the guaranteed floor: a float in (0, 1)."""
    if value is None:
        return None
    return _open_unit(value, name, "a float in (0, 1), e.g. 0.9" + _or_none(name))


def check_population(value, name="population_size"):
    """NSGA-II's population: a positive multiple of 4."""
    expected = "a positive multiple of 4 (NSGA-II's tournaments draw in fours)"
    value = _integer(value, name, 1, expected)
    if value % 4:
        raise invalid_value(name, expected, value)
    return value


def check_generations(value, name="generations"):
    """Generations, the initial random one included: a positive integer."""
    return _integer(value, name, 1, "a positive integer")


def check_preselect(value, name="preselect"):
    """Candidates bred per slot of a generation: a positive integer."""
    return _integer(value, name, 1, "a positive integer")


def check_epochs(value, name="epochs"):
    """Training epochs: a positive integer."""
    return _integer(value, name, 1, "a positive integer")


def check_batch_size(value, name="batch_size"):
    """A positive integer."""
    return _integer(value, name, 1, "a positive integer")


def check_finetune_epochs(value, name="finetune_epochs"):
    """Epochs of fine-tuning of a supernet search's front: `None` (the
    search's `epochs`) or a non-negative integer (`0`: none)."""
    if value is None:
        return None
    return _integer(value, name, 0, "a non-negative integer")


def check_seed(value, name="seed"):
    """A non-negative integer (numpy's generators refuse negative seeds)."""
    return _integer(value, name, 0, "a non-negative integer")


def check_dataset(value, name="name"):
    """A dataset name: `fashion_mnist`, `digits` or a tensorflow-datasets
    name."""
    if not isinstance(value, str) or not value:
        raise invalid_value(name, "a dataset name", value)
    return value


def check_data_dir(value, name="data_dir"):
    """`None` or an existing folder."""
    if value is not None and not (
        isinstance(value, (str, os.PathLike)) and os.path.isdir(value)
    ):
        raise invalid_value(name, "an existing folder", value)
    return value


def check_validation_split(value, name="validation_split"):
    """A float in (0, 1): a search measures its candidates there."""
    return _open_unit(value, name, "a float in (0, 1)")


def check_max_samples(value, name="max_samples"):
    """`None` (all) or an integer >= 2."""
    if value is None:
        return None
    return _integer(value, name, 2, "an integer >= 2")


def check_image_size(value, name="image_size"):
    """`None` (the data's size) or `[height, width]`, positive integers."""
    if value is None:
        return None
    value = _integers(value, name)
    if len(value) != 2:
        raise invalid_value(name, "two positive integers HEIGHT,WIDTH", value)
    return value


def check_stage_widths(value, name="stage_widths"):
    """Per stage (at least 2), a non-empty list of positive widths."""
    if not (
        isinstance(value, (list, tuple)) and len(value) >= 2
        and all(
            isinstance(widths, (list, tuple)) and widths
            and all(_is_integer(w) and w > 0 for w in widths)
            for widths in value
        )
    ):
        raise invalid_value(
            name,
            "a list of at least 2 lists of positive widths, one per stage "
            "(e.g. [[8, 12], [12, 16], [16, 24]])",
            value,
        )
    return [[int(w) for w in widths] for widths in value]


def check_depths(value, name="depths"):
    """Depth choices per stage: a non-empty list of positive integers."""
    return _integers(value, name)


def check_kernel_sizes(value, name="kernel_sizes"):
    """Kernel size choices: a non-empty list of odd positive integers."""
    return _integers(value, name, odd=True)


def check_expansion_ratios(value, name="expansion_ratios"):
    """Expansion ratio choices: a non-empty list of positive integers."""
    return _integers(value, name)


def check_head_types(value, name="head_types", known=None):
    """Head design names: a non-empty list of names, among `known` when
    given (the registry, `keras_nachos.search.head_designs()`, which lives
    on TensorFlow's side: the command checks the names against it once
    `keras_nachos` is imported, before anything is written)."""
    if not isinstance(value, (list, tuple)) or not value or not all(
        isinstance(h, str) and h for h in value
    ):
        raise invalid_value(name, "a non-empty list of head design names", value)
    if known is not None and any(h not in known for h in value):
        raise invalid_value(name, f"names among {', '.join(known)}", value)
    return list(value)


def check_confidence(value, name="confidence"):
    """Whether heads have a confidence output: a boolean."""
    # numpy's bool (named without importing numpy, which this module
    # does without) is a boolean too.
    numpy_bool = type(value).__module__ == "numpy" and type(
        value).__name__ in ("bool", "bool_")
    if not (isinstance(value, bool) or numpy_bool):
        raise invalid_type(name, "a boolean", value)
    return bool(value)


THRESHOLD_MODES = ("calibrated", "genes")


def check_threshold_mode(value, name="threshold_mode"):
    """`"calibrated"` (NACHOS) or `"genes"` (EDANAS)."""
    if not isinstance(value, str) or value not in THRESHOLD_MODES:
        listed = ", ".join(f'"{m}"' for m in THRESHOLD_MODES)
        raise invalid_value(name, f"one of {listed}", value)
    return value


def check_supernet(value, name="supernet"):
    """`None`, or the path of a supernet `.keras` file."""
    if value is not None and not (
        isinstance(value, str) and value.endswith(".keras")
        and os.path.isfile(value)
    ):
        raise invalid_value(
            name, "a .keras file written by `keras-nachos supernet train`",
            value,
        )
    return value


def check_learning_rate(value, name="learning_rate"):
    """A positive, finite float."""
    if not (_is_real(value) and 0 < float(value) < math.inf):
        raise invalid_value(name, "a positive float", value)
    return float(value)


def check_num_random(value, name="num_random"):
    """Random subnets per supernet step besides the largest and the
    smallest: a non-negative integer."""
    return _integer(value, name, 0, "a non-negative integer")
