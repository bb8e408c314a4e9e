"""Tests of `keras_nachos.search.finetuning`: the front fine-tuned once,
figures and model beside the inherited ones."""

import json

from keras_nachos.search.display import SearchDisplay
from keras_nachos.search.finetuning import finetune_front
from keras_nachos.search.solutions import FINETUNED_FILE
from keras_nachos.search.solutions import FINETUNED_MODEL_FILE


class Model:
    def save(self, path):
        with open(path, "w") as f:
            f.write("model")


class Evaluator:
    def __init__(self):
        self.calls = []

    def finetune(self, values, epochs):
        self.calls.append((values["k"], epochs))
        accuracy = 0.8 + 0.05 * values["k"]
        return {"accuracy": accuracy, "expected_macs": 1000.0 * values["k"],
                "curve": [[1.0, 2.0]]}, Model()


FRONT = [{"trial_id": str(k), "values": {"k": k}, "accuracy": 0.8,
          "macs": 500.0} for k in (1, 2, 3)]


def test_each_front_candidate_is_fine_tuned_once(tmp_path, capsys):
    evaluator = Evaluator()
    folder = lambda trial_id: str(tmp_path / f"trial_{trial_id}")  # noqa: E731
    assert finetune_front(FRONT, evaluator, folder, 2, 0.86, 2500.0,
                          display=SearchDisplay()) == 3
    assert evaluator.calls == [(1, 2), (2, 2), (3, 2)]
    figures = [json.load(open(tmp_path / f"trial_{k}" / FINETUNED_FILE))
               for k in (1, 2, 3)]
    # Admissible: accuracy >= 0.86 and MACs <= 2500.
    assert [f["admissible"] for f in figures] == [False, True, False]
    assert all("curve" not in f for f in figures)
    assert (tmp_path / "trial_2" / FINETUNED_MODEL_FILE).read_text() == "model"
    assert capsys.readouterr().out.count("[fine-tune ") == 3
    # Resumed: nothing is fine-tuned again.
    assert finetune_front(FRONT, evaluator, folder, 2, 0.86, 2500.0) == 0
    assert len(evaluator.calls) == 3


def test_zero_epochs_fine_tune_nothing(tmp_path):
    evaluator = Evaluator()
    assert finetune_front(FRONT, evaluator, lambda t: str(tmp_path), 0, 0.5,
                          1e9) == 0
    assert evaluator.calls == [] and not list(tmp_path.iterdir())
