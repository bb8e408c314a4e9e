"""`EarlyExitRuntime`: the exported stages run with a real early exit.

`keras_nachos.deploy.load(directory)` reads the manifest, opens one LiteRT
interpreter per stage and returns the runtime; its `predict_early_exit`
returns the same `EarlyExitResult` as `EarlyExitModel.predict_early_exit`:
per-sample exits, predictions and MACs. Each batch goes through stage 1; the
rule (the manifest's, the same object as in Keras) decides on the exit's
output; only the samples that did not leave go on to stage 2, and so on.
Int8 stages take int8 inputs: the runtime quantises the images with the
first stage's input scale and zero point, dequantises each exit's output
for the rule, and hands int8 features from stage to stage, requantising only
where a stage's output parameters differ from the next stage's input ones.
"""

import os

import numpy as np

from keras_nachos import rules as rules_module
from keras_nachos.checks import check_bool
from keras_nachos.checks import check_int
from keras_nachos.costs import ExitCosts
from keras_nachos.data_utils import check_inputs
from keras_nachos.deploy.data_checks import check_finite
from keras_nachos.deploy.interpreters import make_interpreter
from keras_nachos.deploy.manifest import AGAIN
from keras_nachos.deploy.manifest import MANIFEST
from keras_nachos.deploy.manifest import Manifest
from keras_nachos.deploy.manifest import ManifestError
from keras_nachos.deploy.verification import verify_export
from keras_nachos.errors import invalid_value
from keras_nachos.inference import EarlyExitResult

INTERPRETERS = ("litert", "micro")


def quantize(values, spec):
    """Float values to a quantised tensor's integers (clipped to its range)."""
    info = np.iinfo(spec.dtype)
    q = np.round(np.asarray(values, "float32") / spec.scale) + spec.zero_point
    return np.clip(q, info.min, info.max).astype(spec.dtype)


def dequantize(values, spec, copy=False):
    """A tensor's values as float32 (quantised ones through scale/zero point);
    `copy=True` never returns `values` itself."""
    if not spec.quantized:
        return np.array(values, "float32") if copy else np.asarray(values, "float32")
    return (np.asarray(values, "float32") - spec.zero_point) * spec.scale


def hands_over_unchanged(out_spec, in_spec):
    """Whether a stage's output can go to the next stage's input as it is.

    True for float tensors, and for quantised ones whose requantisation maps
    every integer to itself (their scales and zero points agree to within
    what the integers can tell: calibrating the same values twice gives
    scales a float32 ulp apart).
    """
    if out_spec.quantized != in_spec.quantized or out_spec.dtype != in_spec.dtype:
        return False
    if not out_spec.quantized:
        return True
    info = np.iinfo(out_spec.dtype)
    values = np.arange(info.min, info.max + 1).astype(out_spec.dtype)
    return bool(
        np.array_equal(quantize(dequantize(values, out_spec), in_spec), values)
    )


class _Stage:
    """One stage's interpreter, called through its signature.

    The batch-1 fast path uses a second interpreter of the same file,
    allocated once for one sample, whose tensors are read and written in
    place (a signature runner holds the interpreter, which then cannot be
    resized while views of its tensors exist).
    """

    def __init__(self, path, spec, num_threads=None, xnnpack=True):
        self.spec = spec
        self._open = lambda: make_interpreter(
            model_path=path, num_threads=num_threads, xnnpack=xnnpack
        )
        self.interpreter = self._open()
        self.runner = self.interpreter.get_signature_runner()
        self._single = None

    def __call__(self, inputs):
        outputs = self.runner(**{self.spec.input.name: inputs})
        features = outputs.get("features") if self.spec.features else None
        return outputs["exit"], features

    def single_sample(self):
        """`(invoke, input, exit, features)` of the one-sample interpreter:
        its `invoke` and functions returning numpy views of its tensors
        (`features` is `None` for the last stage). A view must be dropped
        before the interpreter runs again (LiteRT checks)."""
        if self._single is None:
            interpreter = self._open()
            inputs = interpreter.get_input_details()
            index = inputs[self.spec.input.position]["index"]
            shape = [1] + [int(d) for d in self.spec.input.shape[1:]]
            if list(inputs[self.spec.input.position]["shape"]) != shape:
                interpreter.resize_tensor_input(index, shape)
            interpreter.allocate_tensors()
            # Output buffers exist once the model has run (with XNNPACK
            # they are not there after allocation alone).
            interpreter.invoke()
            outputs = interpreter.get_output_details()
            self._single = (
                interpreter.invoke,
                interpreter.tensor(index),
                interpreter.tensor(outputs[self.spec.exit.position]["index"]),
                None if self.spec.features is None else interpreter.tensor(
                    outputs[self.spec.features.position]["index"]),
                interpreter,
            )
        return self._single[:4]


class _SingleFile:
    """The one-file early exit (`early_exit.tflite`) on one interpreter,
    its tensors read and written in place."""

    def __init__(self, path, spec, num_threads=None, xnnpack=True):
        interpreter = make_interpreter(
            model_path=path, num_threads=num_threads, xnnpack=xnnpack
        )
        interpreter.allocate_tensors()
        inputs = interpreter.get_input_details()
        outputs = interpreter.get_output_details()
        self.invoke = interpreter.invoke
        self.image = interpreter.tensor(inputs[spec.image.position]["index"])
        self.score_thresholds = interpreter.tensor(
            inputs[spec.score_thresholds.position]["index"])
        interpreter.invoke()  # Output buffers exist once the model has run.
        self.exit_output = interpreter.tensor(
            outputs[spec.exit_output.position]["index"])
        self.exit_index = interpreter.tensor(
            outputs[spec.exit_index.position]["index"])
        self._interpreter = interpreter


class EarlyExitRuntime:
    """The stages of an export, run with the exit rule between them.

    Args:
        directory: The export folder (`EarlyExitModel.export_early_exit`).
        num_threads: Optional number of LiteRT interpreter threads.
        interpreter: `"litert"` (default: the LiteRT interpreter, batched)
            or `"micro"` (the TFLite Micro interpreter of the `tflite-micro`
            package, sample by sample with each stage's measured arena: what
            firmware runs).
        xnnpack: Boolean, for `"litert"`: `True` (default) lets LiteRT use
            its XNNPACK kernels; `False` its builtin ones, whose int8 outputs
            are nearly TFLite Micro's (see `make_interpreter`).
        single_file: Boolean. If `True` (default) and the export has the
            one-file early exit (`early_exit.tflite`), batch 1 on LiteRT runs
            it: one `invoke` per sample, the stages chained inside the graph.
            `False` runs the stage files with the rule on the host.

    Attributes:
        manifest: The export's `Manifest`.
        verified: Boolean, whether the files and the manifest were verified
            against the SHA-256 the export recorded (`False` for an export
            whose manifest predates them: an `UnverifiedExportWarning` says
            so).
        rule: The `ExitRule`; `thresholds` its thresholds.
        exit_costs: The model's `ExitCosts`.

    Raises:
        ManifestError: When the manifest or a file of the export cannot be
            used, naming the file and the field (a stage file of another
            model, a truncated file, an edited `num_classes` or dtype...),
            with what to do: checked before anything runs
            (`keras_nachos.deploy.verification`).
    """

    def __init__(self, directory, num_threads=None, interpreter="litert",
                 xnnpack=True, single_file=True):
        if interpreter not in INTERPRETERS:
            raise invalid_value("interpreter", " or ".join(
                repr(i) for i in INTERPRETERS), interpreter)
        if num_threads is not None:
            check_int("num_threads", num_threads, min_value=1)
        check_bool("xnnpack", xnnpack)
        check_bool("single_file", single_file)
        self.directory = os.fspath(directory) if isinstance(
            directory, (str, os.PathLike)) else directory
        self.manifest = Manifest.read(self.directory)
        self.verified = verify_export(self.directory, self.manifest)
        self.interpreter = interpreter
        self.rule, self.thresholds, self.exit_costs = _settings(
            self.manifest, os.path.join(self.directory, MANIFEST))
        self._single_file = None
        self._open_single_file = None
        spec = self.manifest.single_file
        if single_file and spec is not None and interpreter == "litert":
            path = os.path.join(self.directory, spec.file)
            self._open_single_file = lambda: _SingleFile(
                path, spec, num_threads, xnnpack)
        if interpreter == "micro":
            from keras_nachos.deploy.micro import MicroStage

            self.stages = [
                MicroStage(os.path.join(self.directory, s.file), s)
                for s in self.manifest.stages
            ]
        else:
            self.stages = [
                _Stage(os.path.join(self.directory, s.file), s, num_threads,
                       xnnpack)
                for s in self.manifest.stages
            ]
        # Per hand-over between stages: whether the features go as they are.
        self.unchanged_hand_overs = [
            hands_over_unchanged(a.spec.features, b.spec.input)
            for a, b in zip(self.stages, self.stages[1:])
        ]

    @property
    def num_exits(self):
        return len(self.stages)

    @property
    def num_classes(self):
        return self.manifest.num_classes

    @property
    def input_shape(self):
        return tuple(None if d < 0 else d for d in self.manifest.input.shape)

    def _checked(self, x):
        """`x` checked: the export's input shape, numeric, finite (a NaN
        image would still predict a class)."""
        x = np.asarray(x)
        check_inputs(x, (None,) + self.input_shape[1:])
        check_finite(x, "x")
        return x

    def _to_input(self, x):
        spec = self.manifest.input
        if spec.quantized:
            return quantize(x, spec)
        return np.asarray(x, spec.dtype)

    def _hand_over(self, features, i):
        """Stage `i`'s features as stage `i + 1`'s input."""
        if self.unchanged_hand_overs[i]:
            return features
        out_spec = self.stages[i].spec.features
        in_spec = self.stages[i + 1].spec.input
        values = dequantize(features, out_spec)
        return quantize(values, in_spec) if in_spec.quantized else values

    def run_stages(self, x, batch_size=256):
        """Every exit's (dequantised) output on every sample, in exit order.

        What `EarlyExitModel.predict_exits` gives for the Keras model.

        Args:
            x: Array of inputs.
            batch_size: Integer, samples per interpreter call.
        """
        check_int("batch_size", batch_size, min_value=1)
        x = self._checked(x)
        chunks = []
        for start in range(0, len(x), batch_size):
            outputs, features = [], self._to_input(x[start:start + batch_size])
            for i, stage in enumerate(self.stages):
                exit_output, next_features = stage(features)
                outputs.append(dequantize(exit_output, stage.spec.exit))
                if next_features is not None:
                    features = self._hand_over(next_features, i)
            chunks.append(outputs)
        return [np.concatenate([c[i] for c in chunks]) for i in range(self.num_exits)]

    def predict_early_exit(self, x, batch_size=1, thresholds=None):
        """Predicts with the real early exit: left samples stop computing.

        Args:
            x: Array of inputs of the model's input shape.
            batch_size: Integer. `1` (default) runs sample by sample; a larger
                batch resizes each interpreter's input and forwards only the
                samples that have not left.
            thresholds: Optional thresholds replacing the manifest's.

        Returns:
            An `EarlyExitResult`.
        """
        check_int("batch_size", batch_size, min_value=1)
        x = self._checked(x)
        if thresholds is None:
            thresholds = self.thresholds
        thresholds = self.rule.validate_thresholds(
            thresholds, self.num_exits - 1, self.num_classes
        )
        k, last = self.num_classes, self.num_exits - 1
        n = len(x)
        exit_index = np.full(n, last, dtype="int32")
        probabilities = np.zeros((n, k), dtype="float32")
        if batch_size == 1 and self._open_single_file is not None:
            self._in_one_file(x, thresholds, exit_index, probabilities)
        elif batch_size == 1 and self.interpreter == "litert" and all(
            self.unchanged_hand_overs
        ):
            self._one_by_one(x, thresholds, exit_index, probabilities)
        else:
            self._in_batches(x, batch_size, thresholds, exit_index, probabilities)
        costs = np.asarray(self.exit_costs.cumulative, "int64")
        return EarlyExitResult(
            predictions=probabilities.argmax(axis=1).astype("int32"),
            exit_indices=exit_index,
            macs=costs[exit_index],
            probabilities=probabilities,
            exit_names=list(self.manifest.exit_names),
            exit_macs=list(self.exit_costs.cumulative),
            backbone_macs=self.exit_costs.backbone,
        )


    def _in_batches(self, x, batch_size, thresholds, exit_index, probabilities):
        """Each batch through stage 1; only the samples that did not leave go
        on to the next stage (the interpreters resized to them)."""
        k, last = self.num_classes, self.num_exits - 1
        n = len(x)
        for start in range(0, n, batch_size):
            pending = np.arange(start, min(n, start + batch_size))
            features = self._to_input(x[pending])
            carry = self.rule.initial_carry(len(pending))
            for i, stage in enumerate(self.stages):
                exit_output, next_features = stage(features)
                output = dequantize(exit_output, stage.spec.exit)
                if i == last:
                    probabilities[pending] = output[:, :k]
                    break
                fires, carry = self.rule.decide(output, thresholds[i], k, carry)
                leaving = pending[fires]
                exit_index[leaving] = i
                probabilities[leaving] = output[fires, :k]
                keep = ~fires
                if not keep.any():
                    break
                pending = pending[keep]
                if carry is not None:
                    carry = carry[keep]
                features = self._hand_over(next_features[keep], i)

    @property
    def uses_single_file(self):
        """Whether batch 1 runs the one-file early exit."""
        return self._open_single_file is not None

    def _in_one_file(self, x, thresholds, exit_index, probabilities):
        """Batch 1 on the one-file early exit: one `invoke` per sample."""
        if self._single_file is None:
            self._single_file = self._open_single_file()
        single = self._single_file
        single.score_thresholds()[...] = self.rule.float32_score_threshold(
            thresholds)
        inputs = self._to_input(x)
        image, invoke = single.image, single.invoke
        exit_output, exit_taken = single.exit_output, single.exit_index
        for n in range(len(inputs)):
            image()[0] = inputs[n]
            invoke()
            probabilities[n] = exit_output()[0]
            exit_index[n] = exit_taken()[0]

    def _one_by_one(self, x, thresholds, exit_index, probabilities):
        """Batch 1 on LiteRT: each sample through the stages it needs, on the
        interpreters' own tensors (what an app's inner loop does).

        The decision is `ExitRule.fires`' (step, exit score, mapped
        threshold), called on a view of the exit's output: nothing is copied
        but the input, the features handed over and the output of the exit
        taken. A view is dropped before its interpreter runs again.
        """
        k, last = self.num_classes, self.num_exits - 1
        singles = [stage.single_sample() for stage in self.stages]
        specs = [stage.spec.exit for stage in self.stages]
        quantized = [spec.quantized for spec in specs]
        inputs = self._to_input(x)
        fires = self.rule.fires
        stateless = self.rule.initial_carry(1) is None
        initial_carry = self.rule.initial_carry
        score_thresholds = [float(u) for u in self.rule.score_threshold(thresholds)]
        first_input = singles[0][1]
        output = None
        for n in range(len(inputs)):
            output = None
            first_input()[0] = inputs[n]
            carry = None if stateless else initial_carry(1)
            for i in range(last + 1):
                invoke, _, exit_view, features = singles[i]
                output = None  # No view of a tensor while a model runs.
                invoke()
                output = exit_view()
                if quantized[i]:
                    output = dequantize(output, specs[i])
                if i == last:
                    probabilities[n] = output[0, :k]
                    break
                leaves, carry = fires(output, score_thresholds[i], k, carry)
                if leaves[0]:
                    exit_index[n] = i
                    probabilities[n] = output[0, :k]
                    break
                singles[i + 1][1]()[...] = features()


def _settings(manifest, path):
    """`(rule, thresholds, exit costs)` of a manifest, each checked (a
    `ManifestError` naming the field)."""
    num_exits = len(manifest.stages)
    try:
        rule = rules_module.get(manifest.rule)
    except (ValueError, TypeError, KeyError) as error:
        raise ManifestError(
            f"{path}'s `rule` cannot be rebuilt ({error}): {AGAIN}."
        ) from None
    try:
        thresholds = np.asarray(rule.validate_thresholds(
            manifest.thresholds, num_exits - 1, manifest.num_classes), "float64")
    except (ValueError, TypeError) as error:
        raise ManifestError(
            f"{path}'s `thresholds` are not thresholds of its rule "
            f"({str(error).splitlines()[0]}): set them again, or {AGAIN}."
        ) from None
    try:
        exit_costs = ExitCosts.from_dict(manifest.exit_costs)
        if len(exit_costs.cumulative) != num_exits:
            raise ValueError(f"{len(exit_costs.cumulative)} exits")
    except (ValueError, TypeError, KeyError) as error:
        raise ManifestError(
            f"{path}'s `exit_costs` are not the MACs of its {num_exits} "
            f"exits ({error}): {AGAIN}."
        ) from None
    return rule, thresholds, exit_costs


def load(directory, num_threads=None, interpreter="litert", xnnpack=True,
         single_file=True):
    """Opens an exported early-exit network (see `EarlyExitRuntime`).

    The export is verified first: every file's size and SHA-256 and every
    stage's tensors against the manifest (`ManifestError` naming the file
    and the field that disagree)."""
    return EarlyExitRuntime(
        directory, num_threads=num_threads, interpreter=interpreter,
        xnnpack=xnnpack, single_file=single_file,
    )


