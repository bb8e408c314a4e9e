"""NSGA-II generations over candidate records (no Keras Tuner here).

Generation 0 is `size` random genomes. Each later generation breeds `size`
offspring from the survivors (`selTournamentDCD`, SBX crossover, polynomial
mutation); once all are scored, survival is `selNSGA2(population +
offspring, size)`. DEAP ranks through `ConstrainedFitness.dominates`, so
feasible candidates beat infeasible ones and infeasible ones compete on their
normalised violation. DEAP draws from Python's global `random`: every draw
runs on the population's own stream (`own_random`), saved with its state.
"""

import contextlib
import random

from deap import tools

from keras_nachos.checks import check_float
from keras_nachos.checks import check_int
from keras_nachos.constraints import normalised_violation
from keras_nachos.errors import invalid_value
from keras_nachos.search.nsga2.archive import FAILED_VIOLATION
from keras_nachos.search.nsga2.genome import LOW
from keras_nachos.search.nsga2.genome import UP
from keras_nachos.search.nsga2.genome import GenomeCodec
from keras_nachos.search.nsga2.preselection import Individual
from keras_nachos.search.records import CandidateRecord
from keras_nachos.search.records import candidate_key


def _random_state_to_json(state):
    version, internal, gauss_next = state
    return [version, list(internal), gauss_next]


def _random_state_from_json(state):
    version, internal, gauss_next = state
    return (version, tuple(internal), gauss_next)


def check_population_arguments(size, generations, crossover_probability,
                               mutation_probability, eta_crossover,
                               eta_mutation, preselect):
    """Checks the settings of the generations (Keras-worded errors naming
    the `NSGA2Oracle` argument)."""
    multiple_of_4 = (
        "a positive multiple of 4 (`selTournamentDCD` draws tournaments in "
        "fours)"
    )
    check_int("population_size", size, min_value=1, expected=multiple_of_4)
    if size % 4:
        raise invalid_value("population_size", multiple_of_4, size)
    if generations is not None:
        check_int("generations", generations, min_value=1,
                  expected="a positive integer")
    _check_probability("crossover_probability", crossover_probability)
    if mutation_probability is not None:
        _check_probability("mutation_probability", mutation_probability)
    for name, eta in (
        ("eta_crossover", eta_crossover),
        ("eta_mutation", eta_mutation),
    ):
        check_float(name, eta, low=0.0, expected="a non-negative number")
    check_int("preselect", preselect, min_value=1, expected="a positive integer")


def _check_probability(name, value):
    check_float(name, value, 0.0, 1.0, expected="a float between 0 and 1")


class Population:
    """The generations of an NSGA-II search.

    Holds the survivors (`members`), the generation being scored
    (`offspring`, `CandidateRecord`s moving from queued to pending to done),
    the genome encoding and the random stream. The candidates' results live
    in an `Archive` passed to the methods that need them.

    Args:
        size: Integer, the population size (a multiple of 4).
        generations: Optional integer, generations including generation 0.
        min_accuracy, max_macs: The constraints (for the violations).
        crossover_probability, mutation_probability, eta_crossover,
        eta_mutation: The variation operators' settings (see `NSGA2Oracle`).
        repair: Optional callable `values -> values`.
        preselection: An `OffspringPreselection`.
        preselect: Integer, candidates bred per slot of a generation.
        seed: Integer seed of the random stream.
    """

    def __init__(self, size, generations, min_accuracy, max_macs,
                 crossover_probability, mutation_probability, eta_crossover,
                 eta_mutation, repair, preselection, preselect, seed):
        self.size = size
        self.generations = generations
        self.min_accuracy = min_accuracy
        self.max_macs = max_macs
        self.crossover_probability = crossover_probability
        self.mutation_probability = mutation_probability
        self.eta_crossover = eta_crossover
        self.eta_mutation = eta_mutation
        self.repair = repair
        self.preselection = preselection
        self.preselect = preselect
        self.random_state = _random_state_to_json(random.Random(seed).getstate())
        self.started = False
        self.finished = False
        # The genome encoding, fixed when generation 0 is drawn.
        self.codec = GenomeCodec([])
        self.generation = 0
        self.members = []  # CandidateRecords
        self.offspring = []  # CandidateRecords
        # Bred candidates the pre-selection dropped without evaluating them.
        self.screened = 0
        self.screened_infeasible = 0

    # ------------------------------------------------------------------
    # The generation being scored.

    def queued(self):
        """Records of the generation waiting for a tuner, in bred order."""
        return [r for r in self.offspring if r.state == "queued"]

    def pending(self, trial_id):
        """Records waiting on the trial `trial_id` (the first one is the
        trial's own; the others are identical candidates)."""
        return [r for r in self.offspring
                if r.state == "pending" and r.trial_id == trial_id]

    def in_flight(self, key):
        """A pending record of the candidate `key`, or None."""
        return next(
            (r for r in self.offspring if r.state == "pending" and r.key == key),
            None,
        )

    def requeue_orphans(self, live_trial_ids):
        """Queues again pending records whose trial is not running; returns
        them."""
        orphans = [
            r for r in self.offspring
            if r.state == "pending" and r.trial_id not in live_trial_ids
        ]
        for record in orphans:
            record.state = "queued"
            record.trial_id = None
        return orphans

    # ------------------------------------------------------------------
    # Generations.

    def start(self, hyperparameters, archive):
        """Draws generation 0 (the codec is fixed from `hyperparameters`)."""
        self.codec = GenomeCodec.for_space(hyperparameters)
        if not len(self.codec):
            raise ValueError(
                "`NSGA2Oracle` found no tunable hyperparameter in the search "
                "space when the search started. Declare the space up front: "
                "pass `hyperparameters=` to the oracle, or a hypermodel whose "
                "`build(hp)` declares every hyperparameter (hyperparameters "
                "first met inside `run_trial` cannot become genes)."
            )

        def draw():
            with self.own_random():
                return [
                    [random.uniform(LOW, UP) for _ in range(len(self.codec))]
                    for _ in range(self.size * self.preselect)
                ]

        if self.preselect == 1:
            self.offspring = [self.new_record(hyperparameters, g) for g in draw()]
        else:
            self.offspring = self._preselect(draw, hyperparameters, archive)
        self.started = True

    def new_record(self, hyperparameters, genome):
        genome, values = self.codec.decode_repaired(
            hyperparameters, genome, self.repair
        )
        return CandidateRecord(
            genome=genome,
            values=values,
            key=candidate_key(values),
            generation=self.generation,
        )

    def individual(self, record):
        """A DEAP individual of a scored record (failed: worst violation)."""
        individual = Individual(record.genome, record)
        if record.failed:
            individual.fitness.values = (0.0, 0.0)
            individual.fitness.violation = FAILED_VIOLATION
        else:
            accuracy, macs = record.fitness
            individual.fitness.values = (accuracy, macs)
            individual.fitness.violation = normalised_violation(
                accuracy, macs, self.min_accuracy, self.max_macs
            )
        return individual

    def maybe_end_generation(self, hyperparameters, archive, budget_spent):
        """Ends the generation once every offspring is scored: survival,
        the hypervolume of the archive, then the next generation is bred
        (unless the generations or `budget_spent()` are over)."""
        if not self.offspring or any(r.state != "done" for r in self.offspring):
            return
        union = [self.individual(r) for r in self.members + self.offspring]
        with self.own_random():
            survivors = tools.selNSGA2(union, self.size, nd="standard")
        self.members = [individual.record for individual in survivors]
        archive.hypervolume_history.append(archive.admissible_hypervolume())
        self.generation += 1
        self.offspring = []
        if (
            self.generations is not None and self.generation >= self.generations
        ) or budget_spent():
            self.finished = True
            return
        self.offspring = self._breed(hyperparameters, archive)

    def _breed(self, hyperparameters, archive):
        parents = [self.individual(r) for r in self.members]
        indpb = self.mutation_probability
        if indpb is None:
            indpb = 1.0 / max(1, len(self.codec))
        with self.own_random():
            # Crowding distances for the tournament, over the parents' fronts.
            parents = tools.selNSGA2(parents, len(parents), nd="standard")

        def breed():
            children = []
            with self.own_random():
                for _ in range(self.preselect):
                    chosen = tools.selTournamentDCD(parents, len(parents))
                    brood = [Individual(list(parent)) for parent in chosen]
                    for first, second in zip(brood[::2], brood[1::2]):
                        if random.random() <= self.crossover_probability:
                            tools.cxSimulatedBinaryBounded(
                                first, second, eta=self.eta_crossover,
                                low=LOW, up=UP,
                            )
                        for child in (first, second):
                            tools.mutPolynomialBounded(
                                child, eta=self.eta_mutation, low=LOW, up=UP,
                                indpb=indpb,
                            )
                    children.extend(brood)
            return children

        if self.preselect == 1:
            return self._distinct_records(breed(), hyperparameters, archive)
        return self._preselect(breed, hyperparameters, archive)

    def _preselect(self, make_genomes, hyperparameters, archive):
        """`size` records of the genomes `make_genomes()` breeds."""
        seen = set()
        scratch = hyperparameters.copy()
        chosen, dropped, dropped_infeasible = self.preselection.select(
            lambda: self._distinct_records(
                make_genomes(), hyperparameters, archive, seen=seen),
            archive.completed(),
            lambda key, values: self.codec.features(scratch, values),
            self.own_random,
        )
        self.screened += dropped
        self.screened_infeasible += dropped_infeasible
        return chosen

    def _distinct_records(self, children, hyperparameters, archive,
                          max_retries=20, seen=None):
        """Records of the children, re-mutating those already evaluated.

        A child whose decoded values were evaluated before (or by a sibling)
        would only be served from the cache and spend budget on nothing new:
        it gets one gene reset uniformly at random (what a 2- or 3-way choice
        needs to change at all) until its values are new, up to
        `max_retries` times.
        """
        if seen is None:
            seen = set()
        seen.update(archive.cache)
        seen.update(r.key for r in self.members)
        records = []
        for child in children:
            record = self.new_record(hyperparameters, list(child))
            for _ in range(max_retries):
                if record.key not in seen:
                    break
                with self.own_random():
                    child[random.randrange(len(child))] = random.uniform(LOW, UP)
                record = self.new_record(hyperparameters, list(child))
            seen.add(record.key)
            records.append(record)
        return records

    @contextlib.contextmanager
    def own_random(self):
        """Runs DEAP (which draws from `random`) on the search's own stream."""
        outer = random.getstate()
        random.setstate(_random_state_from_json(self.random_state))
        try:
            yield
        finally:
            self.random_state = _random_state_to_json(random.getstate())
            random.setstate(outer)

    # ------------------------------------------------------------------
    def get_state(self, hyperparameters):
        """The population's part of the oracle's state (JSON-friendly)."""
        return {
            "started": self.started,
            "finished": self.finished,
            "gene_positions": list(self.codec.gene_positions),
            "gene_names": self.codec.gene_names(hyperparameters)
            if self.started
            else [],
            "generation": self.generation,
            "population": [r.to_json() for r in self.members],
            "offspring": [r.to_json() for r in self.offspring],
            "screened": self.screened,
            "screened_infeasible": self.screened_infeasible,
            "random_state": self.random_state,
        }

    def set_state(self, state):
        self.started = state["started"]
        self.finished = state["finished"]
        self.codec = GenomeCodec(state["gene_positions"])
        self.generation = state["generation"]
        self.members = [CandidateRecord.from_json(r) for r in state["population"]]
        self.offspring = [CandidateRecord.from_json(r) for r in state["offspring"]]
        self.screened = state.get("screened", 0)
        self.screened_infeasible = state.get("screened_infeasible", 0)
        self.random_state = state["random_state"]
