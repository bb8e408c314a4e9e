"""Helpers shared by the tests of `keras_nachos.search`: a synthetic search
problem scored without training (the oracle's tests) and a tiny
`SearchSpace` (the space's and the candidate evaluator's tests)."""

import collections
import json
import math

from keras_tuner.engine.base_tuner import BaseTuner

from keras_nachos.search import NSGA2Oracle
from keras_nachos.search.search_space import SearchSpace

# A NAS-like synthetic problem: 4 stages at decreasing resolution (MACs are
# dominated by the early stages), capacity weighted towards the late stages
# (cheap there), and 3 early exits whose shared threshold trades accuracy for
# expected MACs. No training anywhere.


# A NAS-like synthetic problem: 4 stages at decreasing resolution (MACs are
# dominated by the early stages), capacity weighted towards the late stages
# (cheap there), and 3 early exits whose shared threshold trades accuracy for
# expected MACs. No training anywhere.
RESOLUTION = [16, 8, 4, 2]


CAPACITY_WEIGHT = [0.25, 0.5, 1.0, 2.0]


EXIT_FRACTION = [0.2, 0.3, 0.4]


EXIT_PENALTY = [0.06, 0.04, 0.02]


MIN_ACCURACY = 0.9


MAX_MACS = 150_000.0


def build_space(hp):
    for i in range(4):
        hp.Int(f"depth_{i}", 1, 4)
        hp.Choice(f"width_{i}", [8, 16, 24, 32])
    for k in range(3):
        hp.Boolean(f"exit_{k}")
    hp.Boolean("use_threshold")
    with hp.conditional_scope("use_threshold", [True]):
        hp.Float("threshold", 0.0, 1.0)
    hp.Fixed("classes", 10)


def evaluate(values):
    macs = [
        values[f"depth_{i}"] * values[f"width_{i}"] ** 2 * RESOLUTION[i] ** 2
        for i in range(4)
    ]
    capacity = sum(
        values[f"depth_{i}"] * values[f"width_{i}"] * CAPACITY_WEIGHT[i]
        for i in range(4)
    )
    accuracy = 0.97 - 0.6 * math.exp(-capacity / 60)
    threshold = values.get("threshold", 0.5)
    reach, expected_macs = 1.0, 0.0
    for i in range(4):
        expected_macs += reach * macs[i]
        if i < 3 and values[f"exit_{i}"]:
            reach *= 1 - threshold * EXIT_FRACTION[i]
            accuracy -= threshold**2 * EXIT_PENALTY[i]
    return {"accuracy": accuracy, "expected_macs": expected_macs}


def key_of(values):
    return json.dumps(values, sort_keys=True)


class Kill(BaseException):
    """Not an `Exception`: Keras Tuner lets it through, like a real kill."""


class SyntheticTuner(BaseTuner):
    """Scores trials with a synthetic function; counts calls per values."""

    def __init__(self, *args, objective_fn=evaluate, kill=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.objective_fn = objective_fn
        self.kill = kill  # ("run_trial" | "pre_create_trial", call number)
        self.calls = collections.Counter()
        self.completed_calls = collections.Counter()
        self.num_calls = 0

    def pre_create_trial(self):
        if self.kill and self.kill[0] == "pre_create_trial":
            if self.num_calls == self.kill[1]:
                raise Kill()

    def run_trial(self, trial, *args, **kwargs):
        values = dict(trial.hyperparameters.values)
        self.num_calls += 1
        self.calls[key_of(values)] += 1
        if self.kill and self.kill[0] == "run_trial":
            if self.num_calls == self.kill[1]:
                raise Kill()
        result = self.objective_fn(values)
        self.completed_calls[key_of(values)] += 1
        return result


class RecordingOracle(NSGA2Oracle):
    """Records every status `populate_space` answers."""

    def populate_space(self, trial_id):
        response = super().populate_space(trial_id)
        self.__dict__.setdefault("answers", []).append(response["status"])
        return response


def run_search(
    directory,
    seed=1,
    population_size=8,
    generations=4,
    build=build_space,
    overwrite=True,
    objective_fn=evaluate,
    kill=None,
    **oracle_kwargs,
):
    oracle = RecordingOracle(
        population_size=population_size,
        generations=generations,
        min_accuracy=MIN_ACCURACY,
        max_macs=MAX_MACS,
        seed=seed,
        **oracle_kwargs,
    )
    tuner = SyntheticTuner(
        oracle=oracle,
        hypermodel=build,
        directory=str(directory),
        project_name="search",
        overwrite=overwrite,
        objective_fn=objective_fn,
        kill=kill,
    )
    try:
        tuner.search(verbose=0)
    except Kill:
        pass
    return oracle, tuner


def tiny_space(**kwargs):
    options = dict(
        input_shape=(8, 8, 1),
        num_classes=3,
        stage_widths=((4, 8), (8,), (8, 12)),
        depths=(1, 2),
        kernel_sizes=(3, 5),
        expansion_ratios=(2, 3),
        stem_stride=1,
        head_types=("global_pool", "conv"),
        head_widths=(0, 8),
    )
    options.update(kwargs)
    return SearchSpace(**options)


class FormulaEvaluator:
    """A `CandidateEvaluator` stand-in that trains nothing: a candidate of
    a `SearchSpace` is scored by a formula of its values (deterministic), so
    a whole `NachosSearch` runs in seconds (hooks, callbacks, resumes)."""

    def __init__(self, space, min_accuracy, max_macs):
        from keras_nachos import rules

        self.space = space
        self.min_accuracy = min_accuracy
        self.max_macs = max_macs
        self.rule = rules.get("max_probability")
        self.calls = []

    def static_costs(self, values):
        total, costs = 0.0, []
        for s in range(1, self.space.num_stages + 1):
            width = values.get(f"stage_{s}_width", self.space.stage_widths[s - 1][0])
            total += values[f"stage_{s}_depth"] * width * 1000.0 / s
            if s < self.space.num_stages and values.get(f"exit_{s}"):
                costs.append(total)
        return costs + [total]

    def precheck(self, values):
        return None

    def __call__(self, values):
        self.calls.append(dict(values))
        costs = self.static_costs(values)
        accuracy = 1.0 - 8.0 / (8.0 + costs[-1] / 1000.0)
        expected = 0.5 * costs[0] + 0.5 * costs[-1]
        return {"accuracy": accuracy, "expected_macs": expected,
                "thresholds": [0.5] * (len(costs) - 1),
                "exit_fractions": [0.5] + [0.0] * (len(costs) - 2) + [0.5],
                "static_macs": [int(c) for c in costs]}, None


def formula_search(directory, overwrite=True, **kwargs):
    """A `NachosSearch` of `tiny_space()` scored by a `FormulaEvaluator`."""
    from keras_nachos.search import CachedEvaluation
    from keras_nachos.search import NachosSearch

    space = tiny_space()
    evaluation = kwargs.pop("evaluation", None) or CachedEvaluation(
        FormulaEvaluator(space, 0.6, 60000.0))
    options = dict(population_size=4, generations=3, seed=2, preselect=1)
    options.update(kwargs)
    return NachosSearch(
        space, 0.6, 60000.0, evaluation=evaluation, directory=str(directory),
        project_name="search", overwrite=overwrite, **options,
    )


def make_formula_tuner(directory, overwrite=False):
    """The tuner of the finished search of the `finished` fixture."""
    return formula_search(directory, overwrite=overwrite, generations=2)


def fresh_copy(finished, tmp_path):
    """A copy of the `finished` fixture's folder, and its candidates."""
    import shutil

    source, candidates = finished
    target = tmp_path / "search_copy"
    shutil.copytree(source, target)
    return target, candidates


def truncate(path):
    """Cuts a file in half (a write killed midway)."""
    text = open(path).read()
    with open(path, "w") as f:
        f.write(text[: len(text) // 2])
