"""Fine-tuning of a supernet search's admissible front.

Candidates scored on inherited weights are fine-tuned once the search is
done: each admissible Pareto-optimal one not fine-tuned yet is trained a few
epochs from its inherited weights and calibrated again; its figures go to its
trial folder's `finetuned.json` (beside the inherited ones, which ranked it)
and its model to `eenn_finetuned.keras`. A resumed search fine-tunes only
those not done yet.
"""

import os
import time

from keras_nachos.constraints import is_admissible
from keras_nachos.search.display import SearchDisplay
from keras_nachos.search.solutions import FINETUNED_FILE
from keras_nachos.search.solutions import FINETUNED_MODEL_FILE
from keras_nachos.search.state_files import write_json_atomically


def finetune_front(front, evaluator, trial_dir_of, epochs, min_accuracy,
                   max_macs, display=None):
    """Fine-tunes the candidates of `front` that have no `finetuned.json`.

    Args:
        front: The admissible front (archive dicts, `NSGA2Oracle`'s).
        evaluator: An `InheritedEvaluator` (its `finetune(values, epochs)`
            returns `(metrics, model)`).
        trial_dir_of: Callable `trial_id -> folder`.
        epochs: Integer, epochs of fine-tuning (`0`: none).
        min_accuracy, max_macs: The constraints (`admissible` in the file).
        display: Optional `SearchDisplay` for a line per candidate.

    Returns:
        The number of candidates fine-tuned now.
    """
    if not epochs:
        return 0
    done = 0
    for i, record in enumerate(front):
        trial_dir = trial_dir_of(record["trial_id"])
        path = os.path.join(trial_dir, FINETUNED_FILE)
        if os.path.exists(path):
            continue
        start = time.time()
        metrics, model = evaluator.finetune(record["values"], epochs)
        os.makedirs(trial_dir, exist_ok=True)
        model.save(os.path.join(trial_dir, FINETUNED_MODEL_FILE))
        metrics.pop("curve", None)
        metrics["admissible"] = bool(is_admissible(
            metrics["accuracy"], metrics["expected_macs"], min_accuracy,
            max_macs,
        ))
        write_json_atomically(path, metrics)
        done += 1
        if display is not None:
            display.show(SearchDisplay.finetune_line(
                i, len(front), record, metrics, time.time() - start))
    return done
