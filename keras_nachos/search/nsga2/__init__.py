"""NSGA-II with constrained domination as a Keras Tuner oracle.

`Population` (the generations: breeding, survival, the random stream; no
Keras Tuner), `Archive` (results, cache, fronts, hypervolume), `scheduling`
(the longest-first hand-out), `GenomeCodec` (genes to values),
`OffspringPreselection` (screening and surrogate ranking of bred offspring)
and `NSGA2Oracle`, the Keras Tuner oracle that adapts them.
"""

from keras_nachos.search.nsga2.archive import Archive
from keras_nachos.search.nsga2.genome import GenomeCodec
from keras_nachos.search.nsga2.oracle import NSGA2Oracle
from keras_nachos.search.nsga2.population import Population
from keras_nachos.search.nsga2.preselection import OffspringPreselection
