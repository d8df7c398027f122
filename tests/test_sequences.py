"""The sequence data layer: every input format to (n, T, d) windows and back, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tssynth.data.sequences import (
    cut_windows,
    from_windows,
    index_long_frame,
    pad_sequences,
    to_windows,
    window_starts,
)
from tssynth.exceptions import DataWarning, InvalidDataError, InvalidParameterError


def _panel() -> pd.DataFrame:
    """Two entities with 5 and 3 steps, rows shuffled, an integer and a float channel."""
    frame = pd.DataFrame(
        {
            "id": ["b", "b", "b", "a", "a", "a", "a", "a"],
            "t": [2, 0, 1, 4, 0, 3, 1, 2],
            "x": [12, 10, 11, 4, 0, 3, 1, 2],
            "y": [1.2, 1.0, 1.1, 0.4, 0.0, 0.3, 0.1, 0.2],
        }
    )
    return frame.sample(frac=1.0, random_state=0).reset_index(drop=True)


def test_arrays_round_trip_exactly():
    rng = np.random.default_rng(0)
    for shape in [(7, 5), (7, 5, 3)]:
        array = rng.normal(size=shape).astype(np.float32)
        windows, fmt = to_windows(array)
        assert windows.shape == (7, 5, 1 if len(shape) == 2 else 3)
        back = from_windows(windows, fmt)
        assert back.dtype == np.float32 and back.shape == shape
        np.testing.assert_array_equal(back, array)


def test_wide_frame_round_trips_with_its_columns():
    wide = pd.DataFrame(np.arange(12.0).reshape(3, 4), columns=["h0", "h1", "h2", "h3"])
    windows, fmt = to_windows(wide)
    assert windows.shape == (3, 4, 1)
    pd.testing.assert_frame_equal(from_windows(windows, fmt), wide)


def test_one_long_series_is_cut_into_every_window():
    series = pd.Series(np.arange(10.0), name="load")
    windows, fmt = to_windows(series, window=4, stride=3)
    np.testing.assert_array_equal(windows[:, :, 0], [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]])
    out = from_windows(windows, fmt)
    assert isinstance(out, pd.Series) and out.name == "load"
    assert out.index.names == ["window", "step"]
    np.testing.assert_array_equal(out.loc[2].to_numpy(), [6, 7, 8, 9])


def test_long_panel_is_sorted_by_time_and_windows_stay_inside_each_entity():
    windows, fmt = to_windows(_panel(), window=3, sequence_key="id", sequence_index="t")
    # entity a has 5 steps -> 3 windows, entity b has 3 steps -> 1 window
    assert windows.shape == (4, 3, 2)
    np.testing.assert_array_equal(windows[:, :, 0], [[0, 1, 2], [1, 2, 3], [2, 3, 4], [10, 11, 12]])
    np.testing.assert_allclose(windows[:, :, 1], windows[:, :, 0] / 10)
    out = from_windows(windows, fmt)
    assert list(out.columns) == ["id", "t", "x", "y"]
    assert out["id"].tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    assert out["t"].tolist() == [0, 1, 2] * 4


def test_long_entities_of_equal_length_are_one_window_each():
    frame = _panel()
    frame = frame[(frame["id"] == "b") | (frame["t"] < 3)]
    windows, _ = to_windows(frame, sequence_key="id", sequence_index="t")
    np.testing.assert_array_equal(windows[:, :, 0], [[0, 1, 2], [10, 11, 12]])


def test_index_long_frame_and_padding():
    frame = _panel()
    index = index_long_frame(frame, "id", "t")
    assert index.keys.tolist() == ["a", "b"]
    np.testing.assert_array_equal(index.lengths, [5, 3])
    padded = pad_sequences(
        frame[["x"]].to_numpy()[index.order], index.codes, index.positions, index.lengths
    )
    assert padded.shape == (2, 5, 1)
    np.testing.assert_array_equal(padded[0, :, 0], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(padded[1, :3, 0], [10, 11, 12])
    assert np.isnan(padded[1, 3:, 0]).all()
    entities, starts = window_starts(index.lengths, 4, 1)
    np.testing.assert_array_equal(entities, [0, 0])
    steps = frame[["x"]].to_numpy()[index.order]
    windows = cut_windows(steps, index.lengths, entities, starts, 4)
    np.testing.assert_array_equal(windows[1, :, 0], [1, 2, 3, 4])


@pytest.mark.parametrize(
    ("X", "kwargs", "match"),
    [
        ([np.zeros(5), np.zeros(4)], {}, "ragged"),
        (np.zeros((3, 4, 2, 1)), {}, r"shape \(n, T\) or \(n, T, d\)"),
        (pd.Series(np.arange(5.0)), {"window": 6}, "window=6 is longer"),
        (pd.Series(np.arange(5.0)), {}, "pass window="),
        (pd.DataFrame({"a": [1.0, np.nan, 3.0]}), {"window": 2}, "missing.*column 'a'"),
        (np.array([[1.0, np.nan]]), {}, "missing or infinite.*step 1, channel 0"),
        (pd.DataFrame({"h0": [1.0], "h1": [np.inf]}), {}, "step 1, column 'h1'"),
        (pd.DataFrame({"a": ["x", "y"]}), {"window": 1}, "Column 'a'.*DVAESynthesizer"),
        (
            pd.DataFrame({"day": pd.date_range("2024", periods=3), "v": [1.0, 2.0, 3.0]}),
            {"window": 2},
            r"Column 'day'.*pass sequence_index='day' \(the command line's --sequence-index\)",
        ),
        (_panel(), {"window": 2, "sequence_key": "nope"}, "sequence_key='nope'"),
        (
            _panel().assign(t=0),
            {"window": 2, "sequence_key": "id", "sequence_index": "t"},
            "duplicate time steps",
        ),
        (_panel(), {"sequence_key": "id", "sequence_index": "t"}, "different lengths"),
        (np.zeros((3, 4)), {"window": 2}, "is an array"),
    ],
)
def test_bad_input_gives_a_clear_error(X, kwargs, match):
    with pytest.raises(InvalidDataError, match=match):
        to_windows(X, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"window": 0}, "window"), ({"stride": 0}, "stride")]
)
def test_bad_window_parameters_are_named(kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        to_windows(pd.Series(np.arange(5.0)), **{"window": 2, **kwargs})


@pytest.mark.parametrize("stride", [1, 3])
def test_windows_of_one_long_series_are_a_view_equal_to_gathering_them(stride):
    # Overlapping windows of a 1,000,000-step series took 3.3 GB as copies; a view takes none.
    series = np.random.default_rng(0).normal(size=(50, 3))
    entities, starts = window_starts(np.array([50]), 8, stride)
    windows = cut_windows(series, np.array([50]), entities, starts, 8)
    gathered = series[starts[:, None] + np.arange(8)[None, :]]
    np.testing.assert_array_equal(windows, gathered)
    assert np.shares_memory(windows, series)


def test_entities_shorter_than_a_window_are_named_and_long_ones_cost_their_own_steps():
    lengths = np.array([2, 30, 3, 6])
    frame = pd.DataFrame(
        {
            "k": np.repeat(["a", "b", "c", "d"], lengths),
            "t": np.concatenate([np.arange(n) for n in lengths]),
            "v": np.arange(lengths.sum(), dtype=float),
        }
    )
    with pytest.warns(DataWarning, match=r"2 of the 4 sequences .* shorter than window=4 .*'a'"):
        windows, _ = to_windows(frame, window=4, stride=2, sequence_key="k", sequence_index="t")
    # b gives 14 windows, d gives 2; each window holds its entity's own consecutive steps.
    assert windows.shape == (16, 4, 1)
    np.testing.assert_array_equal(windows[0, :, 0], [2, 3, 4, 5])
    np.testing.assert_array_equal(windows[-1, :, 0], [37, 38, 39, 40])
