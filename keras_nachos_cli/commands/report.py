"""`keras-nachos report`: the front table, the results files, the plot."""

from keras_nachos.reporting.search_results import write_results
from keras_nachos.search.project import SearchProject
from keras_nachos_cli.commands.data import load_dataset


def report(out, test=True):
    """Writes `results.json`, `results.csv` and `pareto.png` of the search
    in `out` and prints its front (measured on the test split unless
    `test=False`); says so when the search is unfinished. Returns the
    results."""
    project = SearchProject(out)
    config = project.read_config()
    tuner = project.tuner(config)
    oracle = tuner.oracle
    if not oracle.finished:
        print(
            f"The search in {out} is unfinished: it holds "
            f"{len(oracle.trials)} trials ({oracle.total_evaluations} of "
            f"{oracle.max_trials} evaluations, generation "
            f"{min(oracle.generation + 1, config['generations'])} of "
            f"{config['generations']}). Resume it with `keras-nachos search "
            f"--out {out}`; reported below is what it holds so far."
        )
    data = load_dataset(config) if test else None
    return write_results(out, tuner, config, data, test=test)
