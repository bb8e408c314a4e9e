"""The trained supernet the supernet's tests share (one training for all)."""

import keras
import pytest

from keras_nachos.search import Supernet
from tests.search.supernet.testing_utils import elastic_space
from tests.search.supernet.testing_utils import toy_data


@pytest.fixture(scope="session")
def trained():
    """`(space, supernet, x, y, history)`: a `Supernet` of `elastic_space()`
    trained 3 epochs on `toy_data()`. Tests may re-estimate its batch-norm
    statistics (each re-estimates before it relies on them), not train it."""
    space = elastic_space()
    supernet = Supernet(space, seed=1)
    supernet.compile(optimizer=keras.optimizers.Adam(1e-2))
    x, y = toy_data()
    history = supernet.fit(x, y, epochs=3, batch_size=32, verbose=0)
    return space, supernet, x, y, history
