import pytest


@pytest.fixture(scope="session")
def rebuild_run(tmp_path_factory):
    """One rebuild check in the worker for the QAT tests: six trained EENNs
    (every head design, with and without a confidence) and an untrained
    one, run from a folder that holds a decoy `keras_nachos` package.

    Returns:
        `(models, x, diffs)`: the models (the untrained one last), the inputs
        and `rebuild_differences(models, x)`.
    """
    from keras_nachos import EarlyExitModel
    from keras_nachos.deploy import qat
    from tests.testing_utils import small_cnn
    from tests.testing_utils import toy_data

    x, y = toy_data(64, seed=4)
    models = []
    for kwargs in (
        {"head": "global_pool"},
        {"head": "global_pool", "confidence": True},
        {"head": "sdn"},
        {"head": "sdn", "confidence": True},
        {"head": "conv"},
        {"head": "class_means"},
    ):
        model = EarlyExitModel.from_backbone(small_cnn(seed=5), ["p1", "p2"], 4,
                                             **kwargs)
        model.compile("adam")
        model.fit(x, y, epochs=1, batch_size=32, verbose=0)
        if kwargs["head"] == "class_means":
            model.fit_class_means(x, y)
        models.append(model)
    models.append(EarlyExitModel.from_backbone(small_cnn(seed=1), ["p1", "p2"], 4))
    # `python -m` puts the working folder first on the path: a folder named
    # keras_nachos there (an old checkout, say) must not be the one the
    # worker imports.
    folder = tmp_path_factory.mktemp("caller")
    decoy = folder / "keras_nachos"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise ImportError('the decoy')\n")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(folder)
        diffs = qat.rebuild_differences(models, x)
    return models, x, diffs
