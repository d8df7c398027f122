"""Awkward but real inputs: each either works and round-trips, or fails early with a named error."""

from __future__ import annotations

import datetime
import decimal
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import tssynth
from tssynth import DenseVAESynthesizer, DVAESynthesizer, InvalidDataError, TVAESynthesizer
from tssynth.exceptions import InvalidParameterError
from tssynth.metrics import fidelity_report

TINY = {
    "embedding_dim": 4,
    "compress_dims": (8,),
    "decompress_dims": (8,),
    "epochs": 1,
    "device": "cpu",
    "random_state": 0,
}
DVAE_TINY = {**TINY, "hidden_dim": 8, "batch_size": 16}


def _panel(n_entities: int = 4, length: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = n_entities * length
    return pd.DataFrame(
        {
            "id": np.repeat(np.arange(n_entities), length),
            "t": np.tile(np.arange(length), n_entities),
            "v": rng.normal(size=n),
            "c": rng.choice(["p", "q"], n).astype(object),
        }
    )


# ------------------------------------------------------------------ tables


@pytest.mark.parametrize(
    "values",
    [
        np.array([2**63 - 1, 2**63 - 1000, 2**63 - 5000] * 10, dtype=np.int64),
        np.array([2**63 + 5, 2**64 - 1, 2**63 + 1000] * 10, dtype=np.uint64),
        np.array([2**62, 2**62 + 1, 2**62 + 12345, 2**62 - 999] * 10, dtype=np.int64),
        # 190 integers that float64 holds as two values, both outside the range
        np.arange(2**60 + 10, 2**60 + 200, dtype=np.int64),
    ],
    ids=["int64-max", "uint64-top", "int64-2**62", "int64-collapsing"],
)
def test_integers_beyond_float_precision_stay_inside_the_training_range(values):
    frame = pd.DataFrame({"big": values})
    out = TVAESynthesizer(**TINY).fit(frame).sample(200)["big"]
    assert out.dtype == values.dtype
    # No wrap-around to the other end of the dtype, and no float rounding past min/max.
    assert out.min() >= values.min() and out.max() <= values.max()


def test_constants_beyond_float_precision_come_back_exactly():
    frame = pd.DataFrame(
        {
            "x": np.arange(50.0),
            "tenant": np.int64(1234567890123456789),
            "top": np.uint64(2**64 - 1),
            "nullable": pd.array([2**62 + 5] * 49 + [None], dtype="Int64"),
            "loaded": pd.Timestamp("2024-01-01 00:00:00.123456789"),
        }
    )
    out = TVAESynthesizer(**TINY).fit(frame).sample(100)
    assert (out["tenant"] == 1234567890123456789).all()  # not ...768
    assert (out["top"] == 2**64 - 1).all() and out["top"].dtype == np.uint64
    assert (out["nullable"].dropna() == 2**62 + 5).all() and out["nullable"].dtype == "Int64"
    assert (out["loaded"] == pd.Timestamp("2024-01-01 00:00:00.123456789")).all()


@pytest.mark.parametrize("scale", [1e-300, 1e300, 1.7e308])
def test_tiny_and_huge_floats_are_learned(scale):
    values = np.random.default_rng(0).normal(size=40).clip(-1, 1) * scale
    out = TVAESynthesizer(**TINY).fit(pd.DataFrame({"x": values})).sample(200)["x"]
    assert np.isfinite(out).all()
    assert out.min() >= values.min() and out.max() <= values.max()
    assert out.nunique() > 2  # not collapsed onto the bounds


def test_integers_past_float_precision_within_a_narrow_range_are_exact(tmp_path):
    """Two tenant IDs 210 apart near 1.2e18 were one float (spacing 256 there): every
    sample was the first ID. Nanoseconds since 1970 kept only float64's 256 ns."""
    rng = np.random.default_rng(0)
    ids = np.array([1234567890123456789, 1234567890123456999], dtype=np.int64)
    stamps = 1_700_000_000_000_000_000 + rng.integers(0, 10**9, 400)
    unsigned = pd.array(np.uint64(2**63 + 5) + rng.integers(0, 99, 400).astype(np.uint64))
    frame = pd.DataFrame(
        {"tenant": rng.choice(ids, 400), "ns": stamps, "u": pd.array(unsigned, dtype="UInt64")}
    )
    frame.loc[::10, "u"] = pd.NA
    syn = TVAESynthesizer(**{**TINY, "epochs": 10}).fit(frame)
    out = syn.sample(2000)
    shares = out["tenant"].value_counts(normalize=True)
    assert set(shares.index) == set(ids) and shares.min() > 0.2
    assert out["ns"].between(stamps.min(), stamps.max()).all()
    assert (out["ns"] % 256 != 0).mean() > 0.9  # not on float64's grid there
    present = out["u"].dropna()
    assert out["u"].dtype == "UInt64" and 0.03 < out["u"].isna().mean() < 0.2
    assert present.min() >= unsigned.min() and present.max() <= unsigned.max()
    again = tssynth.load(syn.save(tmp_path / "ids.tssynth"))
    np.testing.assert_array_equal(again.transform(frame), syn.transform(frame))
    pd.testing.assert_frame_equal(again.sample(50), syn.sample(50))


def test_huge_floats_of_both_signs_off_centre_are_learned():
    """Their distances from the mean overflowed (a NaN loss) when the mean was off zero."""
    values = np.r_[np.linspace(0.5, 1, 150), np.linspace(-1, -0.9, 50)] * 1.7e308
    out = TVAESynthesizer(**TINY).fit(pd.DataFrame({"x": values})).sample(500)["x"]
    assert np.isfinite(out).all() and out.min() >= values.min() and out.max() <= values.max()
    assert out.nunique() > 2  # not collapsed onto the bounds


def test_a_frequent_sentinel_date_comes_back_exactly():
    """An open end (valid_to = 9999-12-31 on 60 % of rows) was split into week and
    weekday drawn apart: 16 % of samples were dates such as 9999-12-28."""
    rng = np.random.default_rng(0)
    sentinel = rng.random(1000) < 0.6
    days = pd.Series(pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 300, 1000), "D"))
    valid_to = days.where(~sentinel, pd.Timestamp("9999-12-31")).astype("datetime64[s]")
    frame = pd.DataFrame({"x": rng.normal(size=1000), "valid_to": valid_to})
    out = TVAESynthesizer(epochs=10, batch_size=100, random_state=0).fit(frame).sample(3000)
    out = out["valid_to"]
    at_end = out == pd.Timestamp("9999-12-31")
    assert 0.3 < at_end.mean() < 0.9
    assert out[~at_end].max() <= days.max()  # nothing invented between 2020 and the end


def test_subnormal_values_are_learned_apart_from_zero():
    # 0 and 5e-324: a spread that underflowed divided by zero (a NaN loss), and 5e-324
    # lay within its own float spacing of the integer grid (sampled as 0).
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.choice([5e-324, 0.0], 200, p=[0.4, 0.6])})
    out = TVAESynthesizer(**{**TINY, "epochs": 3}).fit(frame).sample(2000)["a"]
    assert set(out.unique()) == {0.0, 5e-324} and 0.2 < (out > 0).mean() < 0.6


@pytest.mark.parametrize("tz", ["Europe/Paris", "Asia/Kolkata", "America/New_York"])
def test_tz_aware_daily_dates_stay_on_local_midnights(tz):
    # Local midnight is not a whole number of days in UTC (nor of hours in Kolkata), and
    # the year crosses both DST changes.
    rng = np.random.default_rng(0)
    days = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 365, 200), unit="D")
    frame = pd.DataFrame({"d": pd.DatetimeIndex(days).tz_localize(tz), "x": rng.normal(size=200)})
    syn = TVAESynthesizer(**TINY).fit(frame)
    out = syn.sample(300)["d"]
    assert out.dtype == frame["d"].dtype
    assert (out == out.dt.normalize()).all()
    assert frame["d"].min() <= out.min() and out.max() <= frame["d"].max()
    # transform reads other zones as the same instants.
    np.testing.assert_array_equal(
        syn.transform(frame), syn.transform(frame.assign(d=frame["d"].dt.tz_convert("UTC")))
    )


def test_object_and_tuple_columns_keep_object_dtype_and_values():
    frame = pd.DataFrame(
        {
            "s": pd.Series(["a", "b", None, "c"] * 10, dtype=object),
            "t": pd.Series([(1, 2), (3,), (4, 5, 6), (3,)] * 10, dtype=object),
        }
    )
    out = TVAESynthesizer(**TINY).fit(frame).sample(200)
    pd.testing.assert_series_equal(out.dtypes, frame.dtypes)
    assert set(out["s"].dropna()) <= {"a", "b", "c"} and out["s"].isna().any()
    assert set(out["t"]) <= {(1, 2), (3,), (4, 5, 6)}


def test_structured_arrays_are_pointed_to_a_dataframe():
    records = np.zeros(30, dtype=[("a", "f8"), ("b", "i4")])
    with pytest.raises(InvalidDataError, match=r"structured.*pd\.DataFrame\(X\)"):
        TVAESynthesizer(**TINY).fit(records)


def test_inverse_transform_rejects_latents_that_are_not_finite_numbers():
    syn = TVAESynthesizer(**TINY).fit(pd.DataFrame({"x": np.arange(30.0)}))
    for bad, message in [
        (np.full((3, 4), np.nan), "NaN or infinite in 3 rows"),
        (np.array([[0.0, 0.0, np.inf, 0.0]]), "first: row 0"),
        ([["a", "b", "c", "d"]], "numeric latents"),
    ]:
        with pytest.raises(InvalidDataError, match=message):
            syn.inverse_transform(bad)


def test_decimal_grids_are_kept():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "price": np.round(rng.lognormal(3, 1, 2000), 2),
            "score": rng.integers(0, 20, 2000) / 2,
        }
    )
    small = {"embedding_dim": 8, "compress_dims": (32,), "decompress_dims": (32,)}
    out = TVAESynthesizer(epochs=10, random_state=0, **small).fit(frame).sample(5000)
    assert (out["price"].round(2) == out["price"]).all()  # 26.35, not 26.351469962
    assert (out["score"].round(1) == out["score"]).all()
    assert out["price"].nunique() > 1000  # rounded, not collapsed
    assert frame["price"].min() <= out["price"].min() <= out["price"].max() <= frame["price"].max()


@pytest.mark.parametrize("dtype", ["float32", "Float32"])
def test_decimal_grids_of_single_precision_columns_are_kept(dtype):
    prices = np.round(np.random.default_rng(0).random(500) * 100, 2)
    frame = pd.DataFrame({"price": pd.array(prices, dtype=dtype)})
    out = TVAESynthesizer(**TINY).fit(frame).sample(500)["price"]
    assert out.dtype == frame["price"].dtype
    # 53.92 in float32 is 53.919998..., not 53.9237175
    as_float32 = out.to_numpy(dtype=np.float32)
    assert (as_float32 == np.round(as_float32.astype(np.float64), 2).astype(np.float32)).all()


def test_transform_rejects_datetimes_of_another_kind_by_column_name():
    aware = pd.Series(pd.date_range("2021-01-01", periods=40, freq="h", tz="UTC"))
    frame = pd.DataFrame({"when": aware, "y": np.arange(40.0)})
    syn = TVAESynthesizer(**TINY).fit(frame)
    for bad in (
        frame.assign(when=aware.dt.tz_localize(None)),  # tz-naive
        frame.assign(when=np.arange(40.0)),  # numbers
    ):
        with pytest.raises(InvalidDataError, match=r"'when'.*datetime64"):
            syn.transform(bad)
    with pytest.raises(InvalidDataError, match="'y'"):
        syn.transform(frame.assign(y=aware))


def test_transform_reads_datetimes_in_the_fitted_unit():
    when = pd.Series(pd.date_range("2021-01-01", periods=40, freq="37min")).astype("datetime64[ns]")
    frame = pd.DataFrame({"when": when, "y": np.arange(40.0)})
    syn = TVAESynthesizer(**TINY).fit(frame)
    np.testing.assert_array_equal(
        syn.transform(frame), syn.transform(frame.assign(when=when.astype("datetime64[us]")))
    )


@pytest.mark.parametrize("kind", ["datetime", "timedelta"])
def test_transform_names_values_out_of_range_of_the_fitted_unit(kind):
    if kind == "datetime":
        fitted = pd.Series(pd.date_range("2021-01-01", periods=40, freq="h"))
        late = pd.Series(np.full(40, np.datetime64("2500-01-01", "s")))
    else:
        fitted = pd.Series(pd.timedelta_range("1h", periods=40, freq="h"))
        late = pd.Series(np.full(40, np.timedelta64(400 * 365, "D").astype("timedelta64[s]")))
    frame = pd.DataFrame({"when": fitted.astype(f"{kind}64[ns]"), "y": np.arange(40.0)})
    syn = TVAESynthesizer(**TINY).fit(frame)
    with pytest.raises(InvalidDataError, match=r"'when'.*range.*'ns'"):
        syn.transform(frame.assign(when=late))


def test_transform_rejects_times_finer_than_the_fitted_unit():
    when = pd.Series(pd.date_range("2021-01-01", periods=40, freq="h")).astype("datetime64[s]")
    frame = pd.DataFrame({"when": when, "y": np.arange(40.0)})
    syn = TVAESynthesizer(**TINY).fit(frame)
    finer = when.astype("datetime64[ns]")
    finer.iloc[1] += pd.Timedelta("250ms")
    finer.iloc[2] = pd.NaT
    with pytest.raises(InvalidDataError, match=r"'when'.*finer than its fitted unit 's'"):
        syn.transform(frame.assign(when=finer))
    finer.iloc[1] = when.iloc[1]  # whole seconds in a finer unit, and NaT, read fine
    syn.transform(frame.assign(when=finer))


@pytest.mark.parametrize("arrow_type", ["date32[day][pyarrow]", "date64[ms][pyarrow]"])
def test_pyarrow_dates_round_trip_with_their_dtype(arrow_type):
    pytest.importorskip("pyarrow")
    days = pd.Series(pd.date_range("2021-01-01", periods=40, freq="D")).astype(arrow_type)
    days.iloc[3] = None
    frame = pd.DataFrame({"d": days, "y": np.arange(40.0)})
    syn = TVAESynthesizer(**TINY).fit(frame)
    out = syn.sample(50)
    pd.testing.assert_series_equal(out.dtypes, frame.dtypes)
    assert days.min() <= out["d"].min() and out["d"].max() <= days.max()
    np.testing.assert_array_equal(syn.transform(frame), syn.transform(frame))


def test_pyarrow_timestamps_round_trip_with_their_dtype():
    pytest.importorskip("pyarrow")
    when = pd.Series(pd.date_range("2021-01-01", periods=30, freq="D", tz="Europe/Paris"))
    frame = pd.DataFrame(
        {
            "naive": when.dt.tz_localize(None).astype("timestamp[us][pyarrow]"),
            "aware": when.astype("timestamp[ns, tz=Europe/Paris][pyarrow]"),
        }
    )
    out = TVAESynthesizer(**TINY).fit(frame).sample(50)
    pd.testing.assert_series_equal(out.dtypes, frame.dtypes)
    for name in frame.columns:
        assert frame[name].min() <= out[name].min() and out[name].max() <= frame[name].max()


def test_integers_past_float64s_exact_ones_keep_their_grid():
    """Nanoseconds since 1970 kept as int64 at whole seconds came back off the second grid
    (float64 is 256 apart there); now rounded to it in integers, an offset grid too."""
    rng = np.random.default_rng(6)
    seconds = 1_600_000_000 + rng.integers(0, 86_400 * 30, 400)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=400),
            "epoch_ns": seconds * 10**9,
            "offset": pd.array(seconds * 10**9 + 7, dtype="Int64"),
            "unsigned": (2**60 + seconds * 1_000).astype(np.uint64),  # no grid kept before
        }
    )
    frame.loc[3, "offset"] = pd.NA
    out = TVAESynthesizer(**TINY).fit(frame).sample(500)
    pd.testing.assert_series_equal(out.dtypes, frame.dtypes)
    assert (out["epoch_ns"] % 10**9 == 0).all()
    present = out["offset"].dropna().astype(np.int64)
    assert len(present) and (present % 10**9 == 7).all()
    assert ((out["unsigned"] - np.uint64(2**60)) % 1_000 == 0).all()
    for name in ("epoch_ns", "offset", "unsigned"):
        assert frame[name].min() <= out[name].min() and out[name].max() <= frame[name].max()


def test_pyarrow_durations_are_time_spans_and_pyarrow_times_score():
    """A pyarrow duration is a continuous time span (it was modelled as categories, one
    per distinct value), and the fidelity report reads pyarrow dates, timestamps and
    durations of the real data itself (it raised on them)."""
    pa = pytest.importorskip("pyarrow")
    rng = np.random.default_rng(0)
    n = 200
    wait = pd.Series(pd.to_timedelta(rng.integers(0, 10_000, n), unit="s"))
    frame = pd.DataFrame(
        {
            "wait": wait.astype(pd.ArrowDtype(pa.duration("s"))),
            "day": pd.Series(pd.date_range("2020-01-01", periods=n).date, dtype="date32[pyarrow]"),
            "at": pd.Series(pd.date_range("2020-01-01", periods=n, freq="37min")).astype(
                "timestamp[s, tz=UTC][pyarrow]"
            ),
        }
    )
    frame.loc[5, "wait"] = None
    syn = TVAESynthesizer(**TINY).fit(frame)
    spec = {s.name: s for s in syn.transformer_.columns}["wait"]
    assert (spec.kind, spec.value_type, spec.unit) == ("continuous", "timedelta", "s")
    out = syn.sample(300)
    pd.testing.assert_series_equal(out.dtypes, frame.dtypes)
    assert frame["wait"].min() <= out["wait"].min() and out["wait"].max() <= frame["wait"].max()
    assert out["wait"].nunique() > frame["wait"].nunique() // 2
    report = fidelity_report(frame, out)
    scores = report.per_column.set_index("column")
    assert set(scores.index) == {"wait", "day", "at"}
    assert scores.loc["wait", "metric"] == "KSComplement"
    assert fidelity_report(frame, frame).overall == 1.0


# ------------------------------------------------------------------ windows


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (pd.DataFrame({"a": np.ones(10), "z": np.ones(10, dtype=complex)}), "'z'"),
        (pd.DataFrame(np.ones((10, 2)), columns=["a", "a"]), "'a'"),
        (np.ones((4, 3), dtype=complex), "complex"),
    ],
    ids=["complex-column", "duplicate-columns", "complex-array"],
)
def test_dense_rejects_complex_values_and_duplicate_columns(data, name):
    with pytest.raises(InvalidDataError, match=name):
        DenseVAESynthesizer(**TINY).fit(data)


@pytest.mark.parametrize("long", [False, True], ids=["wide", "long"])
def test_dense_transform_matches_frame_columns_by_name(long):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40) * 100})
    syn = DenseVAESynthesizer(**TINY, window=5 if long else None).fit(frame)
    expected = syn.transform(frame)
    np.testing.assert_array_equal(syn.transform(frame[["b", "a"]].assign(extra="x")), expected)
    with pytest.raises(InvalidDataError, match="'a'"):
        syn.transform(frame[["b"]])


def test_dense_learns_a_range_near_the_largest_float():
    windows = np.random.default_rng(0).uniform(-1, 1, (20, 4, 1)) * 1.7e308
    out = DenseVAESynthesizer(**TINY).fit(windows).sample(10)
    assert np.isfinite(out).all()
    assert out.min() >= windows.min() and out.max() <= windows.max()


def test_unorderable_sequence_index_is_named():
    frame = pd.DataFrame({"t": [1, "b", 3, 4], "v": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(InvalidDataError, match="'t'"):
        DenseVAESynthesizer(**TINY, window=2, sequence_index="t").fit(frame)
    panel = _panel().astype({"t": object})
    panel.loc[0, "t"] = "x"
    with pytest.raises(InvalidDataError, match="'t'"):
        DVAESynthesizer(**DVAE_TINY, sequence_key="id", sequence_index="t").fit(panel)


# ------------------------------------------------------------------ panels


@pytest.mark.parametrize(
    "kwargs",
    [
        {"discrete_columns": ["nope"]},
        {"discrete_columns": ["id"]},
        {"metadata": {"continuous": ["t"]}},
    ],
)
def test_dvae_rejects_declarations_of_unmodelled_columns(kwargs):
    name = next(iter(kwargs.get("discrete_columns") or kwargs["metadata"]["continuous"]))
    syn = DVAESynthesizer(**DVAE_TINY, sequence_key="id", sequence_index="t")
    with pytest.raises(InvalidParameterError, match=f"'{name}'"):
        syn.fit(_panel(), **kwargs)
    assert not hasattr(syn, "module_")


@pytest.mark.parametrize(
    ("kwargs", "advice"),
    [
        ({"discrete_columns": "c"}, "discrete_columns=['c']"),
        ({"discrete_columns": "code"}, "discrete_columns=['code']"),
        ({"metadata": {"categorical": "c"}}, "metadata['categorical']=['c']"),
    ],
)
@pytest.mark.parametrize("estimator", ["tvae", "dvae"])
def test_a_bare_string_of_column_names_is_rejected_with_the_list_to_write(
    kwargs, advice, estimator
):
    if estimator == "tvae":
        syn, data = TVAESynthesizer(**TINY), _panel()
    else:
        syn, data = DVAESynthesizer(**DVAE_TINY, sequence_key="id", sequence_index="t"), _panel()
    with pytest.raises(InvalidParameterError, match=re.escape(f"write {advice}")):
        syn.fit(data, **kwargs)
    assert not hasattr(syn, "module_")


def test_dvae_rejects_a_panel_without_a_varying_feature():
    panel = _panel()[["id", "t"]].assign(v=1.0)
    syn = DVAESynthesizer(**DVAE_TINY, sequence_key="id", sequence_index="t")
    with pytest.raises(InvalidDataError, match="'v'"):
        syn.fit(panel)
    assert not hasattr(syn, "module_")


def test_date_objects_are_modelled_as_dates_and_come_back_as_dates():
    """A database DATE column (or .dt.date) is object dtype; it was one category per date."""
    rng = np.random.default_rng(0)
    days = pd.Series(pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, 300), "D"))
    frame = pd.DataFrame({"d": days.dt.date.astype(object), "y": rng.normal(size=300)})
    frame.loc[:29, "d"] = None
    with warnings.catch_warnings():
        warnings.simplefilter("error", tssynth.DataWarning)  # no identifier warning
        syn = TVAESynthesizer(**TINY).fit(frame)
    out = syn.sample(2000)
    assert out["d"].dtype == object
    present = out["d"].dropna()
    assert {type(value) for value in present} == {datetime.date}
    assert frame["d"].min() <= present.min() and present.max() <= frame["d"].max()
    assert 0.05 < out["d"].isna().mean() < 0.15  # 10 % missing in the data
    assert not set(present).issubset(set(frame["d"]))  # dates between the seen ones
    as_datetimes = frame.assign(d=pd.to_datetime(frame["d"]))
    np.testing.assert_array_equal(syn.transform(as_datetimes), syn.transform(frame))
    with pytest.raises(InvalidDataError, match=r"'d' was fitted on dates .* holds string"):
        syn.transform(frame.assign(d=frame["d"].astype(str).astype(object)))


def _python_numbers_frame(n: int = 400) -> pd.DataFrame:
    """Object columns as a database driver or JSON records give them: Decimals, Python
    ints, Python floats, None where missing."""
    rng = np.random.default_rng(0)
    missing = rng.random((3, n)) < 0.1
    prices = [decimal.Decimal(f"{value:.2f}") for value in rng.gamma(2.0, 30.0, n)]
    counts = rng.poisson(4, n).tolist()
    ratios = rng.normal(size=n).tolist()
    columns = {}
    named = zip(("price", "count", "ratio"), (prices, counts, ratios), missing, strict=True)
    for name, values, gaps in named:
        kept = [None if gap else value for value, gap in zip(values, gaps, strict=True)]
        columns[name] = pd.Series(kept, dtype=object)
    return pd.DataFrame(columns)


def test_object_columns_of_python_numbers_are_numbers_of_their_type(tmp_path):
    """They were categories (real values copied, the order lost) under a warning that
    called them "numbers written as text"."""
    frame = _python_numbers_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("error", tssynth.DataWarning)
        syn = TVAESynthesizer(**{**TINY, "epochs": 30}).fit(frame)
    out = syn.sample(2000)
    assert all(pd.api.types.is_object_dtype(dtype) for dtype in out.dtypes)
    for name, kind in (("price", decimal.Decimal), ("count", int), ("ratio", float)):
        present = out[name].dropna()
        assert {type(value) for value in present} == {kind}, name
        assert out[name][out[name].isna()].map(lambda value: value is None).all(), name
        assert 0.05 < out[name].isna().mean() < 0.15, name  # 10 % in the data
        real = pd.to_numeric(frame[name])
        values = pd.to_numeric(present)
        assert real.min() <= values.min() and values.max() <= real.max(), name
        assert abs(values.median() - real.median()) < 0.25 * real.std(), name
    assert {value.as_tuple().exponent for value in out["price"].dropna()} == {-2}
    assert not set(out["ratio"].dropna()).issubset(set(frame["ratio"].dropna()))
    numeric = frame.apply(pd.to_numeric)
    np.testing.assert_allclose(syn.transform(numeric), syn.transform(frame), rtol=1e-6)
    with pytest.raises(InvalidDataError, match="'price' must hold numbers"):
        syn.transform(frame.assign(price="cheap"))
    syn.save(tmp_path / "numbers.tssynth")
    again = tssynth.load(tmp_path / "numbers.tssynth").sample(50)
    assert {type(value) for value in again["price"].dropna()} == {decimal.Decimal}


def test_declared_categorical_object_numbers_stay_categories():
    frame = _python_numbers_frame()
    syn = TVAESynthesizer(**TINY).fit(frame, discrete_columns=["count"])
    out = syn.sample(500)
    assert set(out["count"].dropna()) <= set(frame["count"].dropna())
    assert {type(value) for value in out["count"].dropna()} == {int}


@pytest.mark.parametrize(
    ("marker", "check"),
    [(None, lambda v: v is None), (pd.NA, lambda v: v is pd.NA), (np.nan, pd.isna)],
)
def test_object_columns_write_missing_values_as_the_data_did(marker, check):
    rng = np.random.default_rng(0)
    words = pd.Series(rng.choice(["x", "y", "z"], 300), dtype=object)
    flags = pd.Series(rng.choice([True, False], 300), dtype=object)
    words[rng.random(300) < 0.3] = marker
    flags[rng.random(300) < 0.3] = marker
    frame = pd.DataFrame({"word": words, "flag": flags, "y": rng.normal(size=300)})
    out = TVAESynthesizer(**TINY).fit(frame).sample(1000)
    for name in ("word", "flag"):
        gaps = out[name][out[name].isna()]
        assert len(gaps) > 0 and gaps.map(check).all() and gaps.map(type).nunique() == 1
        assert out[name].dtype == object


def test_dvae_takes_date_objects_as_sequence_index():
    panel = _panel(n_entities=6, length=8)
    panel["t"] = np.tile(pd.date_range("2021-01-04", periods=8, freq="W-MON").date, 6)
    syn = DVAESynthesizer(**DVAE_TINY, sequence_key="id", sequence_index="t").fit(panel)
    for out in (syn.sample(3), syn.forecast(panel, steps=2)):
        assert out["t"].dtype == object
        weeks = np.diff(pd.to_datetime(out["t"]).to_numpy()) / np.timedelta64(7, "D")
        steps = weeks[out["id"].to_numpy()[1:] == out["id"].to_numpy()[:-1]]
        assert {type(value) for value in out["t"]} == {datetime.date}
        np.testing.assert_array_equal(steps, 1.0)


def test_dvae_reads_sequences_given_as_an_object_array():
    rng = np.random.default_rng(0)
    sequences = [rng.normal(size=(length, 2)) for length in (3, 4, 5, 6, 7, 8)]
    as_objects = np.empty(len(sequences), dtype=object)
    as_objects[:] = sequences
    from_list = DVAESynthesizer(**DVAE_TINY).fit(sequences)
    from_objects = DVAESynthesizer(**DVAE_TINY).fit(as_objects)
    np.testing.assert_array_equal(from_list.sample(4), from_objects.sample(4))
    np.testing.assert_array_equal(
        from_list.score_samples(sequences), from_objects.score_samples(as_objects)
    )


def test_forecast_from_a_prefix_half_way_off_the_grid_keeps_distinct_times():
    """Steps from a prefix ending at 04:30 on an hourly grid were rounded half to even:
    06:00, 06:00, 08:00, 08:00."""
    panel = _panel(n_entities=6, length=5)
    panel["t"] = pd.Timestamp("2021-01-01") + pd.to_timedelta(np.tile(np.arange(5), 6), "h")
    syn = DVAESynthesizer(**DVAE_TINY, sequence_key="id", sequence_index="t").fit(panel)
    prefix = panel[panel["id"] == 0].copy()
    prefix.loc[prefix.index[-1], "t"] += pd.Timedelta("30min")
    times = syn.forecast(prefix, steps=4)["t"]
    assert times.is_unique and times.is_monotonic_increasing
    assert times.iloc[0] > prefix["t"].iloc[-1]
    assert (times.diff().dropna() == pd.Timedelta("1h")).all()


def test_float_times_on_a_decimal_grid_stay_on_it():
    """Ages in years to two decimals, at irregular gaps (R's Blackmoor): summed gaps
    came back as 14.740000000000002 for a quarter of the samples."""
    rng = np.random.default_rng(0)
    gaps = rng.choice([0.37, 1.13, 2.01], (12, 6))
    panel = pd.DataFrame(
        {
            "id": np.repeat(np.arange(12), 6),
            "age": np.round(8.0 + np.cumsum(gaps, axis=1), 2).ravel(),
            "v": rng.normal(size=72),
        }
    )
    syn = DVAESynthesizer(**DVAE_TINY, sequence_key="id", sequence_index="age").fit(panel)
    for out in (syn.sample(20), syn.forecast(panel[panel["id"] < 3], steps=4)):
        np.testing.assert_array_equal(out["age"], np.round(out["age"], 2))


def test_reconstruct_keeps_the_labels_of_the_rows_it_reconstructs():
    """Rows came back in key order under a fresh 0..n-1 index: on a frame in any other
    order, X[c] - reconstruct(X)[c] subtracted other rows without a word."""
    panel = _panel(n_entities=6, length=5)
    syn = DVAESynthesizer(**DVAE_TINY, sequence_key="id", sequence_index="t").fit(panel)
    shuffled = panel.sample(frac=1.0, random_state=0)
    original = shuffled.index.to_numpy()
    shuffled = shuffled.set_axis([f"r{i}" for i in original])
    rebuilt = syn.reconstruct(shuffled)
    assert sorted(rebuilt.index) == sorted(shuffled.index)
    pd.testing.assert_frame_equal(
        rebuilt[["id", "t"]], shuffled.loc[rebuilt.index, ["id", "t"]], check_dtype=False
    )
    in_order = syn.reconstruct(panel)  # the same rows under their own labels
    np.testing.assert_allclose(
        rebuilt.loc[shuffled.index, "v"].to_numpy(), in_order.loc[original, "v"].to_numpy()
    )


def test_dvae_rejects_complex_arrays():
    with pytest.raises(InvalidDataError, match="complex"):
        DVAESynthesizer(**DVAE_TINY).fit(np.ones((4, 5), dtype=complex))


@pytest.mark.parametrize("key_dtype", ["int64", "int32", "Int64", "float64", "object", "str"])
def test_dvae_results_keep_the_key_dtype(key_dtype):
    panel = _panel()
    if key_dtype in ("object", "str"):
        panel["id"] = pd.Series([f"unit-{i}" for i in panel["id"]], dtype=key_dtype)
    else:
        panel["id"] = panel["id"].astype(key_dtype)
    syn = DVAESynthesizer(**DVAE_TINY, sequence_key="id", sequence_index="t").fit(panel)
    for out in (syn.sample(3), syn.reconstruct(panel), syn.forecast(panel, steps=2)):
        assert out["id"].dtype == panel["id"].dtype


@pytest.mark.parametrize("key_dtype", ["object", "category"])
def test_dvae_integer_keys_in_an_object_or_category_column_stay_integers(key_dtype):
    """They came back as the text "0", "1", ... while forecast kept the integers."""
    panel = _panel()
    panel["id"] = panel["id"].astype(key_dtype)
    syn = DVAESynthesizer(**DVAE_TINY, sequence_key="id", sequence_index="t").fit(panel)
    for out in (syn.sample(3), syn.forecast(panel, steps=2)):
        assert out["id"].dtype == key_dtype
        assert all(isinstance(key, int | np.integer) for key in out["id"])


@pytest.mark.parametrize("model", [DVAESynthesizer, DenseVAESynthesizer])
@pytest.mark.parametrize("unit", ["datetime64[us]", "timedelta64[s]"])
def test_window_and_sequence_models_refuse_arrays_of_times(model, unit):
    """Times in an array were read as counts from 1970 and sampled back as float64."""
    X = np.arange(40).astype(unit).reshape(4, 5, 2)
    with pytest.raises(InvalidDataError, match=r"holds (datetimes|time spans).*sequence_index"):
        model(epochs=1).fit(X)


def test_dvae_reads_a_list_mixing_flat_and_one_channel_sequences():
    """(T,) next to (T, 1) is one channel (it raised "different channel counts [1, 1]")."""
    rng = np.random.default_rng(0)
    X = [rng.normal(size=6) if i % 2 else rng.normal(size=(6 + i % 3, 1)) for i in range(12)]
    out = DVAESynthesizer(**DVAE_TINY).fit(X).sample(3)
    assert out.ndim == 3 and out.shape[2] == 1
    with pytest.raises(InvalidDataError, match=r"different channel counts \[1, 2\]"):
        DVAESynthesizer(**DVAE_TINY).fit([np.zeros(6), np.zeros((6, 2))] * 4)


def test_dvae_with_float16_keys_samples_int64_keys():
    """pandas has no float16 index: new keys are int64 (sampling raised NotImplementedError),
    and results for given sequences keep their keys' values (as float32)."""
    panel = _panel().assign(id=lambda frame: frame["id"].astype(np.float16))
    syn = DVAESynthesizer(**DVAE_TINY, sequence_key="id", sequence_index="t").fit(panel)
    out = syn.sample(3)
    assert out["id"].dtype == np.int64 and out["id"].nunique() == 3
    back = syn.reconstruct(panel)["id"]
    assert back.dtype == np.float32 and (back.to_numpy() == panel["id"].to_numpy()).all()


def test_dvae_forecast_reads_the_index_in_the_fitted_unit_and_zone():
    panel = _panel()
    panel["t"] = pd.Series(pd.date_range("2021-01-01", periods=len(panel), freq="h")).astype(
        "datetime64[ns]"
    )
    syn = DVAESynthesizer(**DVAE_TINY, sequence_key="id", sequence_index="t").fit(panel)
    expected = syn.forecast(panel, steps=2)["t"]
    in_us = syn.forecast(panel.assign(t=panel["t"].astype("datetime64[us]")), steps=2)["t"]
    pd.testing.assert_series_equal(in_us, expected)
    with pytest.raises(InvalidDataError, match="'t'"):
        syn.forecast(panel.assign(t=panel["t"].dt.tz_localize("UTC")), steps=2)
    with pytest.raises(InvalidDataError, match="'t'"):
        syn.forecast(panel.assign(t=np.arange(len(panel))), steps=2)


def test_dvae_forecast_rejects_fractional_times_on_an_integer_index():
    panel = _panel()
    syn = DVAESynthesizer(**DVAE_TINY, sequence_key="id", sequence_index="t").fit(panel)
    with pytest.raises(InvalidDataError, match=r"'t' has fractional values.*int64"):
        syn.forecast(panel.assign(t=panel["t"] + 0.5), steps=2)
    whole = syn.forecast(panel.assign(t=panel["t"].astype(float)), steps=2)
    assert (whole.groupby("id")["t"].min() == panel["t"].max() + 1).all()


@pytest.mark.parametrize("shape", [(2, 0, 2), (2, 6, 0)], ids=["no-steps", "no-channels"])
def test_dvae_names_arrays_without_steps_or_channels(shape):
    rng = np.random.default_rng(0)
    syn = DVAESynthesizer(**DVAE_TINY).fit(rng.normal(size=(20, 6, 2)))
    message = "no time steps" if shape[1] == 0 else "no channels"
    with pytest.raises(InvalidDataError, match=rf"prefix has {message}.*{re.escape(str(shape))}"):
        syn.forecast(np.zeros(shape), steps=2)
    with pytest.raises(InvalidDataError, match=message):
        DVAESynthesizer(**DVAE_TINY).fit(np.zeros(shape))


@pytest.mark.parametrize("model", [TVAESynthesizer, DenseVAESynthesizer, DVAESynthesizer])
def test_sparse_input_is_named_before_training(model):
    from scipy import sparse

    with pytest.raises(InvalidDataError, match=r"sparse csr_matrix.*X\.toarray\(\)"):
        model(**TINY).fit(sparse.csr_matrix(np.eye(6)))


@pytest.mark.parametrize("model", [TVAESynthesizer, DenseVAESynthesizer, DVAESynthesizer])
def test_records_and_dicts_get_the_dataframe_advice(model):
    records = [{"a": float(i), "b": 2.0 * i} for i in range(8)]
    with pytest.raises(InvalidDataError, match=r"list of records.*pd\.DataFrame\(X\)"):
        model(**TINY).fit(records)
    columns = {"a": np.arange(8.0), "b": np.arange(8.0)}
    with pytest.raises(InvalidDataError, match=r"X is a dict; pass pd\.DataFrame\(X\)"):
        model(**TINY).fit(columns)


def test_windows_given_to_the_table_model_point_to_the_window_models():
    windows = np.zeros((10, 6, 2))
    with pytest.raises(InvalidDataError, match=r"\(10, 6, 2\), windows .*DenseVAESynthesizer"):
        TVAESynthesizer(**TINY).fit(windows)
    with pytest.raises(InvalidDataError, match=r"shape \(10,\); reshape a single column"):
        TVAESynthesizer(**TINY).fit(np.zeros(10))


def test_scikit_learn_tags_describe_the_inputs():
    from sklearn.utils import get_tags

    for model in (TVAESynthesizer(), DVAESynthesizer()):
        assert get_tags(model).input_tags.allow_nan  # NaN is a missing value they learn
    assert not get_tags(DenseVAESynthesizer()).input_tags.allow_nan  # windows must be complete
    assert get_tags(TVAESynthesizer()).transformer_tags.preserves_dtype == ["float32"]
    X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    assert TVAESynthesizer(**TINY).fit_transform(X).dtype == np.float32


def test_pyarrow_types_pandas_cannot_name_come_back_as_their_nearest_dtype():
    pa = pytest.importorskip("pyarrow")
    import decimal

    frame = pd.DataFrame(
        {
            "code": pd.Series(["a", "b", "c"] * 40).astype(
                pd.ArrowDtype(pa.dictionary(pa.int8(), pa.string()))
            ),
            "amount": pd.Series(
                [decimal.Decimal("1.25") * i for i in range(120)],
                dtype=pd.ArrowDtype(pa.decimal128(10, 2)),
            ),
            "label": pd.Series(["x", "y"] * 60, dtype="string[python]"),
            "id": pd.array(range(120), dtype="int64[pyarrow]"),
        }
    )
    model = TVAESynthesizer(**TINY).fit(frame, metadata={"identifiers": ["id"]})
    sample = model.sample(50)
    assert isinstance(sample["code"].dtype, pd.CategoricalDtype)
    assert set(sample["code"]) <= {"a", "b", "c"}
    assert sample["amount"].dtype == np.float64
    assert sample["amount"].between(0, 148.75).all()
    assert sample["label"].dtype == frame["label"].dtype  # python storage kept
    assert sample["id"].dtype == frame["id"].dtype and sample["id"].tolist() == list(range(50))


def test_dvae_array_samples_keep_one_width_from_call_to_call():
    rng = np.random.default_rng(0)
    ragged = rng.normal(size=(24, 12, 2))
    lengths = rng.integers(3, 13, 24)
    ragged[np.arange(12)[None, :] >= lengths[:, None]] = np.nan
    model = DVAESynthesizer(**DVAE_TINY).fit(ragged)
    shapes = {model.sample(4).shape for _ in range(6)}
    assert shapes == {(4, int(lengths.max()), 2)}
    assert model.sample(3, sequence_length=5).shape == (3, 5, 2)


def test_column_level_names_come_back(tmp_path):
    values = np.random.default_rng(0).normal(size=(60, 2))
    levels = pd.MultiIndex.from_tuples(
        [("vitals", "pulse"), ("vitals", "bp")], names=["group", "var"]
    )
    frame = pd.DataFrame(values, columns=levels)
    synthesizer = TVAESynthesizer(**TINY).fit(frame)
    assert synthesizer.sample(3).columns.equals(levels)
    assert list(synthesizer.sample(3).columns.names) == ["group", "var"]
    named = pd.DataFrame(values, columns=pd.Index(["pulse", "bp"], name="feature"))
    synthesizer = TVAESynthesizer(**TINY).fit(named)
    path = synthesizer.save(tmp_path / "named.tssynth")
    assert tssynth.load(path).sample(2).columns.name == "feature"


# ------------------------------------------------- probes of this release


def test_unseen_categories_are_named_and_lower_a_sequence_score():
    rng = np.random.default_rng(0)
    n_entities, length = 60, 8
    panel = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n_entities), length),
            "t": np.tile(np.arange(length), n_entities),
            "v": rng.normal(size=n_entities * length),
            "state": rng.choice(["usual", "rare"], n_entities * length, p=[0.9, 0.1]),
        }
    )
    params = {**DVAE_TINY, "epochs": 15, "batch_size": 20}
    model = DVAESynthesizer(sequence_key="id", sequence_index="t", **params).fit(panel)
    clean = model.score_samples(panel)
    with pytest.warns(tssynth.DataWarning, match=r"column 'state' are categories unseen.*'bad'"):
        corrupted = model.score_samples(panel.assign(state="bad"))
    # scored as the least likely category: below the usual one for every sequence
    assert (corrupted < clean).all()


def test_a_column_read_back_as_text_is_named_at_transform():
    df = pd.DataFrame({"code": np.tile([10, 20], 50), "x": np.arange(100.0)})
    model = TVAESynthesizer(**TINY).fit(df, discrete_columns=["code"])
    with pytest.warns(
        tssynth.DataWarning, match=r"100 of the 100 .* 'code' .*\('10', '20'\).* 10, 20"
    ):
        model.transform(df.assign(code=df["code"].astype(str)))


def test_fitted_columns_given_twice_at_transform_are_named():
    df = pd.DataFrame({"x": np.arange(50.0), "c": ["a", "b"] * 25})
    model = TVAESynthesizer(**TINY).fit(df)
    twice = pd.concat([df, df[["c"]]], axis=1)
    with pytest.raises(InvalidDataError, match=r"fitted columns \['c'\] more than once"):
        model.transform(twice)
    extra = pd.concat([df, df[["x"]].rename(columns={"x": "y"})], axis=1)
    np.testing.assert_array_equal(model.transform(extra), model.transform(df))


def test_nested_and_interval_arrow_columns_are_named_before_training():
    pa = pytest.importorskip("pyarrow")
    n = 30
    nested = pd.Series([[1, 2]] * n, dtype=pd.ArrowDtype(pa.list_(pa.int64())))
    interval = pd.Series(
        pa.array([pa.MonthDayNano([1, 2, 3])] * n, pa.month_day_nano_interval()),
        dtype=pd.ArrowDtype(pa.month_day_nano_interval()),
    )
    for column, message in ((nested, "nested values"), (interval, "does not model")):
        with pytest.raises(InvalidDataError, match=f"Column 'tags' .*{message}"):
            TVAESynthesizer(**TINY).fit(pd.DataFrame({"tags": column, "x": np.arange(n * 1.0)}))


def test_an_integer_identifier_is_warned_about_and_integer_measures_are_not():
    import warnings

    rng = np.random.default_rng(0)
    n = 200
    df = pd.DataFrame(
        {
            "customer": rng.permutation(np.arange(5000, 5000 + n)),
            "age": rng.integers(18, 90, n),
            "cents": rng.choice(10**6, n, replace=False),  # distinct but far from consecutive
            "year": np.arange(1871, 1871 + n),  # one row per year of a yearly series
        }
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        TVAESynthesizer(**TINY).fit(df)
    messages = [str(w.message) for w in caught if issubclass(w.category, tssynth.DataWarning)]
    assert len(messages) == 1 and "'customer'" in messages[0] and "identifiers" in messages[0]
    assert caught[0].filename == __file__  # points at the caller's line


def test_compress_dims_without_a_layer_is_refused_for_the_dvae():
    with pytest.raises(InvalidParameterError, match="compress_dims must hold at least one"):
        DVAESynthesizer(**{**DVAE_TINY, "compress_dims": ()}).fit(np.zeros((4, 5, 2)))


def test_a_time_zone_mismatch_gives_advice_that_works():
    df = pd.DataFrame(
        {"when": pd.date_range("2024-01-01", periods=40, freq="5h", tz="Europe/Berlin")}
    )
    df["x"] = np.arange(40.0)
    model = TVAESynthesizer(**TINY).fit(df)
    naive = df.assign(when=df["when"].dt.tz_localize(None))
    with pytest.raises(InvalidDataError, match=r"\.dt\.tz_localize\('Europe/Berlin'\)"):
        model.transform(naive)
    fixed = naive.assign(when=naive["when"].dt.tz_localize("Europe/Berlin"))
    np.testing.assert_array_equal(model.transform(fixed), model.transform(df))


def test_private_categorical_columns_with_no_release_sample_as_missing():
    from tssynth.data.schema import ColumnSpec, restore_categorical

    for dtype in ("bool", "int64"):
        spec = ColumnSpec(name="c", kind="categorical", dtype=dtype, value_type="other")
        restored = restore_categorical(np.array([np.nan, np.nan], dtype=object), spec)
        assert restored.isna().all(), dtype
        full = restore_categorical(np.array([1, 0], dtype=object), spec)
        assert full.dtype == np.dtype(dtype)


def test_wide_unsigned_arrow_integers_and_arrow_identifiers_sample():
    pa = pytest.importorskip("pyarrow")
    n = 60
    df = pd.DataFrame(
        {
            "h": pd.Series([2**64 - 1 - 10**15 * i for i in range(n)], dtype="uint64[pyarrow]"),
            "customer": pd.array(
                pa.array([f"u{i}" for i in range(n)]).dictionary_encode(),
                dtype=pd.ArrowDtype(pa.dictionary(pa.int32(), pa.string())),
            ),
            "x": np.arange(n * 1.0),
        }
    )
    model = TVAESynthesizer(**TINY).fit(df, metadata={"identifiers": ["customer"]})
    sample = model.sample(50)
    assert sample["h"].dtype == df["h"].dtype
    low, high = min(df["h"].tolist()), max(df["h"].tolist())  # pandas compares these badly
    assert all(low <= value <= high for value in sample["h"].tolist())
    assert not sample["customer"].astype(str).isin(df["customer"].astype(str)).any()


def test_html_report_takes_labels_that_print_alike_or_are_none(tmp_path):
    from tssynth.metrics import evaluate

    rng = np.random.default_rng(0)
    for labels in (["a", None, "c"], [0, "0", "c"]):
        real = pd.DataFrame(
            {
                labels[0]: rng.normal(size=200),
                labels[1]: rng.normal(size=200),
                labels[2]: rng.choice(list("xy"), 200),
            }
        )
        synthetic = real.sample(frac=1.0, random_state=1).reset_index(drop=True)
        path = tmp_path / "report.html"
        evaluate(real, synthetic, metrics=["fidelity"]).save_html(path)
        html = path.read_text()
        assert "plot-correlation" in html and "plot-pair-trends" in html


def test_panel_messages_name_the_entity_the_parameter_and_the_fitted_format(tmp_path):
    panel = _panel(n_entities=6)
    panel["device"] = np.repeat(list("abcabc"), 6)
    params = {**DVAE_TINY, "sequence_key": "id", "sequence_index": "t"}
    bad = panel.copy()
    bad.loc[(bad["id"] == 4) & (bad["t"] == 3), "device"] = np.nan
    with pytest.raises(InvalidDataError, match=r"'device' changes within the sequence of 4 "):
        DVAESynthesizer(**params, context_columns=["device"]).fit(bad)
    with pytest.raises(InvalidParameterError, match="lists 'device' more than once"):
        DVAESynthesizer(**params, context_columns=["device", "device"]).fit(panel)
    path = tmp_path / "g.tssynth"
    DVAESynthesizer(**params, context_columns=["device"], generator_filepath=path).fit(panel)
    with pytest.raises(InvalidDataError, match=r"column 'device' is \['context'"):
        DVAESynthesizer(**params, generator_filepath=path).fit(panel)
    arrays = DVAESynthesizer(**DVAE_TINY).fit(np.random.default_rng(0).normal(size=(6, 5, 2)))
    with pytest.raises(InvalidDataError, match="fitted on a numeric array; pass prefix"):
        arrays.forecast(pd.DataFrame({"a": [1.0, 2.0], "b": [0.0, 1.0]}), 2)


def test_a_sample_larger_than_memory_is_refused_before_drawing():
    model = TVAESynthesizer(**TINY).fit(pd.DataFrame({"x": np.arange(30.0), "c": ["a"] * 30}))
    with pytest.raises(InvalidParameterError, match=r"sample\(10,000,000,000,000\) would take"):
        model.sample(10**13)
    assert len(model.sample(5)) == 5


@pytest.mark.parametrize("start", ["1677-09-22", "2261-12-01"])
def test_nanosecond_times_near_the_ends_of_int64_are_sampled(start):
    times = pd.date_range(start, periods=5, freq="D", unit="ns")
    rng = np.random.default_rng(0)
    panel = pd.DataFrame(
        {"id": np.repeat(np.arange(8), 5), "t": np.tile(times, 8), "v": rng.normal(size=40)}
    )
    model = DVAESynthesizer(sequence_key="id", sequence_index="t", **DVAE_TINY).fit(panel)
    out = model.sample(3, sequence_length=5)
    assert out["t"].dtype == panel["t"].dtype
    assert out["t"].between(times[0], times[-1]).all()
