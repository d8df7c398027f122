"""TVAESynthesizer: what it learns, the scikit-learn contract and the random_state contract."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from tssynth import DataWarning, InvalidDataError, InvalidParameterError, TVAESynthesizer

SMALL = {"embedding_dim": 16, "compress_dims": (64,), "decompress_dims": (64,), "device": "cpu"}


def test_sample_has_the_fitted_columns_dtypes_and_categories(fitted_tvae, mixed_frame):
    out = fitted_tvae.sample(500)
    assert list(out.columns) == list(mixed_frame.columns)
    pd.testing.assert_series_equal(out.dtypes, mixed_frame.dtypes)
    assert set(out["group"]) <= set(mixed_frame["group"])
    assert set(out["colour"].dropna()) <= set(mixed_frame["colour"].dropna())
    assert (out["constant"] == 7).all() and out["empty"].isna().all()
    assert out["level"].cat.categories.tolist() == ["low", "mid", "high"]


def test_learns_marginals_and_missing_rates(fitted_tvae, mixed_frame):
    out = fitted_tvae.sample(4000)
    real = mixed_frame["group"].value_counts(normalize=True)
    fake = out["group"].value_counts(normalize=True).reindex(real.index, fill_value=0)
    assert (real - fake).abs().max() < 0.1
    assert abs(out["score"].isna().mean() - mixed_frame["score"].isna().mean()) < 0.07
    assert abs(out["colour"].isna().mean() - mixed_frame["colour"].isna().mean()) < 0.07
    assert abs(out["flag"].mean() - mixed_frame["flag"].mean()) < 0.08


def test_learns_a_dependency_between_columns(fitted_tvae):
    out = fitted_tvae.sample(4000)
    means = out.groupby("group")["amount"].mean()
    assert means["a"] < 20 < means["b"]  # amount ~ 10 in group a, ~ 50 otherwise


def test_learns_a_normal_distribution():
    values = np.random.default_rng(0).normal(100, 10, 500)
    synthesizer = TVAESynthesizer(epochs=150, batch_size=100, random_state=0, **SMALL)
    out = synthesizer.fit(pd.DataFrame({"x": values})).sample(5000)["x"]
    assert abs(out.mean() - values.mean()) < 2.0
    assert abs(out.std() - values.std()) < 2.0


def test_same_seed_same_model_and_same_samples(mixed_frame):
    first = TVAESynthesizer(epochs=3, random_state=7, **SMALL).fit(mixed_frame)
    second = TVAESynthesizer(epochs=3, random_state=7, **SMALL).fit(mixed_frame)
    first_state, second_state = first.module_.state_dict(), second.module_.state_dict()
    for name, tensor in first_state.items():
        torch.testing.assert_close(tensor, second_state[name], rtol=0, atol=0)
    pd.testing.assert_frame_equal(first.sample(200), second.sample(200))
    pd.testing.assert_frame_equal(first.sample(50), second.sample(50))


def test_consecutive_samples_differ_and_other_seeds_differ(fitted_tvae, mixed_frame):
    a, b = fitted_tvae.sample(100), fitted_tvae.sample(100)
    assert not a["amount"].equals(b["amount"])
    other = TVAESynthesizer(epochs=3, random_state=8, **SMALL).fit(mixed_frame)
    reference = TVAESynthesizer(epochs=3, random_state=7, **SMALL).fit(mixed_frame)
    assert not other.sample(50)["amount"].equals(reference.sample(50)["amount"])


def test_fit_does_not_touch_global_random_state(mixed_frame):
    torch.manual_seed(123)
    np.random.seed(123)  # noqa: NPY002
    TVAESynthesizer(epochs=1, random_state=0, **SMALL).fit(mixed_frame)
    after = torch.rand(1), np.random.rand()  # noqa: NPY002
    torch.manual_seed(123)
    np.random.seed(123)  # noqa: NPY002
    assert (torch.rand(1), np.random.rand()) == after  # noqa: NPY002


def test_sample_sizes(fitted_tvae, mixed_frame):
    empty = fitted_tvae.sample(0)
    assert empty.shape == (0, mixed_frame.shape[1])
    pd.testing.assert_series_equal(empty.dtypes, mixed_frame.dtypes)
    assert len(fitted_tvae.sample(np.int64(3))) == 3
    assert len(fitted_tvae.sample(3 * len(mixed_frame))) == 3 * len(mixed_frame)


def test_samples_past_memory_are_refused_and_large_ones_come_in_blocks(
    fitted_tvae, mixed_frame, monkeypatch
):
    """sample draws and decodes a block of rows at a time (its float64 temporaries took
    8 times the result: 1.9 GiB for 229 MiB of floats); a call past half the memory is
    refused by name."""
    import tssynth.data.memory as memory_module
    import tssynth.synthesizers.tvae as tvae_module

    monkeypatch.setattr(tvae_module, "_DECODE_BLOCK_VALUES", 1)  # a chunk per block
    decoded = []
    original = fitted_tvae.transformer_.decode_draws

    def counted(means, *args):
        decoded.append(len(means))
        return original(means, *args)

    monkeypatch.setattr(fitted_tvae.transformer_, "decode_draws", counted)
    out = fitted_tvae.sample(5_000)
    assert len(out) == 5_000 and decoded == [2_048, 2_048, 904]
    pd.testing.assert_series_equal(out.dtypes, mixed_frame.dtypes)
    columns, spans = len(mixed_frame.columns), len(fitted_tvae.transformer_.spans)
    per_row = 8 * (3 * columns + spans)
    monkeypatch.setattr(memory_module, "_physical_memory", lambda: 2 * per_row * 1_000)
    fitted_tvae.sample(1_000)
    with pytest.raises(InvalidParameterError, match=r"sample\(1,001\) would take .*fewer rows"):
        fitted_tvae.sample(1_001)


@pytest.mark.parametrize("n", [-1, 2.5, "10", None, True])
def test_sample_rejects_bad_counts(fitted_tvae, n):
    with pytest.raises(InvalidParameterError, match="n_samples"):
        fitted_tvae.sample(n)


def test_transform_and_inverse_transform(fitted_tvae, mixed_frame):
    latents = fitted_tvae.transform(mixed_frame)
    assert latents.shape == (len(mixed_frame), 16) and np.isfinite(latents).all()
    np.testing.assert_array_equal(latents, fitted_tvae.transform(mixed_frame))  # deterministic
    decoded = fitted_tvae.inverse_transform(latents)
    pd.testing.assert_series_equal(decoded.dtypes, mixed_frame.dtypes)
    # A trained autoencoder reconstructs the dominant structure of each row.
    assert (decoded["group"] == mixed_frame["group"]).mean() > 0.8
    with pytest.raises(InvalidDataError, match="shape"):
        fitted_tvae.inverse_transform(np.zeros((2, 3)))


def test_transform_ignores_extra_columns_and_names_missing_ones(fitted_tvae, mixed_frame):
    extra = mixed_frame.assign(unrelated=1)
    np.testing.assert_array_equal(fitted_tvae.transform(extra), fitted_tvae.transform(mixed_frame))
    with pytest.raises(InvalidDataError, match="group"):
        fitted_tvae.transform(mixed_frame.drop(columns=["group"]))


def test_unfitted_estimator_raises_not_fitted():
    synthesizer = TVAESynthesizer()
    for call in (lambda: synthesizer.sample(1), lambda: synthesizer.transform(None)):
        with pytest.raises(NotFittedError, match="fit"):
            call()
    with pytest.raises(NotFittedError):
        synthesizer.save("never.tssynth")


def test_scikit_learn_conventions(mixed_frame):
    synthesizer = TVAESynthesizer(epochs=2, compress_dims=(32, 16), random_state=3)
    params = synthesizer.get_params()
    assert params["compress_dims"] == (32, 16) and params["random_state"] == 3
    copy = clone(synthesizer)
    assert copy.get_params() == params
    copy.set_params(epochs=1)
    assert copy.epochs == 1 and synthesizer.epochs == 2
    synthesizer.fit(mixed_frame)
    assert not hasattr(clone(synthesizer), "module_")
    assert list(synthesizer.loss_history_.columns) == ["epoch", "loss", "reconstruction", "kl"]
    assert len(synthesizer.loss_history_) == 2
    assert list(synthesizer.feature_names_in_) == list(mixed_frame.columns)
    assert synthesizer.n_features_in_ == mixed_frame.shape[1]


def test_works_as_a_pipeline_step():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    pipeline = Pipeline(
        [
            ("latent", TVAESynthesizer(epochs=30, batch_size=100, random_state=0, **SMALL)),
            ("model", LogisticRegression()),
        ]
    )
    pipeline.fit(x, y)
    assert pipeline.score(x, y) > 0.75
    sampled = pipeline.named_steps["latent"].sample(10)
    assert isinstance(sampled, np.ndarray) and sampled.shape == (10, 3)
    pipeline.set_output(transform="pandas")
    frame = pipeline[:-1].transform(x)
    assert list(frame.columns)[:2] == ["latent0", "latent1"]


def test_early_stopping_settings_are_not_read_without_it(mixed_frame):
    """validation_fraction=None crashed fit with a TypeError though early_stopping was off."""
    for fraction in (None, "a tenth", 0.0):
        TVAESynthesizer(epochs=1, validation_fraction=fraction, **SMALL).fit(mixed_frame)


def test_early_stopping_stops_after_its_patience_and_keeps_the_best_epoch(mixed_frame):
    """The loop's early stopping was documented but not reachable from any estimator."""
    model = TVAESynthesizer(
        epochs=400, early_stopping=True, n_iter_no_change=3, random_state=0, **SMALL
    ).fit(mixed_frame)
    history = model.loss_history_
    assert len(history) < 400 and history["val_loss"].notna().all()
    best = int(history["val_loss"].idxmin())
    assert len(history) == best + 1 + 3  # three epochs without a lower validation loss
    # the kept weights are the best epoch's: a refit stopped there gives the same model
    again = TVAESynthesizer(epochs=best + 1, random_state=0, **SMALL)
    again.set_params(early_stopping=True, n_iter_no_change=400).fit(mixed_frame)
    np.testing.assert_allclose(model.transform(mixed_frame), again.transform(mixed_frame))


def test_learning_curve_goes_down(mixed_frame):
    history = TVAESynthesizer(epochs=20, random_state=0, **SMALL).fit(mixed_frame).loss_history_
    assert history["loss"].iloc[-3:].mean() < history["loss"].iloc[:3].mean()


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": 1.5}, "epochs"),
        ({"batch_size": -5}, "batch_size"),
        ({"embedding_dim": "big"}, "embedding_dim"),
        ({"compress_dims": 128}, "compress_dims"),
        ({"decompress_dims": (128, 0)}, "decompress_dims"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"loss_factor": -1}, "loss_factor"),
        ({"l2scale": float("nan")}, "l2scale"),
        ({"random_state": -1}, "random_state"),
        ({"random_state": "seed"}, "random_state"),
        ({"device": "tpu"}, "device"),
        ({"device": "meta"}, "device='meta' is a 'meta' device"),  # was a raw RuntimeError
        ({"device": "cuda:0"} if not torch.cuda.is_available() else {"device": "gpu"}, "device"),
        ({"verbose": "yes"}, "verbose"),
        ({"early_stopping": "yes"}, "early_stopping"),
        ({"early_stopping": True, "validation_fraction": 1.0}, "validation_fraction"),
        ({"early_stopping": True, "validation_fraction": 0.0}, "validation_fraction"),
        ({"early_stopping": True, "n_iter_no_change": 0}, "n_iter_no_change"),
        ({"early_stopping": True, "validation_fraction": 1e-4}, "needs at least one"),
        ({"early_stopping": True, "epsilon": 1.0}, "early_stopping=True reads held-out"),
        ({"generator_filepath": 5}, "generator_filepath"),
    ],
)
def test_invalid_parameters_are_named_before_training(mixed_frame, params, name):
    synthesizer = TVAESynthesizer(**params)
    with pytest.raises(InvalidParameterError, match=name):
        synthesizer.fit(mixed_frame)
    assert not hasattr(synthesizer, "module_")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (pd.DataFrame(), "no columns"),
        (pd.DataFrame({"a": [], "b": []}), "no rows"),
        (pd.DataFrame([[1, 2]], columns=["x", "x"]), "duplicate"),
        (pd.Series([1.0, 2.0]), "Series"),
        (np.zeros(5), "2-D"),
        (pd.DataFrame({"x": [1.0, np.inf]}), "infinite"),
    ],
)
def test_invalid_data_is_named_before_training(data, message):
    with pytest.raises(InvalidDataError, match=message):
        TVAESynthesizer(epochs=1).fit(data)


def test_unknown_discrete_columns_are_named(mixed_frame):
    with pytest.raises(InvalidParameterError, match="wrong"):
        TVAESynthesizer(epochs=1).fit(mixed_frame, discrete_columns=["group", "wrong"])


def test_awkward_but_valid_tables():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {"only": ["x"] * 30, "constant": 1.5, "missing": np.nan, "v": rng.normal(size=30)}
    )
    out = TVAESynthesizer(epochs=2, random_state=0, **SMALL).fit(df).sample(10)
    assert (out["only"] == "x").all() and (out["constant"] == 1.5).all()
    assert out["missing"].isna().all()
    single = TVAESynthesizer(epochs=1, random_state=0, **SMALL).fit(df.head(1)).sample(3)
    assert len(single) == 3


def test_all_constant_table_fits_without_warnings():
    df = pd.DataFrame({"a": [1.0, 1.0], "b": ["x", "x"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns about layers of width 0
        out = TVAESynthesizer(epochs=1, random_state=0, **SMALL).fit(df).sample(4)
    assert (out["a"] == 1.0).all() and (out["b"] == "x").all()


def test_numpy_input_with_discrete_positions():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(size=300), rng.integers(0, 3, 300)]).astype(float)
    synthesizer = TVAESynthesizer(epochs=5, random_state=0, **SMALL).fit(x, discrete_columns=[1])
    out = synthesizer.sample(200)
    assert out.dtype == np.float64 and out.shape == (200, 2)
    assert set(np.unique(out[:, 1])) <= {0.0, 1.0, 2.0}
    with pytest.raises(InvalidDataError, match=r"DataFrame|array"):
        synthesizer.transform(pd.DataFrame(x))


def test_learns_a_zero_inflated_column():
    rng = np.random.default_rng(0)
    gain = np.where(rng.random(1500) < 0.9, 0, rng.integers(1_000, 20_000, 1500))
    out = TVAESynthesizer(epochs=30, batch_size=100, random_state=0, **SMALL)
    sample = out.fit(pd.DataFrame({"gain": gain})).sample(3000)["gain"]
    assert abs((sample == 0).mean() - 0.9) < 0.05
    assert sample[sample > 0].min() >= 1_000 or (sample > 0).sum() == 0


def test_chunked_transform_and_inverse_transform_equal_one_pass(
    fitted_tvae, mixed_frame, monkeypatch
):
    import tssynth.synthesizers.tvae as tvae_module

    latents = fitted_tvae.transform(mixed_frame)
    decoded = fitted_tvae.inverse_transform(latents[:300])
    # A few model-array values per chunk: every chunk holds one or two rows.
    width = fitted_tvae.transformer_.output_dim
    monkeypatch.setattr(tvae_module, "_ENCODE_CHUNK_VALUES", 2 * width)
    monkeypatch.setattr(tvae_module, "_SAMPLE_CHUNK_VALUES", 3 * width)
    # equal up to float32 rounding (the matmul kernels differ with the number of rows)
    np.testing.assert_allclose(fitted_tvae.transform(mixed_frame), latents, rtol=0, atol=1e-5)
    pd.testing.assert_frame_equal(
        fitted_tvae.inverse_transform(latents[:300]), decoded, check_exact=False, rtol=1e-5
    )
    assert fitted_tvae.transform(mixed_frame.iloc[:0]).shape == (0, latents.shape[1])
    sampled = fitted_tvae.sample(7)  # chunks of 3, 3 and 1 rows
    assert len(sampled) == 7 and list(sampled.dtypes) == list(mixed_frame.dtypes)


def test_identifier_columns_are_numbered_afresh_and_never_copied(tmp_path):
    import tssynth

    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame(
        {
            "customer": np.array([f"C{i:05d}" for i in rng.permutation(n)], dtype=object),
            "age": rng.integers(18, 90, n),
            "plan": rng.choice(["basic", "pro"], n),
            "account": pd.array(rng.permutation(n) + 1000, dtype="Int64"),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", tssynth.DataWarning)  # declared: no identifier warning
        model = TVAESynthesizer(epochs=2, random_state=0, **SMALL).fit(
            df, metadata={"identifiers": ["customer", "account"]}
        )
    path = model.save(tmp_path / "ids.tssynth")
    first, second = model.sample(40), model.sample(25)
    assert list(first.columns) == list(df.columns)
    pd.testing.assert_series_equal(first.dtypes, df.dtypes)
    assert first["customer"].tolist() == [str(i) for i in range(40)]
    assert first["account"].tolist() == list(range(40))
    both = pd.concat([first, second])
    assert both["customer"].is_unique and not both["customer"].isin(df["customer"]).any()
    # a file saved right after fit numbers from 0 again; one saved later continues
    reloaded = TVAESynthesizer.load(path)
    pd.testing.assert_frame_equal(reloaded.sample(40), first)
    later = tssynth.load(model.save(tmp_path / "later.tssynth")).sample(5)
    assert later["account"].tolist() == list(range(65, 70))
    # Numbers past a small dtype's range widen to its 64-bit kind, nullable if it was.
    small = pd.DataFrame({"id": pd.array(np.arange(60) % 50, dtype="Int8"), "x": np.arange(60.0)})
    wide = TVAESynthesizer(epochs=1, **SMALL).fit(small, metadata={"identifiers": ["id"]})
    assert wide.sample(200)["id"].dtype == "Int64"
    # Floats number exactly up to 2**(mantissa bits + 1): float16 past 2,048 widens too
    # (it gave 2048.0 twice, and 2050.0 for 2049).
    halves = small.assign(id=(np.arange(60) % 50).astype(np.float16))
    ids = TVAESynthesizer(epochs=1, **SMALL).fit(halves, metadata={"identifiers": ["id"]})
    assert ids.sample(10)["id"].dtype == np.float16
    drawn = ids.sample(2_100)["id"]
    assert drawn.dtype == np.float64 and drawn.is_unique and drawn.iloc[-1] == 2_109.0
    assert model.transform(df).shape == (n, SMALL["embedding_dim"])
    decoded = model.inverse_transform(model.transform(df.iloc[:3]))
    assert decoded["customer"].tolist() == ["0", "1", "2"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metadata": {"identifiers": ["nope"]}}, "not in the data"),
        ({"metadata": {"identifiers": ["k"], "categorical": ["k"]}}, "declared as identifiers"),
        ({"discrete_columns": ["k"], "metadata": {"identifiers": ["k"]}}, "declared as identif"),
        ({"metadata": {"identifiers": ["k", "x"]}}, "keep at least one column"),
        ({"metadata": {"identifiers": "k"}}, "list of column names"),
    ],
)
def test_bad_identifier_declarations_are_named(kwargs, message):
    df = pd.DataFrame({"k": ["a", "b", "c"] * 10, "x": np.arange(30.0)})
    with pytest.raises(InvalidParameterError, match=message):
        TVAESynthesizer(epochs=1, **SMALL).fit(df, **kwargs)


def test_identifiers_are_refused_for_arrays_and_sequences():
    from tssynth import DVAESynthesizer

    with pytest.raises(InvalidParameterError, match="needs a DataFrame"):
        TVAESynthesizer(epochs=1, **SMALL).fit(np.zeros((10, 2)), metadata={"identifiers": [0]})
    panel = pd.DataFrame({"id": np.repeat([0, 1], 5), "t": np.tile(np.arange(5), 2), "v": 1.0})
    with pytest.raises(InvalidParameterError, match="sequence_key"):
        DVAESynthesizer(sequence_key="id", sequence_index="t", epochs=1).fit(
            panel, metadata={"identifiers": ["v"]}
        )


def test_heavy_tails_are_sampled_without_a_pile_on_the_minimum():
    rng = np.random.default_rng(0)
    real = rng.pareto(1.5, 3000) + 1.0
    model = TVAESynthesizer(epochs=40, batch_size=200, random_state=0, **SMALL)
    out = model.fit(pd.DataFrame({"x": real})).sample(6000)["x"]
    assert (out == real.min()).mean() < 0.005  # clipping put 6.7 % there
    ratio = np.quantile(out, [0.01, 0.5, 0.99, 0.999]) / np.quantile(real, [0.01, 0.5, 0.99, 0.999])
    assert np.all((ratio > 0.6) & (ratio < 1.6)), ratio  # the tail's top was cut to 0.4


def test_the_hours_of_timestamps_spread_over_a_year_are_learned():
    rng = np.random.default_rng(0)
    n = 2000
    day = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    hours = np.clip(rng.normal(13, 2.5, n), 0, 23.9)
    frame = pd.DataFrame({"when": day + pd.to_timedelta(np.round(hours * 60), unit="min")})
    model = TVAESynthesizer(epochs=30, batch_size=200, random_state=0, **SMALL)
    out = model.fit(frame).sample(n)["when"]
    real = np.bincount(frame["when"].dt.hour, minlength=24) / n
    fake = np.bincount(out.dt.hour, minlength=24) / n
    # one mixture over the year's timestamps spread them over all hours: distance 0.56
    assert 0.5 * np.abs(real - fake).sum() < 0.15
    assert out.between(frame["when"].min(), frame["when"].max()).all()


def test_weekday_patterns_of_dates_are_learned():
    rng = np.random.default_rng(0)
    business_days = pd.bdate_range("2023-01-01", "2024-12-31")
    frame = pd.DataFrame({"day": rng.choice(business_days, 1500)})
    model = TVAESynthesizer(epochs=30, batch_size=200, random_state=0, **SMALL)
    out = model.fit(frame).sample(1500)["day"]
    # one mixture over two years of dates put 28 % of the samples on weekends
    assert (out.dt.day_of_week >= 5).mean() < 0.01
    assert out.between(frame["day"].min(), frame["day"].max()).all()


def test_calendar_parts_neither_pile_on_the_range_nor_mix_up_few_timestamps():
    rng = np.random.default_rng(0)
    nights = pd.Timestamp("2021-01-01 22:00") + pd.to_timedelta(
        rng.integers(0, 10, 1000) * 1440 + rng.integers(0, 240, 1000), "min"
    )
    batches = pd.to_datetime(["2021-01-04 02:15", "2021-02-01 03:40", "2021-03-01 02:05"])
    frame = pd.DataFrame({"night": nights, "batch": rng.choice(batches, 1000)})
    out = (
        TVAESynthesizer(epochs=30, batch_size=200, random_state=0, **SMALL).fit(frame).sample(1000)
    )
    # a first night's 01:00 moves to the next night, not onto the first timestamp
    for bound in (nights.min(), nights.max()):
        assert (out["night"] == bound).mean() < 0.01
    assert out["night"].dt.hour.isin([22, 23, 0, 1]).mean() > 0.9
    assert out["batch"].isin(batches).all()  # never one batch's day with another's time


def test_an_end_never_before_its_start_keeps_order_and_durations():
    rng = np.random.default_rng(0)
    n = 1500
    start = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 730 * 24, n), "h")
    hours = np.round(rng.lognormal(1, 0.8, n) * 24)
    start = pd.Series(start + pd.to_timedelta(rng.integers(0, 60, n), "min"))  # any minute
    end = (start + pd.to_timedelta(hours, "h")).dt.ceil("h")  # on whole hours
    # the latest starts have no end yet
    frame = pd.DataFrame({"start": start, "end": end.where(start < start.quantile(0.9))})
    out = TVAESynthesizer(epochs=30, batch_size=200, random_state=0, **SMALL).fit(frame).sample(n)
    days = ((out["end"] - out["start"]).dt.total_seconds() / 86_400).dropna()
    # modelled apart over two years, half of the samples ended before they started
    assert (days >= 0).all()
    assert (out["end"].dropna().dt.minute == 0).all()  # its own grid, not its start's
    assert (out["end"] == frame["end"].max()).mean() < 0.01  # no pile on the latest end
    real = (frame["end"] - frame["start"]).dt.total_seconds().dropna().to_numpy() / 86_400
    ratio = np.quantile(days, [0.1, 0.5, 0.9]) / np.quantile(real, [0.1, 0.5, 0.9])
    assert np.all((ratio > 0.7) & (ratio < 1.4)), ratio


@pytest.mark.parametrize(("start_unit", "end_unit"), [("s", "us"), ("us", "s")])
def test_start_and_end_of_different_resolutions_keep_their_order(start_unit, end_unit):
    rng = np.random.default_rng(0)
    n = 1000
    start = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 730 * 24, n), "h")
    end = start + pd.to_timedelta(np.round(rng.gamma(2, 36, n)), "h")
    frame = pd.DataFrame(
        {
            "start": pd.Series(start).astype(f"datetime64[{start_unit}]"),
            "end": pd.Series(end).astype(f"datetime64[{end_unit}]"),
        }
    )
    model = TVAESynthesizer(epochs=10, batch_size=200, random_state=0, **SMALL).fit(frame)
    out = model.sample(n)
    assert out.dtypes.equals(frame.dtypes)
    if start_unit == "s":  # a coarser start reads exactly in the end's unit: anchored
        assert (out["end"] >= out["start"]).all()
    round_trip = model.transformer_.inverse_transform(model.transformer_.transform(frame))
    pd.testing.assert_frame_equal(round_trip, frame)


def test_an_end_days_after_its_start_keeps_its_own_hours(tmp_path):
    rng = np.random.default_rng(0)
    n = 1500
    admitted = pd.Series(
        pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 730 * 24, n), "h")
    )
    days = pd.to_timedelta(rng.integers(1, 10, n), "D")
    discharged = admitted.dt.normalize() + days + pd.to_timedelta(rng.integers(10, 14, n), "h")
    weekend = discharged.dt.day_of_week >= 5  # discharges on business days only
    discharged = discharged + pd.to_timedelta(
        np.where(weekend, 7 - discharged.dt.day_of_week, 0), "D"
    )
    frame = pd.DataFrame({"admitted": admitted, "discharged": discharged})
    out = TVAESynthesizer(epochs=30, batch_size=200, random_state=0, **SMALL).fit(frame).sample(n)
    assert (out["discharged"] >= out["admitted"]).all()
    # as a plain offset, discharge hours followed the admissions' (any hour of the day)
    assert out["discharged"].dt.hour.between(10, 13).mean() > 0.95
    assert (out["discharged"].dt.day_of_week < 5).all()  # 27 % fell on weekends
    model = TVAESynthesizer(epochs=2, batch_size=200, random_state=0, **SMALL).fit(frame)
    model.save(tmp_path / "stays.tssynth")
    loaded = TVAESynthesizer.load(tmp_path / "stays.tssynth")
    pd.testing.assert_frame_equal(loaded.sample(50), model.sample(50))


def test_an_anchor_is_present_wherever_its_dependant_is():
    rng = np.random.default_rng(0)
    n = 1500
    start = pd.Series(pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 8760, n), "h"))
    end = (start + pd.to_timedelta(rng.integers(1, 200, n), "h")).where(rng.random(n) < 0.7)
    frame = pd.DataFrame({"start": start.where(end.notna() | (rng.random(n) < 0.8)), "end": end})
    out = TVAESynthesizer(epochs=30, batch_size=200, random_state=0, **SMALL).fit(frame).sample(n)
    assert not (out["end"].notna() & out["start"].isna()).any()
    assert (out["end"].dropna() >= out["start"][out["end"].notna()]).all()


def test_a_start_missing_where_its_end_is_present_keeps_the_order(tmp_path):
    # Such rows model the start as missing with a stand-in value (the end less the
    # median gap) that the end counts from; modelled apart, 441 of 955 sampled rows
    # ended before they started.
    rng = np.random.default_rng(0)
    n = 600
    start = pd.Series(pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, n), "D"))
    end = start + pd.to_timedelta(rng.integers(0, 10, n), "D")
    frame = pd.DataFrame({"start": start.mask(np.arange(n) < 40), "end": end})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        syn = TVAESynthesizer(epochs=30, batch_size=200, random_state=0, **SMALL).fit(frame)
    syn.save(tmp_path / "g.tssynth")
    for model in (syn, TVAESynthesizer.load(tmp_path / "g.tssynth")):
        out = model.sample(3000)
        both = out.dropna()
        assert (both["end"] >= both["start"]).all()
        lone = out["start"].isna() & out["end"].notna()
        assert 0.03 < lone.mean() < 0.11  # 40 of 600 (0.067) in the data
        assert abs(out["end"].dt.year.eq(2022).mean() - end.dt.year.eq(2022).mean()) < 0.08
        gaps = (both["end"] - both["start"]).dt.days
        assert gaps.max() <= 12 and abs(gaps.mean() - 4.5) < 1.0


@pytest.mark.parametrize("as_days", [False, True])
def test_a_shared_end_date_comes_back_at_its_rate_and_never_before_the_start(as_days):
    """Death dates of the living at the study's end (40 %): as offsets from diagnoses
    spread over six years, 0 % of samples fell on it (Aids2: 0.1 % against 37 %). As
    day numbers (R's dates), modelled apart 13 % of samples died before diagnosis;
    as gaps above the diagnosis without the end, 22 % (of 37 %) fell on it."""
    from test_data_layer import _follow_up

    frame = _follow_up(600)
    end = pd.Timestamp("1992-07-01")
    if as_days:
        frame = (frame - pd.Timestamp("1960-01-01")).apply(lambda c: c.dt.days)
        end = (end - pd.Timestamp("1960-01-01")).days
    out = TVAESynthesizer(epochs=30, random_state=0, **SMALL).fit(frame).sample(3000)
    assert abs((out["death"] == end).mean() - (frame["death"] == end).mean()) < 0.08
    assert (out["death"] >= out["diagnosed"]).all()


def test_start_and_end_missing_together_stay_so_at_their_rate():
    rng = np.random.default_rng(0)
    n = 1500
    start = pd.Series(pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 8760, n), "h"))
    end = start + pd.to_timedelta(rng.integers(1, 200, n), "h")
    undated = rng.random(n) < 0.2
    frame = pd.DataFrame({"start": start.mask(undated), "end": end.mask(undated)})
    out = TVAESynthesizer(epochs=30, batch_size=200, random_state=0, **SMALL).fit(frame).sample(n)
    assert (out["start"].isna() == out["end"].isna()).all()
    # a start kept wherever its end is, from masks drawn apart: about 0.2 x 0.2 missing
    assert abs(out["start"].isna().mean() - 0.2) < 0.06


def test_a_start_missing_where_its_end_is_keeps_its_own_missing_rate():
    # Ends are missing wherever starts are, and in more rows: starts were kept present
    # wherever ends were decoded present, which put them missing in 0.09 for 0.21.
    rng = np.random.default_rng(0)
    n = 1000
    start = pd.Series(pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 8760, n), "h"))
    start = start.mask(rng.random(n) < 0.2)
    end = (start + pd.to_timedelta(rng.integers(1, 100, n), "h")).mask(rng.random(n) < 0.3)
    frame = pd.DataFrame({"start": start, "end": end, "x": rng.random(n)})
    out = (
        TVAESynthesizer(epochs=40, batch_size=200, random_state=0, **SMALL).fit(frame).sample(4000)
    )
    assert abs(out["start"].isna().mean() - start.isna().mean()) < 0.04
    # at 40 epochs the masks are drawn nearly apart: the end's rate takes the difference
    # (0.54 for 0.44; 0.47 at the default 300 epochs)
    assert abs(out["end"].isna().mean() - end.isna().mean()) < 0.12
    assert not (out["start"].isna() & out["end"].notna()).any()


def test_nanosecond_timestamps_keep_their_millisecond_grid():
    # pandas 2 stores datetimes in nanoseconds: past 2**53 their floats are 256 ns apart
    rng = np.random.default_rng(0)
    n = 800
    start = pd.Series(
        pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300 * 86_400_000, n), "ms")
    ).astype("datetime64[ns]")
    frame = pd.DataFrame(
        {
            "short": pd.Series(  # under a week: one whole row
                pd.Timestamp("2024-05-01")
                + pd.to_timedelta(rng.integers(0, 3 * 86_400_000, n), "ms")
            ).astype("datetime64[ns]"),
            "start": start,  # calendar parts
            "end": start + pd.to_timedelta(rng.integers(1, 5 * 86_400_000, n), "ms"),  # anchored
        }
    )
    out = TVAESynthesizer(epochs=3, batch_size=200, random_state=0, **SMALL).fit(frame).sample(n)
    for column in frame:
        assert (out[column].astype("int64") % 10**6 == 0).all(), column
    assert (out["end"] >= out["start"]).all()
    # declared bounds on the grid (whole days here) keep it too
    days = [float(pd.Timestamp(day).value) for day in ("2024-04-30", "2024-05-05")]
    model = TVAESynthesizer(epochs=3, batch_size=200, random_state=0, **SMALL)
    bounded = model.fit(frame[["short"]], metadata={"bounds": {"short": days}}).sample(n)
    assert (bounded["short"].astype("int64") % 10**6 == 0).all()


def test_columns_mostly_at_one_value_leave_their_categories_learnable():
    """scikit-learn's digits: 64 pixel columns mostly 0 (a point-mass mode, whose scalar
    is a constant 0). Scored, that constant pulled each column's sigma to its floor and
    the other rows' errors drowned the label: train-on-synthetic accuracy was 0.12
    (chance 0.1) at 40 epochs, 0.22 at 300."""
    from sklearn.datasets import load_digits
    from sklearn.ensemble import HistGradientBoostingClassifier

    digits = load_digits(as_frame=True).frame.astype(np.int64)
    digits["target"] = digits["target"].astype(str)
    train, test = digits.iloc[::2], digits.iloc[1::2]
    model = TVAESynthesizer(epochs=40, batch_size=100, random_state=0).fit(train)
    synthetic = model.sample(len(train))
    classifier = HistGradientBoostingClassifier(max_iter=50, random_state=0)
    classifier.fit(synthetic.drop(columns="target"), synthetic["target"])
    accuracy = (classifier.predict(test.drop(columns="target")) == test["target"]).mean()
    assert accuracy > 0.4


def test_missing_values_start_at_their_training_share():
    # One epoch (4 optimiser steps): before, a column missing in 2 % of rows came back
    # missing in 41 % of samples (its indicator started at even odds).
    rng = np.random.default_rng(0)
    x = rng.normal(size=2000)
    x[rng.random(2000) < 0.02] = np.nan
    df = pd.DataFrame({"x": x, "c": rng.choice(["a", "b", "c"], 2000, p=[0.9, 0.07, 0.03])})
    sample = TVAESynthesizer(epochs=1, random_state=0).fit(df).sample(5000)
    assert sample["x"].isna().mean() < 0.04


def test_a_declared_category_absent_from_the_data_is_not_drawn():
    # A public schema's answer nobody gave: its logit starts at the share floor (at even
    # odds with the others, 3 epochs drew it in 31 % of rows).
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {"answer": rng.choice(["yes", "no"], 1000), "age": rng.integers(18, 90, 1000)}
    )
    model = TVAESynthesizer(epochs=3, random_state=0).fit(
        df, metadata={"categories": {"answer": ["yes", "no", "maybe"]}}
    )
    answers = model.sample(4000)["answer"]
    assert (answers == "maybe").mean() < 0.01
    assert answers.isin(["yes", "no"]).mean() > 0.99 and (answers == "yes").mean() > 0.3


def test_sampled_highs_are_never_below_their_lows():
    """Modelled apart, about half of synthetic days had low > high; above its closest
    floor alone, a fifth had high < open."""
    from test_data_layer import _prices

    frame = _prices(600)
    out = TVAESynthesizer(epochs=30, random_state=0, **SMALL).fit(frame).sample(3000)
    assert (out["high"] >= out["low"]).all()
    assert (out["open"] >= out["low"]).all() and (out["close"] >= out["low"]).all()
    assert (out["high"] >= out[["open", "close"]].max(axis=1)).all()
    assert (
        (out[["open", "high", "low", "close"]].round(2) == out[["open", "high", "low", "close"]])
        .all()
        .all()
    )  # on the cent grid
    for column in ("high", "low"):
        assert abs(out[column].median() - frame[column].median()) < 0.25 * frame[column].std()


def test_a_column_keeps_above_a_floor_derived_from_a_category():
    """A charge never below its plan's base fee (derived from the plan): without the
    derived floor, a third of sampled charges fell below their fee."""
    rng = np.random.default_rng(0)
    plan = rng.choice(["basic", "plus", "pro"], 800)
    fee = pd.Series(plan).map({"basic": 10.0, "plus": 20.0, "pro": 30.0})
    frame = pd.DataFrame(
        {"plan": plan, "fee": fee, "charge": (fee + rng.gamma(2, 3, 800)).round(2)}
    )
    model = TVAESynthesizer(epochs=30, random_state=0, **SMALL).fit(frame)
    assert list(model.transformer_._derived) == [1] and model.transformer_._floors == {2: (1,)}
    out = model.sample(2000)
    assert (out["charge"] >= out["fee"]).all()
