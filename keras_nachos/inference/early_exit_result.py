"""`EarlyExitResult`: what a real early exit returns."""

import dataclasses

import numpy as np

from keras_nachos.data_utils import check_labels


@dataclasses.dataclass
class EarlyExitResult:
    """What `EarlyExitModel.predict_early_exit` returns.

    Attributes:
        predictions: Integer array `(n,)`, predicted class ids.
        exit_indices: Integer array `(n,)`, the 0-based exit each sample left
            at (`num_exits - 1` is the final exit).
        macs: Integer array `(n,)`, MACs spent on each sample (cumulative
            convention: every head on the way is paid).
        probabilities: Float array `(n, num_classes)`, class probabilities at
            the exit taken.
        exit_names: List of exit names.
        exit_macs: List of cumulative MACs to reach each exit.
        backbone_macs: MACs of the network without early exits.
    """

    predictions: np.ndarray
    exit_indices: np.ndarray
    macs: np.ndarray
    probabilities: np.ndarray
    exit_names: list
    exit_macs: list
    backbone_macs: int

    @property
    def exit_fractions(self):
        """Share of samples leaving at each exit."""
        counts = np.bincount(self.exit_indices, minlength=len(self.exit_names))
        return counts / max(1, len(self.exit_indices))

    @property
    def expected_macs(self):
        """Mean MACs per sample."""
        return float(np.mean(self.macs)) if len(self.macs) else 0.0

    @property
    def macs_ratio(self):
        """Expected MACs over `backbone_macs`, the network without early exits.

        The same ratio as `ExitCosts.ratio` and `EarlyExitReport.macs_ratio`.
        """
        return self.expected_macs / self.backbone_macs

    def accuracy(self, y):
        """Accuracy of `predictions` against labels `y`.

        Args:
            y: Class ids in `[0, num_classes)`, one per prediction (or
                one-hot rows, converted; see `data_utils.check_labels`).

        Returns:
            Float, the share of correct predictions.
        """
        probabilities = np.asarray(self.probabilities)
        num_classes = (
            int(probabilities.shape[-1]) if probabilities.ndim == 2 else None
        )
        y = check_labels(y, num_classes, len(self.predictions))
        return float(np.mean(self.predictions == y))

    def __repr__(self):
        fractions = ", ".join(
            f"{n}={f:.3f}" for n, f in zip(self.exit_names, self.exit_fractions)
        )
        return (
            f"EarlyExitResult(samples={len(self.predictions)}, "
            f"exit_fractions=[{fractions}], "
            f"expected_macs={self.expected_macs:,.0f}, "
            f"macs_ratio={self.macs_ratio:.3f})"
        )
