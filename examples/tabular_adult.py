"""Fit a TVAE on the bundled Adult table, sample it, save a generator file, reload, sample again.

Run: ``python examples/tabular_adult.py [--epochs 30]``
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import tssynth
from tssynth import TVAESynthesizer
from tssynth.datasets import load_adult
from tssynth.metrics import fidelity_report


def main(epochs: int = 30) -> None:
    real = load_adult()
    synthesizer = TVAESynthesizer(epochs=epochs, random_state=0, verbose=True).fit(real)
    synthetic = synthesizer.sample(5_000)
    print(synthetic.head())
    print("fidelity:", fidelity_report(real, synthetic).to_dict())

    with tempfile.TemporaryDirectory() as folder:
        path = synthesizer.save(Path(folder) / "adult.tssynth")
        print(f"saved generator: {path} ({path.stat().st_size / 1024:.0f} KiB)")
        reloaded = tssynth.load(path)
        again = reloaded.sample(5_000)
    print("reloaded generator, fidelity:", fidelity_report(real, again).to_dict())
    print("same dtypes as the real data:", bool((again.dtypes == real.dtypes).all()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    main(parser.parse_args().epochs)
