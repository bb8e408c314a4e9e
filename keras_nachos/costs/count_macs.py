"""`count_macs`: MACs of one forward pass of one sample, by either method."""

from keras_nachos.costs import profiler
from keras_nachos.costs.graph_walk import mac_report
from keras_nachos.costs.shapes import batch_one_inputs
from keras_nachos.costs.shapes import check_model
from keras_nachos.errors import invalid_value

METHODS = ("analytic", "profiler")


def count_macs(model, method="analytic"):
    """Counts the MACs of one forward pass of one sample of a Keras model.

    Args:
        model: A built `keras.Model`: Functional, Sequential (built, e.g. with
            an `Input` or `build()`), a Functional subclass, a model with
            nested models, or a subclassed model (counted by the profiler).
            All input dimensions except the batch one must be static.
        method: String, `"analytic"` (walks the graph with a table of layer
            formulas, see `mac_report`) or `"profiler"` (traces and freezes
            the model at batch 1 and reads `tf.compat.v1.profiler`'s FLOPs of
            matmul and convolution ops, halved). Defaults to `"analytic"`.

    Returns:
        Integer, multiply-accumulates of one sample (batch 1).

    Example:

    >>> inputs = keras.Input((8, 8, 3))
    >>> x = keras.layers.Conv2D(4, 3)(inputs)
    >>> model = keras.Model(inputs, keras.layers.ReLU()(x))
    >>> count_macs(model) == 6 * 6 * 4 * 3 * 3 * 3
    True
    """
    if method not in METHODS:
        raise invalid_value("method", f"one of {METHODS}", method)
    check_model(model)
    if method == "profiler":
        return profiler.profiler_macs(model, batch_one_inputs(model))
    return mac_report(model).total
