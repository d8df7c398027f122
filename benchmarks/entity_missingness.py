"""Columns that some entities lack entirely: are they lacking for whole sampled entities?

How to run (from the repository root)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/entity_missingness.py
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/entity_missingness.py --epochs 40

A simulated ICU panel (the data is generated, so there is no data path): 300 patients
with 5 to 29 hourly steps, a heart rate always measured, and a lactate that half of
the patients never have (the others miss one reading in 20), with a medication event
given only to patients whose lactate is measured. A DVAE is fitted, as many patients
are sampled, and the script prints, for the training panel and the samples, the share
of patients with no lactate at all, with some but not all missing, and with none
missing, the share of missing lactate readings, and how often a patient without any
lactate gets the medication event (0 in training).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
import torch

from tssynth import DVAESynthesizer


def icu_panel(patients: int = 300, seed: int = 0) -> pd.DataFrame:
    """The simulated panel described in the module docstring."""
    rng = np.random.default_rng(seed)
    frames = []
    for patient in range(patients):
        length = int(rng.integers(5, 30))
        measured = rng.random() < 0.5
        lactate = 1.5 + np.cumsum(rng.normal(0, 0.1, length))
        lactate[(rng.random(length) < 0.05) | (not measured)] = np.nan
        event = np.where(measured & (rng.random(length) < 0.3), "med", "none")
        frames.append(
            pd.DataFrame(
                {
                    "pid": f"p{patient}",
                    "t": np.arange(length),
                    "hr": 80 + np.cumsum(rng.normal(0, 2, length)),
                    "lactate": lactate,
                    "event": event,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def pattern(frame: pd.DataFrame) -> dict[str, float]:
    """Per-patient lactate pattern and the event among patients without lactate."""
    missing = frame["lactate"].isna().groupby(frame["pid"])
    every, some = missing.all(), missing.any()
    without = frame["pid"].map(every)
    return {
        "no lactate": round(float(every.mean()), 3),
        "some missing": round(float((some & ~every).mean()), 3),
        "none missing": round(float((~some).mean()), 3),
        "readings missing": round(float(frame["lactate"].isna().mean()), 3),
        "event without lactate": round(float(frame.loc[without, "event"].eq("med").mean()), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    panel = icu_panel(seed=args.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = DVAESynthesizer(
            sequence_key="pid", sequence_index="t", epochs=args.epochs, random_state=args.seed
        ).fit(panel)
    samples = model.sample(panel["pid"].nunique())
    print(f"absent columns: {getattr(model.panel_transformer_, 'absent_columns', None)}")
    print(pd.DataFrame({"training": pattern(panel), "sampled": pattern(samples)}).to_string())


if __name__ == "__main__":
    main()
