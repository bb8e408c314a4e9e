"""Search presets: settings of `keras_nachos_cli.config.SEARCH`, as data.

`keras-nachos demo --dataset NAME` runs `PRESETS[NAME]`, and so do the
search examples (`run_preset`) and the distributed benchmark: a few minutes
on digits, about 15 on Fashion-MNIST (2 CPU cores). A preset holds only the
settings it changes; the others keep their defaults.
"""

from keras_nachos_cli.checks import flag
from keras_nachos_cli.checks import flag_text

PRESETS = {
    "digits": {
        "dataset": "digits",
        "image_size": [16, 16],
        "min_accuracy": 0.90,
        "max_macs": 250000.0,
        "population": 8,
        "generations": 2,
        "epochs": 8,
        "batch_size": 64,
        "stage_widths": [[8, 12], [12, 16], [16, 24]],
        "depths": [1, 2],
        "expansion_ratios": [2, 3, 4],
    },
    "fashion_mnist": {
        "dataset": "fashion_mnist",
        "max_samples": 20000,
        "min_accuracy": 0.82,
        "max_macs": 800000.0,
        "population": 8,
        "generations": 3,
        "epochs": 3,
        "batch_size": 128,
        "stage_widths": [[8, 16], [16, 24], [24, 32]],
        "depths": [1, 2],
        "expansion_ratios": [2, 3, 4],
    },
}


def as_flags(settings):
    """Settings (a preset, say) as `keras-nachos search` arguments.

    Args:
        settings: Dict of `SEARCH` settings.

    Returns:
        A list of strings: `["--dataset", "digits", "--depths", "1,2", ...]`
        (a `True` boolean is its flag alone; `False`, the default, nothing).

    Example:

    >>> as_flags({"population": 8, "depths": [1, 2]})
    ['--population', '8', '--depths', '1,2']
    """
    flags = []
    for key, value in settings.items():
        if isinstance(value, bool):
            flags += [flag(key)] if value else []
        else:
            flags += [flag(key), flag_text(value)]
    return flags
