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
_QUANTILE_VALUES = 16_000_000  # values the quantiles are computed from, at most
_MIN_GROUP_VALUES = 100  # values a group needs on both sides for a map of its own


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

    A column may also be split into groups, e.g. the modes of a mode-specific
    normalisation, whose within-mode values have a shape of their own: each group
    with enough values on both sides gets its own map, the others share the
    column's pooled one.

    Parameters
    ----------
    n_columns : int
    """

    _buffer_names = ("source", "target", "tables")

    def __init__(self, n_columns: int) -> None:
        super().__init__()
        identity = torch.tensor([-1.0, 1.0]).repeat(n_columns, 1)
        self.register_buffer("source", identity.clone())
        self.register_buffer("target", identity.clone())
        # Row of source/target of every (column, group + 1); column 0 is the pooled map.
        self.register_buffer("tables", torch.arange(n_columns)[:, None])

    @torch.no_grad()
    def set(self, source: Any, target: Any, tables: Any = None) -> None:
        """Quantiles ``(m, L)`` of model (source) and training (target) values.

        ``tables`` ``(d, 1 + k)`` gives the row of every column's pooled map and of
        its ``k`` groups' maps; by default row ``j`` is column ``j``'s only map.
        """
        if tables is None:
            tables = torch.arange(len(source))[:, None]
        self._set(source=source, target=target, tables=tables)

    @torch.no_grad()
    def reset(self) -> None:
        """Back to the identity."""
        identity = torch.tensor([-1.0, 1.0], device=self.source.device).repeat(len(self.tables), 1)
        self.set(identity, identity)

    @torch.no_grad()
    def fit(
        self,
        sampled: torch.Tensor,
        training: torch.Tensor,
        sampled_groups: torch.Tensor | None = None,
        training_groups: torch.Tensor | None = None,
        n_groups: int = 0,
        min_values: int = _MIN_GROUP_VALUES,
    ) -> None:
        """Fit the map from values the model draws to training values, both ``(n, d)``.

        Parameters
        ----------
        sampled, training : Tensor of shape (n_sampled, d) and (n_training, d)
        sampled_groups, training_groups : Tensor of the same shapes, optional
            Group in ``[0, n_groups)`` of every value (negative: none); groups with
            fewer than ``min_values`` values on either side keep the column's pooled
            map.
        n_groups : int
        min_values : int
        """
        d = len(self.tables)
        if len(sampled) == 0 or len(training) == 0 or d == 0:
            return
        levels = torch.linspace(0.0, 1.0, _CALIBRATION_LEVELS, device=sampled.device)
        columns = torch.arange(d, device=sampled.device)
        source, _ = grouped_quantiles(sampled, columns.expand_as(sampled), d, levels)
        target, _ = grouped_quantiles(training, columns.expand_as(training), d, levels)
        tables = columns[:, None]
        if sampled_groups is not None and training_groups is not None and n_groups > 0:
            cells = d * n_groups

            def cell(groups: torch.Tensor) -> torch.Tensor:  # a negative group: no cell
                return torch.where(groups >= 0, columns * n_groups + groups, cells)

            group_source, have = grouped_quantiles(sampled, cell(sampled_groups), cells + 1, levels)
            group_target, want = grouped_quantiles(
                training, cell(training_groups), cells + 1, levels
            )
            group_source, group_target = group_source[:cells], group_target[:cells]
            own = (torch.minimum(have, want)[:cells] >= min_values).reshape(d, n_groups)
            rows = d + own.flatten().cumsum(0).reshape(d, n_groups) - 1
            tables = torch.cat([tables, torch.where(own, rows, columns[:, None])], dim=1)
            keep = own.flatten()
            source = torch.cat([source, group_source[keep]])
            target = torch.cat([target, group_target[keep]])
        self.set(source, target, tables)

    def forward(self, values: torch.Tensor, groups: torch.Tensor | None = None) -> torch.Tensor:
        """Calibrate ``(n, d)`` values column by column (all columns at once).

        ``groups`` ``(n, d)`` picks each value's group map (the pooled one when the
        group has none). A value tied with several source quantiles (a point mass,
        such as values clipped at the range's end) goes to the middle of their levels.
        """
        n, d = values.shape
        if d == 0 or n == 0:
            return values
        slot = torch.zeros_like(values, dtype=torch.long)
        if groups is not None and self.tables.shape[1] > 1:
            slot = (groups + 1).clamp(0, self.tables.shape[1] - 1)
        table = self.tables.gather(1, slot.T).T  # (n, d): row of every value's map
        x, source, target = values.double(), self.source.double(), self.target.double()
        levels = source.shape[1]
        # All tables in one sorted line: table t's quantiles shifted by t * width.
        low_end = torch.minimum(source.min(), x.min())
        width = torch.maximum(source.max(), x.max()) - low_end + 1.0
        offsets = torch.arange(len(source), device=values.device, dtype=torch.float64) * width
        line = ((source - low_end) + offsets[:, None]).flatten()
        keys = (x - low_end) + offsets[table]
        first = table * levels
        left = torch.searchsorted(line, keys) - first
        right = torch.searchsorted(line, keys, right=True) - first
        below = (left - 1).clamp(0, levels - 2)
        flat_source, flat_target = source.flatten(), target.flatten()
        low, high = flat_source[first + below], flat_source[first + below + 1]
        step = torch.where(high > low, (x - low) / (high - low), torch.zeros_like(low))
        position = torch.where(
            right > left, (left + right - 1).to(torch.float64) / 2, below + step.clamp(0.0, 1.0)
        ).clamp(0, levels - 1)
        index = position.floor().long().clamp(max=levels - 2)
        start = flat_target[first + index]
        mapped = start + (position - index) * (flat_target[first + index + 1] - start)
        return mapped.to(values.dtype)


def grouped_quantiles(
    values: torch.Tensor, groups: torch.Tensor, n_groups: int, levels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantiles ``(n_groups, L)`` of the values of every group (linear interpolation).

    Parameters
    ----------
    values, groups : Tensor of shape (n, d)
        Values and their groups in ``[0, n_groups)``. Rows are thinned evenly to
        keep under ``_QUANTILE_VALUES`` values.
    n_groups : int
    levels : Tensor of shape (L,)

    Returns
    -------
    quantiles : Tensor of shape (n_groups, L)
        A group without values gets the identity's ramp over [-1, 1].
    counts : Tensor of shape (n_groups,)
        Values of every group (after thinning).
    """
    n, d = values.shape
    stride = max(1, -(-n * d // _QUANTILE_VALUES))
    values, groups = values[::stride].double().flatten(), groups[::stride].flatten()
    counts = torch.bincount(groups, minlength=n_groups)
    ramp = (levels * 2 - 1)[None].expand(n_groups, -1)
    if len(values) == 0:
        return ramp.clone(), counts
    # One sort orders by group, then by value: group g's values shifted by g * width.
    low = values.min()
    width = values.max() - low + 1.0
    group_of = torch.repeat_interleave(torch.arange(n_groups, device=values.device), counts)
    ordered = torch.sort((values - low) + groups * width).values - group_of * width + low
    starts = counts.cumsum(0) - counts
    last = (counts[:, None] - 1).clamp(min=0)
    position = levels[None] * last
    lower = position.floor().long().clamp(max=last)
    upper = (lower + 1).clamp(max=last)
    top = len(ordered) - 1
    at_lower = ordered[(starts[:, None] + lower).clamp(max=top)]
    at_upper = ordered[(starts[:, None] + upper).clamp(max=top)]
    quantiles = (at_lower + (position - lower) * (at_upper - at_lower)).float()
    return torch.where((counts > 0)[:, None], quantiles, ramp), counts
