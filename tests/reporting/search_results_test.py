"""Tests of `keras_nachos.reporting.search_results`: a search's front as rows,
its text table and its results files, from a stub tuner."""

import csv
import json
import types

from keras_nachos import EarlyExitModel
from keras_nachos.reporting.search_results import format_front
from keras_nachos.reporting.search_results import front_rows
from keras_nachos.reporting.search_results import write_results
from tests.testing_utils import small_cnn
from tests.testing_utils import toy_data


def _solution(trial_id, accuracy, macs, model_path, **extra):
    return dict(
        trial_id=trial_id, accuracy=accuracy, expected_macs=macs,
        values={"accuracy": accuracy}, model_path=model_path,
        exit_fractions=[0.5, 0.25, 0.25], thresholds=[0.4, 0.6],
        static_macs=2 * macs, **extra,
    )


def _tuner(front):
    return types.SimpleNamespace(
        admissible_front=lambda: front,
        pareto_front=lambda: [
            dict(s, feasible=True, ignored="not in results") for s in front
        ],
        all_candidates=lambda: [
            {"status": "completed", "accuracy": s["accuracy"],
             "macs": s["expected_macs"]} for s in front
        ],
        hypervolume_history=[0.25, 0.5],
        oracle=types.SimpleNamespace(unique_evaluations=7, total_evaluations=9),
    )


def test_front_rows():
    tuned = {"accuracy": 0.91, "expected_macs": 900.0, "admissible": True,
             "thresholds": [0.5, 0.5], "exit_fractions": [0.2, 0.3, 0.5],
             "finetune_epochs": 2, "history": "left out"}
    front = [
        _solution("03", 0.9, 1000.0, "a.keras", tuner_id="worker1", rule="entropy"),
        _solution("07", 0.8, 500.0, "b.keras", finetuned=tuned,
                  finetuned_model_path="b_tuned.keras"),
    ]
    rows = front_rows(_tuner(front))
    assert rows[0] == {
        "solution": 0, "trial_id": "03", "accuracy": 0.9,
        "expected_macs": 1000.0, "static_macs": 2000.0,
        "exit_fractions": [0.5, 0.25, 0.25], "thresholds": [0.4, 0.6],
        "test_accuracy": None, "test_expected_macs": None,
        "values": {"accuracy": 0.9}, "model_path": "a.keras",
        "tuner_id": "worker1", "rule": "entropy",
    }
    assert rows[1]["solution"] == 1 and rows[1]["rule"] == "max_probability"
    assert rows[1]["tuner_id"] is None
    assert rows[1]["finetuned"] == {
        key: tuned[key] for key in ("accuracy", "expected_macs", "admissible",
                                    "thresholds", "exit_fractions",
                                    "finetune_epochs")
    }
    assert rows[1]["finetuned_model_path"] == "b_tuned.keras"


def test_format_front():
    rows = [
        {"solution": 0, "trial_id": "03", "accuracy": 0.9, "expected_macs": 1234.4,
         "test_accuracy": 0.875, "test_expected_macs": 1300.6,
         "exit_fractions": [0.5, 0.25, 0.25]},
        {"solution": 1, "trial_id": "07", "accuracy": 0.8, "expected_macs": 500.0,
         "test_accuracy": None, "test_expected_macs": None, "exit_fractions": None,
         "finetuned": {"accuracy": 0.85, "expected_macs": 450.0,
                       "admissible": False, "finetune_epochs": 3,
                       "test_accuracy": 0.8125, "test_expected_macs": 460.0}},
    ]
    results = {"config": {}, "hypervolume_history": [0.25, 0.5],
               "unique_evaluations": 7}
    assert format_front(rows, results).split("\n") == [
        "Admissible Pareto front: 2 solutions (7 unique evaluations, "
        "hypervolume per generation: 0.2500, 0.5000)",
        "  #  trial  val acc   val E[MACs]  test acc  test E[MACs]  exit fractions",
        "  0     03   0.9000         1,234    0.8750         1,301  0.50 0.25 0.25",
        "  1     07   0.8000           500         -             -  ",
        "Inherited weights above; after fine-tuning (3 epochs, thresholds "
        "calibrated again):",
        "  #  trial  val acc   val E[MACs]  test acc  test E[MACs]  admissible",
        "  1     07   0.8500           450    0.8125           460  no",
    ]


def test_a_guaranteed_search_labels_its_accuracy_as_the_bound():
    """(Moved from pareto_plot_test.py, which keeps the figure's label.)"""
    results = {
        "config": {"min_accuracy": 0.82, "max_macs": 800_000},
        "candidates": [{"status": "completed", "accuracy": 0.85, "macs": 1e5}],
        "admissible_front": [{"accuracy": 0.85, "expected_macs": 1e5}],
        "hypervolume_history": [0.1], "unique_evaluations": 1,
    }
    assert "guaranteed" not in format_front([], results)
    results["config"]["floor_confidence"] = 0.95
    text = format_front([], results)
    assert "val acc: the guaranteed accuracy (lower confidence bound at 0.95" in text


def test_write_results_measures_the_front_on_the_test_split(tmp_path, capsys):
    model = EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4)
    path = str(tmp_path / "model.keras")
    model.save(path)
    x, y = toy_data(40, seed=4)
    tuned = {"accuracy": 0.5, "expected_macs": 100.0, "admissible": True,
             "thresholds": [0.3, 0.9], "exit_fractions": [1.0, 0.0, 0.0],
             "finetune_epochs": 1}
    front = [
        _solution("01", 0.9, 1000.0, path, finetuned=tuned,
                  finetuned_model_path=path),
        _solution("02", 0.8, 500.0, str(tmp_path / "on_a_worker.keras"),
                  tuner_id="worker2"),
    ]
    config = {"min_accuracy": 0.5, "max_macs": 2000.0}
    data = types.SimpleNamespace(test=(x, y))
    results = write_results(str(tmp_path), _tuner(front), config, data=data)
    out = capsys.readouterr().out
    assert ("Solution 1: no " + str(tmp_path / "on_a_worker.keras") + " here (it "
            "was trained on worker2)") in out
    assert f"Wrote {tmp_path}/results.json, results.csv and pareto.png" in out

    expected = model.predict_early_exit(x, [0.4, 0.6])
    tuned_expected = model.predict_early_exit(x, [0.3, 0.9])
    row, missing = results["admissible_front"]
    assert row["test_accuracy"] == expected.accuracy(y)
    assert row["test_expected_macs"] == expected.expected_macs
    assert row["finetuned"]["test_accuracy"] == tuned_expected.accuracy(y)
    assert row["finetuned"]["test_expected_macs"] == tuned_expected.expected_macs
    assert missing["test_accuracy"] is None

    stored = json.loads((tmp_path / "results.json").read_text())
    assert stored["config"] == config
    assert stored["pareto_front"] == [
        {"trial_id": "01", "accuracy": 0.9, "expected_macs": 1000.0, "feasible": True},
        {"trial_id": "02", "accuracy": 0.8, "expected_macs": 500.0, "feasible": True},
    ]
    assert stored["hypervolume_history"] == [0.25, 0.5]
    assert (stored["unique_evaluations"], stored["total_evaluations"]) == (7, 9)
    assert len(stored["candidates"]) == 2
    assert stored["admissible_front"][0]["test_accuracy"] == row["test_accuracy"]

    with open(tmp_path / "results.csv", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["solution", "trial_id", "val_accuracy", "val_expected_macs",
                        "test_accuracy", "test_expected_macs", "exit_fractions",
                        "thresholds", "static_macs"]
    assert table[2] == ["1", "02", "0.8", "500.0", "", "", "[0.5, 0.25, 0.25]",
                        "[0.4, 0.6]", "1000.0"]
    assert float(table[1][4]) == row["test_accuracy"]
    assert (tmp_path / "pareto.png").read_bytes()[:4] == b"\x89PNG"


def test_write_results_without_test_data_leaves_the_test_columns_empty(tmp_path):
    front = [_solution("01", 0.9, 1000.0, str(tmp_path / "absent.keras"))]
    results = write_results(str(tmp_path), _tuner(front),
                            {"min_accuracy": 0.5, "max_macs": 2000.0})
    assert results["admissible_front"][0]["test_accuracy"] is None
    with open(tmp_path / "results.csv", newline="") as f:
        table = list(csv.reader(f))
    assert table[1][:6] == ["0", "01", "0.9", "1000.0", "", ""]


def test_a_damaged_model_is_skipped_with_what_to_do(tmp_path, capsys):
    from keras_nachos.reporting.search_results import evaluate_on_test

    model = EarlyExitModel.from_backbone(small_cnn(), ["p1", "p2"], 4)
    good = str(tmp_path / "eenn.keras")
    model.save(good)
    damaged = str(tmp_path / "trial_2" / "eenn.keras")
    tuned = str(tmp_path / "trial_2" / "eenn_finetuned.keras")
    (tmp_path / "trial_2").mkdir()
    for path in (damaged, tuned):
        with open(path, "wb") as f:
            f.write(open(good, "rb").read()[:1000])
    x, y = toy_data(20, seed=5)
    rows = [
        dict(_solution("02", 0.9, 900.0, damaged), solution=0,
             test_accuracy=None, rule="max_probability",
             finetuned={"thresholds": [0.3, 0.9]}, finetuned_model_path=good),
        dict(_solution("03", 0.8, 500.0, good), solution=1,
             test_accuracy=None, rule="max_probability",
             finetuned={"thresholds": [0.3, 0.9]}, finetuned_model_path=tuned),
    ]
    evaluate_on_test(rows, types.SimpleNamespace(test=(x, y)))
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith(
        f"Solution 0 is not measured on the test split: The model file "
        f"{damaged} (a candidate's trained model) is damaged")
    assert printed[1].startswith(
        f"Solution 1 is not measured on the test split: The model file "
        f"{tuned} (a fine-tuned candidate's model) is damaged")
    assert printed[1].endswith(
        "delete it and the finetuned.json beside it: the search fine-tunes "
        "the candidate again when it is resumed.")
    assert len(printed) == 2
    expected = model.predict_early_exit(x, [0.4, 0.6])
    tuned_expected = model.predict_early_exit(x, [0.3, 0.9])
    assert rows[0]["test_accuracy"] is None
    assert rows[0]["finetuned"]["test_accuracy"] == tuned_expected.accuracy(y)
    assert rows[1]["test_accuracy"] == expected.accuracy(y)
    assert "test_accuracy" not in rows[1]["finetuned"]
