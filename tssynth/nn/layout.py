"""Span layout on the torch side: index tensors for vectorised work over every span."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

GAUSSIAN = "gaussian"
SOFTMAX = "softmax"
EXP_FLOOR = -80.0
# Up to this many softmax spans, sums over spans are one matmul with a 0/1 membership
# matrix (a few times faster than index_add on CPUs); beyond it that matrix costs
# spans x columns, and index_add (linear in the columns) is used instead.
MATMUL_SEGMENTS = 64


class SpanLayout(nn.Module):
    """Index buffers describing which output columns are Gaussian and which are softmax.

    The buffers are derived from ``spans``, so they are not saved in state dicts.

    Parameters
    ----------
    spans : sequence of (start, stop, kind)
        The layout of the model array (kind ``"gaussian"`` or ``"softmax"``).
    point_masses : sequence of (mode column, Gaussian column), optional
        Softmax columns of point-mass modes and the Gaussian column whose value
        they fix: a row in such a mode has a constant scalar, which the loss leaves
        out (:meth:`point_mass_rows`). Scored, the constant pulled the learned sigma
        of columns mostly at a point mass to its floor, and the other rows' errors,
        divided by it, drowned the mode and category terms.

    Notes
    -----
    The buffers move with the module between devices. Softmax spans of any width are
    handled together as segments of one concatenated block (``segment_reduce`` for
    the peaks; a matmul with a 0/1 membership matrix for the sums when there are few
    spans, ``index_add`` otherwise), so no Python loop runs over the spans.
    """

    def __init__(
        self,
        spans: Sequence[tuple[int, int, str]],
        point_masses: Sequence[tuple[int, int]] = (),
    ) -> None:
        super().__init__()
        spans = [tuple(s) for s in spans]
        unknown = {kind for _, _, kind in spans} - {GAUSSIAN, SOFTMAX}
        if unknown:
            raise ValueError(f"Unknown span kinds {sorted(unknown)}.")
        self.data_dim = max((stop for _, stop, _ in spans), default=0)
        gaussian = [
            i for start, stop, kind in spans if kind == GAUSSIAN for i in range(start, stop)
        ]
        softmax = [(start, stop) for start, stop, kind in spans if kind == SOFTMAX]
        dims = [i for start, stop in softmax for i in range(start, stop)]
        segment = torch.tensor(
            [s for s, (start, stop) in enumerate(softmax) for _ in range(start, stop)],
            dtype=torch.long,
        )
        self.n_segments = len(softmax)
        self._dense = 0 < self.n_segments <= MATMUL_SEGMENTS
        membership = torch.zeros((len(dims), self.n_segments if self._dense else 0))
        if self._dense:
            membership[torch.arange(len(dims)), segment] = 1.0
        self.register_buffer(
            "gaussian_dims", torch.tensor(gaussian, dtype=torch.long), persistent=False
        )
        self.register_buffer("softmax_dims", torch.tensor(dims, dtype=torch.long), persistent=False)
        self.register_buffer("segment", segment, persistent=False)
        self.register_buffer(
            "segment_width", torch.bincount(segment, minlength=self.n_segments), persistent=False
        )
        self.register_buffer("membership", membership, persistent=False)
        rank = {column: i for i, column in enumerate(gaussian)}
        pairs = [(mode, rank[scalar]) for mode, scalar in point_masses]
        self.register_buffer(
            "point_mass_modes",
            torch.tensor([m for m, _ in pairs], dtype=torch.long),
            persistent=False,
        )
        self.register_buffer(
            "point_mass_rank",
            torch.tensor([r for _, r in pairs], dtype=torch.long),
            persistent=False,
        )

    def point_mass_rows(self, target: torch.Tensor) -> torch.Tensor | None:
        """Where rows of ``target`` (..., data_dim) are in a point-mass mode: (...,
        n_gaussian) bool over the Gaussian columns, or None without point masses."""
        if not self.point_mass_modes.numel():
            return None
        hits = target.index_select(-1, self.point_mass_modes)
        taken = target.new_zeros((*target.shape[:-1], len(self.gaussian_dims)))
        return taken.index_add_(-1, self.point_mass_rank, hits) > 0.5

    def settle_point_masses(self, rows: torch.Tensor) -> torch.Tensor:
        """``rows`` (..., data_dim) with the scalar of every point-mass row set to its
        constant 0, as encoding sets it (a drawn scalar there was never trained)."""
        taken = self.point_mass_rows(rows)
        if taken is None:
            return rows
        g = self.gaussian_dims
        return rows.index_copy(-1, g, rows.index_select(-1, g).masked_fill(taken, 0.0))

    def segment_max(self, values: torch.Tensor) -> torch.Tensor:
        """Peak of every softmax span of ``values`` (n, n_softmax_dims): (n, n_segments)."""
        if len(values) == 0:
            return values.new_zeros((0, self.n_segments))
        # segment_reduce over contiguous spans: a few times faster than scatter_reduce.
        lengths = self.segment_width.expand(len(values), -1).contiguous()
        return torch.segment_reduce(values, "max", lengths=lengths, axis=1)

    def segment_sum(self, values: torch.Tensor) -> torch.Tensor:
        """Sum of every softmax span of ``values`` (n, n_softmax_dims): (n, n_segments)."""
        if self._dense:
            return values @ self.membership.to(values.dtype)
        total = values.new_zeros((len(values), self.n_segments))
        return total.index_add(1, self.segment, values)

    def spread(self, per_segment: torch.Tensor) -> torch.Tensor:
        """One value per span (n, n_segments) repeated over its columns: (n, n_softmax_dims)."""
        if self._dense:
            return per_segment @ self.membership.to(per_segment.dtype).T
        return per_segment.index_select(1, self.segment)

    def _softmax_parts(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-span peak and the exponentials shifted by it."""
        peak = self.segment_max(logits.detach())
        # The floor keeps exp out of subnormal floats, whose arithmetic is many times
        # slower on CPUs; it changes no probability above exp(-80).
        shifted = torch.exp((logits - self.spread(peak)).clamp(min=EXP_FLOOR))
        return peak, shifted

    def segment_logsumexp(self, logits: torch.Tensor) -> torch.Tensor:
        """Log-sum-exp of every softmax span.

        Parameters
        ----------
        logits : Tensor of shape (n, n_softmax_dims)
            The softmax columns, gathered with ``softmax_dims``.

        Returns
        -------
        Tensor of shape (n, n_segments)
        """
        peak, shifted = self._softmax_parts(logits)
        return torch.log(self.segment_sum(shifted)) + peak

    def activate(self, output: torch.Tensor) -> torch.Tensor:
        """Map raw decoder output to data space: tanh on Gaussian columns, softmax per span."""
        result = torch.tanh(output)  # the softmax columns are replaced below
        if self.n_segments:
            _, shifted = self._softmax_parts(output.index_select(1, self.softmax_dims))
            probabilities = shifted * self.spread(self.segment_sum(shifted).reciprocal())
            result = result.index_copy(1, self.softmax_dims, probabilities)
        return result
