"""evaluate on panels and identifier-like columns: privacy that cannot be fooled by
measurements taken for identifiers."""

import importlib
import math

import numpy as np
import pandas as pd
import pytest

from tssynth.metrics import evaluate


def _income_panel(seed: int, n: int = 40, steps: int = 5) -> pd.DataFrame:
    """A state-year panel of integer incomes: distinct on every row, but measured."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n), steps),
            "year": np.tile(np.arange(2000, 2000 + steps), n),
            "income": rng.integers(20_000, 200_000, n * steps),
        }
    )


def _privacy(real, synthetic, holdout, **kwargs):
    return evaluate(real, synthetic, holdout=holdout, metrics=["privacy"], **kwargs)


def test_a_verbatim_copy_of_a_panel_with_integer_measurements_does_not_pass():
    train, holdout = _income_panel(1), _income_panel(2)
    assert train["income"].is_unique  # what made it look like an identifier
    panel = {"sequence_key": "unit", "sequence_index": "year"}
    copied = _privacy(train, train.copy(), holdout, **panel)
    assert not any("identifier" in note for note in copied.notes)
    assert copied.privacy.verdict.status == "warn"
    assert copied.privacy.overall == 0.0
    assert copied.privacy.exact_copy_rate == 1.0 and copied.privacy.holdout_copy_rate == 0.0
    # An independent panel of the same kind is not taken for a copy.
    fresh = _privacy(train, _income_panel(3), holdout, **panel)
    assert fresh.privacy.verdict.status == "pass"
    assert fresh.privacy.overall > 0.8 and fresh.privacy.exact_copy_rate == 0.0


def test_labels_are_left_out_and_measurements_compared():
    rng = np.random.default_rng(0)
    n = 300

    def table(ids: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(
            {
                # numbered rows with gaps (deleted rows), shuffled
                "row": rng.permutation(ids),
                "customer": [f"C{i:05d}" for i in ids],
                "cents": rng.choice(10**7, len(ids), replace=False),  # distinct, but an amount
                "age": rng.integers(18, 90, len(ids)),
            }
        )

    real = table(np.sort(rng.choice(450, n, replace=False)))
    holdout = table(np.arange(1000, 1100))
    # Fresh IDs on every row; 30 rows copy a training row's measurements.
    synthetic = table(np.arange(5000, 5000 + n))
    copied = real.sample(30, random_state=1).to_numpy()
    synthetic.loc[: len(copied) - 1, ["cents", "age"]] = copied[:, 2:]
    result = _privacy(real, synthetic, holdout)
    assert any(
        "leave out the identifier columns ['row', 'customer']" in note for note in result.notes
    )
    assert result.privacy.exact_copy_rate == pytest.approx(30 / n)
    # Passed as floats, a numbering is a number like any other, and compared.
    as_floats = _privacy(real.astype({"row": float}), synthetic, holdout)
    assert any("columns ['customer']" in note for note in as_floats.notes)
    assert as_floats.privacy.exact_copy_rate == 0.0


@pytest.mark.parametrize("case", ["time index alone", "identifiers only", "one value"])
def test_privacy_with_nothing_to_compare_warns_without_a_score(case):
    train, holdout = _income_panel(1), _income_panel(2)
    panel = {}
    synthetic = train.copy()  # a verbatim copy
    if case == "time index alone":
        # A row number beside the key and time: only the time index is left to compare.
        train, holdout = (f.drop(columns="income") for f in (train, holdout))
        train["obs"], holdout["obs"] = np.arange(len(train)), np.arange(len(holdout)) + 10**4
        synthetic = train.copy()
        panel = {"sequence_key": "unit", "sequence_index": "year"}
        expected = "only the time index 'year' is compared"
    elif case == "identifiers only":
        train, holdout, synthetic = (
            pd.DataFrame({"customer": [f"{tag}{i}" for i in range(len(f))]})
            for tag, f in (("C", train), ("H", holdout), ("S", synthetic))  # fresh IDs
        )
        expected = "every column is left out: the identifiers ['customer']"
    else:
        train, holdout = (
            pd.DataFrame({"obs": np.arange(len(f)) + start, "k": 1})
            for start, f in ((0, train), (10**4, holdout))
        )
        synthetic = train.copy()
        expected = "the columns compared, ['k'], hold one value each"
    result = _privacy(train, synthetic, holdout, **panel)
    verdict = result.privacy.verdict
    assert verdict.status == "warn"
    assert expected in verdict.reasons[0] and "cannot pass" in verdict.reasons[0]
    # the checks made on what was compared are still listed
    assert any(note.startswith("fine: ") for note in verdict.notes)
    assert math.isnan(result.privacy.overall)
    assert math.isnan(result.to_dict()["privacy"]["overall"])
    assert any(expected in note for note in result.notes)
    assert any(expected in note for note in result.privacy.notes)


def _captured_splits(monkeypatch) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """The (train, test) real rows each utility score is computed on."""
    # the module, which the function of the same name hides as an attribute
    evaluate_module = importlib.import_module("tssynth.metrics.evaluate")
    splits = []
    scored = evaluate_module.utility_report

    def spy(train, synthetic, test, *args, **kwargs):
        splits.append((train, test))
        return scored(train, synthetic, test, *args, **kwargs)

    monkeypatch.setattr(evaluate_module, "utility_report", spy)
    return splits


def test_panel_utility_without_holdout_tests_on_entities_it_did_not_train_on(monkeypatch):
    rng = np.random.default_rng(0)
    n, steps = 200, 10
    # y is mostly the entity's own level: rows of a seen entity give it away
    real = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n), steps),
            "t": np.tile(np.arange(steps), n),
            "tag": np.repeat(rng.normal(size=n), steps),
            "y": np.repeat(rng.normal(size=n), steps) + 0.1 * rng.normal(size=n * steps),
        }
    )
    splits = _captured_splits(monkeypatch)
    result = evaluate(
        real,
        real.copy(),
        sequence_key="unit",
        sequence_index="t",
        target="y",
        metrics=["utility"],
        n_threads=1,
    )
    ((train, test),) = splits
    train_units, test_units = (set(real.loc[part.index, "unit"]) for part in (train, test))
    assert not train_units & test_units
    assert len(test_units) == n // 5 and len(train) + len(test) == len(real)
    # Without memorised entities, the real model has nothing to predict y from.
    assert result.utility.real["r2"] < 0.2
    assert any("split 80/20 by 'unit'" in note for note in result.notes)


def test_panel_classification_split_by_entity_keeps_every_class(monkeypatch):
    rng = np.random.default_rng(1)
    n, steps = 60, 6
    level = rng.choice(["low", "mid", "high"], n, p=[0.5, 0.3, 0.2])
    real = pd.DataFrame(
        {
            "unit": np.repeat([f"u{i}" for i in range(n)], steps),
            "t": np.tile(np.arange(steps), n),
            "x": rng.normal(size=n * steps),
            "level": np.repeat(level, steps),
        }
    )
    splits = _captured_splits(monkeypatch)
    evaluate(
        real,
        real.copy(),
        sequence_key="unit",
        sequence_index="t",
        target="level",
        metrics=["utility"],
        n_threads=1,
    )
    ((train, test),) = splits
    assert not set(real.loc[train.index, "unit"]) & set(real.loc[test.index, "unit"])
    assert set(test["level"]) == set(level)
    shares = test["level"].value_counts(normalize=True)
    expected = pd.Series(level).value_counts(normalize=True)
    assert (shares - expected).abs().max() < 0.1


def test_object_dates_and_decimals_distinct_on_every_row_are_compared():
    # Object columns of Python datetimes or Decimals are values, not text labels: left
    # out as identifiers, a verbatim copy of them passed with nothing else compared.
    import decimal

    def table(seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        minutes = pd.to_timedelta(rng.choice(10**6, 100, replace=False), unit="min")
        amounts = rng.choice(10**6, 100, replace=False) / 100
        return pd.DataFrame(
            {
                "when": pd.Series(pd.Timestamp("2020") + minutes).dt.to_pydatetime(),
                "amount": [decimal.Decimal(f"{a:.2f}") for a in amounts],
            }
        )

    train = table(1)
    assert train["when"].dtype == object and train["amount"].dtype == object
    copied = _privacy(train, train.copy(), table(2))
    assert not any("identifier" in note for note in copied.notes)
    assert copied.privacy.verdict.status == "warn"
    assert copied.privacy.exact_copy_rate == 1.0
