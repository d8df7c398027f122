"""DVAE fit and sample time on panels whose sequence lengths differ.

A padded batch costs as many recurrent steps as its longest sequence. The DVAE
therefore groups sequences of similar lengths into batches, cuts every batch to
its longest sequence, and runs its sampling-model fits, ``sample``, ``forecast``,
``transform`` and ``score_samples`` in chunks of similar lengths. This benchmark
fits the same panels both ways in one process: as the library does, and with
every batch and chunk padded to the panel's longest sequence (the library before
this change, rebuilt here by patching those three helpers).

Three panels of 300 sequences (two numeric features, one categorical):

- ``equal``: every sequence 20 steps (nothing to gain; a check that nothing is lost);
- ``one long``: 299 sequences of 20 steps and one of 2,000;
- ``lognormal``: lengths from a lognormal (median 20, 2 to 1,000 steps).

Run::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dvae_uneven_lengths.py [--epochs 2]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections.abc import Iterator

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd
import torch

import tssynth.nn.dvae as dvae_module
import tssynth.synthesizers.dvae as dvae_synthesizer
from tssynth import DVAESynthesizer


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

    saved = (
        dvae_module.length_chunks,
        dvae_synthesizer.length_chunks,
        dvae_module.trim,
        DVAESynthesizer._sequence_lengths,
    )
    dvae_module.length_chunks = dvae_synthesizer.length_chunks = chunks
    dvae_module.trim = lambda x, mask: (x, mask)
    DVAESynthesizer._sequence_lengths = lambda self, arrays: None
    try:
        yield
    finally:
        (
            dvae_module.length_chunks,
            dvae_synthesizer.length_chunks,
            dvae_module.trim,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
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
