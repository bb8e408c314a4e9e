"""Tests of `keras_nachos.reporting.figures`: a figure outside pyplot."""

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.backends.backend_agg import FigureCanvasAgg

from keras_nachos.reporting.figures import new_figure


def test_new_figure_leaves_pyplot_and_the_backend_alone(tmp_path):
    backend = matplotlib.get_backend()
    open_before = plt.get_fignums()
    figure = new_figure((3, 2))
    assert isinstance(figure.canvas, FigureCanvasAgg)
    assert tuple(figure.get_size_inches()) == (3.0, 2.0)
    ax = figure.add_subplot()
    ax.plot([0, 1], [1, 0])
    path = tmp_path / "figure.png"
    figure.savefig(path, dpi=50)
    png = path.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # 3 x 2 inches at 50 dpi: the IHDR chunk's width and height.
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (
        150, 100
    )
    assert plt.get_fignums() == open_before
    assert matplotlib.get_backend() == backend
