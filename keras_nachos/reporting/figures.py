"""Figures drawn on their own Agg canvas: no global matplotlib state."""


def new_figure(figsize):
    """A matplotlib `Figure` on an Agg canvas, outside pyplot.

    Nothing global changes (no `matplotlib.use`, no pyplot figure manager),
    so the caller's backend and open figures are left alone, and the figure
    is freed when it is no longer referenced. Save it with `fig.savefig`.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)
    return figure
