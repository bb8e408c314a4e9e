"""Architecture search: constrained NSGA-II inside a Keras Tuner oracle."""

from keras_nachos.search import pareto
from keras_nachos.search.nsga2_oracle import NSGA2Oracle
from keras_nachos.search.pareto import ConstrainedFitness
from keras_nachos.search.pareto import admissible_hypervolume
from keras_nachos.search.pareto import constrained_fronts
from keras_nachos.search.pareto import non_dominated
from keras_nachos.search.pareto import normalised_violation
from keras_nachos.search.blocks import register_block
from keras_nachos.search.candidate_evaluator import CandidateEvaluator
from keras_nachos.search.nachos_search import NachosSearch
from keras_nachos.search.search_space import SearchSpace
from keras_nachos.search.search_space import register_head
