"""Flash and RAM of an EENN's int8 stages, estimated without converting.

A microcontroller stores every stage's int8 `.tflite` file (flash) and runs
one stage at a time in a tensor arena (RAM). Both are estimated here from
the Keras model alone, fast enough to screen a search candidate before it
trains. With `k` the kernel elements of a stage (one int8 byte each), `c`
the output channels of its kernels (each carries an int32 bias and
per-channel quantisation parameters), `n` its operations and `a` its peak
activation bytes:

- flash = k + 40 c + 380 n + 740 bytes (the operations' share is the
  flatbuffer's tensor and operator tables);
- RAM (TFLite Micro arena) = a + 14 c + 212 n + 840 bytes, where `a` is the
  peak, over the stage's operations in order, of the int8 bytes of the
  tensors alive at once (an operation's inputs and outputs, and every
  tensor a later operation still needs: a residual branch, the features
  the exit head reads). Layers the converter fuses or that only rename a
  tensor (activations, batch normalisation, dropout, flatten, reshape) add
  neither operations nor tensors; an exit head counts 4 operations and at
  most twice its input.

The coefficients are a least-squares fit on 22 stages of 10 architectures
(the tests' CNNs, the search space's MBConv candidates, the Fashion-MNIST
example) against their real int8 files and TFLite Micro's measured arenas:
there, flash came within 25% on files of a few KB and within 5% above
20 KB, the arena within 15%. `tests/costs/device_memory_test.py` checks
other candidates against the same bounds.
"""

import dataclasses
import math

from keras_nachos.functional_graph import graph_of
from keras_nachos.functional_graph import nodes as graph_nodes

FLASH_PER_CHANNEL = 40
FLASH_PER_OPERATION = 380
FLASH_FIXED = 740
ARENA_PER_CHANNEL = 14
ARENA_PER_OPERATION = 212
ARENA_FIXED = 840
HEAD_OPERATIONS = 4

# Layers whose output can live in their input's buffer (fused or renamed by
# the converter).
_ALIASES = {
    "InputLayer", "BatchNormalization", "Activation", "ReLU", "LeakyReLU",
    "PReLU", "ELU", "Softmax", "Dropout", "SpatialDropout1D",
    "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
    "Flatten", "Reshape", "Identity", "ActivityRegularization",
}


def _elements(tensor):
    return int(math.prod(int(d) for d in tuple(tensor.shape)[1:]))


def _weighted_channels(layer):
    """`(kernel elements, output channels)` of a layer's weights (its
    sub-layers' included)."""
    kernel, channels = 0, 0
    for weight in layer.weights:
        shape = tuple(int(d) for d in weight.shape)
        if len(shape) >= 2:
            kernel += math.prod(shape)
            # A depthwise kernel (k, k, C, multiplier) has C x multiplier
            # output channels, any other kernel its last dimension.
            depthwise = "depthwise" in weight.path
            channels += shape[-2] * shape[-1] if depthwise else shape[-1]
    return kernel, channels


def kernel_and_channels(layers):
    """`(kernel elements, output channels)` of `layers` together (a nested
    model counts its layers)."""
    kernel, channels = 0, 0
    for layer in {id(l): l for l in layers if l is not None}.values():
        k, c = _weighted_channels(layer)
        kernel, channels = kernel + k, channels + c
    return kernel, channels


def activation_peak(model, keep=()):
    """Peak int8 bytes of the tensors alive at once while `model` runs.

    Args:
        model: A functional Keras model (a stage's backbone segment).
        keep: Output tensors that stay alive to the end (e.g. the features
            the exit head reads); the model's outputs always do.

    Returns:
        `(peak bytes, number of operations)`.
    """
    graph = graph_of(model)
    nodes = [
        node for node in graph_nodes(graph)
        if node.operation is not None and not node.is_input
    ]
    buffer_of = {}  # tensor id -> buffer id
    size = {}  # buffer id -> bytes
    for x in graph.inputs:
        buffer_of[id(x)] = id(x)
        size[id(x)] = _elements(x)
    last_use = {}
    for i, node in enumerate(nodes):
        for x in node.inputs:
            last_use[id(x)] = i
    for x in list(graph.outputs) + list(keep):
        last_use[id(x)] = len(nodes)
    live = set(buffer_of.values())
    buffer_end = {b: last_use.get(b, -1) for b in live}
    peak, operations = sum(size[b] for b in live), 0
    for i, node in enumerate(nodes):
        name = type(node.operation).__name__
        inputs = [buffer_of[id(x)] for x in node.inputs if id(x) in buffer_of]
        if name in _ALIASES and len(node.outputs) == 1 and inputs:
            buffer = inputs[0]
            buffer_of[id(node.outputs[0])] = buffer
            buffer_end[buffer] = max(
                buffer_end.get(buffer, -1), last_use.get(id(node.outputs[0]), -1)
            )
            continue
        operations += 1
        for y in node.outputs:
            buffer_of[id(y)] = id(y)
            size[id(y)] = _elements(y)
            buffer_end[id(y)] = last_use.get(id(y), -1)
            live.add(id(y))
        peak = max(peak, sum(size[b] for b in live))
        live = {b for b in live if buffer_end.get(b, -1) > i}
    return peak, operations


@dataclasses.dataclass(frozen=True)
class DeviceCosts:
    """Estimated flash and RAM of each int8 stage of an EENN.

    Attributes:
        flash: List of integers, estimated bytes of each stage file.
        activations: List of integers, each stage's peak activation bytes.
        arena: List of integers, each stage's estimated TFLite Micro arena.
    """

    flash: tuple
    activations: tuple
    arena: tuple

    @property
    def flash_bytes(self):
        """Integer, all stage files together (what firmware stores)."""
        return int(sum(self.flash))

    @property
    def ram_bytes(self):
        """Integer, the largest stage arena (the stages run one at a time)."""
        return int(max(self.arena))

    def to_dict(self):
        return {"flash": list(self.flash), "activations": list(self.activations),
                "arena": list(self.arena), "flash_bytes": self.flash_bytes,
                "ram_bytes": self.ram_bytes}


def device_costs(model):
    """The `DeviceCosts` of an `EarlyExitModel`'s int8 stages.

    Stage `i` is the backbone segment `model.stage_models[i]` and the exit
    head after it (the files `EarlyExitModel.export_early_exit` writes).
    """
    flash, activations, arena = [], [], []
    for stage, head in zip(model.stage_models, model.exit_layers):
        kernel, channels = kernel_and_channels([stage, head])
        peak, operations = activation_peak(stage)
        if head is not None:
            peak = max(peak, 2 * _elements(stage.outputs[0]))
            operations += HEAD_OPERATIONS
        flash.append(kernel + FLASH_PER_CHANNEL * channels
                     + FLASH_PER_OPERATION * operations + FLASH_FIXED)
        activations.append(int(peak))
        arena.append(int(peak + ARENA_PER_CHANNEL * channels
                         + ARENA_PER_OPERATION * operations + ARENA_FIXED))
    return DeviceCosts(tuple(flash), tuple(activations), tuple(arena))
