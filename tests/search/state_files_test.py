"""Tests of `keras_nachos.search.state_files`: JSON state written
atomically, read with the file named and what to do; the tuner's own file."""

import json
import os

import pytest

from keras_nachos.search.state_files import DamagedStateError
from keras_nachos.search.state_files import read_json
from keras_nachos.search.state_files import write_json_atomically
from tests.search.testing_utils import fresh_copy
from tests.search.testing_utils import make_formula_tuner as make_tuner
from tests.search.testing_utils import truncate


def test_read_json_names_the_file_what_is_wrong_and_what_to_do(tmp_path):
    path = tmp_path / "state.json"
    write_json_atomically(str(path), {"a": [1, 2, 3]})
    assert read_json(str(path), "x", "y") == {"a": [1, 2, 3]}
    assert not os.path.exists(str(path) + ".tmp")
    truncate(path)
    with pytest.raises(DamagedStateError) as info:
        read_json(str(path), what="the test's state", remedy="restore it")
    message = str(info.value)
    assert str(path) in message and "not valid JSON" in message
    assert "truncated" in message and "restore it" in message
    path.write_text("")
    with pytest.raises(DamagedStateError, match="it is empty"):
        read_json(str(path), "x", "restore it")


def test_oracle_state_is_written_atomically_with_the_previous_one_kept(finished):
    directory, _ = finished
    oracle_file = os.path.join(directory, "search", "oracle.json")
    previous = json.load(open(oracle_file + ".previous"))
    current = json.load(open(oracle_file))
    assert previous["nsga2"]["total_evaluations"] <= current["nsga2"][
        "total_evaluations"]
    assert not any(name.endswith(".tmp") for name in os.listdir(
        os.path.dirname(oracle_file)))


def test_a_lost_tuner_file_resumes_instead_of_starting_over(finished, tmp_path):
    # Keras Tuner starts over (and writes over oracle.json) when its tuner
    # file is missing.
    directory, candidates = fresh_copy(finished, tmp_path)
    os.remove(os.path.join(directory, "search", "tuner0.json"))
    tuner = make_tuner(directory)
    assert tuner.oracle.finished
    assert len(tuner.all_candidates()) == len(candidates)


def test_a_keras_file_is_saved_whole_and_a_damaged_one_named(tmp_path):
    import keras

    from keras_nachos.search.state_files import load_keras_file
    from keras_nachos.search.state_files import save_keras_file

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = str(tmp_path / "model.keras")
    save_keras_file(model, path)
    assert os.listdir(tmp_path) == ["model.keras"]  # No partial file left.
    loaded = load_keras_file(path, "x", "y")
    assert [w.shape for w in loaded.get_weights()] == [(3, 2), (2,)]
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: size // 2])
    with pytest.raises(DamagedStateError) as info:
        load_keras_file(path, what="the test's model", remedy="train it again")
    assert str(info.value) == (
        f"The model file {path} (the test's model) is damaged: its "
        f"{size // 2:,} bytes are not a complete .keras (zip) file "
        "(truncated?). Nothing else was changed; train it again.")
    open(path, "wb").close()
    with pytest.raises(DamagedStateError, match="is damaged: it is empty"):
        load_keras_file(path, "x", "train it again")
    # A complete zip whose contents are not a model's.
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{")
    with pytest.raises(DamagedStateError,
                       match=f"The model file {path} \\(x\\) cannot be loaded: "
                       ".*Nothing else was changed; train it again."):
        load_keras_file(path, "x", "train it again")
    with pytest.raises(FileNotFoundError, match="No .*absent.keras"):
        load_keras_file(str(tmp_path / "absent.keras"), "x", "y")
