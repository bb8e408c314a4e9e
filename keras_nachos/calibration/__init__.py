"""Threshold calibration: the accuracy / expected-MACs trade-off of exit rules.

An early-exit model's thresholds are tuned after training, on validation
data: the model runs once and every threshold setting is evaluated on the
cached outputs (`exit_tables`, `evaluation`), which lets the search
(`trade_off_search`) look at many thousands of settings.
`calibrate_thresholds` returns the chosen setting and the whole
non-dominated curve (`calibrate`, `calibration_result`; the guaranteed
floor in `guaranteed_calibration` and `guarantee`);
`grid_repair_thresholds` (NACHOS' procedure) and `random_search_hull`
(E2CM's) are the baselines (`baselines`), public so that benchmarks can
compare; `curves` measures curves against each other.
"""

from keras_nachos.calibration.baselines import grid_curve
from keras_nachos.calibration.baselines import grid_repair_thresholds
from keras_nachos.calibration.baselines import random_search_curve
from keras_nachos.calibration.baselines import random_search_hull
from keras_nachos.calibration.calibrate import calibrate_from_outputs
from keras_nachos.calibration.calibrate import calibrate_thresholds
from keras_nachos.calibration.calibration_result import CalibrationResult
from keras_nachos.calibration.curves import TradeOffPoint
from keras_nachos.calibration.curves import curve_quality
from keras_nachos.calibration.curves import dominated_area
from keras_nachos.calibration.curves import pareto_front
from keras_nachos.calibration.curves import upper_convex_hull
from keras_nachos.calibration.evaluation import ExitOutputsEvaluation
from keras_nachos.calibration.evaluation import evaluate_exit_outputs
from keras_nachos.calibration.evaluation import evaluate_thresholds
from keras_nachos.calibration.evaluation import exit_index
from keras_nachos.calibration.evaluation import exit_indices
from keras_nachos.calibration.guarantee import FloorGuarantee
from keras_nachos.calibration.exit_tables import exit_scores
from keras_nachos.calibration.exit_tables import exit_tables
from keras_nachos.calibration.exit_tables import score_threshold_range
from keras_nachos.calibration.exit_tables import to_rule_thresholds
from keras_nachos.calibration.exit_tables import to_score_thresholds
