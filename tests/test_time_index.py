"""A panel's sequence_index: exact times, calendar months, local days, keys of any dtype."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from tests.test_dvae import SMALL
from tssynth.data.panel import PanelTransformer, _index_spec, read_panel
from tssynth.data.time_index import IndexClock, fit_clock, read_times, restore_times
from tssynth.exceptions import InvalidDataError, InvalidParameterError, PrivacyWarning
from tssynth.synthesizers.dvae import DVAESynthesizer


def _panel(times: pd.Series | np.ndarray, n_entities: int, seed: int = 0) -> pd.DataFrame:
    """``n_entities`` sequences sharing the per-entity times ``times``."""
    times = pd.Series(times)
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n_entities), len(times)),
            "t": pd.concat([times] * n_entities, ignore_index=True),
            "x": rng.normal(size=n_entities * len(times)),
        }
    )


def _fit(frame: pd.DataFrame, key: str = "unit", index: str = "t") -> DVAESynthesizer:
    return DVAESynthesizer(
        sequence_key=key, sequence_index=index, epochs=1, random_state=0, **SMALL
    ).fit(frame)


def _clock(values: pd.Series) -> tuple:
    spec = _index_spec(values.to_frame("t"), "t")  # as a panel reads it: UTC instants
    codes = np.zeros(len(values), dtype=np.int64)
    return fit_clock(values, codes, spec)


@pytest.mark.parametrize(
    "times, day, month_end",
    [
        (pd.date_range("2019-11-01", periods=30, freq="MS"), 1, False),
        (pd.date_range("2019-11-30", periods=30, freq="ME"), 1, True),
        (pd.date_range("2000-03-31", periods=12, freq="QE"), 1, True),
        (
            pd.date_range("2001-01-15 09:30", periods=6, freq="12MS") + pd.Timedelta("14D"),
            15,
            False,
        ),
    ],
)
def test_monthly_quarterly_and_yearly_times_count_in_calendar_months(times, day, month_end):
    values = pd.Series(times)
    spec, clock = _clock(values)
    assert clock.months and clock.month_end == month_end
    assert month_end or clock.day == day
    offsets, origin = read_times(values, spec, clock)
    steps = np.diff(offsets)
    assert np.all(steps == steps[0])  # one step: 1, 3 or 12 months
    restored = restore_times(np.append(offsets, offsets[-1] + steps[0]), origin, spec, clock)
    pd.testing.assert_series_equal(restored.iloc[:-1], values, check_names=False)
    months = int(steps[0])
    last = values.iloc[-1]
    following = last + (pd.offsets.MonthEnd(months) if month_end else pd.DateOffset(months=months))
    assert restored.iloc[-1] == following


def test_off_calendar_times_are_an_error_for_a_monthly_clock():
    values = pd.Series(pd.date_range("2020-01-01", periods=12, freq="MS"))
    spec, clock = _clock(values)
    with pytest.raises(InvalidDataError, match=r"monthly times .*day 1 of a month.*2020-03-05"):
        read_times(pd.Series([pd.Timestamp("2020-02-01"), pd.Timestamp("2020-03-05")]), spec, clock)


def test_daily_local_midnights_across_a_dst_change_keep_local_days():
    values = pd.Series(pd.date_range("2024-03-20", periods=20, freq="D", tz="Europe/Paris"))
    spec, clock = _clock(values)
    assert spec.wall_clock and not clock.months
    offsets, origin = read_times(values, spec, clock)
    assert np.all(np.diff(offsets) == np.diff(offsets)[0])
    restored = restore_times(offsets + np.diff(offsets)[0], origin, spec, clock)
    assert (restored.dt.hour == 0).all()
    assert restored.iloc[-1] == pd.Timestamp("2024-04-09", tz="Europe/Paris")


def test_hourly_utc_steps_across_a_dst_change_stay_utc_instants():
    values = pd.Series(pd.date_range("2024-03-30", periods=48, freq="h", tz="Europe/Berlin"))
    spec, clock = _clock(values)
    assert not spec.wall_clock and not clock.months and clock.resolution == 3_600 * 10**6
    offsets, origin = read_times(values, spec, clock)
    pd.testing.assert_series_equal(
        restore_times(offsets, origin, spec, clock), values, check_names=False
    )


def test_nanosecond_times_are_exact_offsets_from_an_integer_origin():
    values = pd.Series(
        pd.Timestamp("2024-05-17 13:45:12.123456789") + pd.to_timedelta(np.arange(5) * 7, "ns")
    )
    spec, clock = _clock(values)
    offsets, origin = read_times(values, spec, clock)
    assert offsets.tolist() == [0.0, 7.0, 14.0, 21.0, 28.0]
    pd.testing.assert_series_equal(
        restore_times(offsets, origin, spec, clock), values, check_names=False
    )


def test_small_integer_times_widen_instead_of_saturating():
    values = pd.Series(np.arange(120, 128, dtype=np.int8))
    spec, clock = _clock(values)
    offsets, origin = read_times(values, spec, clock)
    inside = restore_times(offsets, origin, spec, clock)
    assert inside.dtype == np.int8 and inside.tolist() == list(range(120, 128))
    beyond = restore_times(offsets + 8, origin, spec, clock)
    assert beyond.dtype == np.int64 and beyond.tolist() == list(range(128, 136))
    nullable = pd.Series(pd.array(range(250, 256), dtype="UInt8"))
    spec, clock = _clock(nullable)
    offsets, origin = read_times(nullable, spec, clock)
    assert restore_times(offsets + 6, origin, spec, clock).tolist() == list(range(256, 262))


# ----------------------------------------------------------------- through the DVAE


def test_monthly_panel_samples_and_forecasts_on_the_calendar():
    frame = _panel(pd.date_range("2020-01-01", periods=12, freq="MS"), 10)
    model = _fit(frame)
    assert model.panel_transformer_.gap_column is None
    sample = model.sample(6)
    assert (sample["t"].dt.day == 1).all() and (sample["t"].dt.hour == 0).all()
    forecast = model.forecast(frame[frame.unit == 0], steps=3)
    assert forecast["t"].tolist() == list(pd.date_range("2021-01-01", periods=3, freq="MS"))


def test_daily_tz_aware_panel_forecasts_local_midnights():
    days = pd.date_range("2024-03-20", periods=20, freq="D", tz="Europe/Paris")
    frame = _panel(days, 8)
    model = _fit(frame)
    assert model.panel_transformer_.gap_column is None
    assert (model.sample(5)["t"].dt.hour == 0).all()
    forecast = model.forecast(frame[frame.unit == 0], steps=2)
    assert forecast["t"].tolist() == list(
        pd.date_range("2024-04-09", periods=2, freq="D", tz="Europe/Paris")
    )


def test_reconstruct_returns_and_forecast_continues_exact_nanosecond_times():
    start = pd.Timestamp("2024-05-17 13:45:12.123")
    frame = _panel(start + pd.to_timedelta(np.arange(8) * 1500, unit="ms"), 6)
    frame["t"] = frame["t"].astype("datetime64[ns]")
    model = _fit(frame)
    rebuilt = model.reconstruct(frame)
    pd.testing.assert_series_equal(rebuilt["t"], frame["t"])
    forecast = model.forecast(frame[frame.unit == 0], steps=2)
    assert forecast["t"].tolist() == [start + pd.Timedelta("12s"), start + pd.Timedelta("13.5s")]
    epoch = frame.assign(t=frame["t"].astype("int64") + 7)  # epoch nanoseconds, odd last digit
    model = _fit(epoch)
    pd.testing.assert_series_equal(model.reconstruct(epoch)["t"], epoch["t"])
    last = int(epoch["t"].iloc[7])
    assert model.forecast(epoch[epoch.unit == 0], steps=2)["t"].tolist() == [
        last + 1_500_000_000,
        last + 3_000_000_000,
    ]


def test_float32_steps_of_a_tenth_are_regular():
    times = (np.arange(30, dtype=np.float32) * np.float32(0.1) + np.float32(100)).astype(np.float32)
    assert _fit(_panel(times, 6)).panel_transformer_.gap_column is None


@pytest.mark.parametrize(
    "keys",
    [
        pd.Series(pd.date_range("2024-01-01", periods=6)),
        pd.Series([True, False, True, False, True, False]).iloc[:2],
    ],
    ids=["datetime", "bool"],
)
def test_keys_of_any_dtype_give_distinct_fresh_keys(keys):
    n = len(keys)
    frame = pd.DataFrame(
        {
            "day": np.repeat(keys.to_numpy(), 6),
            "hour": np.tile(np.arange(6), n),
            "load": np.random.default_rng(0).normal(size=6 * n),
        }
    )
    sample = _fit(frame, "day", "hour").sample(3)
    assert sorted(sample["day"].unique().tolist()) == [0, 1, 2]
    assert sample.groupby("day").size().min() >= 2


def test_a_feature_called_sample_keeps_its_values_in_a_forecast():
    frame = _panel(np.arange(8), 6).rename(columns={"x": "sample"})
    forecast = _fit(frame).forecast(frame[frame.unit < 2], steps=2, n_samples=3)
    assert list(forecast.columns) == ["unit", "_sample_", "t", "sample"]
    assert forecast["_sample_"].tolist() == [0, 0, 1, 1, 2, 2] * 2
    assert forecast["sample"].dtype == np.float64


@pytest.mark.parametrize(
    "key, message",
    [(["unit", "t"], "sequence_key must be one column label"), ("unit", "duplicate column")],
)
def test_several_key_columns_and_duplicate_names_are_named_errors(key, message):
    frame = _panel(np.arange(4), 3)
    if key == "unit":
        frame = pd.concat([frame, frame[["x"]]], axis=1)
    with pytest.raises(InvalidDataError, match=message):
        read_panel(frame, key, "t")


def test_generator_state_written_before_clocks_forecasts_the_same_times():
    frame = _panel(pd.date_range("2024-01-01", periods=10, freq="h"), 6)
    model = _fit(frame)
    expected = model.forecast(frame[frame.unit < 2], steps=3)["t"]
    state = model.panel_transformer_.to_state()
    # What files written before held: absolute starts, no origin and no clock.
    state["starts"] = state["starts"] + state.pop("origin")
    del state["input_format"]["index_clock"]
    model.panel_transformer_ = PanelTransformer.from_state(state)
    pd.testing.assert_series_equal(model.forecast(frame[frame.unit < 2], steps=3)["t"], expected)
    pd.testing.assert_series_equal(model.reconstruct(frame)["t"], frame["t"])
    assert model.sample(2)["t"].isin(frame["t"]).all()


def test_under_differential_privacy_the_clock_is_not_learnt_from_the_data():
    frame = _panel(pd.date_range("2020-01-01", periods=8, freq="MS"), 60)
    with pytest.warns(PrivacyWarning):
        model = DVAESynthesizer(
            sequence_key="unit", sequence_index="t", epochs=1, epsilon=4.0, random_state=0, **SMALL
        ).fit(frame)
    assert model.panel_transformer_.input_format["index_clock"] == IndexClock().to_dict()
    assert model.epsilon_ <= 4.0
    # 60 sequences are too few for epsilon 4: released lengths can be noise (4e15 steps
    # at one seed), and sampling says so instead of dying in a MemoryError.
    model.panel_transformer_.lengths = np.array([4 * 10**15])
    with pytest.raises(InvalidParameterError, match="released under differential privacy"):
        model.sample(3)
    sample = model.sample(3, sequence_length=4)
    assert sample.groupby("unit")["t"].is_monotonic_increasing.all()


@pytest.mark.parametrize("seed", range(4))
def test_under_differential_privacy_noisy_starts_and_steps_still_give_increasing_times(seed):
    # Released from too few sequences, the step came out negative (-4.7e15) or the
    # starts beyond what int64 holds; sampled times ran backwards or failed.
    frame = _panel(pd.date_range("2020-01-01", periods=8, freq="MS"), 60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyWarning)
        model = DVAESynthesizer(
            sequence_key="unit",
            sequence_index="t",
            epochs=1,
            epsilon=4.0,
            random_state=seed,
            **SMALL,
        ).fit(frame)
    transformer = model.panel_transformer_
    assert transformer.step > 0 and np.all(np.abs(transformer.starts) < 9.2e18)
    sample = model.sample(3, sequence_length=4)
    assert sample.groupby("unit")["t"].is_monotonic_increasing.all()


def test_a_forecast_too_large_for_memory_is_a_named_error():
    frame = _panel(np.arange(6), 4)
    with pytest.raises(InvalidParameterError, match="does not fit in this machine's memory"):
        _fit(frame).forecast(frame, steps=10**13)


@pytest.mark.parametrize(
    "times, expected",
    [
        (pd.date_range("2021-01-01", periods=3, freq="YS"), ["2024-01-01", "2025-01-01"]),
        (pd.date_range("2021-07-01", periods=3, freq="MS"), ["2021-10-01", "2021-11-01"]),
    ],
    ids=["yearly, 365-day steps", "monthly, 31-day steps"],
)
def test_calendar_data_whose_steps_happen_to_be_equal_in_days_stays_on_the_calendar(
    times, expected
):
    frame = _panel(times, 8)
    forecast = _fit(frame).forecast(frame[frame.unit == 0], steps=2)
    assert forecast["t"].tolist() == [pd.Timestamp(day) for day in expected]


@pytest.mark.parametrize(
    "times",
    [
        pd.date_range("2262-03-01", periods=10, freq="D").astype("datetime64[ns]"),
        np.arange(10, dtype=np.int64) + np.iinfo(np.int64).max - 20,
    ],
    ids=["datetime64[ns] past 2262", "int64 past its largest value"],
)
def test_times_beyond_what_the_column_holds_are_a_named_error_not_wrapped(times):
    frame = _panel(times, 4)
    with pytest.raises(InvalidParameterError, match="cannot hold the times these steps reach"):
        _fit(frame).forecast(frame[frame.unit == 0], steps=400)


def test_uint64_times_above_int64_and_repeated_local_times_round_trip_exactly():
    frame = _panel(np.arange(10, dtype=np.uint64) + np.uint64(2**63), 4)
    model = _fit(frame)
    pd.testing.assert_series_equal(model.reconstruct(frame)["t"], frame["t"])
    assert model.forecast(frame[frame.unit == 0], steps=1)["t"].tolist() == [2**63 + 10]
    # 01:30 on the day New York's clocks go back happens twice; this is the first one.
    naive = pd.date_range("2021-10-20 01:30", periods=30, freq="D")
    frame = _panel(naive.tz_localize("America/New_York", ambiguous=np.ones(30, bool)), 4)
    pd.testing.assert_series_equal(_fit(frame).reconstruct(frame)["t"], frame["t"])


def test_daily_local_midnights_with_a_missing_day_stay_on_the_local_clock():
    days = pd.date_range("2024-03-20", periods=21, freq="D", tz="Europe/Paris").delete(5)
    spec, clock = _clock(pd.Series(days))
    assert spec.wall_clock and clock.resolution == 86_400 * 10**6  # whole local days


def test_a_prefix_off_the_daily_grid_keeps_its_time_of_day():
    frame = _panel(pd.date_range("2024-01-01", periods=10, freq="D"), 6)
    prefix = frame[frame.unit == 0].assign(t=lambda f: f["t"] + pd.Timedelta("6h"))
    forecast = _fit(frame).forecast(prefix, steps=2)
    assert forecast["t"].tolist() == [
        pd.Timestamp("2024-01-11 06:00"),
        pd.Timestamp("2024-01-12 06:00"),
    ]


def test_a_dictionary_encoded_key_gives_text_keys():
    pa = pytest.importorskip("pyarrow")
    frame = _panel(np.arange(6), 4)
    frame["unit"] = (
        frame["unit"].astype(str).astype(pd.ArrowDtype(pa.dictionary(pa.int8(), pa.string())))
    )
    sample = _fit(frame).sample(3)
    assert sorted(sample["unit"].astype(str).unique()) == ["0", "1", "2"]


def test_a_sample_too_large_for_memory_is_named_before_lengths_are_drawn():
    with pytest.raises(InvalidParameterError, match="does not fit in this machine's memory"):
        _fit(_panel(np.arange(6), 4)).sample(10**12)  # the lengths alone were 7 TiB
