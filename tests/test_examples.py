"""The runnable examples run and show what they claim."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_normal_distribution_example_recovers_mean_and_std():
    result = load_example("normal_distribution").main(seed=0)
    assert result["mean_error"] < 0.02
    assert result["std_error"] < 0.05
    # no pile-up on the training extremes: 15,000 draws of a continuous value, none twice
    assert result["top_value_share"] < 1e-3


def test_private_release_example_reports_spent_budget_and_verdicts():
    table = load_example("private_release").main(epochs=1, settings=(None, 3.0), rows=8000)
    assert list(table.index) == ["no DP", "epsilon=3"]
    assert pd.isna(table.loc["no DP", "epsilon spent"])
    assert 2.5 < table.loc["epsilon=3", "epsilon spent"] <= 3.0
    assert table["verdict"].isin(["pass", "warn"]).all()
    assert table["MIA AUC"].between(0.0, 1.0).all()
