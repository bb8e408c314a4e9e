"""Real batched early exit: stage-by-stage execution of an EarlyExitModel."""

import keras
import numpy as np
import tensorflow as tf

from keras_nachos.data_utils import check_inputs


class StagedRunner:
    """Runs an EarlyExitModel stage by stage, forwarding only pending samples.

    Stage `i` is the backbone between exit points `i - 1` and `i` (a
    functional sub-model sharing the backbone's layers) and exit `i`'s layer,
    as the model's `stage_plan` cuts it.
    Each step is one compiled `tf.function` with an unknown batch size, so
    shrinking batches do not retrace. A stage is never called on an empty
    batch (oneDNN's Conv2D returns a wrong shape for one): `run` only slices
    non-empty batches.

    Exits are decided by the rule's own definition (`ExitRule.exit_score` >=
    `ExitRule.score_threshold`): inside each stage's compiled function for a
    rule that `runs_in_graph`, on the host (`ExitRule.decide`) otherwise.
    """

    def __init__(self, model):
        plan = model.stage_plan
        self.model = model
        self.stage_models = plan.segments
        self.exit_layers = list(plan.exit_layers)
        self.input_dtype = self.stage_models[0].inputs[0].dtype
        self._graph_steps = {}
        self._steps = [
            self._make_step(stage, exit_layer)
            for stage, exit_layer in zip(self.stage_models, self.exit_layers)
        ]

    @staticmethod
    def _spec(stage):
        return tf.TensorSpec(
            (None,) + tuple(stage.inputs[0].shape[1:]), dtype=stage.inputs[0].dtype
        )

    def _make_step(self, stage, exit_layer):
        @tf.function(input_signature=[self._spec(stage)])
        def step(features):
            features = stage(features, training=False)
            output = features if exit_layer is None else exit_layer(
                features, training=False
            )
            return features, output

        return step

    def _in_graph_step(self, i, rule):
        """Stage `i` with the exit decision and compaction in the graph.

        Returns `(survivor_features, output, fires)`; `fires` is
        `rule.exit_score(score) >= u` in float64, `u` the rule's score
        threshold, exactly as on the host.
        """
        key = (i, type(rule), rule.direction)
        if key in self._graph_steps:
            return self._graph_steps[key]
        stage, head = self.stage_models[i], self.exit_layers[i]
        k = self.model.num_classes

        @tf.function(
            input_signature=[self._spec(stage), tf.TensorSpec((), tf.float64)]
        )
        def step(features, score_threshold):
            features = stage(features, training=False)
            output = head(features, training=False)
            score = tf.cast(rule.tf_score(output[:, :k]), tf.float64)
            fires = rule.exit_score(score) >= score_threshold
            return tf.boolean_mask(features, ~fires), output, fires

        self._graph_steps[key] = step
        return step

    def run(self, x, rule, thresholds, batch_size=256, verbose=0, block_batches=16):
        """Runs the early exit; returns predictions, exits and probabilities.

        Stage-major: a block of samples goes through stage 1 in batches of
        `batch_size`; the samples that do not leave are gathered and go
        through stage 2, again in full batches, and so on. Every stage thus
        runs at the full batch size (a stage on the few survivors of one small
        batch costs much more per sample), and memory stays bounded by the
        block.

        Args:
            x: Numpy array, tensor, or `tf.data.Dataset` of inputs (or of
                `(inputs, labels)` batches).
            rule: An `ExitRule`.
            thresholds: Float64 array, one threshold per early exit (checked).
            batch_size: Integer.
            verbose: `0` or `1` (a progress bar).
            block_batches: Integer, batches per block on the host path.

        Returns:
            `(predictions, exit_indices, probabilities)`.
        """
        check_inputs(x, self.stage_models[0].inputs[0].shape)
        return self.run_checked(
            x, rule, thresholds, batch_size, verbose, block_batches
        )

    def run_checked(self, x, rule, thresholds, batch_size=256, verbose=0,
                    block_batches=16):
        """`run` on inputs checked already (`data_utils.check_inputs`)."""
        total = None if isinstance(x, tf.data.Dataset) else int(len(x))
        progbar = keras.utils.Progbar(total, verbose=verbose) if verbose else None
        if not isinstance(x, tf.data.Dataset) and not tf.is_tensor(x):
            x = np.asarray(x)
        if (
            rule.runs_in_graph
            and rule.initial_carry(1) is None
            and isinstance(x, np.ndarray)
        ):
            return self._run_in_graph(x, rule, thresholds, batch_size, progbar)
        return self._run_on_host(
            x, rule, thresholds, batch_size, progbar, block_batches
        )

    def _run_in_graph(self, x, rule, thresholds, batch_size, progbar):
        """Stage-major early exit with decisions inside the stages' graphs.

        Calls each stage's concrete function directly (no signature matching
        per call) on tensors: a block of inputs is converted once, then
        sliced into batches; the survivors of up to 64 batches are re-batched.
        """
        k = self.model.num_classes
        last = len(self._steps) - 1
        n = int(x.shape[0])
        exit_index = np.full(n, last, dtype="int32")
        probabilities = np.zeros((n, k), dtype="float32")
        steps = [
            self._in_graph_step(i, rule).get_concrete_function()
            for i in range(last)
        ] + [self._steps[last].get_concrete_function()]
        limits = [
            tf.constant(float(u), tf.float64)
            for u in rule.score_threshold(thresholds)
        ]
        block = batch_size * 64
        for begin in range(0, n, block):
            end = min(n, begin + block)
            inputs = tf.convert_to_tensor(x[begin:end], dtype=self.input_dtype)
            batches = [
                (inputs[s : s + batch_size],
                 np.arange(begin + s, min(end, begin + s + batch_size)))
                for s in range(0, end - begin, batch_size)
            ]
            for i in range(last + 1):
                survivors, survivor_ids = [], []
                for features, ids in batches:
                    if i == last:
                        _, output = steps[i](features)
                        probabilities[ids] = output.numpy()[:, :k]
                        continue
                    kept, output, fires = steps[i](features, limits[i])
                    fires = fires.numpy()
                    leaving = ids[fires]
                    exit_index[leaving] = i
                    probabilities[leaving] = output.numpy()[fires, :k]
                    if not fires.all():
                        survivors.append(kept)
                        survivor_ids.append(ids[~fires])
                if i == last or not survivors:
                    break
                # Re-batch the survivors so the next stage runs full batches.
                features = (survivors[0] if len(survivors) == 1
                            else tf.concat(survivors, axis=0))
                ids = np.concatenate(survivor_ids)
                batches = [
                    (features[s : s + batch_size], ids[s : s + batch_size])
                    for s in range(0, len(ids), batch_size)
                ]
            if progbar is not None:
                progbar.add(end - begin)
        return probabilities.argmax(axis=1).astype("int32"), exit_index, probabilities

    def _blocks(self, x, block_size):
        """Yields input blocks of about `block_size` samples as tensors."""
        if isinstance(x, tf.data.Dataset):
            pending, count = [], 0
            for element in x:
                if isinstance(element, (tuple, list)):
                    element = element[0]
                pending.append(tf.cast(element, self.input_dtype))
                count += int(element.shape[0])
                if count >= block_size:
                    yield tf.concat(pending, axis=0)
                    pending, count = [], 0
            if pending:
                yield tf.concat(pending, axis=0)
            return
        for start in range(0, int(x.shape[0]), block_size):
            yield tf.cast(x[start : start + block_size], self.input_dtype)

    def _run_on_host(self, x, rule, thresholds, batch_size, progbar, block_batches):
        """Stage-major early exit with decisions by `rule.decide` on the host."""
        num_classes = self.model.num_classes
        last = len(self._steps) - 1
        predictions, exits, probabilities = [], [], []
        for block in self._blocks(x, batch_size * block_batches):
            n = int(block.shape[0])
            block_exit = np.full(n, last, dtype="int32")
            block_probs = np.zeros((n, num_classes), dtype="float32")
            pending = np.arange(n)
            carry = rule.initial_carry(n)
            features = block
            for i, step in enumerate(self._steps):
                if pending.size == 0:
                    break
                next_features, outputs = [], []
                for start in range(0, int(features.shape[0]), batch_size):
                    f, out = step(features[start : start + batch_size])
                    next_features.append(f)
                    outputs.append(out.numpy())
                output = np.concatenate(outputs)
                if i == last:
                    block_probs[pending] = output[:, :num_classes]
                    break
                fires, carry = rule.decide(output, thresholds[i], num_classes, carry)
                leaving = pending[fires]
                block_exit[leaving] = i
                block_probs[leaving] = output[fires, :num_classes]
                keep = np.flatnonzero(~fires)
                pending = pending[keep]
                if carry is not None:
                    carry = carry[keep]
                if keep.size:
                    features = (
                        next_features[0]
                        if len(next_features) == 1
                        else tf.concat(next_features, axis=0)
                    )
                    if keep.size < features.shape[0]:
                        features = tf.gather(features, keep)
            predictions.append(block_probs.argmax(axis=1).astype("int32"))
            exits.append(block_exit)
            probabilities.append(block_probs)
            if progbar is not None:
                progbar.add(n)
        if not exits:
            return (
                np.zeros((0,), "int32"),
                np.zeros((0,), "int32"),
                np.zeros((0, num_classes), "float32"),
            )
        return (
            np.concatenate(predictions),
            np.concatenate(exits),
            np.concatenate(probabilities),
        )
