import pytest


@pytest.fixture(scope="session")
def trained():
    """Three EENNs on `small_cnn(seed=2)` trained 3 epochs on
    `toy_data(256, seed=1)` (`"sdn"`, `"confidence"`: global pooling with a
    confidence, `"class_means"`: E2CM), once for the deploy tests."""
    from keras_nachos import EarlyExitModel
    from tests.testing_utils import small_cnn
    from tests.testing_utils import toy_data

    x, y = toy_data(256, seed=1)
    models = {}
    for name, kwargs in {
        "sdn": {"head": "sdn"},
        "confidence": {"head": "global_pool", "confidence": True},
        "class_means": {"head": "class_means"},
    }.items():
        model = EarlyExitModel.from_backbone(small_cnn(seed=2), ["p1", "p2"], 4, **kwargs)
        if name == "class_means":
            model.compile("adam")
            model.fit(x, y, epochs=3, batch_size=32, verbose=0)
            model.fit_class_means(x, y)
        else:
            model.compile("adam", metrics=["accuracy"])
            model.fit(x, y, epochs=3, batch_size=32, verbose=0)
        models[name] = model
    return models, x, y


@pytest.fixture(scope="session")
def float_exports(tmp_path_factory):
    """Two untrained EENNs of the same architecture (`small_cnn`, seeds 2
    and 5: only their weights differ), each exported in float once (stages
    and `early_exit.tflite`): `{"model": ..., "other": ...}` of
    `(model, manifest, folder)`. Tests only read the folders
    (`testing_utils.copy_export` to change one)."""
    from keras_nachos import EarlyExitModel
    from tests.testing_utils import small_cnn

    exports = {}
    for name, seed in (("model", 2), ("other", 5)):
        model = EarlyExitModel.from_backbone(small_cnn(seed=seed), ["p1", "p2"], 4)
        folder = str(tmp_path_factory.mktemp(f"export_{name}"))
        exports[name] = (model, model.export_early_exit(folder, [0.9, 0.9]), folder)
    return exports
