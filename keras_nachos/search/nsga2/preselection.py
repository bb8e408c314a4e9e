"""Offspring pre-selection: screen and rank bred candidates before training.

What NACHOS' reference search does with its surrogates (METHODS.md section
4): each generation breeds `preselect * population_size` candidates, drops
those the `precheck` rejects (known infeasible without training: they never
take a slot of the generation), predicts the objectives of the others with
Gaussian-process regressions fit to every candidate trained so far
(features: the candidate's values and, given `static_costs`, its first and
last exit's MACs, known before training), and keeps `population_size` of them
by `selNSGA2` on the predictions. Before 4 candidates have been trained
(generation 0), there is nothing to fit: given `static_costs` it keeps
`population_size` of the passing ones spread evenly over the range of their
final exit's MACs (`stratified_by_cost`: the cheapest, the dearest and evenly
spaced ranks between), so that the first trainings cover the MAC axis of the
front instead of wherever random draws cluster; without `static_costs` it
keeps the first `population_size` that pass.
"""

import math

import numpy as np
from deap import tools

from keras_nachos.constraints import normalised_violation
from keras_nachos.search.pareto import ConstrainedFitness
from keras_nachos.search.records import candidate_key


class Individual(list):
    """A genome with a `ConstrainedFitness`, pointing back to its record."""

    def __init__(self, genes, record=None):
        super().__init__(genes)
        self.fitness = ConstrainedFitness()
        self.record = record


class OffspringPreselection:
    """Screens bred candidates with the precheck and ranks them by surrogate.

    Args:
        population_size: Integer, the candidates kept per generation.
        min_accuracy, max_macs: The constraints (for predicted violations).
        precheck: Optional callable `values -> dict or None` (a dict scores
            the candidate without training; see `NSGA2Oracle`).
        static_costs: Optional callable `values -> cumulative exit MACs`.
    """

    def __init__(self, population_size, min_accuracy, max_macs, precheck=None,
                 static_costs=None):
        self.population_size = population_size
        self.min_accuracy = min_accuracy
        self.max_macs = max_macs
        self.precheck = precheck
        self.static_costs = static_costs
        # Memos by candidate key (rebuilt after a resume: both callables are
        # deterministic).
        self._precheck_memo = {}
        self._cost_memo = {}

    def precheck_outcome(self, record):
        """The (memoised) precheck of a record: a dict, or None if it passes."""
        if self.precheck is None:
            return None
        key = record.key
        if key not in self._precheck_memo:
            self._precheck_memo[key] = self.precheck(dict(record.values))
        return self._precheck_memo[key]

    def costs(self, key, values):
        """The (memoised) static exit costs of a candidate, or None."""
        if self.static_costs is None:
            return None
        if key not in self._cost_memo:
            self._cost_memo[key] = [float(c) for c in self.static_costs(dict(values))]
        return self._cost_memo[key]

    def select(self, make_records, trained, features_of, own_random, max_rounds=10):
        """Breeds with `make_records()` and keeps `population_size` records.

        Rounds of `make_records()` (fresh, distinct `CandidateRecord`s) are
        drawn until at least `population_size` pass the precheck (at most
        `max_rounds`); then the surrogate ranks the passing ones. Prechecked
        candidates fill the slots only when too few pass.

        Args:
            make_records: Callable returning a list of new records.
            trained: List of `ArchiveEntry`s of the candidates trained so far.
            features_of: Callable `(key, values) -> feature list` of the
                candidate's genes (the cost features are added here).
            own_random: Context manager factory running DEAP on the search's
                own random stream.

        Returns:
            `(chosen, dropped, dropped_infeasible)`: the kept records, the
            number of bred records dropped and how many of those the
            precheck rejected.
        """
        size = self.population_size
        records, passing, rejected = [], [], []
        for _ in range(max_rounds):
            fresh = make_records()
            records.extend(fresh)
            for record in fresh:
                if self.precheck_outcome(record) is None:
                    passing.append(record)
                else:
                    rejected.append(record)
            if len(passing) >= size:
                break
        if len(passing) <= size:
            chosen = passing + rejected[: size - len(passing)]
        else:
            predictions = self._predict(passing, trained, features_of)
            if predictions is None:
                chosen = self._stratify(passing, size)
            else:
                individuals = []
                for record, (accuracy, macs) in zip(passing, predictions):
                    individual = Individual(record.genome, record)
                    individual.fitness.values = (accuracy, macs)
                    individual.fitness.violation = normalised_violation(
                        accuracy, macs, self.min_accuracy, self.max_macs
                    )
                    individuals.append(individual)
                with own_random():
                    kept = tools.selNSGA2(individuals, size, nd="standard")
                kept_ids = {id(individual.record) for individual in kept}
                chosen = [r for r in passing if id(r) in kept_ids]
        chosen_ids = {id(r) for r in chosen}
        dropped = sum(1 for r in records if id(r) not in chosen_ids)
        dropped_infeasible = sum(1 for r in rejected if id(r) not in chosen_ids)
        return chosen, dropped, dropped_infeasible

    def _stratify(self, records, size):
        """`size` records spread over their final exit's MACs (in order)."""
        if self.static_costs is None:
            return records[:size]
        costs = [self.costs(r.key, r.values)[-1] for r in records]
        kept = set(stratified_by_cost(costs, size))
        return [r for i, r in enumerate(records) if i in kept]

    def _features(self, features_of, key, values):
        features = features_of(key, values)
        costs = self.costs(key, values)
        if costs is not None:
            scale = self.max_macs if math.isfinite(self.max_macs) else 1.0
            features.extend(
                math.log10(max(c, 1.0) / scale) for c in (costs[0], costs[-1])
            )
        return features

    def _predict(self, records, trained, features_of, min_points=4):
        """Surrogate `(accuracy, expected MACs)` of records, or None.

        None until `min_points` candidates have been trained.
        """
        trained = [e for e in trained if e.macs and e.macs > 0]
        if len(trained) < min_points:
            return None
        x = np.array(
            [
                self._features(features_of, candidate_key(e.values), e.values)
                for e in trained
            ]
        )
        query = np.array(
            [self._features(features_of, r.key, r.values) for r in records]
        )
        accuracy = gp_predict(x, np.array([e.accuracy for e in trained]), query)
        log_macs = gp_predict(x, np.log(np.array([e.macs for e in trained])), query)
        predictions = []
        for record, acc, log_m in zip(records, accuracy, log_macs):
            macs = math.exp(log_m)
            costs = self.costs(record.key, record.values)
            if costs is not None:
                macs = min(max(macs, costs[0]), costs[-1])
            predictions.append((float(min(1.0, max(0.0, acc))), float(macs)))
        return predictions


def stratified_by_cost(costs, size):
    """Indices of `size` of `costs` at evenly spaced ranks of their order.

    Always the cheapest and (for `size > 1`) the dearest; equal costs are
    ordered by index, so the answer is deterministic. Returns the indices in
    increasing order; all of them if `size >= len(costs)`.
    """
    order = sorted(range(len(costs)), key=lambda i: (costs[i], i))
    if size >= len(order):
        return sorted(order)
    if size == 1:
        return [order[0]]
    last = len(order) - 1
    ranks = [round(k * last / (size - 1)) for k in range(size)]
    # `round` never maps two of `size <= len(costs)` evenly spaced points to
    # one rank (their spacing is at least 1).
    return sorted(order[r] for r in ranks)


def gp_predict(x, y, query, noise=0.1):
    """Posterior mean of a Gaussian-process regression (RBF kernel).

    Targets are standardised; the length scale is the median distance
    between training points; `noise` is the noise variance relative to the
    targets' variance.
    """
    x = np.asarray(x, "float64")
    query = np.asarray(query, "float64")
    y = np.asarray(y, "float64")
    mean, scale = y.mean(), y.std()
    if not scale > 0:
        return np.full(len(query), mean)
    targets = (y - mean) / scale

    def sq_dist(a, b):
        return np.maximum(
            (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0.0
        )

    d_train = sq_dist(x, x)
    positive = d_train[d_train > 0]
    length2 = float(np.median(positive)) if positive.size else 1.0
    kernel = np.exp(-d_train / (2 * length2)) + noise * np.eye(len(x))
    weights = np.linalg.solve(kernel, targets)
    cross = np.exp(-sq_dist(query, x) / (2 * length2))
    return mean + scale * (cross @ weights)
