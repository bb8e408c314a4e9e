"""Architecture search: constrained NSGA-II inside a Keras Tuner oracle.

`SearchSpace` (blocks, head designs) describes the candidates;
`CandidateEvaluator` trains and scores one; `CachedEvaluation` puts the
cache, the no-training precheck and the failure policy around it;
`NSGA2Oracle` (genome, records, pre-selection, constrained Pareto ranking)
proposes candidates; `NachosSearch` is the Keras Tuner tuner that ties them.
"""

from keras_nachos.constraints import is_admissible
from keras_nachos.constraints import normalised_violation
from keras_nachos.search import pareto
from keras_nachos.search.blocks import register_block
from keras_nachos.search.cached_evaluation import CachedEvaluation
from keras_nachos.search.cached_evaluation import Evaluation
from keras_nachos.search.callbacks import SearchCallback
from keras_nachos.search.candidate_evaluator import CandidateEvaluator
from keras_nachos.search.folder_lock import FolderInUseError
from keras_nachos.search.head_designs import register_head
from keras_nachos.search.inherited_evaluator import InheritedEvaluator
from keras_nachos.search.nachos_search import NachosSearch
from keras_nachos.search.nsga2 import NSGA2Oracle
from keras_nachos.search.pareto import ConstrainedFitness
from keras_nachos.search.pareto import admissible_hypervolume
from keras_nachos.search.pareto import constrained_fronts
from keras_nachos.search.pareto import non_dominated
from keras_nachos.search.records import candidate_key
from keras_nachos.search.search_space import SearchSpace
from keras_nachos.search.space_hypermodel import SpaceHyperModel
from keras_nachos.search.state_files import DamagedStateError
from keras_nachos.search.supernet import Supernet
