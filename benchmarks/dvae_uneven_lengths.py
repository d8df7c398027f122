"""DVAE fit and sample time on panels whose sequence lengths differ.

A padded batch costs as many recurrent steps as its longest sequence. The DVAE
therefore groups sequences of similar lengths into batches, cuts every batch to
its longest sequence, and runs its sampling-model fits, ``sample``, ``forecast``,
``transform`` and ``score_samples`` in chunks of similar lengths. This benchmark
fits the same panels both ways in one process: as the library does, and with
every batch and chunk padded to the panel's longest sequence (the library before
this change, rebuilt here by patching the helpers that choose the padding).

Three panels of 300 sequences (two numeric features, one categorical):

- ``equal``: every sequence 20 steps (nothing to gain; a check that nothing is lost);
- ``one long``: 299 sequences of 20 steps and one of 2,000;
- ``lognormal``: lengths from a lognormal (median 20, 2 to 1,000 steps).

With ``--memory`` it fits (one epoch) a heavy-tailed panel instead: 10,000
sequences with Pareto lengths of 3 to 5,000 steps (one of 5,000), four numeric
features and a categorical one, and reports the peak memory of the process
against the size the zero-padded ``(n, longest, width)`` array would take.

Run::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dvae_uneven_lengths.py [--epochs 2]
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dvae_uneven_lengths.py --memory
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import time
from collections.abc import Iterator

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd
import torch

import tssynth.nn.dvae as dvae_module
import tssynth.synthesizers.dvae as dvae_synthesizer
import tssynth.training as training
from tssynth import DVAESynthesizer
from tssynth.nn.ragged import Ragged


def make_panel(lengths: np.ndarray, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    key = np.repeat(np.arange(len(lengths)), lengths)
    steps = np.concatenate([np.arange(n) for n in lengths])
    return pd.DataFrame(
        {
            "id": key,
            "t": steps,
            "level": rng.normal(size=len(key)).cumsum(),
            "noise": rng.normal(size=len(key)),
            "state": rng.choice(["a", "b", "c"], len(key)),
        }
    )


def panels(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "equal": np.full(300, 20),
        "one long": np.array([20] * 299 + [2000]),
        "lognormal": np.clip(rng.lognormal(3, 1, 300).astype(int), 2, 1000),
    }


@contextlib.contextmanager
def padded_to_the_longest() -> Iterator[None]:
    """The library as it was: every batch and chunk as long as the longest sequence."""

    def chunks(lengths: torch.Tensor, size: int) -> list[tuple[torch.Tensor, int]]:
        longest = int(lengths.max()) if len(lengths) else 0
        rows = torch.arange(len(lengths), device=lengths.device)
        return [(part, longest) for part in rows.split(size)]

    def index(self: Ragged, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        step = torch.arange(self.longest(), device=self.steps.device)
        observed = step[None, :] < self.lengths[rows, None]
        return torch.where(observed, self.offsets[rows, None] + step[None, :], 0), observed

    saved = (
        dvae_module.length_chunks,
        dvae_synthesizer.length_chunks,
        dvae_module.trim,
        Ragged._index,
        training._pieces,
        DVAESynthesizer._sequence_lengths,
    )
    dvae_module.length_chunks = dvae_synthesizer.length_chunks = chunks
    dvae_module.trim = lambda x, mask: (x, mask)
    Ragged._index = index
    training._pieces = lambda rows, lengths, budget, device: [torch.as_tensor(rows, device=device)]
    DVAESynthesizer._sequence_lengths = lambda self, arrays: None
    try:
        yield
    finally:
        (
            dvae_module.length_chunks,
            dvae_synthesizer.length_chunks,
            dvae_module.trim,
            Ragged._index,
            training._pieces,
            DVAESynthesizer._sequence_lengths,
        ) = saved


def measure(frame: pd.DataFrame, epochs: int) -> dict[str, float]:
    start = time.perf_counter()
    model = DVAESynthesizer(
        epochs=epochs, sequence_key="id", sequence_index="t", random_state=0, device="cpu"
    ).fit(frame)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    model.sample(300)
    sample = time.perf_counter() - start
    start = time.perf_counter()
    model.score_samples(frame)
    score = time.perf_counter() - start
    return {"fit": fit, "sample": sample, "score": score}


def heavy_tailed_panel(n: int = 10_000, longest: int = 5_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lengths = np.minimum((rng.pareto(1.2, n) * 8 + 3).astype(int), longest)
    lengths[0] = longest
    key = np.repeat(np.arange(n), lengths)
    size = len(key)
    return pd.DataFrame(
        {
            "id": key,
            "t": np.concatenate([np.arange(k) for k in lengths]),
            "level": rng.normal(size=size).cumsum() % 50,
            "gamma": rng.gamma(2.0, size=size),
            "noise": rng.normal(size=size),
            "waiting": rng.exponential(size=size),
            "state": rng.choice(["x", "y", "z"], size),
        }
    )


def peak_memory() -> None:
    frame = heavy_tailed_panel()
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    model = DVAESynthesizer(sequence_key="id", sequence_index="t", epochs=1, random_state=0)
    model.fit(frame)
    fit = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lengths = model.panel_transformer_.lengths
    width = model.panel_transformer_.steps.output_dim
    padded = len(lengths) * lengths.max() * width * 4 / 2**20
    print(
        f"{len(lengths):,} sequences, {len(frame):,} steps, longest {lengths.max():,}, "
        f"{width} model columns: the zero-padded float32 array alone is {padded:,.0f} MiB"
    )
    above = peak - baseline
    print(f"fit, 1 epoch: {fit:.1f} s; peak RSS {peak:,.0f} MiB ({above:,.0f} above the data)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--memory", action="store_true", help="peak memory on a heavy-tailed panel")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory:
        peak_memory()
        return
    measure(make_panel(np.full(20, 5)), 1)  # torch's lazy initialisation, charged to neither
    print(f"DVAE, {args.epochs} epochs, {args.threads} thread(s); seconds (padded / grouped)")
    print("| panel | steps | longest | fit | sample 300 | score_samples |")
    print("|---|---:|---:|---|---|---|")
    for name, lengths in panels().items():
        frame = make_panel(lengths)
        grouped = measure(frame, args.epochs)
        with padded_to_the_longest():
            padded = measure(frame, args.epochs)
        cells = " | ".join(
            f"{padded[k]:.2f} / {grouped[k]:.2f} ({padded[k] / grouped[k]:.1f}x)"
            for k in ("fit", "sample", "score")
        )
        print(f"| {name} | {len(frame):,} | {lengths.max():,} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
