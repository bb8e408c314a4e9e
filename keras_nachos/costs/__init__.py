"""Exact multiply-accumulate (MAC) counting, per layer, per exit, expected.

Two ways to count the MACs of one forward pass of one sample (batch 1):

- `"analytic"` (default, `graph_walk`): walks the model's own functional graph
  and applies a table from layer type to a small counting function
  (`layer_formulas`). Layers that only add "extras" (batch norm, activations,
  pooling, merging, reshaping, dropout, preprocessing) count 0 and are listed
  apart. A layer that nothing in the table knows is counted by the profiler
  on its own, with a warning.
- `"profiler"` (`profiler`): the reference, `tf.compat.v1.profiler`'s FLOPs of
  the frozen graph's matmuls and convolutions, halved.

MACs are multiply-accumulates of convolutions, dense layers and matmuls only;
bias adds, batch norm, activations and pooling never enter the count.
`ExitCosts` (`exit_costs`) turns per-stage and per-head counts into the cost of
leaving at each exit of an early-exit network. `DeviceCosts`
(`device_memory`) estimates the flash and RAM of its int8 stages.
"""

from keras_nachos.costs.count_macs import METHODS
from keras_nachos.costs.count_macs import count_macs
from keras_nachos.costs.device_memory import DeviceCosts
from keras_nachos.costs.device_memory import device_costs
from keras_nachos.costs.exit_costs import CONVENTIONS
from keras_nachos.costs.exit_costs import ExitCosts
from keras_nachos.costs.exit_costs import layer_macs
from keras_nachos.costs.exit_costs import stage_costs
from keras_nachos.costs.graph_walk import mac_report
from keras_nachos.costs.layer_formulas import einsum_macs
from keras_nachos.costs.layer_formulas import register_mac_counter
from keras_nachos.costs.mac_report import MacReport
from keras_nachos.costs.profiler import PROFILED_OP_TYPES
