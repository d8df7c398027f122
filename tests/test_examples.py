"""The runnable examples run and show what they claim."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_normal_distribution_example_recovers_mean_and_std():
    result = load_example("normal_distribution").main(seed=0)
    assert result["mean_error"] < 0.02
    assert result["std_error"] < 0.03
