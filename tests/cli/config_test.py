"""Tests of `keras_nachos_cli.config`: the schema of a search's
configuration (defaults, the legacy rule, resume differences, the library's
arguments)."""

import inspect
import json

import pytest

from keras_nachos_cli import checks
from keras_nachos_cli import config


# The defaults of a new search, as `keras_nachos_cli.py` wrote them before
# the schema (search_config.json keeps this key order).
OLD_SEARCH_DEFAULTS = {
    "dataset": "fashion_mnist", "data_dir": None, "validation_split": 0.1,
    "max_samples": None, "image_size": None, "seed": 0, "population": 8,
    "generations": 3, "preselect": 4, "epochs": 1, "batch_size": 128,
    "stage_widths": [[16, 24], [24, 32, 40], [40, 48, 64]],
    "depths": [1, 2, 3], "kernel_sizes": [3, 5, 7],
    "expansion_ratios": [3, 4, 6],
    "head_types": ["global_pool", "sdn", "conv"], "confidence": False,
    "threshold_mode": "calibrated", "max_flash_bytes": None,
    "max_ram_bytes": None, "supernet": None, "finetune_epochs": None,
    "floor_confidence": None,
}


def test_one_default_per_setting_in_the_old_order():
    defaults = config.SEARCH.defaults()
    assert list(defaults.items()) == list(OLD_SEARCH_DEFAULTS.items())
    assert config.SEARCH.required() == ("min_accuracy", "max_macs")
    defaults["depths"].append(9)  # a fresh copy each time
    assert config.SEARCH.defaults()["depths"] == [1, 2, 3]
    assert list(config.SUPERNET.defaults().items()) == [
        ("dataset", "fashion_mnist"), ("data_dir", None),
        ("validation_split", 0.1), ("max_samples", None),
        ("image_size", None), ("seed", 0),
        ("stage_widths", [[16, 24], [24, 32, 40], [40, 48, 64]]),
        ("depths", [1, 2, 3]), ("kernel_sizes", [3, 5, 7]),
        ("expansion_ratios", [3, 4, 6]),
        ("head_types", ["global_pool", "sdn", "conv"]),
        ("confidence", False), ("threshold_mode", "calibrated"),
        ("epochs", 20), ("batch_size", 64), ("learning_rate", 3e-3),
        ("num_random", 2),
    ]


def test_the_library_defaults_are_the_schema_defaults():
    from keras_nachos.search import NachosSearch
    from keras_nachos.search import SearchSpace

    parameters = inspect.signature(NachosSearch).parameters
    assert config.TUNER_DEFAULTS == {
        name: parameters[name].default for name in config.TUNER_DEFAULTS
    }
    assert config.TUNER_DEFAULTS["preselect"] == 4
    assert config.TUNER_DEFAULTS["population_size"] == 8
    space = inspect.signature(SearchSpace).parameters
    for key in config.SPACE_KEYS + ("threshold_mode",):
        default = space[key].default
        if isinstance(default, tuple):
            default = [list(d) if isinstance(d, tuple) else d for d in default]
        assert default == config.SEARCH[key].default, key


def test_the_default_head_types_are_registered_designs():
    from keras_nachos.search.head_designs import head_designs

    assert set(config.HEAD_TYPES) <= set(head_designs())
    # Known names pass against the registry; others are named.
    checks.check_head_types(list(config.HEAD_TYPES), known=head_designs())
    with pytest.raises(ValueError, match="names among conv, global_pool, sdn"):
        checks.check_head_types(["fancy"], known=["conv", "global_pool", "sdn"])


# A configuration as `keras-nachos search` wrote it before `preselect`
# (and the space's keys, the device budgets, ...) were stored.
OLD_CONFIG = {
    "dataset": "digits", "validation_split": 0.1, "max_samples": 400,
    "image_size": None, "seed": 0, "min_accuracy": 0.15,
    "max_macs": 200000.0, "population": 4, "generations": 1, "epochs": 4,
    "batch_size": 64,
    "space": {"input_shape": [8, 8, 1], "num_classes": 10,
              "stage_widths": [[4, 8], [8], [8, 12]], "depths": [1],
              "kernel_sizes": [3], "expansion_ratios": [2],
              "head_types": ["global_pool"], "confidence": False,
              "threshold_mode": "calibrated"},
}


def test_a_config_without_preselect_means_one():
    assert config.SEARCH.value(OLD_CONFIG, "preselect") == 1
    assert config.SEARCH.value(dict(OLD_CONFIG, preselect=4), "preselect") == 4
    assert config.SEARCH.new({})[0]["preselect"] == 4
    assert config.tuner_arguments(OLD_CONFIG) == {
        "seed": 0, "population_size": 4, "generations": 1, "preselect": 1,
        "max_flash_bytes": None, "max_ram_bytes": None, "supernet": None,
        "floor_confidence": None, "min_accuracy": 0.15, "max_macs": 200000.0,
    }


def test_resume_differences_follow_the_legacy_rule():
    differences = config.SEARCH.differences
    assert differences(OLD_CONFIG, {"preselect": 1}) == []
    assert differences(OLD_CONFIG, {"preselect": 4}) == [("preselect", 1, 4)]
    # Keys of the space, numbers as floats, defaults of missing keys.
    assert differences(OLD_CONFIG, {
        "depths": [1], "head_types": ["global_pool"], "max_macs": 200000,
        "epochs": 4.0, "data_dir": None, "floor_confidence": None,
    }) == []
    assert differences(OLD_CONFIG, {"depths": [1, 2], "epochs": 3}) == [
        ("depths", [1], [1, 2]), ("epochs", 4, 3)]
    assert differences(OLD_CONFIG, {"max_ram_bytes": 1e4}) == [
        ("max_ram_bytes", None, 1e4)]


def test_a_config_as_the_library_arguments():
    new, missing = config.SEARCH.new({
        "dataset": "digits", "image_size": [16, 16], "min_accuracy": 0.5,
        "max_macs": 1e5, "depths": [1, 2], "epochs": 2,
    })
    assert missing == []
    assert list(new)[-2:] == ["min_accuracy", "max_macs"]
    assert config.data_arguments(new) == {
        "name": "digits", "data_dir": None, "validation_split": 0.1,
        "max_samples": None, "image_size": [16, 16], "seed": 0,
    }
    # A supernet's search splits the data as the supernet did.
    assert config.data_arguments(dict(new, seed=5, data_seed=2))["seed"] == 2
    assert config.space_arguments(new) == {
        "stage_widths": [[16, 24], [24, 32, 40], [40, 48, 64]],
        "depths": [1, 2], "kernel_sizes": [3, 5, 7],
        "expansion_ratios": [3, 4, 6],
        "head_types": ["global_pool", "sdn", "conv"], "confidence": False,
        "threshold_mode": "calibrated",
    }
    assert config.tuner_arguments(new)["preselect"] == 4
    assert config.fit_arguments(new) == {"epochs": 2, "batch_size": 128}
    on_supernet = dict(new, supernet="s.keras", finetune_epochs=0)
    assert config.fit_arguments(on_supernet) == {
        "epochs": 2, "batch_size": 128, "finetune_epochs": 0}
    assert config.SUPERNET.arguments(
        config.SUPERNET.new({"seed": 3})[0], config.SUPERNET_MODEL
    ) == {"seed": 3, "num_random": 2}
    _, missing = config.SEARCH.new({"max_macs": 1e5})
    assert missing == ["min_accuracy"]


def test_a_stored_config_round_trips_through_json():
    new, _ = config.SEARCH.new({"min_accuracy": 0.5, "max_macs": 1e5})
    stored = json.loads(json.dumps(new))
    assert config.SEARCH.differences(stored, new) == []
    assert config.tuner_arguments(stored) == config.tuner_arguments(new)
    config.SEARCH.check(stored, name=str)
