"""Generator files: round trips, damage detection, atomic writes and generator_filepath."""

from __future__ import annotations

import os
import stat
import sys
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest

import tssynth
from tssynth import (
    DataWarning,
    DVAESynthesizer,
    GeneratorFileError,
    InvalidDataError,
    InvalidParameterError,
    TVAESynthesizer,
)
from tssynth.serialization import FORMAT_VERSION, read_generator, write_generator

SMALL = {"embedding_dim": 8, "compress_dims": (32,), "decompress_dims": (32,), "device": "cpu"}


@pytest.fixture
def fitted(mixed_frame):
    return TVAESynthesizer(epochs=2, random_state=0, **SMALL).fit(mixed_frame)


def test_saved_right_after_fit_gives_the_same_first_samples(fitted, tmp_path, mixed_frame):
    path = fitted.save(tmp_path / "model.tssynth")
    first_samples = fitted.sample(100)
    for loaded in (TVAESynthesizer.load(path), tssynth.load(path)):
        assert isinstance(loaded, TVAESynthesizer)
        assert loaded.get_params() == fitted.get_params()
        pd.testing.assert_frame_equal(loaded.sample(100), first_samples, check_exact=True)
        pd.testing.assert_frame_equal(loaded.loss_history_, fitted.loss_history_)
    fresh = TVAESynthesizer(epochs=2, random_state=0, **SMALL).fit(mixed_frame)
    pd.testing.assert_frame_equal(TVAESynthesizer.load(path).sample(100), fresh.sample(100))
    assert (TVAESynthesizer.load(path).transform(mixed_frame) == fresh.transform(mixed_frame)).all()


def test_default_sized_generator_reloads_to_bit_identical_samples(tmp_path):
    # The latent mixture's Cholesky factor comes out of torch as a transposed view; saved
    # contiguous, it took another matmul path and moved samples by ~1e-8.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"x": rng.normal(size=300), "k": rng.integers(0, 5, 300), "c": rng.choice(list("abc"), 300)}
    )
    model = TVAESynthesizer(epochs=3, random_state=0, device="cpu").fit(frame)
    path = model.save(tmp_path / "model.tssynth")
    loaded = tssynth.load(path)
    for n in (5, 50):  # few rows take another matmul kernel, which the layout changed
        pd.testing.assert_frame_equal(loaded.sample(n), model.sample(n), check_exact=True)


def _corrupt(path, mutate):
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(mutate(data)))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[: len(d) // 2], "truncated"),
        (lambda d: d[:10], "truncated|damaged"),
        (lambda d: d[:-1] + bytes([d[-1] ^ 0xFF]), "damaged"),
        (lambda d: b"hello world", "not a tssynth generator file"),
        (lambda d: b"", "not a tssynth generator file"),
    ],
)
def test_damaged_files_give_clear_errors(fitted, tmp_path, mutate, message):
    path = fitted.save(tmp_path / "model.tssynth")
    _corrupt(path, mutate)
    with pytest.raises(GeneratorFileError, match=message):
        tssynth.load(path)


def test_foreign_and_missing_files(tmp_path):
    pickle_file = tmp_path / "other.pkl"
    joblib.dump({"some": "object"}, pickle_file)
    with pytest.raises(GeneratorFileError, match="not a tssynth generator file"):
        tssynth.load(pickle_file)
    with pytest.raises(GeneratorFileError, match="No generator file"):
        tssynth.load(tmp_path / "absent.tssynth")


def test_newer_format_asks_for_an_upgrade(tmp_path, monkeypatch):
    monkeypatch.setattr("tssynth.serialization.FORMAT_VERSION", FORMAT_VERSION + 1)
    path = write_generator(tmp_path / "new.tssynth", "TVAESynthesizer", {"x": 1})
    monkeypatch.undo()
    with pytest.raises(GeneratorFileError, match="Upgrade tssynth"):
        tssynth.load(path)


def test_unknown_class_and_wrong_class(tmp_path):
    path = write_generator(tmp_path / "odd.tssynth", "MysterySynthesizer", {"x": 1})
    with pytest.raises(GeneratorFileError, match="MysterySynthesizer"):
        tssynth.load(path)


def test_failed_save_keeps_the_old_file(fitted, tmp_path, monkeypatch):
    path = fitted.save(tmp_path / "model.tssynth")
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("tssynth.serialization.os.fsync", explode)
    with pytest.raises(GeneratorFileError, match=r"disk full.*unchanged") as caught:
        fitted.save(path)
    assert isinstance(caught.value, OSError)  # still caught as the OSError it is
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.tssynth"]  # no temp file left


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_saved_files_get_the_umask_mode_or_keep_the_replaced_one(fitted, tmp_path):
    umask = os.umask(0o022)
    try:
        path = fitted.save(tmp_path / "model.tssynth")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's private 0600
        path.chmod(0o640)
        fitted.save(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    finally:
        os.umask(umask)


def test_save_into_a_missing_folder_is_named(fitted, tmp_path):
    with pytest.raises(GeneratorFileError, match="does not exist"):
        fitted.save(tmp_path / "nope" / "model.tssynth")


def test_save_onto_a_folder_is_named_and_leaves_it_alone(fitted, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    with pytest.raises(GeneratorFileError, match=r"it is a folder.*model\.tssynth"):
        fitted.save(folder)
    assert folder.is_dir() and list(tmp_path.iterdir()) == [folder]
    with pytest.raises(InvalidParameterError, match="it is a folder"):
        TVAESynthesizer(generator_filepath=str(tmp_path), **SMALL).fit(pd.DataFrame({"x": [1.0]}))


def test_generator_filepath_names_the_column_whose_dtype_changed(mixed_frame, tmp_path):
    path = tmp_path / "gen.tssynth"
    TVAESynthesizer(epochs=1, generator_filepath=str(path), **SMALL).fit(mixed_frame)
    name = mixed_frame.select_dtypes("float").columns[0]
    changed = mixed_frame.assign(**{name: mixed_frame[name].astype("float32")})
    with pytest.raises(InvalidDataError, match=rf"column '{name}'.*float64.*float32"):
        TVAESynthesizer(epochs=1, generator_filepath=str(path), **SMALL).fit(changed)


def test_dvae_generator_filepath_checks_the_index_dtype(tmp_path):
    panel = pd.DataFrame(
        {"id": np.repeat([0, 1, 2], 4), "t": np.tile(np.arange(4), 3), "v": np.arange(12.0) % 5}
    )
    path = str(tmp_path / "gen.tssynth")
    options = {"sequence_key": "id", "sequence_index": "t", "generator_filepath": path}
    tiny = {"epochs": 1, "hidden_dim": 4, "embedding_dim": 2, "device": "cpu"}
    DVAESynthesizer(**options, **tiny).fit(panel)
    dated = panel.assign(t=pd.Timestamp("2020-01-01") + pd.to_timedelta(panel["t"], unit="D"))
    with pytest.raises(InvalidDataError, match=r"column <index>.*int64.*datetime64"):
        DVAESynthesizer(**options, **tiny).fit(dated)
    # Files written before the index entry still load for the same data.
    _, payload = read_generator(path)
    payload["signature"] = [e for e in payload["signature"] if e[0] != "<index>"]
    write_generator(path, "DVAESynthesizer", payload)
    assert DVAESynthesizer(**options, **tiny).fit(panel).sample(2)["t"].dtype == np.int64


def test_generator_filepath_saves_then_loads_instead_of_training(mixed_frame, tmp_path):
    path = tmp_path / "gen.tssynth"
    first = TVAESynthesizer(epochs=2, random_state=0, generator_filepath=str(path), **SMALL)
    first.fit(mixed_frame)
    assert path.exists()
    stamp = path.stat().st_mtime_ns
    second = TVAESynthesizer(epochs=2, random_state=1, generator_filepath=str(path), **SMALL)
    with pytest.warns(UserWarning, match="random_state"):
        second.fit(mixed_frame)
    assert path.stat().st_mtime_ns == stamp  # loaded, not retrained and rewritten
    pd.testing.assert_frame_equal(second.sample(20), TVAESynthesizer.load(path).sample(20))
    pd.testing.assert_frame_equal(second.loss_history_, first.loss_history_)


def test_generator_filepath_in_a_missing_folder_fails_before_training(mixed_frame, tmp_path):
    synthesizer = TVAESynthesizer(generator_filepath=tmp_path / "no" / "gen.tssynth", **SMALL)
    with pytest.raises(InvalidParameterError, match="does not exist"):
        synthesizer.fit(mixed_frame)
    assert not hasattr(synthesizer, "module_")


def test_a_folder_that_cannot_be_written_fails_before_training(
    fitted, mixed_frame, tmp_path, monkeypatch
):
    """(It trained first, then raised a raw PermissionError from the save.) Root ignores
    permission bits, so the refusal is simulated where the file would be made."""

    def refuse(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tssynth.serialization._new_temporary", refuse)
    synthesizer = TVAESynthesizer(generator_filepath=tmp_path / "gen.tssynth", **SMALL)
    with pytest.raises(InvalidParameterError, match=r"cannot be written.*Permission denied"):
        synthesizer.fit(mixed_frame)
    assert not hasattr(synthesizer, "module_")
    with pytest.raises(GeneratorFileError, match="cannot be written"):
        fitted.save(tmp_path / "again.tssynth")
    assert list(tmp_path.iterdir()) == []
    # an existing generator there is loaded, which needs no write
    monkeypatch.undo()
    path = TVAESynthesizer(**SMALL).fit(mixed_frame).save(tmp_path / "gen.tssynth")
    monkeypatch.setattr("tssynth.serialization._new_temporary", refuse)
    loaded = TVAESynthesizer(generator_filepath=path, **SMALL).fit(mixed_frame)
    assert len(loaded.sample(3)) == 3


def test_a_file_without_newer_parameters_counts_them_at_their_defaults(
    fitted, mixed_frame, tmp_path
):
    """A file from before early stopping was trained without it: asking for it warns,
    and the loaded model reports what it was trained with (it reported the new value)."""
    path = fitted.save(tmp_path / "old.tssynth")
    _, payload = read_generator(path)
    for name in ("early_stopping", "validation_fraction", "n_iter_no_change"):
        del payload["params"][name]
    write_generator(path, "TVAESynthesizer", payload)
    params = {**fitted.get_params(), "early_stopping": True, "generator_filepath": path}
    with pytest.warns(UserWarning, match=r"other values of \['early_stopping'\]"):
        model = TVAESynthesizer(**params).fit(mixed_frame)
    # fit leaves the parameters as asked (scikit-learn); the model records its own
    assert model.get_params()["early_stopping"] is True
    saved = TVAESynthesizer.load(model.save(tmp_path / "again.tssynth"))
    assert saved.get_params()["early_stopping"] is False
    assert TVAESynthesizer.load(path).get_params()["n_iter_no_change"] == 10


def test_generator_filepath_trained_on_other_records_warns(mixed_frame, tmp_path):
    """A cross-validation fold (same columns, other rows) loaded the first fold's model
    without a word; fit also rewrote the estimator's parameters to the file's."""
    path = tmp_path / "gen.tssynth"
    options = {**SMALL, "epochs": 1, "generator_filepath": path}
    TVAESynthesizer(**options).fit(mixed_frame.iloc[:400])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same records, shuffled: no warning
        TVAESynthesizer(**options).fit(mixed_frame.iloc[:400].sample(frac=1.0, random_state=0))
    fold = TVAESynthesizer(**{**options, "embedding_dim": 4})
    with pytest.warns(UserWarning) as caught:
        fold.fit(mixed_frame.iloc[400:])
    records = [w for w in caught if issubclass(w.category, DataWarning)]
    assert len(records) == 1 and "other records than those passed to fit (400 then, 200 now" in str(
        records[0].message
    )
    assert any("other values of ['embedding_dim']" in str(w.message) for w in caught)
    assert {w.filename for w in caught} == {__file__}  # the caller's line, not tssynth's
    assert fold.get_params()["embedding_dim"] == 4  # as asked, not the file's 8
    assert fold.transform(mixed_frame).shape == (len(mixed_frame), 8)  # the file's model
    assert len(fold.sample(5)) == 5


def test_the_same_array_in_another_dtype_is_the_same_records(tmp_path):
    windows = np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32)
    options = {**SMALL, "epochs": 1, "generator_filepath": tmp_path / "w.tssynth"}
    tssynth.DenseVAESynthesizer(**options).fit(windows)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tssynth.DenseVAESynthesizer(**options).fit(windows.astype(np.float64))
    with pytest.warns(DataWarning, match="other records"):
        tssynth.DenseVAESynthesizer(**options).fit(windows[:, ::-1])


def test_sequences_of_different_lengths_are_checked_as_records(tmp_path):
    """A list of sequences could not be hashed: another fold's file loaded silently."""
    rng = np.random.default_rng(0)
    sequences = [rng.normal(size=(int(rng.integers(2, 6)), 2)) for _ in range(30)]
    options = {**SMALL, "hidden_dim": 8, "epochs": 1, "generator_filepath": tmp_path / "d.tssynth"}
    tssynth.DVAESynthesizer(**options).fit(sequences[:20])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tssynth.DVAESynthesizer(**options).fit(sequences[:20][::-1])  # any order
    with pytest.warns(DataWarning, match="other records"):
        tssynth.DVAESynthesizer(**options).fit(sequences[10:])
    steps_reversed = [sequence[::-1] for sequence in sequences[:20]]
    with pytest.warns(DataWarning, match="other records"):
        tssynth.DVAESynthesizer(**options).fit(steps_reversed)


def test_a_path_in_the_home_folder_is_expanded(fitted, tmp_path, monkeypatch):
    """'~' was a folder name: save advised creating it, load found no file."""
    monkeypatch.setenv("HOME", str(tmp_path))
    fitted.save("~/home.tssynth")
    assert (tmp_path / "home.tssynth").is_file()
    assert tssynth.load("~/home.tssynth").sample(3).shape == fitted.sample(3).shape
    again = TVAESynthesizer(generator_filepath="~/home.tssynth", **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # other parameters than the file's: loaded anyway
        again.fit(fitted.sample(50))
    assert again.transform(fitted.sample(5)).shape[0] == 5


def test_context_columns_of_any_ordered_kind_reload_and_unordered_ones_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    panel = pd.DataFrame(
        {
            "key": np.repeat(np.arange(12), 4),
            "t": np.tile(np.arange(4), 12),
            "x": rng.normal(size=48),
            "site": np.repeat(rng.choice(["A", "B"], 12), 4),
            "grp": np.repeat(np.arange(12) % 3, 4),
        }
    )
    options = {**SMALL, "hidden_dim": 8, "epochs": 1, "sequence_key": "key", "sequence_index": "t"}
    for i, context in enumerate((panel.columns[3:5], panel.columns[3:5].to_numpy())):
        path = tmp_path / f"c{i}.tssynth"
        first = tssynth.DVAESynthesizer(**options, context_columns=context, generator_filepath=path)
        first.fit(panel)
        again = tssynth.DVAESynthesizer(**options, context_columns=context, generator_filepath=path)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the same parameters: loaded without a word
            again.fit(panel)
        pd.testing.assert_frame_equal(again.sample(3), first.sample(3))
    for unordered in ({"site", "grp"}, iter(["site", "grp"])):
        model = tssynth.DVAESynthesizer(**options, context_columns=unordered)
        with pytest.raises(InvalidParameterError, match="context_columns must be a list"):
            model.fit(panel)


def test_a_path_is_required_to_save_and_load(fitted):
    with pytest.raises(InvalidParameterError, match="path must be a file path, got None"):
        fitted.save(None)
    with pytest.raises(InvalidParameterError, match="path must be a file path, got None"):
        tssynth.load(None)


def test_parameters_changed_after_fit_do_not_change_what_is_saved(mixed_frame, tmp_path):
    """A list passed as compress_dims was shared: changing it after fit saved an
    architecture that did not match the weights, and the file would not load."""
    dims = [16]
    model = TVAESynthesizer(epochs=1, embedding_dim=4, compress_dims=dims, device="cpu")
    model.fit(mixed_frame)
    dims.append(32)
    assert list(TVAESynthesizer.load(model.save(tmp_path / "g.tssynth")).compress_dims) == [16]


def test_layers_too_large_for_memory_are_named():
    frame = pd.DataFrame({"a": np.arange(20.0)})
    model = TVAESynthesizer(compress_dims=(10**6, 10**6), device="cpu")
    with pytest.raises(InvalidParameterError, match=r"compress_dims.*do not fit in this machine"):
        model.fit(frame)
    assert not hasattr(model, "module_")


def test_generator_filepath_with_other_columns_is_refused(mixed_frame, tmp_path):
    path = tmp_path / "gen.tssynth"
    TVAESynthesizer(epochs=1, generator_filepath=path, **SMALL).fit(mixed_frame)
    later = TVAESynthesizer(epochs=1, generator_filepath=path, **SMALL)
    with pytest.raises(InvalidDataError, match="other columns"):
        later.fit(mixed_frame.drop(columns=["amount"]))
    assert not hasattr(later, "module_")
