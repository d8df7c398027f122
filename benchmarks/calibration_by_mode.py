"""DVAE marginal calibration within mixture modes against one map pooled over modes.

Fits one DVAESynthesizer with ``max_modes=10`` on the real panel of
``examples/panel_generation.py`` (UCI Appliances, one sequence per day), then
samples it twice from the same sampling seeds: once with the fitted calibration
(a map per mixture mode) and once with the column maps pooled over modes (what
the calibration did before it knew the modes; it is the first table of every
column of the same fit). Reports, for both:

- the Kolmogorov-Smirnov distance of every numeric column, 3,000 sampled days
  against all real hours;
- the discriminative score of as many days as the real panel has (first 12
  hours of every day at least that long), for ``--sampling-seeds`` samples
  times ``--metric-seeds`` discriminator seeds, and their mean.

Run::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/calibration_by_mode.py
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from panel_generation import NUMERIC, fit_dvae, load_energy_panel, to_windows

from tssynth.metrics.fidelity import _ks_complement
from tssynth.metrics.temporal import discriminative_score
from tssynth.nn.residual import MarginalCalibration


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Largest gap between the empirical CDFs of two samples."""
    return 1.0 - _ks_complement(a, b)


def main(argv: list[str] | None = None) -> dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--sampling-seeds", type=int, default=3)
    parser.add_argument("--metric-seeds", type=int, default=3)
    parser.add_argument("--metric-steps", type=int, default=2000)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    panel = load_energy_panel()
    n_days = panel["day"].nunique()
    model = fit_dvae(panel, args.epochs, max_modes=10)
    real = to_windows(panel)
    by_mode = model.module_.calibration
    columns = len(by_mode.tables)
    pooled = MarginalCalibration(columns)
    pooled.set(by_mode.source[:columns], by_mode.target[:columns])
    print(f"{n_days} days; mode maps per column: {(by_mode.tables[:, 1:] >= columns).sum(1)}")
    results = {}
    for name, calibration in (("by mode", by_mode), ("pooled", pooled)):
        model.module_.calibration = calibration
        model._sample_rng = np.random.default_rng(7)
        days = model.sample(3000)
        ks = {c: ks_distance(days[c].to_numpy(float), panel[c].to_numpy(float)) for c in NUMERIC}
        scores = []
        for seed in range(args.sampling_seeds):
            model._sample_rng = np.random.default_rng(100 + seed)
            fake = to_windows(model.sample(n_days))
            scores.append(
                [
                    discriminative_score(real, fake, steps=args.metric_steps, random_state=m)
                    for m in range(args.metric_seeds)
                ]
            )
        results[name] = {"ks": ks, "disc": scores}
        print(
            f"{name:>8}: KS "
            + ", ".join(f"{c} {v:.3f}" for c, v in ks.items())
            + f"; discriminative {np.round(scores, 3).tolist()} mean {np.mean(scores):.3f}",
            flush=True,
        )
    return results


if __name__ == "__main__":
    main()
