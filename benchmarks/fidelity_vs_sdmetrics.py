"""Fidelity of tssynth against SDMetrics' QualityReport on pairs of Adult tables.

How to run (from the repository root, in the bench venv)::

    .venv-bench/bin/pip install --no-deps -e .
    nice -n 10 .venv-bench/bin/python benchmarks/fidelity_vs_sdmetrics.py
    nice -n 10 .venv-bench/bin/python benchmarks/fidelity_vs_sdmetrics.py --generator adult.tssynth
    OMP_NUM_THREADS=1 nice -n 10 .venv-bench/bin/python benchmarks/fidelity_vs_sdmetrics.py --fit 10
    nice -n 10 .venv-bench/bin/python benchmarks/fidelity_vs_sdmetrics.py --privacy-speed

Protocol
--------
``tssynth.metrics.fidelity_report`` and ``sdmetrics.reports.single_table.QualityReport``
score the same pairs of tables with the same metadata (integer columns numerical,
text columns categorical):

- ``half``: two disjoint random halves of Adult (seed 0);
- ``bootstrap``: Adult against a bootstrap resample of itself;
- ``noisy``: Adult against a copy with Gaussian noise (0.3 std) on the numbers and
  10 % of each categorical column replaced by random categories (a weak
  "synthesizer", so scores are well below 1);
- ``shuffled``: Adult with ``education-num`` permuted (seed 0), which breaks its
  pairs with ``education`` and ``income`` and leaves every column shape intact;
- ``no-minimum``: the bootstrap resample without its rows at the minimum of
  ``education-num`` (0.2 % of them), as a synthesizer that never samples a rare
  value produces; for contingency similarity both reports bin each table's
  numerical columns on that table's own range, so every edge of this column moves
  and its pair trends drop although the joint distribution barely changes;
- ``tvae``: with ``--generator PATH``, Adult against as many rows sampled from a
  tssynth generator file (e.g. ``tssynth fit`` on Adult); with ``--fit EPOCHS``,
  from a ``TVAESynthesizer(epochs=EPOCHS, random_state=0)`` fitted here (10
  epochs: about 10 s on one thread).

Both use Adult as bundled with tssynth (missing values as NaN). The target: the
overall scores agree within 0.01 on every pair. Column pair trends agree to
1e-4; the column shapes differ by up to about 0.004 when the synthetic
categorical columns miss the real rate of missing values, because tssynth counts
a missing value as a category and SDMetrics' TVComplement drops it.
``--privacy-speed`` instead times ``privacy_report`` on 50,000 training, 50,000
synthetic and 10,000 holdout rows drawn from Adult with replacement (2 threads).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tssynth.datasets import load_adult  # noqa: E402
from tssynth.metrics import fidelity_report, privacy_report  # noqa: E402


def _metadata(frame: pd.DataFrame) -> dict:
    columns = {
        name: {"sdtype": "numerical" if pd.api.types.is_numeric_dtype(dtype) else "categorical"}
        for name, dtype in frame.dtypes.items()
    }
    return {"columns": columns}


def _noisy(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    out = frame.copy()
    for name in out.columns:
        if pd.api.types.is_numeric_dtype(out[name]):
            values = out[name].to_numpy(dtype=float)
            out[name] = np.round(values + rng.normal(0, 0.3 * np.nanstd(values), len(out)))
        else:
            levels = out[name].dropna().unique()
            swap = rng.random(len(out)) < 0.1
            out.loc[swap, name] = rng.choice(levels, swap.sum())
    return out


def _sdmetrics_scores(real: pd.DataFrame, synthetic: pd.DataFrame) -> tuple[float, float, float]:
    from sdmetrics.reports.single_table import QualityReport

    report = QualityReport()
    report.generate(real, synthetic, _metadata(real), verbose=False)
    properties = report.get_properties().set_index("Property")["Score"]
    return (
        float(report.get_score()),
        float(properties["Column Shapes"]),
        float(properties["Column Pair Trends"]),
    )


def compare(pairs: dict[str, tuple[pd.DataFrame, pd.DataFrame]]) -> pd.DataFrame:
    rows = []
    for name, (real, synthetic) in pairs.items():
        start = time.perf_counter()
        ours = fidelity_report(real, synthetic)
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        sd_overall, sd_shapes, sd_trends = _sdmetrics_scores(real, synthetic)
        sd_s = time.perf_counter() - start
        rows.append(
            {
                "pair": name,
                "tssynth overall": ours.overall,
                "SDMetrics overall": sd_overall,
                "|diff| overall": abs(ours.overall - sd_overall),
                "tssynth trends": ours.column_pair_trends,
                "SDMetrics trends": sd_trends,
                "|diff| shapes": abs(ours.column_shapes - sd_shapes),
                "|diff| trends": abs(ours.column_pair_trends - sd_trends),
                "tssynth s": ours_s,
                "SDMetrics s": sd_s,
            }
        )
    return pd.DataFrame(rows)


def privacy_speed() -> None:
    import torch

    torch.set_num_threads(2)
    adult = load_adult()
    train = adult.sample(50_000, replace=True, random_state=1).reset_index(drop=True)
    synthetic = adult.sample(50_000, replace=True, random_state=2).reset_index(drop=True)
    holdout = adult.sample(10_000, replace=True, random_state=3).reset_index(drop=True)
    for max_rows in (10_000, None):
        start = time.perf_counter()
        report = privacy_report(train, synthetic, holdout, max_rows=max_rows)
        seconds = time.perf_counter() - start
        print(
            f"privacy_report 50,000 train / 50,000 synthetic / 10,000 holdout, "
            f"max_rows={max_rows}: {seconds:.1f} s (n_query {report.n_query:,}, "
            f"exact copies counted on all 50,000)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", help="tssynth generator file fitted on Adult")
    parser.add_argument("--fit", type=int, metavar="EPOCHS", help="fit a TVAE on Adult here")
    parser.add_argument("--privacy-speed", action="store_true", help="time privacy_report only")
    args = parser.parse_args(argv)
    if args.privacy_speed:
        privacy_speed()
        return 0
    adult = load_adult()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(adult))
    half = len(adult) // 2
    pairs = {
        "half": (
            adult.iloc[order[:half]].reset_index(drop=True),
            adult.iloc[order[half:]].reset_index(drop=True),
        ),
        "bootstrap": (adult, adult.sample(len(adult), replace=True, random_state=0)),
        "noisy": (adult, _noisy(adult, rng)),
    }
    shuffled = adult.copy()
    shuffled["education-num"] = np.random.default_rng(0).permutation(adult["education-num"])
    pairs["shuffled"] = (adult, shuffled)
    resample = pairs["bootstrap"][1]
    low = adult["education-num"].min()
    pairs["no-minimum"] = (adult, resample[resample["education-num"] > low])
    if args.generator:
        import tssynth

        pairs["tvae"] = (adult, tssynth.load(args.generator).sample(len(adult)))
    if args.fit:
        import torch

        from tssynth import TVAESynthesizer

        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
        synthesizer = TVAESynthesizer(epochs=args.fit, random_state=0).fit(adult)
        pairs[f"tvae-{args.fit}"] = (adult, synthesizer.sample(len(adult)))
    table = compare(pairs)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    worst = table["|diff| overall"].max()
    print(f"\nlargest |tssynth - SDMetrics| overall: {worst:.4f} (target < 0.01)")
    return 0 if worst < 0.01 else 1


if __name__ == "__main__":
    sys.exit(main())
