"""The configuration of a search: one schema, without TensorFlow.

A search is a flat dict of settings: what `keras-nachos search` stores in
`search_config.json` (with two derived keys: `space`, the
`SearchSpace.get_config()` it ran on, and `data_seed`, the split seed of its
supernet's data), what the presets hold, and what `SearchProject.tuner`
turns into a `NachosSearch`. This module is the one place that knows, for
each setting, its default, its check and the library keyword it becomes:

- `SEARCH` (a search) and `SUPERNET` (`keras-nachos supernet train`) are
  `Schema`s: ordered `Setting`s. The order is the key order of a new
  `search_config.json`.
- Each setting has its check in `keras_nachos_cli.checks`
  (`check_population`, `check_max_macs`, ...), which the library calls with
  its keywords and the command line with its flags: both refuse the same
  values with the same sentence.
- `Schema.differences` compares a stored configuration with the arguments
  given again (a resumed search must not change them).
- `Schema.arguments` translates a configuration into the keyword arguments
  of `datasets.load`, `SearchSpace`, `NachosSearch` and `NachosSearch.search`.

Legacy rule: a stored configuration that lacks a key (it was written before
the key was stored) means the setting's `legacy` value where it has one,
else its default. Only `preselect` has one: configurations written before it
was stored ran plain NSGA-II, so a missing `preselect` is `1`, not the
default `4`. Keys missing at the top level of an old configuration are also
looked up in its `space`. A stored configuration is never rewritten: resuming
and reporting an old folder run exactly as before.

Nothing here imports TensorFlow or `keras_nachos` (importing `keras_nachos`
starts TensorFlow): the command line checks its arguments with it before
TensorFlow starts.
"""

import copy
import dataclasses

from keras_nachos_cli import checks


class _Marker:
    """A named marker (not a value a setting can take)."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


# The default of a setting that has none: a new search must be given it.
REQUIRED = _Marker("REQUIRED")
# The legacy value of a setting that has none (see the legacy rule).
NO_LEGACY = _Marker("NO_LEGACY")

# Where a setting goes in the library (`Setting.target`).
DATA = "data"  # `keras_nachos.datasets.load(**)`
SPACE = "space"  # `SearchSpace(input_shape, num_classes, **)`
TUNER = "tuner"  # `NachosSearch(search_space, **)`
FIT = "fit"  # `NachosSearch.search(x, y, validation_data, **)`; `Supernet.fit`
SUPERNET_MODEL = "supernet"  # `Supernet(space, **)`
OPTIMIZER = "optimizer"  # `keras.optimizers.Adam(**)` of `Supernet.compile`


# ----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting of a configuration.

    Attributes:
        key: Its key in `search_config.json`; the command line's flag is
            `checks.flag(key)`.
        default: Its value in a new configuration, or `REQUIRED`.
        check: `check(value, name)`: the value, or a Keras-worded error
            naming `name`.
        target: Where the library takes it (`DATA`, `SPACE`, `TUNER`,
            `FIT`, `SUPERNET_MODEL`, `OPTIMIZER`).
        argument: The library's keyword there.
        legacy: What a stored configuration without the key means (see the
            module's legacy rule); `NO_LEGACY`: its default.
    """

    key: str
    default: object
    check: object
    target: str
    argument: str = None
    legacy: object = NO_LEGACY

    def __post_init__(self):
        if self.argument is None:
            object.__setattr__(self, "argument", self.key)

    @property
    def missing_value(self):
        """The value of a stored configuration that lacks the key."""
        return self.default if self.legacy is NO_LEGACY else self.legacy


class Schema:
    """The ordered settings of a configuration.

    Args:
        settings: `Setting`s, in the key order of a new configuration.
    """

    def __init__(self, settings):
        self.settings = {s.key: s for s in settings}

    def __contains__(self, key):
        return key in self.settings

    def __getitem__(self, key):
        return self.settings[key]

    def keys(self):
        return tuple(self.settings)

    def defaults(self):
        """The settings that have a default, with it (a fresh copy)."""
        return {
            key: copy.deepcopy(s.default)
            for key, s in self.settings.items() if s.default is not REQUIRED
        }

    def required(self):
        """The keys a new configuration must be given."""
        return tuple(k for k, s in self.settings.items() if s.default is REQUIRED)

    def check(self, values, name=checks.flag):
        """Checks each known setting of `values` (a dict); `name(key)` is
        the name its error reports (the flag, or `str` for the keyword)."""
        for key, value in values.items():
            if key in self.settings:
                self.settings[key].check(value, name(key))

    def new(self, given):
        """A new configuration: the defaults updated with `given` (the keys
        of the defaults first, in order, then the others as given).

        Returns:
            `(config, missing)`: `missing` lists the required keys not
            given.
        """
        config = self.defaults()
        config.update(given)
        return config, [k for k in self.required() if k not in given]

    def value(self, config, key):
        """A setting's value in a stored configuration (the legacy rule:
        the key, else the key in its `space`, else its legacy value)."""
        if key in config:
            return config[key]
        space = config.get("space") or {}
        if key in space:
            return space[key]
        setting = self.settings.get(key)
        return None if setting is None else copy.deepcopy(setting.missing_value)

    def differences(self, stored, given):
        """`(key, stored value, given value)` for each given setting that
        differs from the stored one (numbers compared as floats)."""
        return [
            (key, self.value(stored, key), value)
            for key, value in given.items()
            if _comparable(self.value(stored, key)) != _comparable(value)
        ]

    def arguments(self, config, target):
        """The library's keyword arguments of `target` in `config`."""
        return {
            s.argument: self.value(config, key)
            for key, s in self.settings.items() if s.target == target
        }


def _comparable(value):
    if isinstance(value, (list, tuple)):
        return [_comparable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    return float(value)


# The default head designs: those built into the registry
# (`keras_nachos.search.head_designs`), in the order of the search space's
# genes (tests/cli/config_test.py keeps the two equal).
HEAD_TYPES = ("global_pool", "sdn", "conv")

_DATA_SETTINGS = (
    Setting("dataset", "fashion_mnist", checks.check_dataset, DATA, "name"),
    Setting("data_dir", None, checks.check_data_dir, DATA),
    Setting("validation_split", 0.1, checks.check_validation_split, DATA),
    Setting("max_samples", None, checks.check_max_samples, DATA),
    Setting("image_size", None, checks.check_image_size, DATA),
)
_SPACE_SETTINGS = (
    Setting("stage_widths", [[16, 24], [24, 32, 40], [40, 48, 64]],
            checks.check_stage_widths, SPACE),
    Setting("depths", [1, 2, 3], checks.check_depths, SPACE),
    Setting("kernel_sizes", [3, 5, 7], checks.check_kernel_sizes, SPACE),
    Setting("expansion_ratios", [3, 4, 6], checks.check_expansion_ratios,
            SPACE),
    Setting("head_types", list(HEAD_TYPES), checks.check_head_types, SPACE),
    Setting("confidence", False, checks.check_confidence, SPACE),
)
_THRESHOLD_MODE = Setting("threshold_mode", "calibrated",
                          checks.check_threshold_mode, SPACE)

SEARCH = Schema(_DATA_SETTINGS + (
    # The search's seed; also the data split's, unless `data_seed` is
    # stored (a supernet search splits as its supernet did).
    Setting("seed", 0, checks.check_seed, TUNER),
    Setting("population", 8, checks.check_population, TUNER,
            "population_size"),
    Setting("generations", 3, checks.check_generations, TUNER),
    Setting("preselect", 4, checks.check_preselect, TUNER, legacy=1),
    Setting("epochs", 1, checks.check_epochs, FIT),
    Setting("batch_size", 128, checks.check_batch_size, FIT),
) + _SPACE_SETTINGS + (
    _THRESHOLD_MODE,
    Setting("max_flash_bytes", None, checks.check_max_flash_bytes, TUNER),
    Setting("max_ram_bytes", None, checks.check_max_ram_bytes, TUNER),
    Setting("supernet", None, checks.check_supernet, TUNER),
    Setting("finetune_epochs", None, checks.check_finetune_epochs, FIT),
    Setting("floor_confidence", None, checks.check_floor_confidence, TUNER),
    Setting("min_accuracy", REQUIRED, checks.check_min_accuracy, TUNER),
    Setting("max_macs", REQUIRED, checks.check_max_macs, TUNER),
))

# `keras-nachos supernet train`: the data and the space of a search, and
# its own training settings (another schedule than a candidate's).
SUPERNET = Schema(
    _DATA_SETTINGS
    + (Setting("seed", 0, checks.check_seed, SUPERNET_MODEL),)
    + _SPACE_SETTINGS
    + (
        _THRESHOLD_MODE,
        Setting("epochs", 20, checks.check_epochs, FIT),
        Setting("batch_size", 64, checks.check_batch_size, FIT),
        Setting("learning_rate", 3e-3, checks.check_learning_rate, OPTIMIZER),
        Setting("num_random", 2, checks.check_num_random, SUPERNET_MODEL),
    )
)

# The settings a supernet fixes for the searches on it (its `.json`).
DATA_KEYS = tuple(s.key for s in _DATA_SETTINGS) + ("seed",)
SPACE_KEYS = tuple(s.key for s in _SPACE_SETTINGS)

# `NachosSearch`'s defaults, from `SEARCH` (its keyword: default). Not its
# `seed`: a library search is unseeded unless given one (`seed=None`); a
# configuration always has one (`0` by default), so that the same command
# runs the same search.
TUNER_DEFAULTS = {
    s.argument: s.default for s in SEARCH.settings.values()
    if s.target == TUNER and s.default is not REQUIRED and s.key != "seed"
}


# ----------------------------------------------------------------------
# A configuration as the library's arguments.
def data_arguments(config):
    """`datasets.load(**data_arguments(config))`: split with `data_seed`
    (its supernet's) when stored, else with `seed`."""
    arguments = SEARCH.arguments(config, DATA)
    arguments["seed"] = config.get("data_seed", config["seed"])
    return arguments


def space_arguments(config):
    """`SearchSpace(input_shape, num_classes, **space_arguments(config))`."""
    return SEARCH.arguments(config, SPACE)


def tuner_arguments(config):
    """`NachosSearch(SearchSpace.from_config(config["space"]),
    **tuner_arguments(config))`."""
    return SEARCH.arguments(config, TUNER)


def fit_arguments(config):
    """`tuner.search(x, y, validation_data=..., **fit_arguments(config))`
    (`finetune_epochs` only with a supernet)."""
    arguments = SEARCH.arguments(config, FIT)
    if not config.get("supernet"):
        del arguments["finetune_epochs"]
    return arguments
