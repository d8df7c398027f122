"""The Dynamical VAE tutorial, reproduced with DVAESynthesizer: mass-spring sensors.

A chain of masses and springs is observed by 14 noisy sensors
(:func:`tssynth.datasets.mass_spring.make_mass_spring`). We train on windows of
40 steps cut from 100 simulated units, then

1. reconstruct 100 unseen test units (windows of 40) and report the mean squared
   error on standardised sensors (the tutorial reports 0.04);
2. forecast the last 30 % of every test unit from its first 70 %, with 50 sample
   paths, and compare the mean path with repeating the last observed value;
3. plot one unit's forecast with a ±3 sd band to ``mass_spring_forecast.png``.

Run (about 40 s on one CPU core at the default 20 epochs)::

    OMP_NUM_THREADS=1 python examples/mass_spring.py
    OMP_NUM_THREADS=1 python examples/mass_spring.py --epochs 5 --out /tmp/ms.png   # quick look
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from tssynth.datasets.mass_spring import make_mass_spring
from tssynth.synthesizers.dvae import DVAESynthesizer

WINDOW, LENGTH, PREFIX = 40, 200, 140


def windows(units: np.ndarray, stride: int) -> np.ndarray:
    """Every window of ``WINDOW`` steps, ``stride`` apart, of every unit."""
    starts = np.arange(0, units.shape[1] - WINDOW + 1, stride)
    steps = starts[:, None] + np.arange(WINDOW)[None, :]
    return units[:, steps].reshape(-1, WINDOW, units.shape[2])


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default="mass_spring_forecast.png")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    train_units = make_mass_spring(100, LENGTH, random_state=0)
    test_units = make_mass_spring(100, LENGTH, random_state=1)
    mean, std = train_units.mean(axis=(0, 1)), train_units.std(axis=(0, 1))
    train_units, test_units = (train_units - mean) / std, (test_units - mean) / std

    model = DVAESynthesizer(epochs=args.epochs, batch_size=64, random_state=0, verbose=True)
    start = time.perf_counter()
    model.fit(windows(train_units, stride=10))
    fit_s = time.perf_counter() - start

    test = windows(test_units, stride=WINDOW)
    mse = float(np.mean((model.reconstruct(test) - test) ** 2))

    paths = model.forecast(test_units[:, :PREFIX], steps=LENGTH - PREFIX, n_samples=50)
    future = test_units[:, PREFIX:]
    forecast_mse = float(np.mean((paths.mean(1) - future) ** 2))
    naive_mse = float(np.mean((test_units[:, PREFIX - 1 : PREFIX] - future) ** 2))

    results = {
        "fit_s": fit_s,
        "s_per_epoch": fit_s / args.epochs,
        "reconstruction_mse": mse,
        "forecast_mse": forecast_mse,
        "last_value_mse": naive_mse,
        "forecast_ratio": forecast_mse / naive_mse,
    }
    for name, value in results.items():
        print(f"{name:>20}: {value:.4f}")
    plot(test_units[0], paths[0], args.out)
    return results


def plot(unit: np.ndarray, paths: np.ndarray, path: str) -> None:
    """Observed unit, forecast mean and ±3 sd band for four sensors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t_future = np.arange(PREFIX, LENGTH)
    mean, sd = paths.mean(0), paths.std(0)
    fig, axes = plt.subplots(4, 1, figsize=(9, 8), sharex=True)
    for sensor, ax in enumerate(axes):
        ax.plot(np.arange(LENGTH), unit[:, sensor], color="black", lw=1, label="observed")
        ax.plot(t_future, mean[:, sensor], color="tab:blue", lw=1.5, label="forecast mean")
        ax.fill_between(
            t_future,
            mean[:, sensor] - 3 * sd[:, sensor],
            mean[:, sensor] + 3 * sd[:, sensor],
            color="tab:blue",
            alpha=0.2,
            label="±3 sd",
        )
        ax.axvline(PREFIX, color="grey", ls="--", lw=1)
        ax.set_ylabel(f"sensor {sensor}")
    axes[0].legend(loc="upper left", ncol=3, fontsize=8)
    axes[-1].set_xlabel("time step")
    fig.suptitle("DVAE forecast of the last 30 % of a test unit from its first 70 %")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
