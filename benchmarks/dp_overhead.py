"""Time DP-SGD against non-private training at the same settings, side by side.

How to run (from the repository root)::

    .venv/bin/python benchmarks/dp_overhead.py [--epochs 60] [--epsilon 3]

Fits ``TVAESynthesizer`` on the 80 % split of Adult (``--data``, default
``../shared/data/adult.csv``; stratified on income, seed 0) with the settings of
``examples/private_release.py`` (``PRIVATE_SETTINGS``), once without and once
with ``epsilon``, in one process with 2 threads, and prints both fit times and
their ratio (the issue's target: DP at most 3x).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

N_THREADS = 2
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = str(N_THREADS)

import pandas as pd  # noqa: E402
import torch  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from tssynth import TVAESynthesizer  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT / ".." / "shared" / "data" / "adult.csv"
PRIVATE_SETTINGS = {
    "embedding_dim": 16,
    "batch_size": 2000,
    "learning_rate": 3e-3,
    "loss_factor": 20.0,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--epsilon", type=float, default=3.0)
    args = parser.parse_args()
    torch.set_num_threads(N_THREADS)
    data = pd.read_csv(args.data, skipinitialspace=True)
    train, _ = train_test_split(data, test_size=0.2, stratify=data["income"], random_state=0)
    times = {}
    for name, epsilon in (("non-private", None), ("DP-SGD", args.epsilon)):
        synthesizer = TVAESynthesizer(
            epochs=args.epochs, epsilon=epsilon, random_state=0, **PRIVATE_SETTINGS
        )
        start = time.perf_counter()
        synthesizer.fit(train)
        times[name] = time.perf_counter() - start
        epochs = len(synthesizer.loss_history_)
        print(f"{name}: fit {times[name]:.1f} s, {epochs} epochs", flush=True)
    print(f"DP / non-private: {times['DP-SGD'] / times['non-private']:.2f}x")


if __name__ == "__main__":
    main()
