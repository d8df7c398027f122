"""A fitted model keeps what it was fitted with: set_params after fit, generator files,
scikit-learn attributes and wrappers, and draws shared between threads."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pandas as pd
import pytest

import tssynth
from tssynth import DenseVAESynthesizer, DVAESynthesizer, TVAESynthesizer
from tssynth.datasets import load_adult, make_sines
from tssynth.exceptions import InvalidDataError, InvalidParameterError

TINY = {"compress_dims": (16,), "decompress_dims": (16,), "batch_size": 50, "device": "cpu"}


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    return load_adult().sample(300, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="module")
def long_series() -> pd.DataFrame:
    t = np.arange(200)
    return pd.DataFrame({"a": np.sin(t / 5), "b": np.cos(t / 7)})


def test_tvae_set_params_after_fit_changes_nothing_until_refit(adult, tmp_path):
    model = TVAESynthesizer(epochs=1, embedding_dim=8, random_state=0, **TINY).fit(adult)
    Z = model.transform(adult.head())
    model.set_params(embedding_dim=4, random_state=5)
    assert model.transform(adult.head()).shape == (5, 8)
    assert len(model.get_feature_names_out()) == 8
    assert model.inverse_transform(Z).shape == (5, adult.shape[1])
    # The file records the parameters the weights were trained with.
    path = model.save(tmp_path / "m.tssynth")
    loaded = tssynth.load(path)
    assert loaded.get_params()["embedding_dim"] == 8
    np.testing.assert_array_equal(loaded.transform(adult.head()), Z)
    with pytest.raises(InvalidDataError, match=r"shape \(n, 8\)"):
        model.inverse_transform(np.zeros((2, 4)))


def test_pandas_latents_decode_without_warnings(adult):
    model = TVAESynthesizer(epochs=1, embedding_dim=8, random_state=0, **TINY).fit(adult)
    model.set_output(transform="pandas")
    Z = model.transform(adult.head())
    assert list(Z.columns) == [f"latent{i}" for i in range(8)]
    read_only = Z.to_numpy(copy=True)
    read_only.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = model.inverse_transform(Z)
        model.inverse_transform(read_only)
    assert list(rows.columns) == list(adult.columns)


def test_dense_reads_input_with_the_fitted_window_and_scores_with_the_fitted_seed(
    long_series, tmp_path
):
    model = DenseVAESynthesizer(epochs=1, window=6, random_state=3, **TINY).fit(long_series)
    assert model.n_features_in_ == 2
    assert list(model.feature_names_in_) == ["a", "b"]
    latents, scores = model.transform(long_series), model.score_samples(long_series)
    model.set_params(window=4, stride=3, random_state=1, embedding_dim=2)
    np.testing.assert_array_equal(model.transform(long_series), latents)
    np.testing.assert_array_equal(model.score_samples(long_series), scores)
    loaded = tssynth.load(model.save(tmp_path / "d.tssynth"))
    assert list(loaded.feature_names_in_) == ["a", "b"] and loaded.n_features_in_ == 2
    np.testing.assert_array_equal(loaded.score_samples(long_series), scores)


def test_dense_array_input_features_and_seeds_beyond_64_bits():
    X = make_sines(40, 8, 3, random_state=0)
    model = DenseVAESynthesizer(epochs=1, random_state=2**70, **TINY).fit(X)
    assert model.n_features_in_ == 3 and model.feature_names_in_ is None
    scores = model.score_samples(X)
    assert np.isfinite(scores).all()
    np.testing.assert_array_equal(scores, model.score_samples(X))


def test_dvae_transform_is_3d_so_set_output_is_not_offered():
    model = DVAESynthesizer(epochs=1, random_state=0)
    assert not hasattr(model, "set_output")
    assert hasattr(TVAESynthesizer(), "set_output") and hasattr(DenseVAESynthesizer(), "set_output")


@pytest.fixture(scope="module")
def waves() -> tuple[np.ndarray, DVAESynthesizer]:
    rng = np.random.default_rng(0)
    t = np.arange(16)[None, :]
    phase = rng.uniform(0, 2 * np.pi, (60, 1))
    X = np.stack([np.sin(0.6 * t + phase), np.cos(0.6 * t + phase)], axis=2)
    X[::3, 11:] = np.nan
    params = {"embedding_dim": 3, "hidden_dim": 16, "batch_size": 16, "device": "cpu"}
    return X, DVAESynthesizer(epochs=3, max_modes=1, random_state=0, **params).fit(X)


def test_dvae_inverse_transform_decodes_transform_in_the_fitted_format(waves):
    X, model = waves
    Z = model.transform(X)
    decoded = model.inverse_transform(Z)
    assert decoded.shape == X.shape
    np.testing.assert_array_equal(np.isnan(decoded), np.isnan(X))
    # The first step reads no earlier step: it is the reconstruction's first step.
    np.testing.assert_allclose(decoded[:, 0], model.reconstruct(X)[:, 0], rtol=1e-5)
    np.testing.assert_array_equal(model.inverse_transform(Z), decoded)  # deterministic
    model.set_params(embedding_dim=5)
    assert model.inverse_transform(Z).shape == X.shape  # the fitted width


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda Z: Z[:, :, :2], r"shape \(n, T, 3\)"),
        (lambda Z: Z[0], r"shape \(n, T, 3\)"),
        (lambda Z: np.where(np.arange(16)[None, :, None] == 4, np.nan, Z), "before their last"),
        (lambda Z: np.full_like(Z, np.nan), "empty"),
    ],
)
def test_dvae_inverse_transform_rejects_bad_latents(waves, change, message):
    X, model = waves
    with pytest.raises(InvalidDataError, match=message):
        model.inverse_transform(change(model.transform(X)))


def _grouped_panel() -> pd.DataFrame:
    """'short' entities always have 4 steps and start at 0; 'long' ones 12 and start at 100."""
    rng = np.random.default_rng(0)
    frames = []
    for k in range(40):
        group = "short" if k % 2 else "long"
        length, start = (4, 0) if group == "short" else (12, 100)
        frames.append(
            pd.DataFrame(
                {
                    "id": k,
                    "t": start + np.arange(length),
                    "group": group,
                    "x": rng.normal(size=length) + 3 * (group == "long"),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_dvae_samples_keep_each_context_with_its_lengths_and_starts():
    panel = _grouped_panel()
    model = DVAESynthesizer(
        sequence_key="id",
        sequence_index="t",
        context_columns=["group"],
        epochs=1,
        random_state=0,
        hidden_dim=8,
        embedding_dim=2,
        batch_size=16,
    ).fit(panel)
    sample = model.sample(60)
    per_entity = sample.groupby("id").agg(n=("t", "size"), start=("t", "min"), g=("group", "first"))
    short = per_entity["g"] == "short"
    assert 0 < short.sum() < 60
    assert (per_entity.loc[short, "n"] == 4).all() and (per_entity.loc[~short, "n"] == 12).all()
    assert (per_entity.loc[short, "start"] == 0).all()
    assert (per_entity.loc[~short, "start"] == 100).all()
    given = model.sample(10, context=pd.DataFrame({"group": ["long"] * 10}))
    assert (given.groupby("id").size() == 12).all()


def test_identifiers_stay_unique_when_threads_share_a_model():
    frame = pd.DataFrame({"id": np.arange(200), "x": np.random.default_rng(0).normal(size=200)})
    model = TVAESynthesizer(epochs=1, random_state=0, **TINY)
    model.fit(frame, metadata={"identifiers": ["id"]})
    results: list[pd.DataFrame] = []

    def draw() -> None:
        for _ in range(20):
            results.append(model.sample(7))

    threads = [threading.Thread(target=draw) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = pd.concat(results)["id"]
    assert len(ids) == 420 and ids.is_unique
    assert set(ids) == set(range(420))


def test_demo_refuses_bad_options_and_existing_files_before_training(tmp_path, capsys):
    from tssynth.cli import main

    kept = tmp_path / "kept.csv"
    kept.write_text("precious\n")
    assert main(["demo", "--output", str(kept)]) == 1
    assert "exists; pass --force" in capsys.readouterr().err
    assert kept.read_text() == "precious\n"
    assert main(["demo", "--output", str(tmp_path / "missing" / "x.csv")]) == 1
    assert "does not exist" in capsys.readouterr().err
    for option in (["--epochs", "0"], ["--rows", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["demo", *option])
        assert exit_info.value.code == 2
    with pytest.raises(InvalidParameterError):
        TVAESynthesizer(epochs=0).fit(pd.DataFrame({"x": [1.0, 2.0]}))
