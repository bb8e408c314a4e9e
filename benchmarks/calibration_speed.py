"""Threshold calibration: speed and curve quality against the two baselines.

On cached outputs of 4 exits x 10,000 validation samples (synthetic, with
accuracy rising with depth and confidence correlated with correctness, as in
the tests), times `calibrate_from_outputs` (keras_nachos), the NACHOS grid
(`grid_curve`, 11 values per exit) and E2CM's random search + convex hull
(`random_search_curve`, 1,000 draws) in the same run, and compares their
accuracy-vs-cost curves: the mean of the best accuracy reachable at each cost
level (the area under the staircase, divided by the cost range).

    python benchmarks/calibration_speed.py [--repeats 5]
"""

import argparse
import time

import numpy as np


from keras_nachos import calibration  # noqa: E402
from _common import load_module  # noqa: E402

synthetic_outputs = load_module(
    "tests/calibration/testing_utils.py").synthetic_outputs

COSTS = np.array([10.0, 25.0, 45.0, 70.0])


def timed(fn, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'rule':<20} {'method':<22} {'median s':>9} {'area':>8} {'points':>7}")
    for rule, confidence in (("max_probability", False), ("cascade_confidence", True)):
        outputs, y = synthetic_outputs(confidence=confidence)
        k = outputs[-1].shape[1]
        S, R = calibration.exit_tables(outputs, y, rule, k)
        score_range = calibration.score_threshold_range(rule, k)
        methods = {
            "keras_nachos": lambda: [
                (p.expected_macs, p.accuracy)
                for p in calibration.calibrate_from_outputs(
                    outputs, y, COSTS, rule=rule, num_classes=k).curve
            ],
            "grid (NACHOS)": lambda: calibration.grid_curve(
                S, R, COSTS, grid=11, score_range=score_range),
            "random+hull (E2CM)": lambda: calibration.random_search_curve(
                S, R, COSTS, num_samples=1000, seed=0, score_range=score_range),
        }
        for name, fn in methods.items():
            seconds, curve = timed(fn, args.repeats)
            area = calibration.dominated_area(curve, COSTS[0], COSTS[-1])
            print(f"{rule:<20} {name:<22} {seconds:>9.3f} {area:>8.4f} "
                  f"{len(curve):>7}")


if __name__ == "__main__":
    main()
