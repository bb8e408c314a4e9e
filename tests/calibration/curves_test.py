"""Tests of `keras_nachos.calibration.curves`."""

import numpy as np
import pytest

from keras_nachos import calibration


def test_curve_helpers_by_hand():
    costs = [1, 2, 2, 3, 4, 5]
    accs = [0.5, 0.6, 0.7, 0.72, 0.9, 0.9]
    assert calibration.pareto_front(costs, accs).tolist() == [0, 2, 3, 4]
    # (3, 0.72) lies below the chord (2, 0.7)-(4, 0.9).
    assert calibration.upper_convex_hull(costs, accs).tolist() == [0, 2, 4]
    curve = [(1.0, 0.5), (2.0, 0.7), (4.0, 0.9)]
    np.testing.assert_allclose(
        calibration.curve_quality(curve, [0.5, 1, 3.9, 10]), [np.nan, 0.5, 0.7, 0.9]
    )
    # Over [0, 5]: 0 on [0,1), 0.5 on [1,2), 0.7 on [2,4), 0.9 on [4,5].
    assert calibration.dominated_area(curve, 0, 5) == pytest.approx(
        (0.5 + 2 * 0.7 + 0.9) / 5
    )
