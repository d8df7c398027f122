"""Rank windows with injected anomalies by their ELBO (``score_samples``) and print the ROC AUC.

Run from the repository root::

    .venv/bin/python examples/anomaly_detection.py

One long daily-cycle load curve with noise (hourly, 400 days) is cut into
24-hour windows; a :class:`tssynth.DenseVAESynthesizer` learns the normal
windows. A test set of new windows gets anomalies injected into 10 % of them
(spikes, drops to zero, level shifts, flat lines); ``score_samples`` gives the
evidence lower bound of each window, and low scores should mark the anomalies.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from tssynth import DenseVAESynthesizer

HOURS = 24


def load_curve(days: int, seed: int) -> pd.Series:
    """Hourly load: a daily cycle with a random daily level, plus noise."""
    rng = np.random.default_rng(seed)
    hour = np.arange(days * HOURS) % HOURS
    level = np.repeat(rng.normal(100, 5, days), HOURS)
    cycle = 20 * np.sin(2 * np.pi * (hour - 6) / HOURS) + 10 * np.sin(4 * np.pi * hour / HOURS)
    return pd.Series(level + cycle + rng.normal(0, 2, days * HOURS), name="load")


def inject(windows: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Copy of ``windows`` (n, 24) with anomalies in ``share`` of them; labels 1 = anomalous."""
    rng = np.random.default_rng(seed)
    out, n = windows.copy(), len(windows)
    labels = np.zeros(n, dtype=int)
    chosen = rng.choice(n, int(share * n), replace=False)
    labels[chosen] = 1
    kinds = rng.integers(0, 4, len(chosen))
    for kind, i in zip(kinds, chosen, strict=True):
        start = int(rng.integers(0, HOURS - 4))
        if kind == 0:  # spike
            out[i, start] += 30
        elif kind == 1:  # outage
            out[i, start : start + 4] = out[i].min() - 20
        elif kind == 2:  # level shift for the rest of the day
            out[i, start:] += 25
        else:  # stuck sensor
            out[i, start:] = out[i, start]
    return out, labels


def main() -> None:
    torch.set_num_threads(1)
    train = load_curve(400, seed=0)
    synthesizer = DenseVAESynthesizer(
        window=HOURS, stride=HOURS, epochs=300, random_state=0, device="cpu"
    )
    synthesizer.fit(train)  # one long Series cut into daily windows

    test = load_curve(200, seed=1).to_numpy().reshape(-1, HOURS)
    windows, labels = inject(test, share=0.1, seed=2)
    scores = synthesizer.score_samples(windows)  # (n, 24) array of windows
    auc = roc_auc_score(labels, -scores)  # low ELBO = anomalous
    worst = np.argsort(scores)[: labels.sum()]
    print(f"{labels.sum()} anomalous of {len(labels)} test windows")
    print(f"ROC AUC of -score_samples: {auc:.3f}")
    print(f"anomalies among the {len(worst)} lowest-scoring windows: {labels[worst].sum()}")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help only
    main()
