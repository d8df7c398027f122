"""Temporal metrics of the TimeGAN protocol: discriminative and predictive scores.

Both take real and synthetic windows as ``(n, T, d)`` float arrays, train a small
one-layer GRU (hidden size ``max(1, d // 2)``) with Adam, and return one number
where lower is better. They follow Yoon et al. (2019), "Time-series Generative
Adversarial Networks", as used by TimeVAE and Diffusion-TS:

- **discriminative score**: a GRU classifier learns to tell real from synthetic
  windows on 80 % of each set (``steps`` Adam steps, each on ``batch_size`` real
  and ``batch_size`` synthetic windows); the score is ``|accuracy - 0.5|`` on the
  remaining 20 % of both. 0 means indistinguishable.
- **predictive score** (train on synthetic, test on real): a GRU reads features
  ``0..d-2`` up to step ``t`` and predicts the last feature at ``t + 1`` through a
  sigmoid, trained with the L1 loss on synthetic windows; the score is the mean
  absolute error on all real windows.

The protocol expects data min-max scaled to [0, 1] (the predictor's output is a
sigmoid). When the real data leave [0, 1], both arrays are min-max scaled with the
real data's per-feature minimum and maximum first, so scores stay meaningful.

Training is seeded by ``random_state`` and runs inside ``torch.random.fork_rng``,
so the global random state of torch and numpy is left untouched.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from tssynth._validation import check_int, check_random_state, resolve_device
from tssynth.exceptions import InvalidDataError

__all__ = ["discriminative_score", "predictive_score"]


def _check_pair(real: Any, synthetic: Any, min_steps: int = 1) -> tuple[np.ndarray, np.ndarray]:
    arrays = []
    for name, value in (("real", real), ("synthetic", synthetic)):
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidDataError(f"{name} must be a numeric (n, T, d) array: {exc}") from exc
        if array.ndim != 3:
            raise InvalidDataError(f"{name} must have shape (n, T, d), got shape {array.shape}.")
        if array.shape[0] < 2 or array.shape[1] < min_steps:
            raise InvalidDataError(
                f"{name} needs at least 2 windows of at least {min_steps} steps, got shape "
                f"{array.shape}."
            )
        if not np.isfinite(array).all():
            raise InvalidDataError(f"{name} has NaN or infinite values.")
        arrays.append(array)
    real, synthetic = arrays
    if real.shape[1:] != synthetic.shape[1:]:
        raise InvalidDataError(
            f"real and synthetic windows differ in (T, d): real {real.shape[1:]}, "
            f"synthetic {synthetic.shape[1:]}."
        )
    low, high = real.min(axis=(0, 1)), real.max(axis=(0, 1))
    if low.min() < 0.0 or high.max() > 1.0:
        scale = np.where(high > low, high - low, 1.0)
        real, synthetic = (real - low) / scale, (synthetic - low) / scale
    return real.astype(np.float32), synthetic.astype(np.float32)


class _GRUHead(nn.Module):
    """One-layer GRU followed by a linear layer to one output."""

    def __init__(self, input_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.gru = nn.GRU(input_dim, hidden_dim, batch_first=True)
        self.out = nn.Linear(hidden_dim, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs, last = self.gru(x)
        return self.out(outputs).squeeze(-1), self.out(last[-1]).squeeze(-1)


def _setup(random_state: int | None, steps: int, batch_size: int, device: str):
    check_int("steps", steps)
    check_int("batch_size", batch_size)
    seed = check_random_state(random_state)
    rng = np.random.default_rng(seed)
    # CPU only (weights start on the CPU): torch.manual_seed would also reseed CUDA.
    torch.random.default_generator.manual_seed(int(rng.integers(2**62)))
    return rng, resolve_device(device)


def discriminative_score(
    real: np.ndarray,
    synthetic: np.ndarray,
    *,
    steps: int = 2000,
    batch_size: int = 128,
    random_state: int | None = 0,
    device: str = "cpu",
) -> float:
    """|accuracy - 0.5| of a GRU classifier telling real from synthetic windows.

    The accuracy is balanced (the mean of the real and the synthetic windows'
    accuracies on the held-out 20 %), so that unequal counts do not move it; with
    equal counts it is the plain accuracy of the TimeGAN protocol.

    Parameters
    ----------
    real, synthetic : ndarray of shape (n, T, d)
        Windows (the counts may differ; T and d must match).
    steps : int, default=2000
        Adam steps; each uses ``batch_size`` real and ``batch_size`` synthetic windows.
    batch_size : int, default=128
    random_state : int or None, default=0
        Seeds the 80/20 splits, the batches and the classifier's initialisation.
    device : str, default="cpu"

    Returns
    -------
    float in [0, 0.5]; lower is better.
    """
    real, synthetic = _check_pair(real, synthetic)
    with torch.random.fork_rng(devices=[]):
        rng, dev = _setup(random_state, steps, batch_size, device)
        splits = []
        for array in (real, synthetic):
            order = rng.permutation(len(array))
            cut = round(0.8 * len(array))
            cut = min(max(cut, 1), len(array) - 1)
            tensor = torch.from_numpy(array).to(dev)
            splits.append((tensor[order[:cut]], tensor[order[cut:]]))
        (real_train, real_test), (syn_train, syn_test) = splits
        d = real.shape[2]
        model = _GRUHead(d, max(1, d // 2)).to(dev)
        optimizer = torch.optim.Adam(model.parameters())
        loss_fn = nn.BCEWithLogitsLoss()
        labels = torch.cat([torch.ones(batch_size), torch.zeros(batch_size)]).to(dev)
        for _ in range(steps):
            r = torch.from_numpy(rng.integers(len(real_train), size=batch_size)).to(dev)
            s = torch.from_numpy(rng.integers(len(syn_train), size=batch_size)).to(dev)
            _, logits = model(torch.cat([real_train[r], syn_train[s]]))
            loss = loss_fn(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            real_right = float((model(real_test)[1] > 0).float().mean())
            syn_right = float((model(syn_test)[1] <= 0).float().mean())
    # Balanced: with unequal counts, pooled accuracy would reward leaning to the larger set.
    return abs((real_right + syn_right) / 2 - 0.5)


def predictive_score(
    real: np.ndarray,
    synthetic: np.ndarray,
    *,
    steps: int = 5000,
    batch_size: int = 128,
    random_state: int | None = 0,
    device: str = "cpu",
) -> float:
    """Mean absolute error on real windows of a next-step GRU trained on synthetic ones.

    The GRU reads features ``0..d-2`` at steps ``0..T-2`` and predicts the last
    feature at steps ``1..T-1`` (train on synthetic, test on real).

    Parameters
    ----------
    real, synthetic : ndarray of shape (n, T, d)
        Windows with ``d >= 2`` features and ``T >= 2`` steps.
    steps : int, default=5000
        Adam steps on batches of ``batch_size`` synthetic windows (L1 loss).
    batch_size : int, default=128
    random_state : int or None, default=0
    device : str, default="cpu"

    Returns
    -------
    float; lower is better. Compare with the score of real data (train on real).
    """
    real, synthetic = _check_pair(real, synthetic, min_steps=2)
    d = real.shape[2]
    if d < 2:
        raise InvalidDataError(
            "predictive_score needs at least 2 features (it predicts the last from the others), "
            f"got d={d}."
        )
    with torch.random.fork_rng(devices=[]):
        rng, dev = _setup(random_state, steps, batch_size, device)
        syn = torch.from_numpy(synthetic).to(dev)
        x_train, y_train = syn[:, :-1, : d - 1], syn[:, 1:, d - 1]
        model = _GRUHead(d - 1, max(1, d // 2)).to(dev)
        optimizer = torch.optim.Adam(model.parameters())
        for _ in range(steps):
            index = torch.from_numpy(rng.integers(len(syn), size=batch_size)).to(dev)
            prediction = torch.sigmoid(model(x_train[index])[0])
            loss = (prediction - y_train[index]).abs().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            tensor = torch.from_numpy(real).to(dev)
            prediction = torch.sigmoid(model(tensor[:, :-1, : d - 1])[0])
            error = (prediction - tensor[:, 1:, d - 1]).abs().mean()
    return float(error)
