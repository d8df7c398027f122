"""Span layout on the torch side: index tensors for vectorised work over every span."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

GAUSSIAN = "gaussian"
SOFTMAX = "softmax"
_EXP_FLOOR = -80.0


class SpanLayout(nn.Module):
    """Index buffers describing which output columns are Gaussian and which are softmax.

    The buffers are derived from ``spans``, so they are not saved in state dicts.

    Parameters
    ----------
    spans : sequence of (start, stop, kind)
        The layout of the model array (kind ``"gaussian"`` or ``"softmax"``).

    Notes
    -----
    The buffers move with the module between devices. Softmax spans of any width are
    handled together as segments of one concatenated block (``scatter_reduce`` for
    the peaks, ``index_add`` for the sums), so the cost is linear in the number of
    columns whatever the widths are.
    """

    def __init__(self, spans: Sequence[tuple[int, int, str]]) -> None:
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
        segment = [s for s, (start, stop) in enumerate(softmax) for _ in range(start, stop)]
        self.n_segments = len(softmax)
        self.register_buffer(
            "gaussian_dims", torch.tensor(gaussian, dtype=torch.long), persistent=False
        )
        self.register_buffer("softmax_dims", torch.tensor(dims, dtype=torch.long), persistent=False)
        self.register_buffer("segment", torch.tensor(segment, dtype=torch.long), persistent=False)

    def segment_max(self, values: torch.Tensor) -> torch.Tensor:
        """Peak of every softmax span of ``values`` (n, n_softmax_dims): (n, n_segments)."""
        index = self.segment.expand(len(values), -1)
        peak = values.new_full((len(values), self.n_segments), -torch.inf)
        return peak.scatter_reduce_(1, index, values, reduce="amax", include_self=True)

    def segment_sum(self, values: torch.Tensor) -> torch.Tensor:
        """Sum of every softmax span of ``values`` (n, n_softmax_dims): (n, n_segments)."""
        total = values.new_zeros((len(values), self.n_segments))
        return total.index_add(1, self.segment, values)

    def _softmax_parts(
        self, logits: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-span peak, shifted exponentials and their per-span sums."""
        peak = self.segment_max(logits.detach())
        # The floor keeps exp out of subnormal floats, whose arithmetic is many times
        # slower on CPUs; it changes no probability above exp(-80).
        shifted = torch.exp((logits - peak.index_select(1, self.segment)).clamp(min=_EXP_FLOOR))
        return peak, shifted, self.segment_sum(shifted)

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
        peak, _, total = self._softmax_parts(logits)
        return torch.log(total) + peak

    def activate(self, output: torch.Tensor) -> torch.Tensor:
        """Map raw decoder output to data space: tanh on Gaussian columns, softmax per span."""
        result = torch.tanh(output)  # the softmax columns are replaced below
        if self.n_segments:
            _, shifted, total = self._softmax_parts(output.index_select(1, self.softmax_dims))
            probabilities = shifted * total.reciprocal().index_select(1, self.segment)
            result = result.index_copy(1, self.softmax_dims, probabilities)
        return result
