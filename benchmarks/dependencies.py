"""Pairs that the real rows always keep, with ``derive_dependencies`` on and off.

Two tables, each fitted twice with the same seed (``TVAESynthesizer`` defaults but
``--epochs``), sampled to the training size:

- Adult (``--data``, default ``../shared/data/adult.csv``): ``education``
  determines ``education-num``;
- a simulated admissions table (6,000 rows): a diagnosis code determines its
  label, and every childbirth is female while the other diagnoses go with
  either sex (a rule of one value).

Printed per table and setting: the share of rows keeping the real table's exact
dependencies (``fidelity_report(...).dependencies``), the share of rows breaking
the value rule, the share of women against the real one, and the fidelity
overall score. Run from the repository root::

    .venv/bin/python benchmarks/dependencies.py
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from tssynth import TVAESynthesizer
from tssynth.metrics import fidelity_report

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "adult.csv"
DIAGNOSES = {"O80": "childbirth", "J18": "pneumonia", "I50": "heart failure", "S72": "hip fracture"}
WARDS = {"O80": "maternity", "J18": "respiratory", "I50": "cardiology", "S72": "orthopaedics"}


def admissions(n: int = 6_000, seed: int = 0) -> pd.DataFrame:
    """Diagnosis codes with their labels; childbirth always female; the rest by diagnosis."""
    rng = np.random.default_rng(seed)
    code = rng.choice(list(DIAGNOSES), n, p=[0.25, 0.3, 0.25, 0.2])
    by_code = pd.Series(code)
    sex = np.where(code == "O80", "F", rng.choice(["F", "M"], n, p=[0.55, 0.45]))
    age = by_code.map({"O80": 30, "J18": 65, "I50": 72, "S72": 80}).to_numpy()
    age = np.clip(np.round(rng.normal(age, 10)), 16, 100).astype(np.int64)
    stay = rng.gamma(2.0, by_code.map({"O80": 1.0, "J18": 2.5, "I50": 3.0, "S72": 4.0}))
    ward = np.where(rng.random(n) < 0.7, by_code.map(WARDS), rng.choice(list(WARDS.values()), n))
    bmi = np.round(rng.normal(27, 5, n), 1)
    bmi[rng.random(n) < np.where(age > 75, 0.5, 0.1)] = np.nan
    return pd.DataFrame(
        {
            "code": code,
            "diagnosis": by_code.map(DIAGNOSES).to_numpy(),
            "sex": sex,
            "age": age,
            "ward": ward,
            "stay_days": np.maximum(1, np.round(stay)).astype(np.int64),
            "bmi": bmi,
            "readmitted": rng.random(n) < 0.1 + 0.01 * stay,
            "cost": np.round(rng.lognormal(8 + 0.1 * stay, 0.5), 2),
        }
    )


def measure(
    real: pd.DataFrame, epochs: int, derive: bool, rule: tuple[str, str, str, str] | None
) -> dict[str, object]:
    """Fit, sample and score one setting; ``rule`` = (column, value, forced column, value)."""
    model = TVAESynthesizer(epochs=epochs, random_state=0, derive_dependencies=derive)
    synthetic = model.fit(real).sample(len(real))
    report = fidelity_report(real, synthetic)
    scores: dict[str, object] = {
        "rows keeping the exact dependencies": f"{report.dependencies:.4f}",
        "fidelity overall": f"{report.overall:.4f}",
    }
    if rule is not None:
        column, value, forced, forced_value = rule
        broken = (synthetic[column] == value) & (synthetic[forced] != forced_value)
        share = (synthetic[forced] == forced_value).mean()
        real_share = (real[forced] == forced_value).mean()
        scores[f"rows with {column}={value}, {forced}!={forced_value}"] = f"{broken.mean():.4f}"
        scores[f"{forced}={forced_value} share (real {real_share:.4f})"] = f"{share:.4f}"
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Adult CSV")
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    adult = pd.read_csv(args.data, skipinitialspace=True, na_values="?")
    tables = {
        "admissions (simulated)": (admissions(), ("code", "O80", "sex", "F")),
        "adult": (adult, None),
    }
    for name, (real, rule) in tables.items():
        on, off = (measure(real, args.epochs, derive, rule) for derive in (True, False))
        print(f"\n{name}: {len(real):,} rows, {args.epochs} epochs, seed 0\n")
        print("| | derive_dependencies=True | False |\n|---|---:|---:|")
        for key in on:
            print(f"| {key} | {on[key]} | {off[key]} |")


if __name__ == "__main__":
    main()
