"""Shared fixtures: small data with every column type, and a fitted TVAE."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tssynth import TVAESynthesizer

# Small test models run fastest on one thread (and 2-core CI machines stay responsive).
torch.set_num_threads(1)


def make_mixed_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """A table with every supported dtype, missing values, a constant and an all-missing column."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c"], size=n, p=[0.6, 0.3, 0.1])
    amount = np.where(group == "a", rng.normal(10, 1, n), rng.normal(50, 5, n))
    score = np.round(rng.gamma(2.0, 2.0, n), 2)
    score[rng.random(n) < 0.2] = np.nan
    nullable = pd.array(rng.integers(0, 5, n), dtype="Int64")
    nullable[rng.random(n) < 0.1] = pd.NA
    colour = rng.choice(["red", "green", "blue"], size=n).astype(object)
    colour[rng.random(n) < 0.15] = None
    start = pd.Timestamp("2021-01-01")
    return pd.DataFrame(
        {
            "count": rng.integers(0, 100, n),
            "amount": amount,
            "group": group.astype(object),
            "score": score,
            "flag": rng.random(n) < 0.3,
            "level": pd.Categorical(
                rng.choice(["low", "high"], size=n), categories=["low", "mid", "high"], ordered=True
            ),
            "nullable": nullable,
            "colour": colour,
            "day": start + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
            "constant": np.full(n, 7, dtype=np.int64),
            "empty": np.full(n, np.nan),
            "small": rng.normal(0, 1e-6, n).astype(np.float32),
        }
    )


@pytest.fixture(scope="session")
def mixed_frame() -> pd.DataFrame:
    return make_mixed_frame()


@pytest.fixture(scope="session")
def fitted_tvae(mixed_frame: pd.DataFrame) -> TVAESynthesizer:
    return TVAESynthesizer(
        epochs=150,
        batch_size=100,
        embedding_dim=16,
        compress_dims=(64,),
        decompress_dims=(64,),
        random_state=0,
        device="cpu",
    ).fit(mixed_frame)
