"""The TimeGAN benchmark protocol for every tssynth synthesizer that takes windows.

How to run (from the repository root)::

    nice -n 10 .venv/bin/python benchmarks/timegan_protocol.py              # 5 repetitions
    .venv/bin/python benchmarks/timegan_protocol.py --reps 1 --datasets stocks
    .venv/bin/python benchmarks/timegan_protocol.py --set epochs=100 --set embedding_dim=16

Protocol (``../shared/data/README.md``)
---------------------------------------
1. Data, sequence length 24. Stocks (``stock_data.csv``) and Energy
   (``energy_data.csv``): min-max scale every column over the whole file, cut
   every window of 24 consecutive rows (stride 1), shuffle. Sines: 10,000
   windows of 5 features ``(sin(f t + p) + 1) / 2``, f, p ~ U(0, 0.1)
   (:func:`tssynth.datasets.make_sines`).
2. Per repetition ``r`` (seed ``r``): fit the synthesizer with
   ``random_state=r`` on all windows, sample as many windows, and compute
   :func:`tssynth.metrics.temporal.discriminative_score` (2,000 steps) and
   :func:`~tssynth.metrics.temporal.predictive_score` (5,000 steps) with
   ``random_state=r``. The "real data" row is the predictive score of a GRU
   trained on the real windows themselves and, on Sines only, the
   discriminative score of a fresh simulation (seed ``1000 + r``) against the
   real windows: the floor that the discriminator's own noise sets.
3. Report mean ± standard deviation over the repetitions, and the fit time.

Adding a synthesizer: add a factory to ``SYNTHESIZERS`` that takes the seed and
the ``--set`` overrides and returns an estimator whose ``fit`` takes an
``(n, 24, d)`` array and whose ``sample(n)`` returns one.

Threads: ``--threads`` (default 1) sets ``torch.set_num_threads``. On a
2-core machine shared with other processes, two torch threads spin-wait on each
other and run these small models many times slower than one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATASETS = ("sines", "stocks", "energy")
SEQ_LEN = 24
PUBLISHED = {  # Diffusion-TS (ICLR 2024), Table 1: discriminative / predictive
    "Diffusion-TS": {"sines": (0.006, 0.093), "stocks": (0.067, 0.036), "energy": (0.122, 0.250)},
    "TimeGAN": {"sines": (0.011, 0.093), "stocks": (0.102, 0.038), "energy": (0.236, 0.273)},
    "TimeVAE": {"sines": (0.041, 0.093), "stocks": (0.145, 0.039), "energy": (0.499, 0.292)},
}


def _dense_vae(seed: int, overrides: dict[str, Any]) -> Any:
    from tssynth import DenseVAESynthesizer

    return DenseVAESynthesizer(random_state=seed, device="cpu", **overrides)


def _dvae(seed: int, overrides: dict[str, Any]) -> Any:
    from tssynth import DVAESynthesizer

    return DVAESynthesizer(random_state=seed, **{"device": "cpu", **overrides})


_FRESH_SEED = 1_000  # seeds of the independent Sines draws that measure the metric's floor

SYNTHESIZERS: dict[str, Callable[[int, dict[str, Any]], Any]] = {
    "DenseVAE": _dense_vae,
    "DVAE": _dvae,
}


def load_windows(name: str, data_dir: Path, seed: int = 0) -> np.ndarray:
    """The benchmark's real windows ``(n, 24, d)`` of one dataset, scaled to [0, 1]."""
    from tssynth.data.sequences import to_windows
    from tssynth.datasets import make_sines

    if name == "sines":
        return make_sines(10_000, SEQ_LEN, 5, random_state=seed)
    frame = pd.read_csv(data_dir / {"stocks": "stock_data.csv", "energy": "energy_data.csv"}[name])
    low, high = frame.min(), frame.max()
    scaled = (frame - low) / (high - low).where(high > low, 1.0)
    windows, _ = to_windows(scaled, window=SEQ_LEN, stride=1)
    return windows[np.random.default_rng(seed).permutation(len(windows))]


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text.replace("(", "[").replace(")", "]"))
    except json.JSONDecodeError:
        return text


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    from tssynth.metrics.temporal import discriminative_score, predictive_score

    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        value = _parse_value(value)
        overrides[key] = tuple(value) if isinstance(value, list) else value
    steps = {
        "disc": max(1, int(2000 * args.steps_scale)),
        "pred": max(1, int(5000 * args.steps_scale)),
    }
    records = []
    for dataset in args.datasets:
        real = load_windows(dataset, Path(args.data))
        for rep in range(args.first_seed, args.first_seed + args.reps):
            baseline = predictive_score(real, real, steps=steps["pred"], random_state=rep)
            records.append({"dataset": dataset, "model": "real data", "rep": rep, "pred": baseline})
            if dataset == "sines":
                # A fresh simulation scored as if synthetic: the discriminator's own floor.
                fresh = load_windows(dataset, Path(args.data), seed=_FRESH_SEED + rep)
                records[-1]["disc"] = discriminative_score(
                    real, fresh, steps=steps["disc"], random_state=rep
                )
            _log(args, records[-1])
            for model in args.synthesizers:
                start = time.perf_counter()
                synthesizer = SYNTHESIZERS[model](rep, overrides).fit(real)
                fit_time = time.perf_counter() - start
                synthetic = np.asarray(synthesizer.sample(len(real)))
                records.append(
                    {
                        "dataset": dataset,
                        "model": model,
                        "rep": rep,
                        "fit_s": fit_time,
                        "disc": discriminative_score(
                            real, synthetic, steps=steps["disc"], random_state=rep
                        ),
                        "pred": predictive_score(
                            real, synthetic, steps=steps["pred"], random_state=rep
                        ),
                    }
                )
                _log(args, records[-1])
    return records


def _log(args: argparse.Namespace, record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)
    if args.json:
        with open(args.json, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


def _cell(values: pd.Series, digits: int = 3) -> str:
    values = values.dropna()
    if values.empty:
        return "—"
    if len(values) == 1:
        return f"{values.iloc[0]:.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def table(records: list[dict[str, Any]], datasets: list[str]) -> str:
    """Markdown table: one row per model, discriminative | predictive | fit time per dataset."""
    frame = pd.DataFrame(records)
    header = "| model | " + " | ".join(
        f"{d.capitalize()} disc. | {d.capitalize()} pred. | {d.capitalize()} fit (s)"
        for d in datasets
    )
    lines = [header + " |", "|---" * (1 + 3 * len(datasets)) + "|"]
    for model in frame["model"].unique():
        cells = []
        for d in datasets:
            part = frame[(frame["model"] == model) & (frame["dataset"] == d)]
            cells += [
                _cell(part["disc"]) if "disc" in part else "—",
                _cell(part["pred"]),
                _cell(part["fit_s"], 0) if "fit_s" in part else "—",
            ]
        lines.append(f"| {model} (tssynth, this run) | " + " | ".join(cells) + " |")
    for model, scores in PUBLISHED.items():
        cells = []
        for d in datasets:
            cells += [f"{scores[d][0]:.3f}", f"{scores[d][1]:.3f}", "—"]
        lines.append(f"| {model} (published) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument(
        "--synthesizers",
        nargs="*",
        default=list(SYNTHESIZERS),
        help="none: the real-data rows only",
    )
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seed of the first repetition (to add reps)"
    )
    parser.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE")
    parser.add_argument(
        "--steps-scale", type=float, default=1.0, help="scale the metric steps (quick looks)"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="append one JSON line per result to this file")
    parser.add_argument("--out", help="write the markdown table to this file")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    records = run(args)
    text = table(records, args.datasets)
    command = "python benchmarks/timegan_protocol.py " + " ".join(argv or sys.argv[1:])
    print(text)
    if args.out:
        Path(args.out).write_text(f"`{command.strip()}`\n\n{text}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
