"""The early-exit evaluation report: accuracy, exits and MACs in one object."""

import dataclasses
import math

import numpy as np


@dataclasses.dataclass
class EarlyExitReport:
    """What `EarlyExitModel.evaluate_early_exit` returns.

    Attributes:
        rule: Name of the exit rule.
        thresholds: Thresholds, one per early exit.
        exit_names: Exit names, in order.
        accuracy: Accuracy of the early-exit network.
        exit_fractions: Share of samples leaving at each exit.
        exit_accuracy: Accuracy of each exit on all samples.
        exited_accuracy: Accuracy of each exit on the samples that left there
            (`nan` where none did).
        exit_macs: Cumulative MACs to reach each exit (every head paid).
        exit_macs_taken_head: The reference code's convention (taken head).
        expected_macs: Mean MACs per sample, cumulative convention.
        expected_macs_taken_head: The same in the taken-head convention.
        backbone_macs: MACs of the network without early exits.
        final_accuracy: Accuracy of the final exit alone.
        curve: Optional array `(m, 2)` of (expected MACs, accuracy) points of
            the trade-off curve (e.g. from `calibrate_thresholds`).
    """

    rule: str
    thresholds: list
    exit_names: list
    accuracy: float
    exit_fractions: list
    exit_accuracy: list
    exited_accuracy: list
    exit_macs: list
    exit_macs_taken_head: list
    expected_macs: float
    expected_macs_taken_head: float
    backbone_macs: int
    final_accuracy: float
    curve: object = None

    @property
    def macs_ratio(self):
        """Expected MACs over `backbone_macs`, the network without early exits.

        The same ratio as `EarlyExitResult.macs_ratio` and `ExitCosts.ratio`.
        """
        return self.expected_macs / self.backbone_macs

    @classmethod
    def from_evaluation(cls, evaluation, exit_names, exit_costs, curve=None):
        """Builds the report from an evaluation on cached exit outputs.

        Args:
            evaluation: An `ExitOutputsEvaluation`
                (`keras_nachos.calibration.evaluate_exit_outputs`).
            exit_names: List of exit names.
            exit_costs: The model's `ExitCosts`.
            curve: Optional `(m, 2)` array of (expected MACs, accuracy).
        """
        return cls(
            rule=evaluation.rule.name or type(evaluation.rule).__name__,
            thresholds=list(evaluation.thresholds),
            exit_names=list(exit_names),
            accuracy=evaluation.accuracy,
            exit_fractions=evaluation.exit_fractions,
            exit_accuracy=evaluation.exit_accuracy,
            exited_accuracy=evaluation.exited_accuracy,
            exit_macs=exit_costs.cumulative,
            exit_macs_taken_head=exit_costs.taken_head,
            expected_macs=evaluation.expected_in(exit_costs.cumulative),
            expected_macs_taken_head=evaluation.expected_in(
                exit_costs.taken_head
            ),
            backbone_macs=exit_costs.backbone,
            final_accuracy=evaluation.final_accuracy,
            curve=None if curve is None else np.asarray(curve, "float64"),
        )

    def to_dict(self):
        """A JSON-friendly dict of every field and the two ratios."""
        out = dataclasses.asdict(self)
        out["curve"] = None if self.curve is None else self.curve.tolist()
        out["macs_ratio"] = self.macs_ratio
        return out

    def __str__(self):
        thresholds = ", ".join(f"{t:.4g}" for t in self.thresholds)
        lines = [
            f"Early-exit report ({self.rule}, thresholds [{thresholds}])",
            f"  accuracy            {self.accuracy:.4f}   "
            f"(final exit alone: {self.final_accuracy:.4f})",
            f"  expected MACs       {self.expected_macs:,.0f}   "
            f"(macs_ratio {self.macs_ratio:.3f} of the backbone's "
            f"{self.backbone_macs:,}; the final exit costs "
            f"{self.exit_macs[-1]:,})",
            f"  taken-head MACs     {self.expected_macs_taken_head:,.0f}   "
            "(reference code's convention)",
            "",
            f"  {'exit':<8} {'fraction':>8} {'acc (all)':>10} {'acc (left)':>11} "
            f"{'MACs':>14} {'MACs (taken head)':>18}",
        ]
        for i, name in enumerate(self.exit_names):
            exited = self.exited_accuracy[i]
            lines.append(
                f"  {name:<8} {self.exit_fractions[i]:>8.3f} "
                f"{self.exit_accuracy[i]:>10.4f} "
                f"{'-' if math.isnan(exited) else f'{exited:.4f}':>11} "
                f"{self.exit_macs[i]:>14,} {self.exit_macs_taken_head[i]:>18,}"
            )
        return "\n".join(lines)

    def plot(self, path=None):
        """Plots the trade-off curve with the chosen point and exit fractions.

        Args:
            path: Optional file path; the figure is saved there as PNG.

        Returns:
            The matplotlib `Figure`.
        """
        from keras_nachos.reporting.figures import new_figure

        fig = new_figure(figsize=(11, 4))
        left, right = fig.subplots(1, 2)
        if self.curve is not None and len(self.curve):
            order = np.argsort(self.curve[:, 0])
            left.step(
                self.curve[order, 0] / self.backbone_macs,
                self.curve[order, 1],
                where="post",
                label="trade-off curve",
            )
        left.scatter(
            [self.macs_ratio], [self.accuracy], color="red", zorder=3,
            label="chosen point",
        )
        left.axhline(self.final_accuracy, color="gray", ls="--",
                     label="final exit alone")
        left.set_xlabel("expected MACs / backbone MACs")
        left.set_ylabel("accuracy")
        left.legend(loc="lower right")
        left.grid(alpha=0.3)
        right.bar(self.exit_names, self.exit_fractions, color="tab:blue")
        right.set_ylabel("fraction of samples")
        right.set_title("exit fractions")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig
