"""`CalibrationResult`: the thresholds chosen and the trade-off curve."""

import dataclasses


@dataclasses.dataclass(repr=False)
class CalibrationResult:
    """What `calibrate_thresholds` and `calibrate_from_outputs` return.

    Attributes:
        thresholds: List of floats, one per early exit, in the rule's units
            (pass them to `predict_early_exit(x, thresholds, rule=...)`).
        accuracy: Float, accuracy of those thresholds on the calibration data.
        expected_macs: Float, their mean cost per sample.
        exit_fractions: List of floats, share of samples leaving at each exit.
        curve: List of `TradeOffPoint(expected_macs, accuracy, thresholds)`,
            the non-dominated trade-off found, by increasing cost (and
            accuracy); thresholds in the rule's units. With a guarantee: the
            settings tested (learned on the curve samples, or the shared
            thresholds), by increasing cost, with their figures on all the
            calibration data (not all of them non-dominated there).
        feasible: Boolean, whether the point meets both constraints.
        rule: String, the rule's name.
        convention: String, the MAC convention of the costs (or `None`).
        min_accuracy, max_macs: The constraints (or `None`); `min_accuracy`
            is the absolute floor, also where `max_accuracy_drop` set it.
        max_accuracy_drop: The relative floor asked for (or `None`).
        guarantee: A `FloorGuarantee` when `floor_confidence` was given:
            what holds on new data and the MACs it costs; else `None`.
    """

    thresholds: list
    accuracy: float
    expected_macs: float
    exit_fractions: list
    curve: list
    feasible: bool
    rule: str = None
    convention: str = None
    min_accuracy: float = None
    max_macs: float = None
    max_accuracy_drop: float = None
    guarantee: object = None

    def to_dict(self):
        """Returns a JSON-serialisable dict (the curve as a list of dicts)."""
        return {
            "thresholds": list(self.thresholds),
            "accuracy": self.accuracy,
            "expected_macs": self.expected_macs,
            "exit_fractions": list(self.exit_fractions),
            "feasible": self.feasible,
            "rule": self.rule,
            "convention": self.convention,
            "min_accuracy": self.min_accuracy,
            "max_macs": self.max_macs,
            "max_accuracy_drop": self.max_accuracy_drop,
            "guarantee": None if self.guarantee is None else self.guarantee.to_dict(),
            "curve": [p._asdict() for p in self.curve],
        }

    def __repr__(self):
        thresholds = ", ".join(f"{t:.4g}" for t in self.thresholds)
        return (
            f"CalibrationResult(rule={self.rule!r}, thresholds=[{thresholds}], "
            f"accuracy={self.accuracy:.4f}, "
            f"expected_macs={self.expected_macs:,.0f}, "
            f"feasible={self.feasible}, curve_points={len(self.curve)}"
            + ("" if self.guarantee is None else f", guarantee={self.guarantee!r}")
            + ")"
        )
