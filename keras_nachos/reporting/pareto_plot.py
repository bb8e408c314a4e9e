"""The Pareto plot of a search: every candidate, the admissible front."""

from keras_nachos.reporting.figures import new_figure


def plot_pareto(results, path=None):
    """All candidates, the feasible region shaded, the admissible front.

    With `config["floor_confidence"]` the accuracy axis is the guaranteed
    accuracy (what the search ranked and judged admissibility on).

    Args:
        results: Dict as `write_results` writes it to results.json (needs
            `config` with the constraints, `candidates` and
            `admissible_front`).
        path: Optional PNG path to save the figure to.

    Returns:
        The matplotlib `Figure` (on its own Agg canvas).
    """
    config = results["config"]
    a_min, m_max = config["min_accuracy"], config["max_macs"]
    trained = [c for c in results["candidates"] if c.get("status") == "completed"]
    skipped = [c for c in results["candidates"] if c.get("status") == "skipped"]
    fig = new_figure(figsize=(7, 5))
    ax = fig.subplots()
    top = max([c["accuracy"] for c in trained] + [a_min]) + 0.02
    ax.fill_between([0, m_max], a_min, top, color="tab:green", alpha=0.12,
                    label="feasible region")
    if trained:
        ax.scatter([c["macs"] for c in trained], [c["accuracy"] for c in trained],
                   s=14, color="gray", alpha=0.7, label="trained candidates")
    if skipped:
        ax.scatter([c["macs"] for c in skipped], [0.0] * len(skipped), marker="x",
                   s=18, color="tab:orange",
                   label="first exit over budget (not trained)")
    front = results["admissible_front"]
    if front:
        pts = sorted((r["expected_macs"], r["accuracy"]) for r in front)
        ax.step([p[0] for p in pts], [p[1] for p in pts], where="post",
                color="tab:red")
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], color="tab:red",
                   zorder=3, label="admissible Pareto front")
    ax.axhline(a_min, color="tab:green", ls="--", lw=1)
    ax.axvline(m_max, color="tab:green", ls="--", lw=1)
    ax.set_xlabel("expected MACs per sample (validation)")
    confidence = config.get("floor_confidence")
    if confidence is None:
        ax.set_ylabel("validation accuracy")
    else:
        ax.set_ylabel(f"guaranteed accuracy (lower bound at {confidence:g})")
        ax.set_title(f"admissible: A_min = {a_min:g} holds on new data with "
                     f"confidence {confidence:g}", fontsize=10)
    # "best": a fixed corner can hide candidates (an infeasible one near
    # M_max sits in the lower right).
    ax.legend(loc="best", framealpha=0.9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
