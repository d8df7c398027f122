"""Values at the edges of what float32 and 64-bit integers hold, in the sequence models.

- DVAE samples take their context from one training sequence: its exact values, not
  the float32 encoding's decoding (IDs past 2**24, dates as YYYYMMDD codes, floats).
- DVAE times near the ends of int64 and uint64 are checked in integer arithmetic.
- DenseVAE channels spanning +-1.7e308 neither overflow nor collapse silently.
"""

from __future__ import annotations

import decimal
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from tssynth import DenseVAESynthesizer, DVAESynthesizer, load
from tssynth.data.panel import PanelTransformer
from tssynth.data.schema import CONTINUOUS, NUMERIC, ColumnSpec
from tssynth.data.time_index import IndexClock, restore_times
from tssynth.exceptions import InvalidDataError, InvalidParameterError

TINY = {"epochs": 1, "random_state": 0}


def _context_panel(n: int = 40, steps: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A panel whose context float32 cannot hold: 8-digit codes, floats, Int64 past
    2**40 (one missing), tz-aware nanoseconds, Decimals and a category."""
    rng = np.random.default_rng(0)
    context = pd.DataFrame(
        {
            "code": rng.integers(10**7, 10**8 - 1, n),
            "w": rng.normal(size=n),
            "big": pd.array(rng.integers(2**40, 2**41, n), dtype="Int64"),
            "when": pd.Timestamp("2020-01-01", tz="Europe/Paris")
            + pd.to_timedelta(rng.integers(0, 10**15, n), unit="ns"),
            "price": pd.Series([decimal.Decimal(f"{v:.3f}") for v in rng.normal(size=n)]),
            "kind": pd.Categorical(rng.choice(["a", "b"], n)),
        }
    )
    context.loc[3, "big"] = pd.NA
    rows = np.repeat(np.arange(n), steps)
    panel = context.iloc[rows].reset_index(drop=True)
    panel.insert(0, "u", rows)
    panel.insert(1, "t", np.tile(np.arange(steps), n))
    panel.insert(2, "x", rng.normal(size=n * steps))
    return panel, context


def _firsts(samples: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return samples.drop_duplicates("u")[columns].reset_index(drop=True)


def _as_training_rows(drawn: pd.DataFrame, context: pd.DataFrame) -> pd.Series:
    """Whether each drawn context row is, value for value, one training entity's row."""

    def rows(frame: pd.DataFrame) -> pd.Series:
        return frame.astype(object).map(repr).agg("|".join, axis=1)

    return rows(drawn).isin(set(rows(context)))


def _context_model() -> tuple[DVAESynthesizer, pd.DataFrame]:
    panel, context = _context_panel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few rows: convergence and identifier warnings
        model = DVAESynthesizer(
            sequence_key="u", sequence_index="t", context_columns=list(context.columns), **TINY
        ).fit(panel)
    return model, context


def test_sampled_context_is_one_training_entity_exactly():
    model, context = _context_model()
    drawn = _firsts(model.sample(60), list(context.columns))
    # every row is a whole training row: codes past 2**24 and floats to the last digit
    assert _as_training_rows(drawn, context).all()
    assert drawn["code"].isin(context["code"]).all()
    assert drawn["w"].isin(context["w"]).all()
    assert (drawn.dtypes == context.dtypes).all()
    assert all(isinstance(v, decimal.Decimal) for v in drawn["price"])


def test_exact_context_survives_save_and_load(tmp_path):
    model, context = _context_model()
    path = tmp_path / "panel.tssynth"
    model.save(path)
    first = model.sample(30)
    again = load(path).sample(30)
    pd.testing.assert_frame_equal(first, again)
    assert _as_training_rows(_firsts(again, list(context.columns)), context).all()


def test_files_without_exact_context_values_still_sample():
    model, context = _context_model()
    state = model.panel_transformer_.to_state()
    del state["context_values"]  # as in generator files written before them
    model.panel_transformer_ = PanelTransformer.from_state(state)
    drawn = _firsts(model.sample(20), list(context.columns))
    assert len(drawn) == 20
    assert (drawn.dtypes == context.dtypes).all()
    assert drawn["kind"].isin(context["kind"]).all()


@pytest.mark.parametrize(
    ("dtype", "first"),
    [
        (np.int64, -(2**63)),
        (np.int64, 2**63 - 10),
        (np.int64, 2**63 - 5),
        (np.uint64, 2**64 - 1000),
        (np.uint64, 2**64 - 5),
    ],
)
def test_integer_times_at_the_ends_of_64_bits_sample(dtype, first):
    rng = np.random.default_rng(0)
    steps = np.tile(np.arange(5), 8)
    times = (steps.astype(object) + first).astype(dtype)
    panel = pd.DataFrame({"k": np.repeat(np.arange(8), 5), "t": times, "v": rng.normal(size=40)})
    model = DVAESynthesizer(sequence_key="k", sequence_index="t", **TINY).fit(panel)
    out = model.sample(3)
    assert out["t"].dtype == np.dtype(dtype)
    # samples reuse training starts and lengths, so their times are training times
    assert set(out["t"].tolist()) <= {int(t) for t in times}


def test_times_past_the_end_of_int64_are_still_refused_exactly():
    spec = ColumnSpec("t", CONTINUOUS, "int64", NUMERIC)
    origin = 2**63 - 10
    last = restore_times(np.array([0.0, 9.0]), origin, spec, IndexClock())
    assert last.tolist() == [origin, 2**63 - 1]
    with pytest.raises(InvalidParameterError, match="cannot hold the times"):
        restore_times(np.array([0.0, 10.0]), origin, spec, IndexClock())
    spec = ColumnSpec("t", CONTINUOUS, "uint64", NUMERIC)
    low = restore_times(np.array([0.0, 1.0]), 0, spec, IndexClock())
    assert low.dtype == np.uint64 and low.tolist() == [0, 1]
    with pytest.raises(InvalidParameterError, match="cannot hold the times"):
        restore_times(np.array([-1.0, 0.0]), 0, spec, IndexClock())
    with pytest.raises(InvalidParameterError, match="cannot hold the times"):
        restore_times(np.array([2.0]), 2**64 - 2, spec, IndexClock())


def test_forecast_past_the_end_of_int64_is_refused():
    rng = np.random.default_rng(0)
    panel = pd.DataFrame(
        {
            "k": np.repeat(np.arange(8), 5),
            "t": np.tile(np.arange(5), 8) + np.int64(2**63 - 10),
            "v": rng.normal(size=40),
        }
    )
    model = DVAESynthesizer(sequence_key="k", sequence_index="t", **TINY).fit(panel)
    assert model.forecast(panel[panel.k == 0], steps=5)["t"].max() == 2**63 - 1
    with pytest.raises(InvalidParameterError, match="cannot hold the times"):
        model.forecast(panel[panel.k == 0], steps=6)


def test_dense_channel_too_wide_to_model_is_named():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 8, 2))
    X[0, 0, 1], X[1, 0, 1] = 1.7e308, -1.7e308
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        named = re.escape("channel 1 spans -1.7e+308 to 1.7e+308")
        with pytest.raises(InvalidDataError, match=named):
            DenseVAESynthesizer(**TINY).fit(X)


def test_dense_extreme_frequent_values_sample_without_overflow():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 8, 2))
    X[:, :, 0] = rng.choice([-1.7e308, 0.0, 1.7e308], size=(30, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = DenseVAESynthesizer(**TINY).fit(X)
        samples = model.sample(50)[:, :, 0]
    assert np.isfinite(samples).all()
    assert samples.min() >= -1.7e308 and samples.max() <= 1.7e308
    # the three levels come back exactly, each of them
    assert {-1.7e308, 0.0, 1.7e308} <= set(np.unique(samples))


def test_dense_scores_values_beyond_a_wide_range_without_overflow():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 8, 1))
    X[0, 0, 0], X[1, 0, 0] = -1e308, 1e307  # midpoint -4.5e307
    model = DenseVAESynthesizer(**TINY).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        scores = model.score_samples(np.full((1, 8, 1), 1.7e308))
    assert np.isfinite(scores).all()
