"""The panel data layer: long frames / NaN-padded arrays ↔ padded model arrays with masks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tssynth.data.panel import PanelTransformer, read_panel
from tssynth.exceptions import InvalidDataError


def make_panel(n: int = 12, seed: int = 0) -> pd.DataFrame:
    """Variable-length sequences with a datetime index, a number, a category, NaNs, context."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n):
        length = int(rng.integers(3, 9))
        value = np.cumsum(rng.normal(size=length))
        value[rng.random(length) < 0.1] = np.nan
        frames.append(
            pd.DataFrame(
                {
                    "unit": f"u{k:02d}",
                    "day": pd.Timestamp("2022-03-01") + pd.to_timedelta(np.arange(length), "D"),
                    "value": value,
                    "state": rng.choice(["on", "off"], size=length).astype(object),
                    "device": "big" if k % 3 == 0 else "small",
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_read_panel_sorts_time_and_indexes_entities():
    frame = make_panel()
    shuffled = frame.sample(frac=1.0, random_state=1)
    panel = read_panel(shuffled, "unit", "day", ["device"])
    assert list(panel.keys) == sorted(frame["unit"].unique())
    assert panel.lengths.tolist() == frame.groupby("unit").size().sort_index().tolist()
    first = frame[frame["unit"] == "u00"]
    rows = panel.codes == 0
    assert np.allclose(panel.features["value"][rows], first["value"], equal_nan=True)
    assert (np.diff(panel.time[rows]) > 0).all()
    assert panel.context["device"].tolist()[:4] == ["big", "small", "small", "big"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="unit"), "sequence_key"),
        (lambda f: f.drop(columns="day"), "sequence_index"),
        (lambda f: pd.concat([f, f.iloc[[0]]]), "duplicate"),
        (lambda f: f.assign(device=np.arange(len(f)).astype(str)), "context column 'device'"),
        (lambda f: f[~((f["unit"] == "u01") & (f["day"] > "2022-03-01"))], "u01"),
    ],
)
def test_read_panel_rejects_bad_frames(change, message):
    with pytest.raises(InvalidDataError, match=message):
        read_panel(change(make_panel()), "unit", "day", ["device"], min_length=2)


def test_read_panel_needs_a_key_for_frames():
    with pytest.raises(InvalidDataError, match="sequence_key"):
        read_panel(make_panel())
    # several key columns in one name (as `--sequence-key a,b` gives): how to join them
    with pytest.raises(InvalidDataError, match=r"names several columns.*X\['unit'\]\.astype"):
        read_panel(make_panel(), "unit, device", "day")


def test_array_lengths_come_from_trailing_nan_padding():
    X = np.arange(2 * 5 * 2, dtype=float).reshape(2, 5, 2)
    X[0, 3:] = np.nan  # padding
    X[1, 1, 0] = np.nan  # a missing value inside the sequence
    panel = read_panel(X)
    assert panel.lengths.tolist() == [3, 5]
    assert np.isnan(panel.features[0]).sum() == 1


def test_an_object_array_of_numbers_reads_as_floats_with_missing_values():
    """``to_numpy()`` of nullable Float64 columns (pd.NA for gaps, trailing padding) was
    refused as ragged or non-numeric."""
    X = np.arange(2 * 5 * 2, dtype=float).reshape(2, 5, 2)
    X[0, 3:] = np.nan
    X[1, 1, 0] = np.nan
    as_objects = X.astype(object)
    as_objects[np.isnan(X)] = pd.NA
    floats, objects = read_panel(X), read_panel(as_objects)
    assert objects.lengths.tolist() == [3, 5]
    pd.testing.assert_frame_equal(objects.features, floats.features)
    with pytest.raises(InvalidDataError, match=r"non-numbers \(an object array of string"):
        read_panel(np.array([[["a"], ["b"]]], dtype=object))


def test_a_list_of_sequences_of_different_lengths_reads_as_the_padded_array():
    rng = np.random.default_rng(0)
    sequences = [rng.normal(size=(length, 2)) for length in (3, 6, 4)]
    padded = np.full((3, 6, 2), np.nan)
    for row, sequence in enumerate(sequences):
        padded[row, : len(sequence)] = sequence
    from_list, from_array = read_panel(sequences), read_panel(padded)
    assert from_list.lengths.tolist() == [3, 6, 4]
    np.testing.assert_array_equal(from_list.codes, from_array.codes)
    np.testing.assert_array_equal(from_list.positions, from_array.positions)
    pd.testing.assert_frame_equal(from_list.features, from_array.features)
    # Univariate sequences as plain lists of numbers.
    assert read_panel([[1.0, 2.0, 3.0], [4.0, 5.0]]).lengths.tolist() == [3, 2]
    with pytest.raises(InvalidDataError, match=r"different channel counts \[2, 3\]"):
        read_panel([np.zeros((3, 2)), np.zeros((4, 3))])


def test_encode_lays_steps_back_to_back_and_decode_restores_the_panel():
    frame = make_panel()
    panel = read_panel(frame, "unit", "day", ["device"])
    transformer = PanelTransformer(random_state=0).fit(panel)
    values, context = transformer.encode(panel)
    assert values.shape == (panel.lengths.sum(), transformer.steps.output_dim)
    assert values.dtype == np.float32 and np.isfinite(values).all()
    assert context.shape == (len(panel.lengths), transformer.context_dim)
    assert transformer.step == pytest.approx(86_400e6)  # one day in the index's unit (us)

    firsts = np.concatenate([[0], np.cumsum(panel.lengths)[:-1]])
    back = transformer.decode(
        values, panel.lengths, context, panel.time[firsts], np.asarray(panel.keys)
    )
    expected = frame.sort_values(["unit", "day"]).reset_index(drop=True)
    assert list(back.columns) == list(frame.columns)
    assert back["unit"].tolist() == expected["unit"].tolist()
    assert (back["day"] == expected["day"]).all()
    assert back["state"].tolist() == expected["state"].tolist()
    assert back["device"].tolist() == expected["device"].tolist()
    observed = expected["value"].notna()
    assert back["value"].isna().tolist() == (~observed).tolist()
    assert np.allclose(back["value"][observed], expected["value"][observed], atol=1e-4)


def test_state_round_trip_decodes_identically():
    panel = read_panel(make_panel(), "unit", "day", ["device"])
    transformer = PanelTransformer(random_state=0).fit(panel)
    copy = PanelTransformer.from_state(transformer.to_state())
    values, context = transformer.encode(panel)
    a = transformer.decode(values, panel.lengths, context)
    b = copy.decode(values, panel.lengths, context)
    pd.testing.assert_frame_equal(a, b)


def test_check_columns_names_unseen_columns():
    frame = make_panel()
    transformer = PanelTransformer(random_state=0).fit(read_panel(frame, "unit", "day", ["device"]))
    other = read_panel(frame.assign(extra=1.0), "unit", "day", ["device"])
    # only what is wrong is named (it listed an empty set of lacking columns too)
    with pytest.raises(InvalidDataError, match=r"prefix has columns \['extra'\] unseen in fit;"):
        transformer.check_columns(other, "prefix")
    fewer = read_panel(frame.drop(columns="state"), "unit", "day", ["device"])
    with pytest.raises(InvalidDataError, match=r"prefix lacks the fitted columns \['state'\];"):
        transformer.check_columns(fewer, "prefix")


def test_errors_about_a_panel_name_the_argument_it_came_in():
    frame = make_panel()
    twice = pd.concat([frame, frame.iloc[:1]])
    with pytest.raises(InvalidDataError, match=r"^prefix has 1 duplicate time steps"):
        read_panel(twice, "unit", "day", ["device"], what="prefix")
    with pytest.raises(InvalidDataError, match=r"'unit' of prefix has missing values"):
        read_panel(frame.assign(unit=np.nan), "unit", "day", ["device"], what="prefix")


def test_absence_rates_give_the_chance_that_a_prefix_lacks_a_column_throughout():
    """Four of ten entities never have a lab; the others miss one step in four. A
    forecast prefix without it lacks it throughout by Bayes, not for certain."""
    units, length = 10, 4
    lab = np.arange(units * length, dtype=float)
    lab[: 4 * length] = np.nan
    lab[4 * length :: length] = np.nan  # the first step of every other entity
    frame = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(units), length),
            "day": np.tile(np.arange(length), units),
            "value": np.random.default_rng(0).normal(size=units * length),
            "lab": lab,
        }
    )
    transformer = PanelTransformer(random_state=0).fit(read_panel(frame, "unit", "day"))
    assert transformer.absent_columns == ["lab"]
    np.testing.assert_allclose(transformer.absent_rates, [[0.4, 0.25]])
    chance = transformer.lacking_chance(np.array([1, 3]))
    np.testing.assert_allclose(chance[:, 0], 0.4 / (0.4 + 0.6 * 0.25 ** np.array([1, 3])))
    copy = PanelTransformer.from_state(transformer.to_state())
    np.testing.assert_array_equal(
        copy.lacking_chance(np.array([2])), transformer.lacking_chance(np.array([2]))
    )


def test_a_time_column_of_text_dates_gets_an_error_that_says_how_to_convert_it():
    frame = pd.DataFrame(
        {
            "unit": np.repeat(["a", "b"], 3),
            "day": ["20.01.2021", "21.01.2021", "22.01.2021"] * 2,
            "x": np.arange(6.0),
        }
    )
    with pytest.raises(InvalidDataError, match="dates written as text") as error:
        read_panel(frame, "unit", "day")
    assert "pd.to_datetime(df['day']" in str(error.value) and "ISO 8601" in str(error.value)
    frame["day"] = ["a", "b", "c"] * 2  # text that is not dates: no such advice
    with pytest.raises(InvalidDataError, match=r"must hold numbers or datetimes\.$"):
        read_panel(frame, "unit", "day")
    with pytest.raises(InvalidDataError, match="--sequence-key on the command line"):
        read_panel(frame, None, "day")
