"""The data layer: schema inference, the reversible transformer and the span helpers."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from tssynth.data import DataTransformer, infer_schema
from tssynth.data.spans import (
    SOFTMAX,
    Span,
    sample_last_axis,
    segment_argmax,
    segment_sample,
    softmax_block,
)
from tssynth.exceptions import DataWarning, InvalidDataError, InvalidParameterError


def fit_transformer(df: pd.DataFrame, **kwargs) -> DataTransformer:
    return DataTransformer(random_state=0).fit(df, infer_schema(df, **kwargs))


def test_schema_infers_kinds_from_dtypes(mixed_frame):
    kinds = {c.name: c.kind for c in infer_schema(mixed_frame)}
    assert kinds == {
        "count": "continuous",
        "amount": "continuous",
        "group": "categorical",
        "score": "continuous",
        "flag": "categorical",
        "level": "categorical",
        "nullable": "continuous",
        "colour": "categorical",
        "day": "continuous",
        "constant": "continuous",
        "empty": "continuous",
        "small": "continuous",
    }


def test_schema_overrides_with_discrete_columns_and_metadata(mixed_frame):
    kinds = {c.name: c.kind for c in infer_schema(mixed_frame, discrete_columns=["count"])}
    assert kinds["count"] == "categorical"
    meta = {"categorical": ["nullable"], "continuous": ["amount"]}
    kinds = {c.name: c.kind for c in infer_schema(mixed_frame, metadata=meta)}
    assert kinds["nullable"] == "categorical" and kinds["amount"] == "continuous"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"discrete_columns": ["nope"]}, "nope"),
        ({"discrete_columns": "group"}, "list of column names"),
        ({"metadata": {"continuous": ["group"]}}, "group"),
        ({"metadata": {"numbers": ["count"]}}, "metadata"),
    ],
)
def test_schema_rejects_bad_declarations(mixed_frame, kwargs, message):
    with pytest.raises((InvalidParameterError, InvalidDataError), match=message):
        infer_schema(mixed_frame, **kwargs)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame(), "no columns"),
        (pd.DataFrame({"a": []}), "no rows"),
        (pd.DataFrame([[1, 2]], columns=["a", "a"]), "duplicate column names"),
        (pd.DataFrame({"c": [1 + 2j, 3j]}), "complex"),
        (pd.DataFrame({"l": [[1], [2]]}), "unhashable"),
    ],
)
def test_schema_rejects_unusable_frames(frame, message):
    with pytest.raises(InvalidDataError, match=message):
        infer_schema(frame)


def test_round_trip_restores_dtypes_order_and_categorical_values(mixed_frame):
    transformer = fit_transformer(mixed_frame)
    restored = transformer.inverse_transform(transformer.transform(mixed_frame))
    assert list(restored.columns) == list(mixed_frame.columns)
    pd.testing.assert_series_equal(restored.dtypes, mixed_frame.dtypes)
    for column in ["group", "flag", "level", "colour", "constant", "empty", "nullable", "day"]:
        pd.testing.assert_series_equal(restored[column], mixed_frame[column], check_names=False)
    assert restored["level"].cat.categories.tolist() == ["low", "mid", "high"]


def test_round_trip_of_continuous_values_is_close(mixed_frame):
    transformer = fit_transformer(mixed_frame)
    restored = transformer.inverse_transform(transformer.transform(mixed_frame))
    np.testing.assert_array_equal(restored["count"], mixed_frame["count"])  # integers exact
    np.testing.assert_allclose(restored["amount"], mixed_frame["amount"], rtol=1e-5, atol=1e-4)
    pd.testing.assert_series_equal(restored["score"].isna(), mixed_frame["score"].isna())
    np.testing.assert_allclose(restored["score"], mixed_frame["score"], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(restored["small"], mixed_frame["small"], rtol=1e-3, atol=1e-9)


def test_layout_covers_the_array_without_gaps(mixed_frame):
    transformer = fit_transformer(mixed_frame)
    starts = [s.start for s in transformer.spans]
    stops = [s.stop for s in transformer.spans]
    assert starts[0] == 0 and stops[-1] == transformer.output_dim
    assert starts[1:] == stops[:-1]
    array = transformer.transform(mixed_frame)
    assert array.dtype == np.float32 and array.shape == (len(mixed_frame), transformer.output_dim)
    gaussian = [s.start for s in transformer.spans if s.kind == "gaussian"]
    assert np.abs(array[:, gaussian]).max() <= 0.99 + 1e-6
    for span in transformer.spans:  # every softmax span of every row is one-hot
        if span.kind == SOFTMAX:
            np.testing.assert_array_equal(array[:, span.start : span.stop].sum(axis=1), 1.0)


def test_constant_and_all_missing_columns_take_no_space():
    df = pd.DataFrame({"x": np.arange(50.0), "const": 3.0, "none": np.nan, "one": "k"})
    transformer = fit_transformer(df)
    solo = fit_transformer(df[["x"]])
    assert transformer.output_dim == solo.output_dim
    out = transformer.inverse_transform(np.zeros((4, transformer.output_dim)))
    assert (out["const"] == 3.0).all() and out["none"].isna().all() and (out["one"] == "k").all()


def test_sampled_missing_rate_matches_the_indicator_probability(mixed_frame):
    transformer = fit_transformer(mixed_frame)
    data = transformer.transform(mixed_frame)
    data[:] = 0.0
    for span in transformer.spans:  # uniform probabilities everywhere
        if span.kind == SOFTMAX:
            data[:, span.start : span.stop] = 1.0 / (span.stop - span.start)
    out = transformer.inverse_transform(
        np.repeat(data, 10, axis=0), random_state=np.random.default_rng(0)
    )
    assert abs(out["score"].isna().mean() - 0.5) < 0.02
    shares = out["group"].value_counts(normalize=True)
    np.testing.assert_allclose(shares.to_numpy(), 1 / 3, atol=0.02)
    assert set(out["colour"].dropna()) <= {"red", "green", "blue"}


def test_values_stay_within_training_bounds(mixed_frame):
    transformer = fit_transformer(mixed_frame)
    rng = np.random.default_rng(1)
    noise = rng.uniform(-1, 1, size=(2000, transformer.output_dim))
    out = transformer.inverse_transform(
        noise, sigmas=np.ones(transformer.output_dim), random_state=rng
    )
    for column in ["count", "amount", "score", "day"]:
        assert out[column].min() >= mixed_frame[column].min()
        assert out[column].max() <= mixed_frame[column].max()
    assert out["day"].dt.normalize().equals(out["day"])  # dates stay whole days
    assert np.all(out["count"] == np.round(out["count"]))


def test_unseen_categories_and_missing_at_transform_do_not_fail(mixed_frame):
    transformer = fit_transformer(mixed_frame)
    new = mixed_frame.head(3).copy()
    new["group"] = ["zzz", "a", None]
    new["count"] = [np.nan, 1, 2]
    array = transformer.transform(new)
    span = next(s for s in transformer.spans if s.kind == SOFTMAX and s.stop - s.start == 3)
    assert np.isfinite(array).all()
    assert array.shape == (3, transformer.output_dim) and span is not None


def test_transform_names_missing_columns(mixed_frame):
    transformer = fit_transformer(mixed_frame)
    with pytest.raises(InvalidDataError, match="amount"):
        transformer.transform(mixed_frame.drop(columns=["amount"]))


def test_infinite_values_are_rejected():
    with pytest.raises(InvalidDataError, match=r"'x'.*infinite"):
        fit_transformer(pd.DataFrame({"x": [1.0, np.inf, 2.0]}))


def test_state_round_trip_rebuilds_the_same_transformer(mixed_frame):
    transformer = fit_transformer(mixed_frame)
    rebuilt = DataTransformer.from_state(transformer.to_state())
    assert rebuilt.spans == transformer.spans
    np.testing.assert_array_equal(
        rebuilt.transform(mixed_frame), transformer.transform(mixed_frame)
    )


def test_timezones_and_timedeltas_round_trip():
    df = pd.DataFrame(
        {
            "when": pd.date_range("2024-03-01 10:00", periods=30, freq="h", tz="Europe/Paris"),
            "took": pd.to_timedelta(np.arange(30), unit="s"),
        }
    )
    transformer = fit_transformer(df)
    out = transformer.inverse_transform(transformer.transform(df))
    pd.testing.assert_frame_equal(out, df)


def test_time_zones_of_any_library_round_trip_through_a_generator_state():
    import datetime as dt

    from dateutil import tz

    utc = pd.Series(pd.date_range("2024-03-01 10:00", periods=40, freq="13h", tz="UTC"))
    # a fixed +01:00 named "CET" is not the zone CET, which has summer time
    zones = [tz.gettz("Europe/Berlin"), dt.timezone(dt.timedelta(hours=1), "CET"), "UTC"]
    df = pd.DataFrame({f"when{i}": utc.dt.tz_convert(zone) for i, zone in enumerate(zones)})
    transformer = DataTransformer.from_state(fit_transformer(df).to_state())
    out = transformer.inverse_transform(transformer.transform(df))
    for column in df:
        assert (out[column] == df[column]).all(), column
        assert out[column].dt.tz.utcoffset(None) == df[column].dt.tz.utcoffset(None), column
    assert str(out["when0"].dt.tz) == str(df["when0"].dt.tz)  # still the dateutil zone


def test_a_wall_clock_time_in_a_dst_gap_keeps_its_minutes():
    from tssynth.data.schema import ColumnSpec, restore_time_ints

    when = pd.Series(pd.to_datetime(["2024-03-31 02:30", "2024-03-31 01:30"])).astype("M8[s]")
    spec = ColumnSpec(
        name="t",
        kind="continuous",
        dtype="datetime64[s, Europe/Berlin]",
        value_type="datetime",
        unit="s",
        tz="Europe/Berlin",
        wall_clock=True,
    )
    out = restore_time_ints(when.to_numpy().view(np.int64), spec)
    assert out.dt.strftime("%H:%M").tolist() == ["03:30", "01:30"]


def test_rounding_to_a_grid_never_passes_a_declared_bound():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"score": rng.integers(0, 100, 500) + 0.5})  # half-points, bounds whole
    columns = infer_schema(df, metadata={"bounds": {"score": [0, 100]}})
    transformer = DataTransformer(random_state=0).fit(df, columns)
    scalar, modes = transformer.spans
    n_modes = modes.stop - modes.start
    data = np.zeros((2 * n_modes, transformer.output_dim), dtype=np.float32)
    data[:, scalar.start] = np.repeat([1.0, -1.0], n_modes)  # both ends of every mode
    data[np.arange(2 * n_modes), modes.start + np.tile(np.arange(n_modes), 2)] = 1.0
    out = transformer.inverse_transform(data)["score"]
    assert out.between(0, 100).all() and out.max() == 100.0


def test_wide_categorical_column_is_encoded_and_decoded():
    labels = np.array([f"id{i}" for i in range(3000)], dtype=object)
    df = pd.DataFrame({"id": labels, "x": np.arange(3000.0)})
    with pytest.warns(DataWarning, match="'id' has a different value in 100% of its rows"):
        transformer = fit_transformer(df)
    out = transformer.inverse_transform(transformer.transform(df))
    assert (out["id"] == df["id"]).all()


def test_identifier_and_very_wide_columns_are_warned_about_and_others_are_not():
    rng = np.random.default_rng(0)
    n = 5000
    df = pd.DataFrame(
        {
            "wide": rng.integers(0, 1500, n).astype(str),  # ~1,450 levels, not unique
            "group": rng.choice(["a", "b", "c"], n),
            "x": rng.normal(size=n),
        }
    )
    n_wide = df["wide"].nunique()
    assert 1000 < n_wide < 0.9 * n
    with pytest.warns(DataWarning, match=f"'wide' has {n_wide:,} categories") as caught:
        fit_transformer(df)
    assert len(caught) == 1  # nothing about 'group' or 'x'
    few = pd.DataFrame({"name": [f"n{i}" for i in range(19)], "x": np.arange(19.0)})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        fit_transformer(few)  # too few rows to call a column an identifier


def test_numbers_with_a_text_placeholder_are_warned_about_and_codes_are_not():
    rng = np.random.default_rng(0)
    values = np.round(rng.normal(50, 10, 600), 1).astype(object)
    values[::20] = "?"
    codes = rng.choice(["1", "2", "3", "n/a"], 600)  # few numbers: categories after all
    df = pd.DataFrame({"reading": values, "code": codes, "name": rng.choice(["a", "b"], 600)})
    with pytest.warns(
        DataWarning, match=r"'reading' holds numbers except for '\?' in 5\.0%"
    ) as caught:
        fit_transformer(df)
    assert len(caught) == 1 and "pd.to_numeric(df['reading'], errors='coerce')" in str(
        caught[0].message
    )
    df["reading"] = pd.to_numeric(df["reading"], errors="coerce")  # the advice works
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        assert fit_transformer(df).columns[0].kind == "continuous"


def test_decimals_and_dates_written_as_text_are_warned_about_and_codes_are_not():
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame(
        {
            "price": np.round(rng.normal(50, 10, n), 2).astype(str),
            "day": pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "stamp": pd.date_range("2020-01-01", periods=n, freq="h").strftime("%m/%d/%Y %H:%M"),
            "count": rng.integers(0, 60, n).astype(str),  # whole numbers: codes or counts
            "month": rng.choice(["March 2020", "April 2020", "May 2021"], n),
        }
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_transformer(df)
    messages = {str(w.message).split("'")[1]: str(w.message) for w in caught}
    assert set(messages) == {"price", "day", "stamp"}
    assert "decimal numbers written as text" in messages["price"]
    assert "pd.to_numeric(df['price'])" in messages["price"]
    for name in ("day", "stamp"):  # not called identifiers, though distinct on every row
        assert "dates or times written as text" in messages[name]
        assert f"pd.to_datetime(df[{name!r}])" in messages[name]
    df["price"] = pd.to_numeric(df["price"])  # the advice works
    df["day"] = pd.to_datetime(df["day"])
    df["stamp"] = pd.to_datetime(df["stamp"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        kinds = {c.name: c.kind for c in fit_transformer(df).columns}
    assert kinds["price"] == "continuous" and kinds["count"] == "categorical"


@pytest.mark.parametrize(
    "grid",
    [
        pd.date_range("2015-01-01", periods=60, freq="MS"),  # monthly
        pd.date_range("2010-03-31", periods=20, freq="QE"),  # quarter ends
        pd.date_range("1950-01-01", periods=50, freq="YS"),  # 1 January
        pd.date_range("2020-01-15 09:30", periods=12, freq="2MS") + pd.Timedelta("14D 9.5h"),
        pd.date_range("2015-01-01", periods=60, freq="MS", tz="Europe/Paris"),
    ],
)
def test_dates_on_a_month_grid_are_sampled_on_it(grid):
    # Monthly reports, quarter ends, birth years: samples keep to the calendar points
    # the column is on, not to arbitrary days between them.
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {"when": grid.take(rng.integers(0, len(grid), 500)), "x": rng.normal(size=500)}
    )
    transformer = fit_transformer(df)
    rebuilt = DataTransformer.from_state(transformer.to_state())
    noise = rng.uniform(-1, 1, size=(2000, transformer.output_dim))
    for fitted in (transformer, rebuilt):
        out = fitted.inverse_transform(
            noise, sigmas=np.ones(transformer.output_dim), random_state=np.random.default_rng(1)
        )
        assert out["when"].dtype == df["when"].dtype
        assert out["when"].isin(grid).all()
        assert out["when"].nunique() > len(grid) // 2  # spread over the grid, not piled
    pd.testing.assert_frame_equal(transformer.inverse_transform(transformer.transform(df)), df)


def test_dates_off_a_month_grid_keep_their_days():
    days = pd.date_range("2015-01-01", periods=60, freq="MS").append(
        pd.DatetimeIndex(["2016-06-17"])  # one value on another day: no month grid
    )
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"when": days.take(rng.integers(0, len(days), 500))})
    transformer = fit_transformer(df)
    noise = rng.uniform(-1, 1, size=(2000, transformer.output_dim))
    out = transformer.inverse_transform(
        noise, sigmas=np.ones(transformer.output_dim), random_state=rng
    )
    assert (out["when"].dt.day != 1).mean() > 0.5


def test_a_declared_schema_that_misses_the_data_is_warned_about():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {"sex": rng.choice(["female", "male"], 500, p=[0.8, 0.2]), "age": rng.integers(18, 90, 500)}
    )
    metadata = {"categories": {"sex": ["Female", "Male"]}, "bounds": {"age": [30, 40]}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_transformer(df, metadata=metadata)
    messages = sorted(str(w.message) for w in caught if issubclass(w.category, DataWarning))
    assert len(messages) == 2
    assert messages[0].startswith("Column 'age': ") and "outside its declared bounds" in messages[0]
    assert messages[1].startswith("Column 'sex': 100.0% of its values ('female', 'male')")
    matching = {"categories": {"sex": ["female", "male"]}, "bounds": {"age": [0, 120]}}
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        fit_transformer(df, metadata=matching)


def test_onto_grid_rounds_to_the_nearest_point_without_overflow():
    from tssynth.data.schema import onto_grid

    rng = np.random.default_rng(0)
    values = rng.integers(-(2**62), 2**62, 10_000)
    rounded = onto_grid(values, 12_345, 67)
    assert ((rounded - 67) % 12_345 == 0).all() and (np.abs(rounded - values) <= 6_173).all()
    # next to the int64 maximum, on a grid through it (rounding up used to wrap round)
    step = 7 * 2**20
    top = np.iinfo(np.int64).max
    near = np.array([top, top - 3, top - step // 2, top - step + 5], dtype=np.int64)
    assert (onto_grid(near, step, top % step) == [top, top, top, top - step]).all()
    # unsigned: remainders taken without going below zero
    unsigned = np.array([2**60 + 3_400, 2**60 + 3_500], dtype=np.uint64)
    assert onto_grid(unsigned, 1_000, 2**60 % 1_000).tolist() == [2**60 + 3_000, 2**60 + 4_000]


@pytest.mark.parametrize("dtype", ["int64", "uint64"])
def test_sentinels_at_the_ends_of_the_integer_range_come_back_exactly(dtype):
    # 2**63 - 1 is 2**63 as a float, clipped one float step below: 9223372036854774784
    # came back for the "no limit" sentinel in every row that held it.
    info = np.iinfo(dtype)
    rng = np.random.default_rng(0)
    values = rng.integers(100, 10_000, 1_000).astype(dtype)
    values[rng.random(1_000) < 0.2] = info.max
    if info.min < 0:
        values[:50] = info.min
    frame = pd.DataFrame({"limit": values})
    # (with INT64_MIN too, sklearn's mixture failed on the bulk: "ill-defined covariance")
    transformer = DataTransformer(random_state=0).fit(frame, infer_schema(frame))
    back = transformer.inverse_transform(transformer.transform(frame))["limit"].to_numpy()
    ends = (values == info.max) | (values == info.min)
    np.testing.assert_array_equal(back[ends], values[ends])
    # the bulk, 1e18 from the sentinels, keeps what float64 resolves there (1,024)
    bulk = back[~ends].astype(np.float64)
    assert (np.abs(bulk - values[~ends].astype(np.float64)) <= 1_024).all()


def test_an_interrupted_fit_drops_the_queued_mixture_fits(monkeypatch):
    """Ctrl-C while the columns' mixtures are queued reaches the caller at once: the pool
    used to run every queued fit first (300 columns: minutes after the interrupt)."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.lognormal(size=(2_000, 60)), columns=[f"c{i}" for i in range(60)])
    df["last"] = rng.choice(["a", "b"], 2_000)
    fitted = []
    original = DataTransformer._fit_mixture

    def counted(self, *args, **kwargs):
        fitted.append(1)
        return original(self, *args, **kwargs)

    def interrupt(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(DataTransformer, "_fit_mixture", counted)
    monkeypatch.setattr(DataTransformer, "_fit_categorical", interrupt)
    with pytest.raises(KeyboardInterrupt):
        fit_transformer(df)
    assert len(fitted) < 30


def test_a_model_array_larger_than_memory_is_refused_by_name(monkeypatch):
    import tssynth.data.memory as memory_module

    df = pd.DataFrame({"city": np.array(["a", "b", "c"] * 400), "x": np.arange(1200.0)})
    transformer = fit_transformer(df)
    width = transformer.output_dim
    monkeypatch.setattr(memory_module, "_physical_memory", lambda: 2 * 4 * width * 1000)
    transformer.transform(df.iloc[:1000])  # exactly half the memory: allowed
    with pytest.raises(InvalidDataError, match=r"1,200 rows x .* 'city' \(3 categories\)"):
        transformer.transform(df)


# ----------------------------------------------------------------- span helpers


def _spans(widths):
    spans, start = [], 0
    for width in widths:
        spans.append(Span(start, start + width, SOFTMAX))
        start += width
    return spans


def test_segment_argmax_matches_a_loop():
    rng = np.random.default_rng(0)
    widths = [3, 1, 7, 2]
    block = softmax_block(_spans(widths))
    values = rng.normal(size=(50, sum(widths)))
    values[0, :3] = 1.0  # ties resolve to the first entry
    expected = np.stack(
        [values[:, s.start : s.stop].argmax(axis=1) for s in _spans(widths)], axis=1
    )
    np.testing.assert_array_equal(segment_argmax(values, block), expected)


def test_segment_sample_follows_the_probabilities():
    rng = np.random.default_rng(0)
    probs = np.array([0.2, 0.5, 0.3, 0.9, 0.1])
    block = softmax_block(_spans([3, 2]))
    draws = segment_sample(np.tile(probs, (40_000, 1)), block, rng)
    np.testing.assert_allclose(np.bincount(draws[:, 0]) / 40_000, probs[:3], atol=0.01)
    np.testing.assert_allclose(np.bincount(draws[:, 1]) / 40_000, probs[3:], atol=0.01)
    padded = sample_last_axis(np.tile([0.25, 0.75, 0.0], (40_000, 1)), rng)
    assert padded.max() == 1
    assert abs(padded.mean() - 0.75) < 0.01


def test_frequent_values_are_exact_point_masses():
    rng = np.random.default_rng(0)
    amount = np.where(rng.random(3000) < 0.85, 0.0, np.round(rng.lognormal(8, 1, 3000), 2))
    hours = np.where(rng.random(3000) < 0.4, 40, rng.integers(1, 99, 3000))
    df = pd.DataFrame({"amount": amount, "hours": hours})
    transformer = fit_transformer(df)
    restored = transformer.inverse_transform(transformer.transform(df))
    np.testing.assert_array_equal(restored["amount"] == 0, df["amount"] == 0)
    np.testing.assert_array_equal(restored["hours"] == 40, df["hours"] == 40)
    # Drawing modes from their weights reproduces the spike shares exactly in value.
    data = transformer.transform(df, np.random.default_rng(1))
    sampled = transformer.inverse_transform(
        data, sigmas=np.full(transformer.output_dim, 0.05), random_state=np.random.default_rng(2)
    )
    assert abs((sampled["amount"] == 0).mean() - (df["amount"] == 0).mean()) < 0.01
    assert abs((sampled["hours"] == 40).mean() - (df["hours"] == 40).mean()) < 0.01


def test_values_seen_once_or_twice_are_not_point_masses():
    """In 20 values each one is 5 % of the column: every value seen once was a point
    mass, and most samples copied a real value."""
    rng = np.random.default_rng(0)
    values = np.r_[rng.normal(size=16), [0.0, 0.0, 0.0], [7.0]]  # 0.0 three times: a mass
    df = pd.DataFrame({"x": values})
    transformer = fit_transformer(df)
    data = transformer.transform(df.sample(2000, replace=True, random_state=0), rng)
    sampled = transformer.inverse_transform(
        data, sigmas=np.full(transformer.output_dim, 0.05), random_state=np.random.default_rng(2)
    )["x"]
    copies = sampled.isin(df["x"])
    assert (sampled == 0.0).mean() > 0.1  # the value seen three times stays exact
    assert copies[sampled != 0.0].mean() < 0.01


@pytest.mark.parametrize("max_modes", [1, 2, 3])
def test_frequent_values_keep_their_point_masses_beside_few_mixture_modes(max_modes):
    # Six values each hold over 5 % of the column (point masses), the rest is spread:
    # a small max_modes bounds the mixture modes only, and the frequent values still
    # come back exactly.
    rng = np.random.default_rng(0)
    values = np.concatenate([np.repeat(np.arange(6.0), 100), rng.normal(50, 5, 400)])
    frame = pd.DataFrame({"x": values})
    transformer = DataTransformer(max_modes=max_modes, random_state=0)
    transformer.fit(frame, infer_schema(frame))
    exact = transformer._exact[0]
    assert np.array_equal(np.sort(exact[np.isfinite(exact)]), np.arange(6.0))
    mixture_modes = np.isnan(exact) & np.isfinite(transformer._log_weights[0])
    assert 1 <= mixture_modes.sum() <= max_modes
    back = transformer.inverse_transform(transformer.transform(frame))
    assert back["x"].between(values.min(), values.max()).all()
    np.testing.assert_array_equal(back["x"].to_numpy()[:600], values[:600])


def test_a_few_far_outliers_leave_the_bulk_of_a_column_narrow():
    # Readings near 20 (sd 0.5) with an error code of -999999 in 1 % of rows: the
    # column's sd is 80,000, and with the mixture's default priors the readings' mode
    # was 1,900 wide, so the decoder's smallest noise drew values far into the gap.
    rng = np.random.default_rng(0)
    reading = rng.normal(20, 0.5, 2000)
    reading[rng.random(2000) < 0.01] = -999999.0
    df = pd.DataFrame({"reading": reading})
    transformer = fit_transformer(df)
    encoded = transformer.transform(df)
    np.testing.assert_allclose(transformer.inverse_transform(encoded)["reading"], reading)
    noisy = transformer.inverse_transform(
        encoded, sigmas=np.full(transformer.output_dim, 0.01), random_state=rng
    )["reading"]
    bulk = noisy[noisy > -100]
    assert len(bulk) == (reading > -100).sum()  # nothing drawn into the gap
    assert bulk.std() < 0.6


def test_values_beyond_the_training_range_are_not_encoded_as_the_bound():
    frame = pd.DataFrame({"x": np.random.default_rng(0).normal(0.0, 1.0, 500)})
    transformer = DataTransformer(random_state=0).fit(frame, infer_schema(frame))
    at_max = transformer.transform(pd.DataFrame({"x": [frame["x"].max()]}))
    beyond = transformer.transform(pd.DataFrame({"x": [10.0, 1e300, -1e300]}))
    assert np.isfinite(beyond).all()
    assert not np.array_equal(beyond[:1], at_max)  # an anomaly stays visible to scores
    np.testing.assert_array_equal(beyond[0], beyond[1])  # saturated past the outer mode


def test_point_masses_at_the_edges_of_huge_integers_come_back_exactly():
    rng = np.random.default_rng(0)
    base = 2**60
    values = np.where(rng.random(400) < 0.5, base, base + rng.integers(1, 1000, 400) * 2**20)
    frame = pd.DataFrame({"big": values.astype(np.int64)})
    transformer = DataTransformer(random_state=0).fit(frame, infer_schema(frame))
    array = transformer.transform(frame, random_state=np.random.default_rng(1))
    back = transformer.inverse_transform(array)
    at_min = frame["big"] == base
    assert (back["big"][at_min] == base).all()
    assert back["big"].between(frame["big"].min(), frame["big"].max()).all()


def test_decoding_draws_equals_decoding_their_one_hot_model_array(mixed_frame):
    transformer = fit_transformer(mixed_frame)
    rng = np.random.default_rng(0)
    n = 500
    gaussian = [s for s in transformer.spans if s.kind != SOFTMAX]
    softmax = [s for s in transformer.spans if s.kind == SOFTMAX]
    means = rng.uniform(-1, 1, (n, len(gaussian)))
    choices = np.stack([rng.integers(0, s.stop - s.start, n) for s in softmax], axis=1)
    data = np.zeros((n, transformer.output_dim), dtype=np.float32)
    data[:, [s.start for s in gaussian]] = means
    for span, s in enumerate(softmax):
        data[np.arange(n), s.start + choices[:, span]] = 1.0
    drawn = transformer.decode_draws(means.astype(np.float32), choices)
    decoded = transformer.decode(data)
    assert drawn.keys() == decoded.keys()
    for key in drawn:
        np.testing.assert_array_equal(drawn[key], decoded[key])
    pd.testing.assert_frame_equal(
        transformer.assemble([drawn]), transformer.inverse_transform(data)
    )
    # Noise on the Gaussian columns comes from the generator alone: the same seed, the same rows.
    sigmas = np.full(len(gaussian), 0.1)
    first, second = (
        transformer.decode_draws(means, choices, sigmas, np.random.default_rng(1)) for _ in range(2)
    )
    np.testing.assert_array_equal(first["continuous"], second["continuous"])
    assert not np.array_equal(first["continuous"], drawn["continuous"])
    with pytest.raises(InvalidDataError, match="draws of shapes"):
        transformer.decode_draws(means[:, :1], choices)


def test_decimals_computed_before_they_were_stored_keep_their_grid():
    """R's fgl RI: 3.00999999999999 and -0.339999999999918, 2e-13 off two decimals
    (more than float64's few units), and a grid of none was found."""
    from tssynth.data.continuous import decimal_step

    computed = np.array(
        [3.00999999999999, -0.3900000000001, -0.339999999999918, 0.0, 1.18000000000006]
    )
    assert decimal_step(computed) == 0.01
    assert decimal_step(np.array([1.5, 1.000001])) == 1e-6  # a real sixth decimal
    assert decimal_step(np.array([0.1234567, 2.0])) == 0.0  # finer than six decimals


def test_every_value_of_5_percent_is_an_exact_point_mass():
    """R's airquality Wind has 11 values of 5 % or more; with room for 9, two came back
    in 0.4 % of samples."""
    rng = np.random.default_rng(0)
    frequent = np.round(np.linspace(5.1, 15.1, 12), 1)
    values = np.r_[np.repeat(frequent, 40), np.round(rng.uniform(2, 20, 120), 1)]
    df = pd.DataFrame({"wind": values})
    transformer = fit_transformer(df)
    data = transformer.transform(df, np.random.default_rng(1))
    sampled = transformer.inverse_transform(
        data, sigmas=np.full(transformer.output_dim, 0.05), random_state=np.random.default_rng(2)
    )["wind"]
    shares = sampled.value_counts(normalize=True)
    assert all(shares.get(value, 0.0) > 0.05 for value in frequent)


def test_coarse_grids_are_found_and_samples_stay_on_them():
    from tssynth import TVAESynthesizer
    from tssynth.data.continuous import coarsest_grid, grid_factors

    assert coarsest_grid(np.array([1200.0, 300.0, 4500.0]), 1.0) == (300.0, 0.0)
    assert coarsest_grid(np.array([0.3, 0.45, 1.5]), 0.01) == (pytest.approx(0.15), 0.0)
    assert coarsest_grid(np.array([9.99, 19.99, 4.99, 8.49]), 0.01) == pytest.approx((0.5, 0.49))
    assert coarsest_grid(np.array([3.0, 7.0, 1.0]), 1.0) == (2.0, 1.0)
    assert coarsest_grid(np.array([2.0, 3.0, 7.0]), 1.0) == (1.0, 0.0)
    assert coarsest_grid(np.array([1.5, 2.5]), 0.0) == (0.0, 0.0)
    per_unit, unit = grid_factors(np.array([0.15, 0.01, 500.0, 0.0]))
    np.testing.assert_array_equal(per_unit, [100, 100, 1, 1])
    np.testing.assert_array_equal(unit, [15, 1, 500, 1])

    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame(
        {
            "income": np.round(rng.lognormal(10, 0.5, n), -2),
            "minutes": rng.integers(0, 8, n) * 15,
            "rate": rng.integers(1, 30, n) * 0.15,
            "slot": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 5000, n) * 15, unit="min"),
        }
    )
    sample = TVAESynthesizer(epochs=2, random_state=0, batch_size=100).fit(frame).sample(2000)
    for column, step in (("income", 100), ("minutes", 15), ("rate", 0.15)):
        counts = sample[column].to_numpy(float) / step
        np.testing.assert_allclose(counts, np.round(counts), atol=1e-9, err_msg=column)
    assert (sample["slot"].dt.minute % 15 == 0).all() and (sample["slot"].dt.second == 0).all()
    assert sample["rate"].isin(np.round(np.arange(1, 30) * 0.15, 2)).all()


def test_samples_keep_a_grid_that_does_not_pass_through_zero():
    from tssynth import TVAESynthesizer

    rng = np.random.default_rng(0)
    n = 800
    frame = pd.DataFrame(
        {
            "half": rng.integers(0, 100, n) + 0.5,
            "odd": rng.integers(0, 100, n) * 2 + 1,
            "price": rng.integers(1, 60, n) * 0.5 - 0.01,  # 0.49, 0.99, 1.49, ...
            "slot": pd.Timestamp("2024-01-01 00:30")
            + pd.to_timedelta(rng.integers(0, 24 * 90, n), unit="h"),
            "local": pd.Series(pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"))
            .dt.tz_convert("Asia/Kolkata")
            .to_numpy(),
        }
    )
    frame["local"] = frame["local"].dt.tz_convert("Asia/Kolkata")
    model = TVAESynthesizer(epochs=3, random_state=0, batch_size=200).fit(frame)
    sample = model.sample(2000)
    assert (sample["half"] % 1 == 0.5).all()
    assert (sample["odd"] % 2 == 1).all()
    assert sample["price"].isin(np.round(np.arange(1, 60) * 0.5 - 0.01, 2)).all()
    assert (sample["slot"].dt.minute == 30).all()
    assert (sample["local"].dt.minute == 30).all()  # UTC hours are half past in India
    assert sample["half"].between(frame["half"].min(), frame["half"].max()).all()
    assert sample["price"].nunique() > 20


@pytest.mark.parametrize(
    ("mean", "sd", "low", "high"),
    [(0.0, 1.0, -0.5, 2.0), (0.0, 1.0, 1.5, 4.0), (3.0, 0.5, -1.0, 0.0), (0.0, 1.0, 30.0, 30.1)],
)
def test_truncated_normal_draws_the_conditioned_distribution(mean, sd, low, high):
    from scipy.stats import kstest, truncnorm

    from tssynth.data.truncated import truncated_normal

    n = 4000
    full = np.full(n, 1.0)
    draws = truncated_normal(
        mean * full, sd * full, low * full, high * full, np.random.default_rng(0)
    )
    assert draws.min() >= low and draws.max() <= high
    reference = truncnorm((low - mean) / sd, (high - mean) / sd, loc=mean, scale=sd)
    assert kstest(draws, reference.cdf).pvalue > 0.01  # also 30 sd out, past a naive CDF


def test_truncated_normal_gives_the_nearest_bound_past_the_cdf_range():
    from tssynth.data.truncated import truncated_normal

    one = np.ones(3)
    draws = truncated_normal(
        0 * one, one, np.array([50.0, -61, -2]), np.array([51.0, -60, 2]), np.random.default_rng(0)
    )
    assert draws[0] == 50.0 and draws[1] == -60.0 and -2 <= draws[2] <= 2


def test_noise_past_the_range_is_folded_back_without_piling_on_the_bounds():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"uniform": rng.uniform(0, 1, 2000), "amount": rng.lognormal(3, 1.5, 2000)}
    )
    transformer = fit_transformer(frame)
    n = 20_000
    means = rng.uniform(-1, 1, (n, 2))
    softmax = [s for s in transformer.spans if s.kind == SOFTMAX]
    choices = np.stack([rng.integers(0, s.stop - s.start, n) for s in softmax], axis=1)
    drawn = transformer.decode_draws(means, choices, np.full(2, 0.5), np.random.default_rng(1))
    out = transformer.assemble([drawn])
    for column in frame:
        low, high = frame[column].min(), frame[column].max()
        assert out[column].between(low, high).all()
        # clipping put 14 % of these draws on a bound; folding spreads them out
        assert (out[column] == low).mean() < 0.001 and (out[column] == high).mean() < 0.001


def test_skewed_non_negative_columns_are_modelled_on_the_log_scale():
    from tssynth.data.continuous import log_shift

    rng = np.random.default_rng(0)
    amounts = rng.lognormal(0, 1.5, 3000)
    with_zeros = np.where(rng.random(3000) < 0.3, 0.0, amounts + 0.25)
    assert log_shift(amounts) == 0.0  # log(x)
    assert log_shift(with_zeros) == with_zeros[with_zeros > 0].min()  # log(x + smallest > 0)
    for unskewed in (rng.normal(10, 1, 3000), rng.uniform(0, 1, 3000), -amounts, amounts - 1):
        assert np.isnan(log_shift(unskewed))
    # far from zero the log is nearly linear and would cost float resolution
    assert np.isnan(log_shift(1e18 + np.round(rng.pareto(1.0, 3000) * 1e4)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow near the float limit
        assert np.isnan(log_shift(np.linspace(1.0e308, 1.7e308, 200) ** 1.0))
    # declared bounds may reach below zero: such a column stays on its raw scale
    frame = pd.DataFrame({"x": amounts})
    bounded = DataTransformer(random_state=0).fit(
        frame, infer_schema(frame, metadata={"bounds": {"x": [-10, 1000]}})
    )
    assert bounded._log_rows.size == 0
    inside = pd.DataFrame({"x": [-5.0, -0.5, 0.0, 2.0]})
    np.testing.assert_allclose(
        bounded.inverse_transform(bounded.transform(inside))["x"], inside["x"], atol=1e-6
    )
    # the top 0.1 % of a Pareto column survives the round trip and sampling's modes
    pareto = pd.DataFrame({"x": rng.pareto(1.5, 3000) + 1.0})
    transformer = fit_transformer(pareto)
    back = transformer.inverse_transform(transformer.transform(pareto))
    np.testing.assert_allclose(back["x"], pareto["x"], rtol=1e-4)


def test_zeros_of_a_logged_column_come_back_exactly_without_a_point_mass_mode():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": np.where(rng.random(2000) < 0.3, 0.0, rng.lognormal(0, 1, 2000))})
    transformer = DataTransformer(max_modes=1, random_state=0).fit(frame, infer_schema(frame))
    assert transformer._log_rows.size == 1
    array = transformer.transform(frame)
    back = transformer.inverse_transform(array.astype(np.float32))
    assert (back["x"][frame["x"] == 0] == 0.0).all()  # not 1e-7: float32 rounding snapped


def test_state_from_before_the_log_transform_still_loads():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(5, 1, 500), "y": rng.lognormal(0, 1, 500)})
    transformer = fit_transformer(frame)
    state = transformer.to_state()
    assert state["continuous"]["shift"][1] == 0.0  # y is logged
    del state["continuous"]["shift"], state["continuous"]["part"], state["split_bounds"]
    old = DataTransformer.from_state(state)
    assert old._log_rows.size == 0
    array = transformer.transform(frame)
    np.testing.assert_array_equal(
        old.inverse_transform(array)["x"], transformer.inverse_transform(array)["x"]
    )


def test_noise_keeps_a_mixture_mode_clear_of_the_gap_next_to_a_point_mass():
    """An amount that is 0 or at least 1,000: drawn noise reflected at the column's
    minimum (0) let values into (0, 1000), which the data never has."""
    rng = np.random.default_rng(0)
    gain = np.where(rng.random(2000) < 0.8, 0.0, rng.uniform(1_000, 20_000, 2000))
    frame = pd.DataFrame({"gain": gain})
    transformer = fit_transformer(frame)
    encoded = transformer.transform(frame, np.random.default_rng(1)).astype(np.float32)
    sigmas = np.full(transformer.output_dim, 0.5)  # a wide decoder sigma
    drawn = transformer.inverse_transform(encoded, sigmas, np.random.default_rng(2))["gain"]
    assert drawn[drawn > 0].min() >= 1_000 and (drawn == 0).mean() > 0.7
    # declared bounds are the range samples may take: no narrower one for the modes
    declared = DataTransformer(random_state=0).fit(
        frame, infer_schema(frame, metadata={"bounds": {"gain": [0, 30_000]}})
    )
    assert np.isnan(declared._mode_low).all() and not np.isnan(transformer._mode_low).all()
    state = transformer.to_state()  # a state from before the modes' bounds still loads
    del state["continuous"]["low"], state["continuous"]["high"]
    old = DataTransformer.from_state(state)
    assert np.isnan(old._mode_low).all()
    pd.testing.assert_frame_equal(
        old.inverse_transform(encoded), transformer.inverse_transform(encoded)
    )


def _event_times(n: int, seed: int = 0, tz: str | None = None) -> pd.Series:
    rng = np.random.default_rng(seed)
    day = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    minutes = np.round(np.clip(rng.normal(13, 2.5, n), 0, 23.9) * 60)
    times = pd.Series(day + pd.to_timedelta(minutes, unit="min"))
    return times.dt.tz_localize(tz, nonexistent="shift_forward", ambiguous=False) if tz else times


@pytest.mark.parametrize("tz", [None, "Europe/Berlin"])
def test_datetimes_are_modelled_as_day_and_time_of_day_and_round_trip(tz):
    times = _event_times(500, tz=tz)
    frame = pd.DataFrame({"when": times.where(np.arange(500) % 10 != 0), "x": np.arange(500.0)})
    transformer = fit_transformer(frame)
    assert transformer._cont_part.tolist() == [3, 4, 2, 0]  # week, weekday, time of day, x
    back = transformer.inverse_transform(transformer.transform(frame))
    pd.testing.assert_series_equal(back["when"], frame["when"])  # exact, NaT kept
    rng = np.random.default_rng(1)
    noise = rng.uniform(-1, 1, size=(3000, transformer.output_dim))
    out = transformer.inverse_transform(
        noise, sigmas=np.ones(transformer.output_dim), random_state=rng
    )["when"].dropna()
    assert out.between(times.min(), times.max()).all()
    assert (out.dt.second == 0).all()  # the minute grid of the times of day


def test_calendar_parts_follow_what_varies():
    from tssynth.data.calendar import calendar_parts
    from tssynth.data.schema import infer_schema

    times = _event_times(300)
    # (week, weekday) from two weeks on, else day, plus time of day; whole when a single
    # part varies or on fewer than 7 days (a few timestamps are point masses)
    parts = {
        "dates": (times.dt.normalize(), [3, 4]),
        "mondays": (pd.Series(pd.date_range("2024-01-01", periods=300, freq="W-MON")), [0]),
        "one day": (pd.Timestamp("2024-03-01") + (times - times.dt.normalize()), [0]),
        "twelve days": (
            pd.Timestamp("2024-03-04") + pd.to_timedelta(np.arange(300) * 0.04, "D"),
            [1, 2],
        ),
        # most rows on ten frequent timestamps: point masses of the whole column
        "ten times": (
            pd.Timestamp("2024-03-04") + pd.to_timedelta(np.arange(300) % 10 * 1.1, "D"),
            [0],
        ),
        "five days": (
            pd.Timestamp("2024-03-04") + pd.to_timedelta(np.arange(300) % 5 * 1.2, "D"),
            [0],
        ),
    }
    for name, (column, expected) in parts.items():
        frame = pd.DataFrame({"when": column})
        assert fit_transformer(frame)._cont_part.tolist() == expected, name
    frame = pd.DataFrame({"when": times})
    unsplit = DataTransformer(split_times=False).fit(frame, infer_schema(frame))
    assert unsplit._cont_part.tolist() == [0]
    # the parts add up exactly; weekday runs from -3 days (Monday) to 3 (Sunday)
    values = calendar_parts(times, infer_schema(frame)[0])
    day = 86_400 * 10**6  # microseconds
    ints = times.to_numpy().astype("datetime64[us]").view(np.int64)
    np.testing.assert_array_equal(values["week"] + values["weekday"] + values["time"], ints)
    np.testing.assert_array_equal(values["weekday"] / day + 3, times.dt.day_of_week)


def _stays(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    admitted = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 730 * 24, n), "h")
    stay = pd.to_timedelta(np.round(rng.lognormal(1, 0.8, n) * 24), "h")
    born = pd.Timestamp("1940-01-01") + pd.to_timedelta(rng.integers(0, 60 * 365, n), "D")
    discharged = pd.Series(admitted + stay).where(rng.random(n) > 0.1)  # 10 % still in
    return pd.DataFrame({"discharged": discharged, "born": born, "admitted": admitted})


def test_a_datetime_never_before_another_is_modelled_as_its_offset():
    frame = _stays(600)
    transformer = fit_transformer(frame)
    # discharged follows admitted; births are all before admissions: no anchor needed
    assert transformer._anchors == {0: 2}
    back = transformer.inverse_transform(transformer.transform(frame))
    pd.testing.assert_frame_equal(back, frame)
    state = transformer.to_state()
    assert DataTransformer.from_state(state)._anchors == {0: 2}
    del state["anchors"]  # files from before anchors: every column on its own
    assert DataTransformer.from_state(state)._anchors == {}
    flipped = frame.assign(discharged=frame["admitted"] - pd.Timedelta("1h"))
    flipped.loc[0, "discharged"] = frame.loc[0, "admitted"] + pd.Timedelta("1h")
    assert fit_transformer(flipped)._anchors == {}  # the order does not always hold
    unanchored = DataTransformer(relative_times=False).fit(frame, infer_schema(frame))
    assert unanchored._anchors == {}
    # chains in order, whatever the medians of partly missing columns say
    rng = np.random.default_rng(1)
    placed = pd.Series(
        pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 8760, 600), "h")
    )
    shipped = (placed + pd.to_timedelta(rng.integers(1, 48, 600), "h")).where(placed.dt.month < 11)
    delivered = (shipped + pd.to_timedelta(rng.integers(1, 96, 600), "h")).where(
        placed.dt.month < 9
    )
    orders = pd.DataFrame({"delivered": delivered, "shipped": shipped, "placed": placed})
    transformer = fit_transformer(orders)
    assert list(transformer._anchors.items()) == [(1, 2), (0, 1)]  # shipped first
    pd.testing.assert_frame_equal(
        transformer.inverse_transform(transformer.transform(orders)), orders
    )


def _follow_up(n: int, seed: int = 0) -> pd.DataFrame:
    """Diagnoses over six years; a death date, or the study's end for those alive."""
    rng = np.random.default_rng(seed)
    diagnosed = pd.Series(
        pd.Timestamp("1986-01-01") + pd.to_timedelta(rng.integers(0, 2190, n), "D")
    )
    end = pd.Timestamp("1992-07-01")
    died = np.minimum(diagnosed + pd.to_timedelta(rng.integers(1, 900, n), "D"), end)
    alive = rng.random(n) < 0.4
    return pd.DataFrame({"diagnosed": diagnosed, "death": died.where(~alive, end)})


def test_a_shared_end_date_of_an_anchored_column_is_kept_absolute():
    from tssynth.data.calendar import absolute_masses

    frame = _follow_up(600)
    transformer = fit_transformer(frame)
    assert transformer._anchors == {1: 0}
    end = pd.Timestamp("1992-07-01").as_unit(frame["death"].dt.unit)._value
    assert transformer._absolute_times[1].tolist() == [end]
    pd.testing.assert_frame_equal(
        transformer.inverse_transform(transformer.transform(frame)), frame
    )
    state = transformer.to_state()
    back = DataTransformer.from_state(state)
    pd.testing.assert_frame_equal(back.inverse_transform(back.transform(frame)), frame)
    del state["absolute_times"]  # files from before: the end as an offset, as it was
    assert DataTransformer.from_state(state)._absolute_times == {}
    ints = np.array([5, 5, 5, 5, 9, 12, 30])
    assert absolute_masses(ints, ints - np.array([1, 2, 3, 4, 1, 2, 3])).tolist() == [5]
    # an end a day after a frequent start is that start's point mass: kept relative
    assert absolute_masses(ints, ints - np.array([4, 4, 4, 4, 1, 2, 3])).size == 0
    # a start after the value could draw it before its start: kept relative
    assert absolute_masses(ints, ints - np.array([1, 2, 3, 4, 1, 2, 6])).size == 0
    # starts that are missing (one stand-in offset) neither share an offset nor rule it out
    offsets = (ints - np.array([1, 2, 3, 4, 1, 2, 3])).astype(float)
    offsets[[0, 1, 2]] = np.nan
    assert absolute_masses(ints, offsets).tolist() == [5]


def test_rows_at_an_absolute_value_stay_out_of_every_relative_part():
    # Ends days after their starts at 9, 11, 14 or 17 h; 30 % at a shared 18:00. Seen by
    # the time-of-day part, 18:00 became its point mass: 28 % of the other ends took it.
    rng = np.random.default_rng(0)
    n = 400
    start = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 150 * 24, n), "h")
    days = pd.to_timedelta(rng.integers(1, 20, n), "D")
    end = start.normalize() + days + pd.to_timedelta(rng.choice([9, 11, 14, 17], n), "h")
    shared = pd.Timestamp("2022-06-30 18:00")
    frame = pd.DataFrame({"start": start, "end": end.where(rng.random(n) > 0.3, shared)})
    transformer = fit_transformer(frame)
    assert transformer._absolute_times[1].tolist() == [shared.as_unit(end.unit)._value]
    time_row = np.flatnonzero((transformer._cont_index == 1) & (transformer._cont_part == 2))
    hours = transformer._exact[time_row[0]] / pd.Timedelta("1h").as_unit(end.unit)._value
    assert sorted(hours[~np.isnan(hours)].tolist()) == [9, 11, 14, 17]
    pd.testing.assert_frame_equal(
        transformer.inverse_transform(transformer.transform(frame)), frame
    )


def test_calendar_parts_keep_a_fixed_time_and_sub_second_values():
    rng = np.random.default_rng(0)
    days = pd.Timestamp("2023-01-02") + pd.to_timedelta(rng.integers(0, 300, 500), "D")
    frame = pd.DataFrame({"at": pd.Series(days + pd.Timedelta("08:30:00"))})
    transformer = fit_transformer(frame)
    assert transformer._cont_part.tolist() == [3, 4]  # the 08:30 rides on the weekday
    pd.testing.assert_frame_equal(
        transformer.inverse_transform(transformer.transform(frame)), frame
    )
    micro = pd.DataFrame(
        {"at": pd.Series(days + pd.to_timedelta(rng.integers(0, 86_400 * 10**6, 500), "us"))}
    )
    transformer = fit_transformer(micro)
    back = transformer.inverse_transform(transformer.transform(micro))
    # float32 rounding of a time of day, never a week: the minimum once came back 7 days on
    assert (back["at"] - micro["at"]).abs().max() < pd.Timedelta("10ms")


def test_a_same_day_end_drawn_before_its_start_stays_on_that_day():
    from tssynth.data.calendar import after_anchor

    spec = infer_schema(pd.DataFrame({"t": pd.to_datetime(["2022-01-01"])}))[0]  # unit us
    hour = 3600e6
    starts = pd.to_datetime(["2022-03-01 23:00", "2022-03-01 10:00"]).as_unit("us")
    start = starts.asi8.astype(np.float64)
    ends = after_anchor(start, np.array([1.0, 8.0]) * hour, spec, by_day=True, step=0.0, low=0.0)
    ends = pd.to_datetime(ends.astype(np.int64), unit="us")
    assert (ends >= starts).all() and (ends.normalize() == starts.normalize()).all()
    assert ends[1] == pd.Timestamp("2022-03-01 12:00")  # folded back: 2 h before, 2 h after


def test_an_anchor_coarser_than_its_dependant_is_read_only_where_that_is_present():
    rng = np.random.default_rng(0)
    start = pd.Series(
        pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 24 * 365, 200), "h")
    ).astype("datetime64[s]")
    end = (start + pd.to_timedelta(rng.integers(1, 100, 200), "h")).astype("datetime64[ns]")
    df = pd.DataFrame({"start": start, "end": end})
    transformer = DataTransformer(random_state=0).fit(df, infer_schema(df))
    assert transformer._anchors == {1: 0}
    new = df.head(2).copy()
    new.loc[0, "start"] = pd.Timestamp("2300-01-01")  # a second count nanoseconds cannot hold
    new.loc[0, "end"] = pd.NaT
    out = transformer.inverse_transform(transformer.transform(new))  # no range error
    assert out["end"].iloc[1] == new["end"].iloc[1]


# ------------------------------------------------------------ numeric order


def _prices(n: int, seed: int = 0) -> pd.DataFrame:
    """Daily prices: low <= open, close <= high, on a cent grid; volume unrelated."""
    rng = np.random.default_rng(seed)
    level = 50 + np.cumsum(rng.normal(0, 1, n))
    open_, close = level + rng.normal(0, 0.5, n), level + rng.normal(0, 0.5, n)
    low = np.minimum(open_, close) - rng.exponential(0.3, n)
    high = np.maximum(open_, close) + rng.exponential(0.3, n)
    frame = pd.DataFrame({"open": open_, "high": high, "low": low, "close": close}).round(2)
    return frame.assign(volume=rng.integers(1_000, 9_000, n))


def test_numeric_columns_never_below_another_are_modelled_as_gaps_above_it():
    from tssynth.data.order import find_floors

    frame = _prices(400)
    transformer = fit_transformer(frame)
    # open and close above low, high above all three
    assert transformer._floors == {0: (2,), 3: (2,), 1: (0, 2, 3)}
    pd.testing.assert_frame_equal(
        transformer.inverse_transform(transformer.transform(frame)), frame
    )
    back = DataTransformer.from_state(transformer.to_state())
    pd.testing.assert_frame_equal(back.inverse_transform(back.transform(frame)), frame)
    state = transformer.to_state()
    del state["floors"]  # files from before: every column on its own
    assert DataTransformer.from_state(state)._floors == {}
    columns = infer_schema(frame)
    broken = frame.copy()
    broken.loc[5, "high"] = broken.loc[5, "low"] - 0.01  # one row breaks the order
    assert 1 not in find_floors(infer_schema(broken), broken)
    # low missing where open and close are present: still their floor (stood in for)
    gapped = frame.assign(low=frame["low"].mask(np.arange(400) == 7))
    assert find_floors(columns, gapped) == {0: (2,), 3: (2,), 1: (0, 2, 3)}
    # a count of few values keeps no finer floor (cylinders above litres), a coarse one
    rng = np.random.default_rng(1)
    litres = rng.uniform(1.0, 6.0, 300).round(1)
    cars = pd.DataFrame(
        {"litres": litres, "cylinders": np.select([litres < 2.5, litres < 4], [4, 6], 8)}
    )
    assert find_floors(infer_schema(cars), cars) == {}
    births = rng.integers(0, 3, 300)
    women = pd.DataFrame({"births": births, "pregnancies": births + rng.integers(0, 3, 300)})
    assert find_floors(infer_schema(women), women) == {1: (0,)}
    # ranges that keep the order by themselves: no floor
    ages = pd.DataFrame({"age": np.arange(20, 80), "years": np.arange(60) % 15})
    assert find_floors(infer_schema(ages), ages) == {}
    off = DataTransformer(random_state=0, relative_numbers=False).fit(frame, columns)
    assert off._floors == {}


def test_a_floor_missing_in_a_row_takes_its_column_with_it():
    frame = _prices(300)
    both = frame.assign(
        low=frame["low"].mask(np.arange(300) % 10 == 0),
        open=frame["open"].mask(np.arange(300) % 10 == 0),
        close=frame["close"].mask(np.arange(300) % 10 == 0),
        high=frame["high"].mask(np.arange(300) % 10 == 0),
    )
    transformer = fit_transformer(both)
    assert transformer._floors
    pd.testing.assert_frame_equal(transformer.inverse_transform(transformer.transform(both)), both)


def test_a_floor_missing_where_its_column_is_present_is_stood_in_for():
    # A tenth of the lows missing, every high present: the order was dropped (lows
    # had to be present wherever highs were) and 18 % of sampled rows broke it.
    from tssynth.synthesizers import TVAESynthesizer

    rng = np.random.default_rng(2)
    low = rng.normal(10, 5, 600).round(1)
    high = (low + rng.exponential(3, 600)).round(1)
    frame = pd.DataFrame({"low": np.where(rng.random(600) < 0.1, np.nan, low), "high": high})
    frame.index = np.arange(600) * 3 + 7  # row labels of any kind
    transformer = fit_transformer(frame)
    assert transformer._floors == {1: (0,)}
    gap, lowest, highest = transformer._floor_stand_ins[1][0]
    assert gap in (frame["high"] - frame["low"]).to_numpy()  # on the grid
    assert gap == pytest.approx(np.median(high - low))
    assert (lowest, highest) == (np.nanmin(frame["low"]), np.nanmax(frame["low"]))
    for fitted in (transformer, DataTransformer.from_state(transformer.to_state())):
        back = fitted.inverse_transform(fitted.transform(frame))
        pd.testing.assert_frame_equal(back, frame.reset_index(drop=True))
    synthesizer = TVAESynthesizer(epochs=10, random_state=0).fit(frame)
    samples = synthesizer.sample(2000)
    assert not (samples["high"] < samples["low"]).any()  # where both are present
    assert samples["high"].notna().all()  # no mask of its floor's
    assert abs(samples["low"].isna().mean() - frame["low"].isna().mean()) < 0.05


def test_a_column_above_its_floor_stays_on_a_grid_off_zero():
    from tssynth.data.order import above_floor

    rng = np.random.default_rng(0)
    prices = np.floor(rng.uniform(1, 50, 400)) + 0.99  # every price ends in .99
    frame = pd.DataFrame({"list": prices, "paid": prices + rng.integers(0, 10, 400)})
    transformer = fit_transformer(frame)
    assert transformer._floors == {1: (0,)}
    pd.testing.assert_frame_equal(
        transformer.inverse_transform(transformer.transform(frame)), frame
    )
    # 9.99 + 1: 10.99 on the grid of .99 (rounding in whole units gave 11.0)
    assert above_floor(np.array([9.99]), np.array([1.0]), 0.0, 100.0, 1.0, 0.99) == [10.99]
    assert above_floor(np.array([37.5]), np.array([1.2]), 0.0, 100.0, 1.0, 0.5) == [38.5]


def test_a_column_missing_with_its_floor_keeps_its_missing_rate():
    # Both missing in the same 30 % of rows: sampled, the column was missing in its own
    # rows and its floor's, 52 % of them.
    rng = np.random.default_rng(0)
    low = rng.normal(10, 5, 1500).round(1)
    both = rng.random(1500) < 0.3
    frame = pd.DataFrame(
        {
            "low": np.where(both, np.nan, low),
            "high": np.where(both, np.nan, (low + rng.gamma(2, 2, 1500)).round(1)),
        }
    )
    transformer = fit_transformer(frame)
    assert transformer._floors == {1: (0,)} and transformer._missing_with_floors == {1}
    # decoded with the floor's missing mask, whatever the column's own indicator says
    model = transformer.transform(frame)
    own = transformer._missing_cols[transformer._missing_index.index(1)]
    model[:, own : own + 2] = [0.0, 1.0]  # "missing" everywhere
    back = transformer.inverse_transform(model)
    assert back["high"].isna().equals(frame["low"].isna())
    state = DataTransformer.from_state(transformer.to_state())
    assert state._missing_with_floors == {1}


def test_a_value_beside_a_point_mass_is_not_taken_for_it():
    # A point mass's std is 0.001 of the column's: on a column 1,700 wide a 2 beside a
    # mass at 0 (Baseball's at-bats above their floors) was encoded and decoded as 0.
    rng = np.random.default_rng(0)
    values = np.concatenate([np.zeros(30), [2, 3], rng.integers(400, 9_000, 300)])
    frame = pd.DataFrame({"gap": values.astype(np.int64)})
    transformer = fit_transformer(frame)
    assert np.nanmin(transformer._exact) == 0  # the mass at 0 is a point-mass mode
    pd.testing.assert_frame_equal(
        transformer.inverse_transform(transformer.transform(frame)), frame
    )


def test_a_value_is_drawn_only_into_modes_that_give_it_back():
    # Modes drawn as in training: a value drawn into a far mode (5 of its stds out)
    # came back clipped at its reach, and a 0 drawn into the mixture beside its
    # point mass came back as the mixture's smallest value; now a draw decodes as the
    # most likely mode does.
    rng = np.random.default_rng(0)
    hours = np.where(rng.random(4000) < 0.4, 0, rng.integers(1, 3000, 4000))
    frame = pd.DataFrame({"hours": hours, "x": rng.standard_t(3, 4000).round(3)})
    transformer = fit_transformer(frame)
    most_likely = transformer.inverse_transform(transformer.transform(frame))
    pd.testing.assert_series_equal(most_likely["hours"], frame["hours"])
    for seed in range(5):
        encoded = transformer.transform(frame, np.random.default_rng(seed))
        pd.testing.assert_frame_equal(transformer.inverse_transform(encoded), most_likely)


def test_floors_that_would_close_a_cycle_through_missing_values_are_left_out():
    from tssynth.data.order import find_floors

    # a above b where c is missing, b above c where a is, c above a where b is
    rng = np.random.default_rng(0)
    base, gap = rng.uniform(20, 100, 900).round(1), rng.exponential(5, 900).round(1)
    kind = np.arange(900) % 3
    base[kind == 0] += 1  # no b below the smallest c (where c is stood in for)
    a = np.select([kind == 0, kind == 1], [base + gap, np.nan], base)
    b = np.select([kind == 0, kind == 1], [base, base + gap], np.nan)
    c = np.select([kind == 0, kind == 1], [np.nan, base], base + gap)
    frame = pd.DataFrame({"a": a, "b": b, "c": c})
    # found in turn: b above c; c above a would close the cycle; a above b is left
    # out as b, with a floor of its own, is missing where a is present
    assert find_floors(infer_schema(frame), frame) == {1: (2,)}
    transformer = fit_transformer(frame)
    back = transformer.inverse_transform(transformer.transform(frame))
    pd.testing.assert_frame_equal(back, frame)


def test_a_floor_with_floors_of_its_own_is_no_stand_in():
    # high above open above low, open missing in some rows: a stand-in open (high less
    # its median gap) could fall below the low, outside open's gaps above it
    frame = _prices(600)[["high", "open", "low"]]
    frame["open"] = frame["open"].mask(np.arange(600) % 7 == 0)
    transformer = fit_transformer(frame)
    assert transformer._floors == {1: (2,), 0: (2,)}
    assert 0 not in transformer._floor_stand_ins
    back = transformer.inverse_transform(transformer.transform(frame))
    pd.testing.assert_frame_equal(back, frame)


def test_a_floor_under_two_columns_stands_in_below_both():
    # Each column's stand-in alone: the second column measured its gap from the
    # first's stand-in, fell below it, and came back clipped.
    rng = np.random.default_rng(0)
    floor = rng.normal(100, 10, 800).round(2)
    near = (floor + rng.exponential(1, 800)).round(2)
    far = (floor + rng.exponential(20, 800)).round(2)
    frame = pd.DataFrame({"floor": np.where(rng.random(800) < 0.1, np.nan, floor)})
    frame = frame.assign(near=near, far=far)
    transformer = fit_transformer(frame)
    assert transformer._floors == {1: (0,), 2: (0,)}
    assert set(transformer._floor_stand_ins) == {1, 2}
    back = transformer.inverse_transform(transformer.transform(frame))
    pd.testing.assert_frame_equal(back, frame)
