"""The process that runs tfmot for `export_quantization_aware`.

`python -m keras_nachos.deploy.qat.worker FOLDER` runs the `Job` in `FOLDER`
(`job.py` names its files): it reads the model(s), the `JobOptions` and the
`JobData`, and writes its report (and, for an export, the int8 stage
files); on failure it writes a `JobError` and exits with status 1.

TensorFlow Model Optimization switches the process to `tf_keras`
(`TF_USE_LEGACY_KERAS=1`) when imported: that is why it runs here, never in
the caller's process. Steps of an export:

1. Rebuild the model in tf_keras (`tf_keras_rebuild.rebuild`).
2. With `sparsity`: wrap every `Conv2D` / `Dense` in
   `prune_low_magnitude` (constant sparsity from the first step), fine-tune
   `epochs` epochs, strip the pruning wrappers (`fine_tuning.prune`).
3. Annotate every layer for 8-bit QAT (the E2CM distance layer fake-quantises
   itself), `quantize_apply` (with the prune-preserving scheme after
   pruning), set the activation ranges from a few batches (a running mean of
   the batch ranges, where tfmot's moving average would need thousands of
   steps to leave its initial `[-6, 6]`), then fine-tune `epochs` epochs.
   The loss is the sum over the trained exits of the sparse categorical
   cross-entropy on their class probabilities. E2CM heads' class means are
   then fitted again on the fine-tuned (fake-quantised) features
   (`fine_tuning`).
4. Cut the QAT network into the model's stages and convert each to
   full-integer int8 (`int8_stages`).
"""

import os
import sys
import traceback

import numpy as np

from keras_nachos.deploy.qat.job import REBUILD_CHECK
from keras_nachos.deploy.qat.job import ExportReport
from keras_nachos.deploy.qat.job import Job
from keras_nachos.deploy.qat.job import RebuildCheck
from keras_nachos.deploy.qat.job import RebuildReport


def rebuild_check(model, x):
    """A `RebuildCheck`: the rebuild's exits against the model's on `x`."""
    from keras_nachos.deploy.qat.tf_keras_rebuild import rebuild

    network = rebuild(model)
    ours = network.predict(x, verbose=0)[: model.num_exits]
    theirs = model.predict_exits(x)
    return RebuildCheck(
        max_abs_diff=[
            float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
            for a, b in zip(ours, theirs)
        ],
        layers=[layer.name for layer in network.layers],
    )


def export(model, data, options, folder):
    """Fine-tunes `model`'s tf_keras rebuild with QAT (after pruning with
    `options.sparsity`) and writes its int8 stages to `folder`.

    Returns:
        An `ExportReport`.
    """
    import tf_keras

    from keras_nachos.deploy.qat import fine_tuning
    from keras_nachos.deploy.qat.int8_stages import write_stages
    from keras_nachos.deploy.qat.tf_keras_rebuild import rebuild

    tf_keras.utils.set_random_seed(0)
    x, y = data.x, data.y
    network = rebuild(model)
    pruning_history = None
    if options.sparsity is not None:
        network, pruning_history = fine_tuning.prune(
            network, model, x, y, options
        )
    qat = fine_tuning.quantize(network, pruned=options.sparsity is not None)
    fine_tuning.warm_up_ranges(qat, x, options.batch_size)
    history = fine_tuning.fit(qat, model, x, y, options)
    refit = fine_tuning.refit_class_means(qat, model, x, y)
    if refit:  # Ranges of the new distances.
        fine_tuning.warm_up_ranges(qat, x, options.batch_size)
    return ExportReport(
        stages=write_stages(qat, model, data.representative, folder),
        history=history,
        pruning_history=pruning_history,
        class_means_refit=refit,
    )


def main(folder):
    """Runs the job in `folder`; returns the process' exit status."""
    job = Job(folder)
    try:
        options = job.read_options()
        data = job.read_data()
        models = job.load_models(options)
        if options.mode == REBUILD_CHECK:
            report = RebuildReport(
                models=[rebuild_check(model, data.x) for model in models]
            )
        else:
            report = export(models, data, options, job.folder)
        job.write_report(report)
    except Exception as error:  # noqa: BLE001 - reported to the caller
        traceback.print_exc()
        job.write_error(error)
        return 1
    return 0


if __name__ == "__main__":
    # What importing tfmot sets anyway; here (not at import) so that
    # importing this module changes nothing.
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    sys.exit(main(sys.argv[1]))
