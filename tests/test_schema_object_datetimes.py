"""Object columns of Python datetimes (``.dt.to_pydatetime()`` in pandas 3, database
TIMESTAMP columns) are datetime columns, and declared categories must be of the column's
value type."""

from __future__ import annotations

import datetime
import zoneinfo

import numpy as np
import pandas as pd
import pytest

from tssynth import DVAESynthesizer, InvalidDataError, TVAESynthesizer, load
from tssynth.data.schema import CONTINUOUS, DATETIME, infer_schema
from tssynth.exceptions import InvalidParameterError

TINY = {
    "embedding_dim": 4,
    "compress_dims": (8,),
    "decompress_dims": (8,),
    "epochs": 1,
    "device": "cpu",
    "random_state": 0,
}
OPEN_END = datetime.datetime(9999, 12, 31)


def _times(n: int = 300, seed: int = 0) -> pd.Series:
    """Datetimes at second resolution over five years."""
    rng = np.random.default_rng(seed)
    seconds = rng.integers(0, 5 * 365 * 86_400, n)
    return pd.Series(pd.Timestamp("2015-01-01") + pd.to_timedelta(seconds, unit="s"))


def _objects(times: pd.Series) -> pd.Series:
    """Datetimes as an object column of ``datetime.datetime`` (pandas 2 gives an array)."""
    return pd.Series(list(pd.DatetimeIndex(times).to_pydatetime()), dtype=object)


# ------------------------------------------------------------------ datetime objects


def test_datetime_objects_are_modelled_as_datetimes_not_copied_categories():
    """They were one category per timestamp: every sample a copied real value."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"when": _objects(_times()), "x": rng.normal(size=300)})
    spec = infer_schema(frame)[0]
    assert (spec.kind, spec.value_type, spec.python_type) == (CONTINUOUS, DATETIME, "datetime")
    out = TVAESynthesizer(**TINY).fit(frame).sample(500)["when"]
    assert out.dtype == object
    assert {type(value) for value in out} == {datetime.datetime}
    assert not set(out) <= set(frame["when"])  # times between the seen ones
    assert frame["when"].min() <= out.min() and out.max() <= frame["when"].max()


@pytest.mark.parametrize("marker", [None, pd.NaT], ids=["None", "NaT"])
def test_missing_datetime_objects_stay_missing_and_written_as_the_data_wrote_them(marker):
    rng = np.random.default_rng(1)
    when = _objects(_times())
    when[rng.random(len(when)) < 0.2] = marker
    frame = pd.DataFrame({"when": when, "x": rng.normal(size=len(when))})
    out = TVAESynthesizer(**{**TINY, "epochs": 5}).fit(frame).sample(2000)["when"]
    missing = out[out.isna()]
    assert 0.1 < len(missing) / len(out) < 0.3
    assert all(value is marker for value in missing)
    assert {type(value) for value in out.dropna()} == {datetime.datetime}


def test_aware_datetime_objects_keep_their_zone():
    zone = zoneinfo.ZoneInfo("Europe/Berlin")
    local = _times().dt.tz_localize("UTC").dt.tz_convert(zone)
    frame = pd.DataFrame({"when": _objects(local), "x": np.arange(300.0)})
    spec = infer_schema(frame)[0]
    assert (spec.value_type, spec.tz) == (DATETIME, "Europe/Berlin")
    out = TVAESynthesizer(**TINY).fit(frame).sample(200)["when"]
    assert {type(value) for value in out} == {datetime.datetime}
    assert {str(value.tzinfo) for value in out} == {"Europe/Berlin"}


def test_timestamp_objects_come_back_as_timestamps_with_their_nanoseconds():
    times = _times() + pd.to_timedelta(np.arange(300) % 7, unit="ns")
    frame = pd.DataFrame({"when": pd.Series(list(times), dtype=object)})
    spec = infer_schema(frame)[0]
    assert (spec.value_type, spec.unit, spec.python_type) == (DATETIME, "ns", "timestamp")
    out = TVAESynthesizer(**TINY).fit(frame).sample(200)["when"]
    assert {type(value) for value in out} == {pd.Timestamp}


def test_dates_stay_dates_and_datetimes_do_not_become_dates():
    """``datetime.datetime`` is a subclass of ``datetime.date``."""
    times = _times()
    frame = pd.DataFrame({"day": pd.Series(times.dt.date, dtype=object), "when": _objects(times)})
    day, when = infer_schema(frame)
    assert (day.python_type, day.unit, when.python_type, when.unit) == (
        "date",
        "s",
        "datetime",
        "us",
    )
    out = TVAESynthesizer(**TINY).fit(frame).sample(200)
    assert {type(value) for value in out["day"]} == {datetime.date}
    assert {type(value) for value in out["when"]} == {datetime.datetime}
    assert (out["when"].map(lambda value: value.time()) != datetime.time()).any()


def test_validity_table_keeps_order_and_its_open_ends_past_datetime64_ns():
    """A SQL validity table: end never before start, 40 % open at 9999-12-31, as for dates."""
    rng = np.random.default_rng(2)
    start = _times(400, seed=2)
    end = start + pd.to_timedelta(rng.integers(3_600, 400 * 86_400, 400), unit="s")
    valid_to = _objects(end)
    is_open = rng.random(400) < 0.4
    valid_to[is_open] = OPEN_END
    frame = pd.DataFrame({"valid_from": _objects(start), "valid_to": valid_to})
    out = TVAESynthesizer(epochs=30, random_state=0).fit(frame).sample(2000)
    assert (out["valid_to"] >= out["valid_from"]).all()
    assert {type(value) for value in out["valid_to"]} == {datetime.datetime}
    assert abs((out["valid_to"] == OPEN_END).mean() - is_open.mean()) < 0.1


def test_datetime_objects_transform_as_datetimes_and_refuse_other_values(tmp_path):
    frame = pd.DataFrame({"when": _objects(_times()), "x": np.arange(300.0)})
    syn = TVAESynthesizer(**TINY).fit(frame)
    as_datetimes = frame.assign(when=pd.to_datetime(frame["when"]))
    np.testing.assert_array_equal(syn.transform(as_datetimes), syn.transform(frame))
    text = frame.assign(when=frame["when"].astype(str).astype(object))
    with pytest.raises(InvalidDataError, match=r"'when' was fitted on datetimes .* holds string"):
        syn.transform(text)
    syn.save(tmp_path / "model.tssynth")
    again = load(tmp_path / "model.tssynth").sample(20)["when"]
    assert {type(value) for value in again} == {datetime.datetime}


def test_mixed_offset_objects_stay_categories():
    """Offsets that change make no one datetime column: modelled as categories, as before."""
    plus_one = pd.Timestamp("2020-01-01T00:00+01:00")
    plus_two = pd.Timestamp("2020-07-01T00:00+02:00")
    when = pd.Series([plus_one, plus_two] * 20, dtype=object)
    assert infer_schema(pd.DataFrame({"when": when}))[0].kind == "categorical"
    out = TVAESynthesizer(**TINY).fit(pd.DataFrame({"when": when})).sample(50)["when"]
    assert set(out) <= {plus_one, plus_two}


def test_dvae_takes_datetime_objects_as_sequence_index():
    """It raised "must hold numbers or datetimes"."""
    rng = np.random.default_rng(3)
    hours = pd.Timestamp("2021-01-01") + pd.to_timedelta(np.tile(np.arange(6), 4), unit="h")
    panel = pd.DataFrame(
        {
            "id": np.repeat(np.arange(4), 6),
            "t": _objects(pd.Series(hours)),
            "v": rng.normal(size=24),
        }
    )
    syn = DVAESynthesizer(
        **TINY, hidden_dim=8, batch_size=16, sequence_key="id", sequence_index="t"
    ).fit(panel)
    out = syn.sample(3)
    assert {type(value) for value in out["t"]} == {datetime.datetime}
    steps = out.groupby("id")["t"].apply(lambda t: pd.to_datetime(t).diff().dropna().unique())
    assert all(list(step) == [pd.Timedelta(hours=1)] for step in steps)


# ------------------------------------------------------------------ declared category types


def _flags(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    return pd.DataFrame({"x": rng.normal(size=n), "ok": rng.random(n) < 0.3})


@pytest.mark.parametrize(
    ("dtype", "params"),
    [("bool", {}), ("boolean", {}), ("bool", {"epsilon": 1.0})],
    ids=["bool", "nullable-boolean", "bool-dp"],
)
def test_bool_column_declared_with_text_categories_is_refused_at_fit(dtype, params):
    """JSON-style ["True", "False"]: samples were all True (bool("False") is True), or a
    raw pandas TypeError at sample time for a nullable boolean column."""
    frame = _flags().astype({"ok": dtype})
    syn = TVAESynthesizer(**TINY, **params)
    message = (
        r"metadata\['categories'\]\['ok'\] declares str values \('True', 'False'\), but "
        rf"column 'ok' holds bool values \(dtype {dtype}\).*: \[True, False\]\."
    )
    with pytest.raises(InvalidParameterError, match=message):
        syn.fit(frame, metadata={"categories": {"ok": ["True", "False"]}})
    assert not hasattr(syn, "transformer_")


def test_integer_categories_declared_as_text_are_refused_with_the_values_to_declare():
    """A category-of-int column sampled all missing, under a leaked pandas warning."""
    codes = pd.Series(np.random.default_rng(5).integers(1, 4, 200)).astype("category")
    frame = _flags().assign(ok=codes)
    with pytest.raises(InvalidParameterError, match=r"holds numbers .*: \[1, 2, 3, None\]\."):
        TVAESynthesizer(**TINY).fit(frame, metadata={"categories": {"ok": ["1", "2", "3", None]}})
    text = frame.assign(ok=frame["ok"].astype(str).astype(object))
    with pytest.raises(InvalidParameterError, match=r"holds text .*: \['1', '2'\]\."):
        TVAESynthesizer(**TINY).fit(text, metadata={"categories": {"ok": [1, 2]}})


def test_categories_of_the_column_type_are_declared_as_before():
    frame = _flags()
    frame["code"] = np.random.default_rng(6).integers(1, 4, len(frame))
    metadata = {"categories": {"ok": [True, False], "code": [1.0, 2.0, 3.0]}}
    out = TVAESynthesizer(**TINY).fit(frame, metadata=metadata).sample(500)
    assert out["ok"].dtype == bool and out["ok"].any() and not out["ok"].all()
    assert out["code"].dtype == frame["code"].dtype and set(out["code"]) <= {1, 2, 3}
