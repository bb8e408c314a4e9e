import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def data_and_backbone():
    """`toy_data(160, seed=3)` and a `small_cnn` trained on it, once per
    module (the E2CM tests of heads/, models/ and training/)."""
    from tests.testing_utils import toy_data
    from tests.testing_utils import trained_backbone

    x, y = toy_data(160, seed=3)
    return x, y, trained_backbone(x, y)
