"""Distributed search on Keras Tuner's chief and workers.

`FaultTolerantOracle` (worker timeouts, release, a timeline), the chief's
server (`serve`), the worker's side (`PatientClient`, the heartbeat) and the
local cluster of `keras-nachos search --workers N` (`local_cluster`).
"""

from keras_nachos.search.distribute.fault_tolerance import FaultTolerantOracle
