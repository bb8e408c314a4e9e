"""A search folder: its configuration, its Keras Tuner project, its state.

`keras-nachos search --out DIR` keeps everything of one search in `DIR`:
`search_config.json` (the arguments it runs with), Keras Tuner's project
folder `DIR/search/` (`oracle.json`, one `trial_*/` folder per trial with its
`trial.json`, the trained `eenn.keras` (in a supernet search, only for the
candidates that may end on the admissible front) and `candidate.json`) and, once
reported, `results.json`, `results.csv` and `pareto.png`. While a search
runs there it holds `DIR/search.lock` (`folder_lock`): one search per folder.

The configuration's schema (its settings, their defaults, and how a stored
configuration becomes the library's arguments) is
`keras_nachos_cli.config`: TensorFlow-free, so that the command line checks
a configuration before TensorFlow starts.
"""

import os
import shutil

from keras_nachos.errors import invalid_value
from keras_nachos.search import folder_lock
from keras_nachos.search.candidate_evaluator import CandidateEvaluator
from keras_nachos.search.distribute.chief import distributed_role
from keras_nachos.search.inherited_evaluator import InheritedEvaluator
from keras_nachos.search.nachos_search import NachosSearch
from keras_nachos.search.nachos_search import supernet_of
from keras_nachos.search.search_space import SearchSpace
from keras_nachos.search.state_files import DamagedStateError
from keras_nachos.search.state_files import read_json
from keras_nachos.search.state_files import write_json_atomically
from keras_nachos_cli.config import fit_arguments
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

    def lock(self):
        """The folder's `FolderLock` (`search.lock`): held while a search
        runs here, and while `--overwrite` clears the folder."""
        return folder_lock.search_lock(self.directory, PROJECT)

    def check(self, config, data):
        """Makes every check that can refuse a search of `config` on `data`
        (a `DatasetSplits`) once its arguments are valid, writing nothing:
        the space, the supernet (a saved `Supernet` of that space, not being
        written by `keras-nachos supernet train` now), and the evaluator's
        own checks (e.g. enough validation samples for `floor_confidence`).
        Not the folder's lock: `lock().check()` (not on a distributed
        worker, which runs beside its chief's lock).

        Returns:
            The loaded `Supernet`, or `None`: hand it to `tuner()` (loaded
            once).
        """
        space = SearchSpace.from_config(config["space"])
        arguments = tuner_arguments(config)
        path = arguments.get("supernet")
        if path:
            folder_lock.file_lock(path, f"The supernet {path}").check()
        # The tuner's own reading of its `supernet` argument: a search is
        # refused for the same reasons before anything is written.
        supernet = supernet_of(path, space)
        fit = fit_arguments(config)
        options = dict(
            epochs=fit["epochs"], batch_size=fit["batch_size"],
            max_flash_bytes=arguments.get("max_flash_bytes"),
            max_ram_bytes=arguments.get("max_ram_bytes"),
            floor_confidence=arguments.get("floor_confidence"),
        )
        limits = (arguments["min_accuracy"], arguments["max_macs"])
        if supernet is None:
            CandidateEvaluator(space, data.train, data.validation, *limits,
                               **options)
        else:
            InheritedEvaluator(supernet, data.train, data.validation, *limits,
                               **options)
        return supernet

    def clear(self):
        """Removes the search's state and results (for `--overwrite`: hold
        `lock()` meanwhile)."""
        if os.path.isdir(self.project_dir):
            shutil.rmtree(self.project_dir)
        for name in (SEARCH_CONFIG,) + RESULT_FILES:
            path = os.path.join(self.directory, name)
            if os.path.exists(path):
                os.remove(path)

    def tuner(self, config, overwrite=False, trial_timeout=None,
              supernet=None):
        """The `NachosSearch` of this folder (resumed unless `overwrite`).

        Reading a folder where another process runs a search (`report`,
        `export`) prints a note: what it reads is that search's state so
        far.

        Args:
            config: Dict, the search's configuration (`read_config()`):
                its `space` and its settings (a setting it lacks, written
                before the setting was stored, has its legacy value: see
                `keras_nachos_cli.config`).
            overwrite: Boolean, whether to start the search over.
            trial_timeout: Optional number of seconds (distributed search,
                see `NachosSearch`).
            supernet: Optional `Supernet` already loaded from the
                configuration's `supernet` path (`check()` returns it).
        """
        if not overwrite and distributed_role() != "worker":
            holder = self.lock().running_holder()
            if holder is not None:
                print(f"Note: a search is running in {self.directory} "
                      f"({holder}): what is read here is its state so far.",
                      flush=True)
        arguments = tuner_arguments(config)
        if supernet is not None:
            arguments["supernet"] = supernet
        return NachosSearch(
            SearchSpace.from_config(config["space"]),
            **arguments,
            trial_timeout=trial_timeout,
            directory=self.directory,
            project_name=PROJECT,
            overwrite=overwrite,
        )
