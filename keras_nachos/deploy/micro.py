"""TFLite Micro: the exported stages on the microcontroller interpreter.

The `tflite-micro` package (`pip install "keras-nachos[micro]"`) carries the
TFLite Micro interpreter with a Python front end: the kernels firmware runs,
on the host. This module runs a stage on it (`MicroStage`, used by
`keras_nachos.deploy.load(directory, interpreter="micro")`), measures the
tensor arena a stage needs (`arena_bytes`) and writes a stage as a C array
for firmware (`write_c_header`).

TFLite Micro has no signatures: tensors are addressed by position, which the
manifest records for each named input and output.
"""

import contextlib
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

MICRO_EXTRA = 'pip install "keras-nachos[micro]"'
# The arena the measurement starts from (doubled while it is too small).
_FIRST_ARENA = 1 << 20
_LARGEST_ARENA = 1 << 30


def micro_interpreter_class():
    """`tflite_micro`'s `Interpreter` class (a clear error if not installed)."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise ImportError(
            "Running on TFLite Micro needs the tflite-micro package: "
            f"{MICRO_EXTRA}."
        ) from None
    return runtime.Interpreter


def micro_available():
    """Whether the TFLite Micro interpreter can be imported."""
    try:
        micro_interpreter_class()
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def captured_stderr(sink):
    """Sends the process' file descriptor 2 (C code's stderr) to `sink`."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        os.dup2(sink.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# Run in a fresh process per probe: TFLite Micro's Python wrapper can crash
# the process (not raise) on an arena far too small.
_PROBE = """
import sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime
with open(sys.argv[1], "rb") as f:
    data = f.read()
try:
    interpreter = runtime.Interpreter.from_bytes(data, arena_size=int(sys.argv[2]))
    for i in range(int(sys.argv[3])):
        d = interpreter.get_input_details(i)
        interpreter.set_input(np.zeros(d["shape"], d["dtype"]), i)
    interpreter.invoke()
except RuntimeError:
    sys.exit(1)
"""


def _runs_with(path, arena, num_inputs=1):
    """Whether the model at `path` allocates and runs in `arena` bytes."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, path, str(arena), str(num_inputs)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONWARNINGS="ignore"),
    )
    return result.returncode == 0


def recorded_arena_bytes(flatbuffer):
    """The arena total TFLite Micro's recording allocator reports.

    Measured on a generous arena after allocation. It leaves out the
    temporary buffers kernels take while they prepare, so a stage can need
    more (see `arena_bytes`).
    """
    interpreter_class = micro_interpreter_class()
    arena = max(_FIRST_ARENA, 10 * len(flatbuffer))
    while True:
        try:
            interpreter = interpreter_class.from_bytes(
                bytes(flatbuffer), arena_size=arena
            )
            break
        except RuntimeError:
            if arena >= _LARGEST_ARENA:
                raise
            arena *= 2
    with tempfile.TemporaryFile("w+") as sink:
        with captured_stderr(sink):
            interpreter.print_allocations()
        sink.seek(0)
        text = sink.read()
    match = re.search(r"Arena allocation total (\d+) bytes", text)
    if match is None:  # pragma: no cover - a tflite-micro that prints otherwise
        raise RuntimeError(
            "Could not read the arena size from TFLite Micro's allocation "
            f"report: {text[:200]!r}"
        )
    return int(match.group(1))


def arena_bytes(flatbuffer):
    """The TFLite Micro tensor arena a stage needs, in bytes.

    The smallest multiple of 16 bytes with which TFLite Micro's interpreter
    allocates the stage's tensors and runs it (a bisection, each probe in a
    fresh process, starting from the recording allocator's total, which
    leaves out the kernels' temporary buffers). Measured on this host
    (64-bit): a 32-bit microcontroller's smaller pointers make the
    persistent part of the arena slightly smaller, so it is an upper bound
    there.

    Args:
        flatbuffer: The stage's `.tflite` contents (bytes).

    Returns:
        An integer.
    """
    recorded = recorded_arena_bytes(flatbuffer)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "stage.tflite")
        with open(path, "wb") as f:
            f.write(bytes(flatbuffer))
        num_inputs = _num_inputs(flatbuffer)
        high = -(-recorded // 16) * 16
        while not _runs_with(path, high, num_inputs):
            high *= 2
            if high > _LARGEST_ARENA:  # pragma: no cover
                raise RuntimeError("TFLite Micro cannot run the stage.")
        low = 0  # Known not to be enough (or zero).
        while high - low > 16:
            middle = (low + high) // 32 * 16
            if _runs_with(path, middle, num_inputs):
                high = middle
            else:
                low = middle
        return high


def _num_inputs(flatbuffer):
    from keras_nachos.deploy.interpreters import make_interpreter

    return len(make_interpreter(model_content=bytes(flatbuffer)).get_input_details())


class MicroStage:
    """One stage on the TFLite Micro interpreter, sample by sample.

    Args:
        path: The stage's `.tflite` file.
        spec: Its `StageSpec` (tensor positions and quantisation).
        arena_size: Tensor arena in bytes; defaults to the manifest's
            `arena_bytes`, else measured.
    """

    def __init__(self, path, spec, arena_size=None):
        self.spec = spec
        with open(path, "rb") as f:
            flatbuffer = f.read()
        self.arena_size = arena_size or spec.arena_bytes or arena_bytes(flatbuffer)
        self.interpreter = micro_interpreter_class().from_bytes(
            flatbuffer, arena_size=self.arena_size
        )

    def __call__(self, inputs):
        # Firmware runs one sample at a time: so does this.
        exits, features = [], []
        for sample in inputs:
            self.interpreter.set_input(
                np.ascontiguousarray(sample[None]), self.spec.input.position
            )
            self.interpreter.invoke()
            exits.append(np.array(self.interpreter.get_output(self.spec.exit.position)))
            if self.spec.features is not None:
                features.append(
                    np.array(self.interpreter.get_output(self.spec.features.position))
                )
        return (
            np.concatenate(exits),
            np.concatenate(features) if features else None,
        )


def _tensor_comment(spec):
    text = f"{spec.name}: {spec.dtype} {list(spec.shape)}, position {spec.position}"
    if spec.quantized:
        text += f", scale {spec.scale!r}, zero point {spec.zero_point}"
    return text


def write_c_header(directory, manifest, index):
    """Writes stage `index` (0-based) as a C array header, `xxd -i` style.

    The header `stage_<n>.h` holds `const unsigned char stage_<n>_tflite[]`
    (16-byte aligned, as TFLite Micro wants its model) and
    `stage_<n>_tflite_len`, with the manifest's figures for the stage in a
    comment: its tensors, the exit rule and threshold, MACs and arena.

    Returns:
        The header's path.
    """
    stage = manifest.stages[index]
    name = os.path.splitext(stage.file)[0]
    symbol = re.sub(r"\W", "_", name) + "_tflite"
    with open(os.path.join(directory, stage.file), "rb") as f:
        data = f.read()
    costs = manifest.exit_costs
    last = index == len(manifest.stages) - 1
    rule = manifest.rule.get("class_name", manifest.rule) if isinstance(
        manifest.rule, dict) else manifest.rule
    lines = [
        f"// {stage.file}: stage {index + 1} of {len(manifest.stages)} of a "
        f"keras_nachos early-exit network",
        f"// (exit {manifest.exit_names[index]!r}; keras_nachos "
        f"{manifest.version}; written from manifest.json).",
        f"//   input     {_tensor_comment(stage.input)}",
        f"//   exit      {_tensor_comment(stage.exit)}",
    ]
    if stage.features is not None:
        lines.append(f"//   features  {_tensor_comment(stage.features)}")
    lines += [
        "//   rule      "
        + (f"{rule}, threshold {manifest.thresholds[index]!r} (leave when "
           "the rule fires; else run the next stage on the features)"
           if not last else f"{rule}: the last exit, always taken"),
        f"//   MACs      {costs['cumulative'][index]:,} to this exit "
        f"(cumulative), {costs['taken_head'][index]:,} when it is taken; backbone "
        f"{costs['backbone']:,}",
        f"//   flash     {len(data):,} bytes; tensor arena "
        + (f"{stage.arena_bytes:,} bytes" if stage.arena_bytes else "not measured"),
        f"//   classes   {manifest.num_classes}",
        "#ifndef KERAS_NACHOS_MODEL_ALIGN",
        "#define KERAS_NACHOS_MODEL_ALIGN __attribute__((aligned(16)))",
        "#endif",
        f"const unsigned char {symbol}[] KERAS_NACHOS_MODEL_ALIGN = {{",
    ]
    for start in range(0, len(data), 12):
        chunk = data[start:start + 12]
        lines.append("  " + ", ".join(f"0x{b:02x}" for b in chunk) + ",")
    lines += ["};", f"const unsigned int {symbol}_len = {len(data)};", ""]
    path = os.path.join(directory, name + ".h")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def prepare_for_micro(directory):
    """Readies an export folder for firmware.

    Verifies the export (`verification.verify_export`), measures each
    stage's TFLite Micro arena (`arena_bytes`) into the manifest, writes each
    stage as a C array header (`write_c_header`) and records the headers'
    sizes and SHA-256 in the manifest. Works on any export (post-training or
    quantisation-aware int8, or float).

    Args:
        directory: The export folder.

    Returns:
        The updated `Manifest`.
    """
    from keras_nachos.deploy.manifest import Manifest
    from keras_nachos.deploy.verification import verify_export

    micro_interpreter_class()  # A clear error before any work.
    manifest = Manifest.read(directory)
    # Its records are rewritten below: only an export that verifies gets
    # new ones.
    verify_export(directory, manifest)
    for stage in manifest.stages:
        with open(os.path.join(directory, stage.file), "rb") as f:
            stage.arena_bytes = arena_bytes(f.read())
    headers = [
        os.path.basename(write_c_header(directory, manifest, i))
        for i in range(len(manifest.stages))
    ]
    if manifest.verifiable:
        manifest.record_files(directory, headers)
    manifest.write(directory)
    return manifest
