"""Tests of `keras_nachos_cli.checks`: one table of bad values refused
alike by the command line (its flags) and the library (its keywords)."""

import math

import numpy as np
import pytest

from keras_nachos_cli import checks
from keras_nachos_cli import config
from tests.cli.testing_utils import main_output

# One row per bad value: the setting, what is typed on the command line
# (None: argparse's type refuses it, or it cannot be typed), the value the
# library gets, and the library class that takes the setting and refuses it
# (None: checked by the schema's function only).
BAD_VALUES = [
    ("min_accuracy", "1.5", 1.5, "NachosSearch"),
    ("min_accuracy", "nan", math.nan, "NachosSearch"),
    ("min_accuracy", "-0.1", -0.1, "NachosSearch"),
    ("min_accuracy", None, "0.5", "NachosSearch"),
    ("max_macs", "-5", -5.0, "NachosSearch"),
    ("max_macs", "0", 0.0, "NachosSearch"),
    ("max_macs", "nan", math.nan, "NachosSearch"),
    ("floor_confidence", "1.5", 1.5, "NachosSearch"),
    ("floor_confidence", "0", 0.0, "NachosSearch"),
    ("population", "6", 6, "NachosSearch"),
    ("population", "0", 0, "NachosSearch"),
    ("population", None, 8.0, "NachosSearch"),
    ("generations", "0", 0, "NachosSearch"),
    ("preselect", "0", 0, "NachosSearch"),
    ("max_flash_bytes", "-1", -1.0, "NachosSearch"),
    ("max_flash_bytes", None, "64k", "NachosSearch"),
    ("max_ram_bytes", "0", 0.0, "NachosSearch"),
    ("kernel_sizes", "3,4", [3, 4], "SearchSpace"),
    ("depths", "0", [0], "SearchSpace"),
    ("expansion_ratios", "0,1", [0, 1], "SearchSpace"),
    ("stage_widths", "[[8, 12]]", [[8, 12]], "SearchSpace"),
    ("stage_widths", "[[8, 0], [3]]", [[8, 0], [3]], "SearchSpace"),
    ("stage_widths", "5", 5, "SearchSpace"),
    ("head_types", "global_pool,fancy", ["global_pool", "fancy"], "SearchSpace"),
    ("confidence", None, "yes", "SearchSpace"),
    ("threshold_mode", None, "fixed", "SearchSpace"),
    ("validation_split", "1.0", 1.0, None),
    ("validation_split", "0", 0.0, None),
    ("image_size", "16", [16], None),
    ("image_size", "0,16", [0, 16], None),
    ("max_samples", "1", 1, None),
    ("seed", "-1", -1, None),
    ("epochs", "0", 0, None),
    ("batch_size", "0", 0, None),
    ("dataset", "", "", None),
    ("data_dir", "/no/such/folder", "/no/such/folder", None),
    ("supernet", "none.keras", "none.keras", None),
]


def _row_id(row):
    return f"{row[0]}={row[2]!r}"


@pytest.mark.parametrize(
    "key, typed, value, library",
    [row for row in BAD_VALUES if row[1] is not None],
    ids=[_row_id(row) for row in BAD_VALUES if row[1] is not None],
)
def test_the_command_line_refuses_the_bad_values_in_one_line(
    tmp_path, key, typed, value, library
):
    # Before: search_config.json was written first, then a traceback; every
    # corrected command then "resumed" with the bad value.
    flag = checks.flag(key)
    out = tmp_path / "run"
    options = {"--min-accuracy": "0.5", "--max-macs": "1e5", flag: typed}
    command = ["search", "--out", str(out)]
    for name, text in options.items():
        command += [name, text]
    code, _, err = main_output(command)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert f"argument `{flag}`" in err and "Traceback" not in err
    # The same sentence as the library's, with the flag's name.
    with pytest.raises((ValueError, TypeError)) as info:
        _check(key, value, flag)
    assert str(info.value) in err
    assert not out.exists()


def _check(key, value, name):
    check = getattr(checks, f"check_{key}")
    if key == "head_types":
        from keras_nachos.search.head_designs import head_designs

        return check(value, name, known=head_designs())
    return check(value, name)


@pytest.mark.parametrize("key, typed, value, library", BAD_VALUES,
                         ids=[_row_id(row) for row in BAD_VALUES])
def test_the_library_refuses_the_bad_values_naming_its_keyword(
    tmp_path, key, typed, value, library
):
    argument = config.SEARCH[key].argument
    with pytest.raises((ValueError, TypeError)) as info:
        _check(key, value, argument)
    message = str(info.value)
    assert f"argument `{argument}`" in message
    assert f"Received: {argument}={value!r}" in message
    if library is None:
        return
    with pytest.raises((ValueError, TypeError)) as info:
        _build(library, argument, value, tmp_path)
    assert f"argument `{argument}`" in str(info.value)
    assert "Received:" in str(info.value)


def _build(library, argument, value, tmp_path):
    from keras_nachos.search import NachosSearch
    from keras_nachos.search import SearchSpace

    if library == "SearchSpace":
        return SearchSpace((16, 16, 1), 4, **{argument: value})
    arguments = {"min_accuracy": 0.5, "max_macs": 1e5, argument: value}
    return NachosSearch(
        SearchSpace((16, 16, 1), 4, stage_widths=((4,), (8,))),
        directory=str(tmp_path), **arguments,
    )


def test_good_values_pass_and_come_back_normalised():
    assert checks.check_min_accuracy(np.float32(0.5)) == 0.5
    assert checks.check_min_accuracy(0) == 0.0
    assert checks.check_max_macs(math.inf) == math.inf  # no budget
    assert checks.check_max_macs(200000) == 200000.0
    assert checks.check_population(np.int64(8)) == 8
    assert checks.check_floor_confidence(None) is None
    assert checks.check_max_ram_bytes(None) is None
    assert checks.check_max_flash_bytes(65536) == 65536.0
    assert checks.check_stage_widths(((4, 8), (8,))) == [[4, 8], [8]]
    assert checks.check_head_types(("sdn",), known=["sdn"]) == ["sdn"]
    assert checks.check_confidence(np.True_) is True
    assert checks.check_finetune_epochs(0) == 0
    assert checks.check_image_size(None) is None
    for check in (checks.check_population, checks.check_generations,
                  checks.check_preselect, checks.check_min_accuracy):
        with pytest.raises((ValueError, TypeError)):
            check(True)  # a boolean is no number


def test_keras_wording_shows_a_flag_as_typed_and_a_keyword_as_repr():
    with pytest.raises(ValueError) as info:
        checks.check_kernel_sizes([3, 4], "--kernel-sizes")
    assert str(info.value) == (
        "Invalid value received for argument `--kernel-sizes`. Expected a "
        "non-empty list of odd positive integers. Received: --kernel-sizes=3,4"
    )
    with pytest.raises(ValueError) as info:
        checks.check_kernel_sizes((3, 4))
    assert str(info.value).endswith("Received: kernel_sizes=(3, 4)")
    with pytest.raises(TypeError) as info:
        checks.check_max_flash_bytes("64k")
    assert str(info.value) == (
        "Invalid type received for argument `max_flash_bytes`. Expected a "
        "positive number of bytes, or None. Received: max_flash_bytes='64k' "
        "of type str"
    )
    with pytest.raises(ValueError) as info:
        checks.check_max_ram_bytes(0.0, "--max-ram-bytes")
    assert str(info.value) == (
        "Invalid value received for argument `--max-ram-bytes`. Expected a "
        "positive number of bytes. Received: --max-ram-bytes=0.0"
    )
    assert checks.flag("max_flash_bytes") == "--max-flash-bytes"
    assert checks.flag_text([[8, 12], [16]]) == "[[8, 12], [16]]"
    assert checks.flag_text([16, 16]) == "16,16"
    assert checks.flag_text(0.5) == "0.5"
