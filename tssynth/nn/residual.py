"""What decoder means miss, fitted after training: correlated residual noise and a
per-column marginal calibration.

Both are small modules of buffers (saved in generator files, none when not fitted)
shared by the window VAE (:class:`tssynth.nn.dense.DenseVAE`, over whole windows)
and the dynamical VAE (:class:`tssynth.nn.dvae.DVAE`, over the Gaussian columns of
one step).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

_FULL_COVARIANCE_WIDTH = 2048  # widths up to which the noise has its full covariance
_LOW_RANK = 512  # principal directions of wider residuals
_LOW_RANK_ROWS = 2048  # rows they are estimated from
_CALIBRATION_LEVELS = 1001  # quantiles per column of the marginal calibration
_QUANTILE_VALUES = 16_000_000  # torch.quantile's input cap (2**24), with room


class _FittedBuffers(nn.Module):
    """Buffers whose shapes are set by fitting: loading takes the stored shapes, and
    a file written before the buffers existed loads them as their unfitted defaults."""

    _buffer_names: tuple[str, ...] = ()

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        for name in self._buffer_names:
            stored = state_dict.setdefault(prefix + name, getattr(self, name))
            setattr(self, name, getattr(self, name).new_empty(stored.shape))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _set(self, **values: Any) -> None:
        for name, value in values.items():
            old = getattr(self, name)
            setattr(self, name, torch.as_tensor(value, dtype=old.dtype, device=old.device))


class ResidualNoise(_FittedBuffers):
    """Gaussian noise ``loc + factor @ e + scale * e'`` of ``width`` values.

    Fitted to residuals, its covariance is theirs: a column that is white noise stays
    white, and two columns that move together keep moving together, which a learned
    per-column sigma cannot do. Unfitted it is no noise (:attr:`noise_dim` 0).

    Parameters
    ----------
    width : int
        Values per draw.
    """

    _buffer_names = ("loc", "factor", "scale")

    def __init__(self, width: int) -> None:
        super().__init__()
        self.register_buffer("loc", torch.zeros(width))
        self.register_buffer("factor", torch.zeros(width, 0))
        self.register_buffer("scale", torch.zeros(width))

    @property
    def noise_dim(self) -> int:
        """Standard normal values one draw needs (0: not fitted)."""
        return self.factor.shape[1] + (len(self.scale) if bool(self.scale.any()) else 0)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        """Map standard normal ``(n, noise_dim)`` draws to noise ``(n, width)``."""
        rank = self.factor.shape[1]
        out = self.loc + noise[:, :rank] @ self.factor.T
        if noise.shape[1] > rank:
            out = out + noise[:, rank:] * self.scale
        return out

    @torch.no_grad()
    def set(self, loc: Any, factor: Any, scale: Any) -> None:
        """Noise ``loc + factor @ e + scale * e'`` (shapes (p,), (p, r), (p,))."""
        self._set(loc=loc, factor=factor, scale=scale)

    @torch.no_grad()
    def fit(self, residuals: Iterable[torch.Tensor]) -> None:
        """Fit the mean and covariance of residual rows.

        Up to ``_FULL_COVARIANCE_WIDTH`` values the covariance is full (streaming
        moments over all rows, memory O(width^2)); wider residuals get the
        ``_LOW_RANK`` leading principal directions of the first
        ``_LOW_RANK_ROWS`` rows plus a per-value remainder.

        Parameters
        ----------
        residuals : iterable of Tensor of shape (m, width)
            Batches of residual rows, in random order (the wide case reads only
            the first rows).
        """
        width = len(self.loc)
        if width == 0:
            return
        if width > _FULL_COVARIANCE_WIDTH:
            self._fit_low_rank(residuals)
            return
        kwargs = {"dtype": torch.float64, "device": self.loc.device}
        total, outer, n = torch.zeros(width, **kwargs), torch.zeros(width, width, **kwargs), 0
        for batch in residuals:
            batch = batch.to(torch.float64)
            total += batch.sum(0)
            outer += batch.T @ batch
            n += len(batch)
        if n < 2:
            return
        loc = total / n
        covariance = (outer - n * torch.outer(loc, loc)) / (n - 1)
        eigenvalues, vectors = torch.linalg.eigh(covariance)
        keep = eigenvalues > eigenvalues[-1].clamp(min=0.0) * 1e-9
        self.set(loc, vectors[:, keep] * eigenvalues[keep].sqrt(), torch.zeros(width))

    def _fit_low_rank(self, residuals: Iterable[torch.Tensor]) -> None:
        rows, count = [], 0
        for batch in residuals:
            rows.append(batch.to(torch.float64))
            count += len(batch)
            if count >= _LOW_RANK_ROWS:
                break
        if count < 2:
            return
        residual = torch.cat(rows)[:_LOW_RANK_ROWS]
        loc = residual.mean(0)
        centred = residual - loc
        # Principal directions from the (m, m) Gram matrix: cheap when m << width.
        eigenvalues, vectors = torch.linalg.eigh(centred @ centred.T)
        top = eigenvalues.flip(0)[:_LOW_RANK].clamp(min=0.0)
        factor = centred.T @ vectors.flip(1)[:, :_LOW_RANK] / (len(residual) - 1) ** 0.5
        factor = factor[:, top > top[0] * 1e-9]
        remainder = (centred.var(0) - (factor**2).sum(1)).clamp(min=0.0)
        self.set(loc, factor, remainder.sqrt())


class MarginalCalibration(_FittedBuffers):
    """A monotone per-column map from the model's marginals to the training marginals.

    Each column goes through target-quantile o source-CDF (piecewise linear over
    ``_CALIBRATION_LEVELS`` levels). Decoder means plus Gaussian noise get the shape
    of a column's distribution wrong where it is not Gaussian (uniform white noise,
    a reading that is zero most of the time, spikes); the map restores the marginal
    and keeps the order of values, so the dependence between columns and steps stays
    the model's. Unfitted it is the identity on [-1, 1].

    Parameters
    ----------
    n_columns : int
    """

    _buffer_names = ("source", "target")

    def __init__(self, n_columns: int) -> None:
        super().__init__()
        identity = torch.tensor([-1.0, 1.0]).repeat(n_columns, 1)
        self.register_buffer("source", identity.clone())
        self.register_buffer("target", identity.clone())

    @torch.no_grad()
    def set(self, source: Any, target: Any) -> None:
        """Per-column quantiles ``(d, L)`` of model (source) and training (target) values."""
        self._set(source=source, target=target)

    @torch.no_grad()
    def reset(self) -> None:
        """Back to the identity."""
        identity = torch.tensor([-1.0, 1.0], device=self.source.device).repeat(len(self.source), 1)
        self.set(identity, identity)

    @torch.no_grad()
    def fit(self, sampled: torch.Tensor, training: torch.Tensor) -> None:
        """Fit the map from values the model draws to training values, both ``(n, d)``."""
        if len(sampled) == 0 or len(training) == 0 or len(self.source) == 0:
            return
        levels = torch.linspace(0.0, 1.0, _CALIBRATION_LEVELS, device=sampled.device)
        self.set(column_quantiles(sampled, levels), column_quantiles(training, levels))

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        """Calibrate ``(n, d)`` values column by column (all columns at once).

        A value tied with several source quantiles (a point mass, such as values
        clipped at the range's end) goes to the middle of their levels.
        """
        if values.shape[1] == 0:
            return values
        columns = values.T.contiguous()  # searchsorted runs along rows
        source, target = self.source, self.target
        levels = source.shape[1]
        left = torch.searchsorted(source, columns)
        right = torch.searchsorted(source, columns, right=True)
        below = (left - 1).clamp(0, levels - 2)
        low, high = source.gather(1, below), source.gather(1, below + 1)
        step = torch.where(high > low, (columns - low) / (high - low), torch.zeros_like(columns))
        position = torch.where(
            right > left, (left + right - 1).to(columns.dtype) / 2, below + step.clamp(0.0, 1.0)
        ).clamp(0, levels - 1)
        index = position.floor().long().clamp(max=levels - 2)
        start = target.gather(1, index)
        return (start + (position - index) * (target.gather(1, index + 1) - start)).T


def column_quantiles(values: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Quantiles ``(d, L)`` of every column of ``(n, d)`` values (linear interpolation).

    Rows are thinned evenly to keep under ``torch.quantile``'s input cap.
    """
    n, d = values.shape
    stride = -(-n * d // _QUANTILE_VALUES)
    columns = values[::stride].T.contiguous()  # rows: faster to sort
    return torch.quantile(columns.float(), levels, dim=1).T.contiguous()
