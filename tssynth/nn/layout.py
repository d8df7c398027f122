"""Span layout on the torch side: index tensors for vectorised work over every span."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

GAUSSIAN = "gaussian"
SOFTMAX = "softmax"


class SpanLayout(nn.Module):
    """Index buffers describing which output columns are Gaussian and which are softmax.

    Parameters
    ----------
    spans : sequence of (start, stop, kind)
        The layout of the model array (kind ``"gaussian"`` or ``"softmax"``).

    Notes
    -----
    The buffers move with the module between devices. Softmax spans of any width are
    handled together as segments of one concatenated block, so the cost is linear in
    the number of columns whatever the widths are.
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
        self.register_buffer("gaussian_dims", torch.tensor(gaussian, dtype=torch.long))
        self.register_buffer("softmax_dims", torch.tensor(dims, dtype=torch.long))
        self.register_buffer("segment", torch.tensor(segment, dtype=torch.long))

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
        n = logits.shape[0]
        index = self.segment.expand(n, -1)
        peak = torch.full(
            (n, self.n_segments), -torch.inf, device=logits.device, dtype=logits.dtype
        )
        peak = peak.scatter_reduce(1, index, logits.detach(), reduce="amax", include_self=True)
        shifted = torch.exp(logits - peak.gather(1, index))
        total = torch.zeros_like(peak).scatter_add(1, index, shifted)
        return torch.log(total) + peak

    def activate(self, output: torch.Tensor) -> torch.Tensor:
        """Map raw decoder output to data space: tanh on Gaussian columns, softmax per span."""
        result = output.clone()
        result[:, self.gaussian_dims] = torch.tanh(output[:, self.gaussian_dims])
        if self.n_segments:
            logits = output[:, self.softmax_dims]
            lse = self.segment_logsumexp(logits)
            result[:, self.softmax_dims] = torch.exp(
                logits - lse.gather(1, self.segment.expand(len(output), -1))
            )
        return result
