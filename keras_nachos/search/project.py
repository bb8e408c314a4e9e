"""A search folder: its configuration, its Keras Tuner project, its state.

`keras-nachos search --out DIR` keeps everything of one search in `DIR`:
`search_config.json` (the arguments it runs with), Keras Tuner's project
folder `DIR/search/` (`oracle.json`, one `trial_*/` folder per trial with its
`trial.json`, the trained `eenn.keras` (in a supernet search, only for the
candidates that may end on the admissible front) and `candidate.json`) and, once
reported, `results.json`, `results.csv` and `pareto.png`.

The configuration's schema (its settings, their defaults, and how a stored
configuration becomes the library's arguments) is
`keras_nachos_cli.config`: TensorFlow-free, so that the command line checks
a configuration before TensorFlow starts.
"""

import os
import shutil

from keras_nachos.errors import invalid_value
from keras_nachos.search.nachos_search import NachosSearch
from keras_nachos.search.search_space import SearchSpace
from keras_nachos.search.state_files import DamagedStateError
from keras_nachos.search.state_files import read_json
from keras_nachos.search.state_files import write_json_atomically
from keras_nachos_cli.config import tuner_arguments

SEARCH_CONFIG = "search_config.json"
PROJECT = "search"
RESULT_FILES = ("results.json", "results.csv", "pareto.png")


class SearchProject:
    """The folder of one search.

    Args:
        directory: Path of the folder.
    """

    def __init__(self, directory):
        if not isinstance(directory, (str, os.PathLike)) or not str(directory):
            raise invalid_value("directory", "a folder path", directory)
        self.directory = os.fspath(directory)

    @property
    def config_path(self):
        return os.path.join(self.directory, SEARCH_CONFIG)

    @property
    def project_dir(self):
        return os.path.join(self.directory, PROJECT)

    def exists(self):
        """Whether the folder holds a search (its `search_config.json`)."""
        return os.path.exists(self.config_path)

    def read_config(self):
        """The stored configuration (a clear error when missing or damaged)."""
        if not self.exists():
            raise invalid_value(
                "directory",
                f"a search folder (it has no {SEARCH_CONFIG}: start a search "
                f"with `keras-nachos search --out {self.directory} ...`)",
                self.directory,
            )
        config = read_json(
            self.config_path,
            what="the arguments of this search",
            remedy=(
                "restore it, or start the search over with `keras-nachos "
                "search --overwrite ...`"
            ),
        )
        if not isinstance(config, dict):
            raise DamagedStateError(
                f"{self.config_path} does not hold a search configuration "
                "(a JSON object): restore it, or start over with --overwrite."
            )
        return config

    def write_config(self, config):
        os.makedirs(self.directory, exist_ok=True)
        write_json_atomically(self.config_path, config, indent=2)

    def clear(self):
        """Removes the search's state and results (for `--overwrite`)."""
        if os.path.isdir(self.project_dir):
            shutil.rmtree(self.project_dir)
        for name in (SEARCH_CONFIG,) + RESULT_FILES:
            path = os.path.join(self.directory, name)
            if os.path.exists(path):
                os.remove(path)

    def tuner(self, config, overwrite=False, trial_timeout=None):
        """The `NachosSearch` of this folder (resumed unless `overwrite`).

        Args:
            config: Dict, the search's configuration (`read_config()`):
                its `space` and its settings (a setting it lacks, written
                before the setting was stored, has its legacy value: see
                `keras_nachos_cli.config`).
            overwrite: Boolean, whether to start the search over.
            trial_timeout: Optional number of seconds (distributed search,
                see `NachosSearch`).
        """
        return NachosSearch(
            SearchSpace.from_config(config["space"]),
            **tuner_arguments(config),
            trial_timeout=trial_timeout,
            directory=self.directory,
            project_name=PROJECT,
            overwrite=overwrite,
        )
