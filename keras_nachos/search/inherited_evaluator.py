"""Scoring candidates on weights inherited from a trained supernet."""

import collections
import math
import time

from keras_nachos.checks import check_int
from keras_nachos.errors import invalid_type
from keras_nachos.search.candidate_evaluator import CandidateEvaluator
from keras_nachos.search.candidate_evaluator import released_custom_gradients
from keras_nachos.search.records import candidate_key

# Candidates built for their costs (the search screens and orders a whole
# generation before it scores it) and kept to be filled with inherited
# weights instead of being built a second time.
MAX_KEPT_MODELS = 128


class InheritedEvaluator(CandidateEvaluator):
    """A `CandidateEvaluator` that trains nothing: candidates inherit the
    weights of a trained `Supernet`.

    Each candidate's batch-norm statistics are re-estimated on the first
    `bn_samples` training images (`Supernet.reestimate_batch_norm`), its exits
    run on the validation split through the supernet's subnet path, and its
    thresholds are calibrated there under `max_macs`, exactly as for a trained
    candidate (`score`): the result has the same fields, so the cache, the
    precheck, resume and distributed workers treat both alike. The metrics say
    `"inherited": True`. The returned model is the extracted candidate
    (`Supernet.extract`) with those weights.

    `finetune(values, epochs)` trains the extracted candidate (backbone and
    heads, the evaluator's optimizer and exit losses) for a few epochs and
    scores it again: what the search does to its admissible front.

    Args:
        supernet: A trained `Supernet` of the search's space.
        train_data, validation_data, min_accuracy, max_macs: As
            `CandidateEvaluator`.
        bn_samples: Integer, training images for the batch-norm
            re-estimation. Defaults to `2000`.
        **kwargs: Other `CandidateEvaluator` arguments (`epochs` and
            `batch_size` are those of `finetune`).
    """

    def __init__(self, supernet, train_data, validation_data, min_accuracy,
                 max_macs, bn_samples=2000, **kwargs):
        from keras_nachos.search.supernet import Supernet

        if not isinstance(supernet, Supernet):
            raise invalid_type("supernet", "a Supernet", supernet)
        super().__init__(supernet.space, train_data, validation_data,
                         min_accuracy, max_macs, **kwargs)
        self.supernet = supernet
        self.bn_samples = check_int("bn_samples", bn_samples, min_value=1)
        self._built_models = collections.OrderedDict()

    def _keep_built(self, key, model):
        self._built_models[key] = model
        while len(self._built_models) > MAX_KEPT_MODELS:
            self._built_models.popitem(last=False)

    def __call__(self, values, callbacks=None):
        """Scores one candidate on inherited weights; returns its objectives
        and the extracted model."""
        start = time.time()
        x, _ = self.train_data
        supernet = self.supernet
        supernet.reestimate_batch_norm(
            values, x, batch_size=256, max_samples=self.bn_samples
        )
        outputs = supernet.predict_subnet(
            values, self.validation_data[0], batch_size=512
        )
        built = self._built_models.pop(candidate_key(values), None)
        model = supernet.extract(values, model=built)
        metrics = self.score(model, values, outputs=outputs)
        metrics["inherited"] = True
        metrics["train_seconds"] = time.time() - start
        return metrics, model

    def finetune(self, values, epochs=None, callbacks=None):
        """Fine-tunes the extracted candidate `epochs` epochs (default: the
        evaluator's `epochs`) and scores it; returns `(metrics, model)`."""
        epochs = self.epochs if epochs is None else check_int(
            "epochs", epochs, min_value=1
        )
        start = time.time()
        x, y = self.train_data
        with released_custom_gradients():
            with self.seeded(values):
                model = self.supernet.extract(
                    values, x=x, max_samples=self.bn_samples
                )
                self.compile_model(model)
                history = model.fit(
                    x, y, epochs=epochs, batch_size=self.batch_size,
                    verbose=self.verbose, callbacks=callbacks,
                )
            loss = history.history["loss"][-1]
            if not math.isfinite(loss):
                raise FloatingPointError(f"fine-tuning diverged (loss={loss})")
            metrics = self.score(model, values)
        metrics["finetune_epochs"] = epochs
        metrics["train_seconds"] = time.time() - start
        return metrics, model
