"""Numeric columns kept above their floors, against the same columns modelled apart.

Fits ``TVAESynthesizer`` on the shared daily stock table (``stock_data.csv``:
Open, High, Low, Close, Adj_Close, Volume), where every day's High is at or above
its Open, Close and Low, twice per seed: as released (each column above the
row-wise maximum of its floors, see ``tssynth/data/order.py``) and with no floors
(every column on its own, as before 0.8.0). Reports, as means over the seeds:

- the share of sampled days that break an order every real day keeps;
- the Kolmogorov-Smirnov distance of High and Low to the real ones;
- tssynth's fidelity score (column shapes and pair trends) and the fit time.

Run::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/column_order.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from pathlib import Path
from unittest import mock

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd
from scipy.stats import ks_2samp

from tssynth import TVAESynthesizer
from tssynth.metrics import evaluate

ROOT = Path(__file__).resolve().parents[1]
ORDERS = [("Low", "High"), ("Low", "Open"), ("Low", "Close"), ("Open", "High"), ("Close", "High")]


def _run(real: pd.DataFrame, seed: int, epochs: int, floors: bool) -> dict[str, float]:
    # without floors: the transformer finds none (every column on its own)
    patch = mock.patch("tssynth.data.transformer.find_floors", return_value={})
    with patch if not floors else contextlib.nullcontext():
        start = time.perf_counter()
        model = TVAESynthesizer(epochs=epochs, random_state=seed).fit(real)
        fit_s = time.perf_counter() - start
    synthetic = model.sample(len(real))
    result = {
        f"{low} > {high}": float((synthetic[low] > synthetic[high]).mean()) for low, high in ORDERS
    }
    for column in ("High", "Low"):
        result[f"KS {column}"] = float(ks_2samp(real[column], synthetic[column]).statistic)
    fidelity = evaluate(real, synthetic, metrics=("fidelity",)).to_dict()["fidelity"]
    return {**result, "fidelity": fidelity["overall"], "fit (s)": fit_s}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    real = pd.read_csv(Path(args.data) / "stock_data.csv")
    for low, high in ORDERS:
        assert (real[low] <= real[high]).all(), f"{low} <= {high} should hold in the data"
    rows = {}
    for label, floors in (("above floors (0.8.0)", True), ("modelled apart", False)):
        runs = [_run(real, seed, args.epochs, floors) for seed in range(args.seeds)]
        rows[label] = pd.DataFrame(runs).mean()
    table = pd.DataFrame(rows)
    print(f"stock_data.csv, {len(real):,} days, {args.epochs} epochs, {args.seeds} seeds (means)")
    print(table.round(3).to_string())


if __name__ == "__main__":
    main()
