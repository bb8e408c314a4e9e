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


@pytest.fixture(scope="session")
def shared_data_and_backbone():
    """What `data_and_backbone` gives, trained once per session.

    For tests that never change the backbone's weights (E2CM heads and
    class-means fitting build models on it and fit class means only).
    """
    from tests.testing_utils import toy_data
    from tests.testing_utils import trained_backbone

    x, y = toy_data(160, seed=3)
    return x, y, trained_backbone(x, y)


@pytest.fixture(scope="session")
def shared_trained_model():
    """`testing_utils.trained_model()` (global-pool heads after `p1`, `p2`,
    2 epochs on `toy_data(96)`), trained once per session: `(model, x, y)`.

    For tests that only run, calibrate or report the model; a test must not
    train it, change its weights or compile it again.
    """
    from tests.testing_utils import trained_model

    return trained_model()
