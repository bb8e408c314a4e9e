"""Tests of `keras_nachos_cli.presets`."""

import pytest

from keras_nachos_cli import config
from keras_nachos_cli import parser
from keras_nachos_cli.checks import flag
from keras_nachos_cli.presets import PRESETS
from keras_nachos_cli.presets import as_flags


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_preset_is_a_valid_search_config(name, tmp_path):
    preset = PRESETS[name]
    assert set(preset) <= set(config.SEARCH.keys())
    config.SEARCH.check(preset, name=flag)
    new, missing = config.SEARCH.new(preset)
    assert missing == []
    # Its flags parse back into the same configuration.
    _, options = parser.parse(["search", "--out", str(tmp_path / "run"),
                               *as_flags(preset)])
    assert options["config"] == new and list(options["config"]) == list(new)


def test_as_flags():
    assert as_flags({"population": 8, "depths": [1, 2]}) == [
        "--population", "8", "--depths", "1,2"]
    assert as_flags({"stage_widths": [[4, 8], [8]], "confidence": True,
                     "max_macs": 2e5}) == [
        "--stage-widths", "[[4, 8], [8]]", "--confidence",
        "--max-macs", "200000.0"]
    assert as_flags({"confidence": False}) == []
