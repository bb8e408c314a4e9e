"""Tests of `keras_nachos.reporting.pareto_plot`."""

import os


def test_pareto_plot_legend_hides_no_candidate(tmp_path, monkeypatch):
    """The legend must not cover a candidate, e.g. an infeasible one near
    M_max at low accuracy (the lower right corner)."""
    from keras_nachos.reporting.pareto_plot import plot_pareto

    candidates = [
        {"status": "completed", "accuracy": a, "macs": m}
        for a, m in ((0.7755, 798_014), (0.88, 640_000), (0.86, 260_000),
                     (0.85, 255_000), (0.83, 580_000), (0.79, 700_000))
    ]
    results = {
        "config": {"min_accuracy": 0.82, "max_macs": 800_000},
        "candidates": candidates,
        "admissible_front": [
            {"accuracy": 0.88, "expected_macs": 640_000},
            {"accuracy": 0.86, "expected_macs": 260_000},
        ],
    }
    fig = plot_pareto(results, str(tmp_path / "pareto.png"))
    assert os.path.getsize(tmp_path / "pareto.png") > 0
    ax = fig.axes[0]
    fig.canvas.draw()
    box = ax.get_legend().get_window_extent()
    points = ax.transData.transform([(c["macs"], c["accuracy"]) for c in candidates])
    assert not any(box.contains(x, y) for x, y in points)
    low, high = ax.get_ylim()
    assert low < 0.7755 and high > 0.88


def test_a_guaranteed_search_labels_its_accuracy_as_the_bound():
    """(The text table's label: search_results_test.py.)"""
    from keras_nachos.reporting.pareto_plot import plot_pareto

    results = {
        "config": {"min_accuracy": 0.82, "max_macs": 800_000},
        "candidates": [{"status": "completed", "accuracy": 0.85, "macs": 1e5}],
        "admissible_front": [{"accuracy": 0.85, "expected_macs": 1e5}],
        "hypervolume_history": [0.1], "unique_evaluations": 1,
    }
    assert plot_pareto(results).axes[0].get_ylabel() == "validation accuracy"
    results["config"]["floor_confidence"] = 0.95
    ax = plot_pareto(results).axes[0]
    assert ax.get_ylabel() == "guaranteed accuracy (lower bound at 0.95)"
    assert "confidence 0.95" in ax.get_title()
