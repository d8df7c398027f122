"""Peak memory and time of large ``sample`` calls, against the synthesizers' own checks.

How to run (from the repository root)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sample_memory.py
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sample_memory.py --rows 2000000

For each case a model is fitted for one epoch (quality is not the point), then one
``sample`` call is timed with its peak RSS above the RSS just before it (sampled every
5 ms, ``_measure.py``) and set beside what the synthesizer's memory check counts for
the call (the check refuses calls past half the machine's memory). Cases:

- TVAE on the bundled Adult table (15 columns, text categories);
- TVAE on 30 lognormal float columns (decoding continuous columns costs the most);
- DVAE on 40 sequences of 1,000 steps x 3 channels, sampling ``--sequences`` of them.

The data is bundled or simulated: no data path.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _measure import measure_phase, read_rss_bytes, release_memory  # noqa: E402

from tssynth import DVAESynthesizer, TVAESynthesizer  # noqa: E402
from tssynth.datasets import load_adult  # noqa: E402

_MIB = 2**20


def _tvae_case(frame: pd.DataFrame, rows: int) -> tuple[float, float, float]:
    model = TVAESynthesizer(epochs=1, random_state=0).fit(frame)
    model.sample(1_000)
    transformer = model.transformer_
    counted = 8.0 * rows * (3 * len(transformer.columns) + len(transformer.spans))
    release_memory()
    with measure_phase(read_rss_bytes()) as phase:
        model.sample(rows)
    return phase.seconds, phase.peak_above_baseline_mib, counted / _MIB


def _dvae_case(sequences: int) -> tuple[float, float, float]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 1_000, 3)).cumsum(1) / 30
    model = DVAESynthesizer(epochs=1, random_state=0).fit(X)
    model.sample(2)
    width = model.panel_transformer_.steps.output_dim
    counted = 8 * 4.0 * sequences * 1_000 * width
    release_memory()
    with measure_phase(read_rss_bytes()) as phase:
        model.sample(sequences)
    return phase.seconds, phase.peak_above_baseline_mib, counted / _MIB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="TVAE rows per call")
    parser.add_argument("--sequences", type=int, default=2_000, help="DVAE sequences per call")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    floats = pd.DataFrame(rng.lognormal(size=(5_000, 30)), columns=[f"c{i}" for i in range(30)])
    cases = {
        f"TVAE, Adult, sample({args.rows:,})": lambda: _tvae_case(load_adult(), args.rows),
        f"TVAE, 30 floats, sample({args.rows:,})": lambda: _tvae_case(floats, args.rows),
        f"DVAE, 1,000 steps x 3, sample({args.sequences:,})": lambda: _dvae_case(args.sequences),
    }
    print("| case | time (s) | peak RSS above start (MiB) | the check counts (MiB) |")
    print("|---|---|---|---|")
    for name, case in cases.items():
        seconds, peak, counted = case()
        print(f"| {name} | {seconds:.1f} | {peak:,.0f} | {counted:,.0f} |")


if __name__ == "__main__":
    main()
