"""The data set a command works on."""

from keras_nachos import datasets
from keras_nachos_cli import config as config_module


def load_dataset(config):
    """The data set of a search (or supernet) configuration, split with its
    supernet's seed (`data_seed`) when it has one, else with `seed`."""
    return datasets.load(**config_module.data_arguments(config))


def model_input_size(model_or_runtime):
    """`(height, width)` of an EarlyExitModel's or a runtime's input."""
    if hasattr(model_or_runtime, "backbone"):
        shape = model_or_runtime.backbone.inputs[0].shape
    else:
        shape = model_or_runtime.input_shape
    return shape[1], shape[2]


def data_for(model, data, config):
    """The data set to calibrate int8 on, or to evaluate an export on: the
    search's (`config`) when `data` (the `--dataset` options) is `None`,
    else `data` at the model's input size."""
    if data is None:
        return load_dataset(config)
    height, width = (int(d) for d in model_input_size(model))
    return datasets.load(
        data["dataset"], validation_split=0.1, max_samples=data["max_samples"],
        image_size=(height, width), seed=data["seed"], data_dir=data["data_dir"],
    )
