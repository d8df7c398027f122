"""Sequences of different lengths stored back to back, padded one batch at a time.

A panel's zero-padded ``(n, max length, d)`` tensor costs ``n`` times its longest
sequence: one sequence of 10,000 steps among thousands of 10-step ones multiplies
memory a thousandfold. :class:`Ragged` keeps only the observed steps and pads a
batch of sequences to that batch's own longest one when it is read.
"""

from __future__ import annotations

import torch


class Ragged:
    """Steps of ``n`` sequences back to back, indexed like their zero-padded tensor.

    Parameters
    ----------
    steps : Tensor of shape (total steps, ...)
        Every sequence's steps in order, sequence after sequence.
    lengths : Tensor of int, shape (n,)
        Steps per sequence; they sum to ``len(steps)``.

    Notes
    -----
    ``index_select(0, rows)`` gives the padded ``(len(rows), L, ...)`` tensor of
    those sequences, ``L`` the longest of them, zeros after each sequence's end
    (what the training loop asks of every array); ``ragged[rows]`` gives the
    sequences themselves as a new :class:`Ragged`.
    """

    def __init__(self, steps: torch.Tensor, lengths: torch.Tensor) -> None:
        lengths = lengths.to(device=steps.device, dtype=torch.long)
        if int(lengths.sum()) != len(steps):
            raise ValueError(
                f"lengths sum to {int(lengths.sum())}, but there are {len(steps)} steps"
            )
        self.steps, self.lengths = steps, lengths
        self.offsets = torch.cumsum(lengths, 0) - lengths

    @classmethod
    def mask(cls, lengths: torch.Tensor, device: torch.device | str = "cpu") -> Ragged:
        """Ones on every observed step: its padded form is the (n, L) step mask."""
        lengths = torch.as_tensor(lengths, dtype=torch.long, device=device)
        return cls(torch.ones(int(lengths.sum()), device=device), lengths)

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the padded tensor this stands for."""
        return (len(self), self.longest(), *self.steps.shape[1:])

    @property
    def device(self) -> torch.device:
        return self.steps.device

    def longest(self) -> int:
        """Steps of the longest sequence (0 when there is none)."""
        return int(self.lengths.max()) if len(self.lengths) else 0

    def to(self, device: torch.device | str) -> Ragged:
        """The same sequences on ``device``."""
        return Ragged(self.steps.to(device), self.lengths.to(device))

    def _index(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Where each padded step of ``rows`` lies in :attr:`steps` (0 on padding), and
        which steps are observed; both (len(rows), longest of them)."""
        lengths = self.lengths[rows]
        width = int(lengths.max()) if len(lengths) else 0
        step = torch.arange(width, device=self.steps.device)
        observed = step[None, :] < lengths[:, None]
        return torch.where(observed, self.offsets[rows, None] + step[None, :], 0), observed

    def index_select(self, dim: int, rows: torch.Tensor) -> torch.Tensor:
        """The zero-padded tensor of sequences ``rows``, as long as the longest of them."""
        if dim != 0:
            raise ValueError("Ragged sequences are selected along dimension 0 only")
        index, observed = self._index(rows.to(self.steps.device))
        if len(self.steps) == 0:
            return self.steps.new_zeros(*index.shape, *self.steps.shape[1:])
        padded = self.steps[index]
        return padded.masked_fill(~observed.view(*observed.shape, *(1,) * (padded.dim() - 2)), 0)

    def __getitem__(self, rows: torch.Tensor) -> Ragged:
        """Sequences ``rows`` (any order, repeats allowed) as a new :class:`Ragged`."""
        rows = torch.as_tensor(rows, device=self.steps.device)
        lengths = self.lengths[rows]
        total = int(lengths.sum())
        # Step k of the result is step k - (its sequence's first k) of the source sequence.
        shift = self.offsets[rows] - (torch.cumsum(lengths, 0) - lengths)
        index = torch.repeat_interleave(shift, lengths, output_size=total)
        index += torch.arange(total, device=self.steps.device)
        return Ragged(self.steps[index], lengths)

    def scatter(self, rows: torch.Tensor, padded: torch.Tensor, out: torch.Tensor) -> None:
        """Write the observed steps of ``padded``, sequences ``rows`` padded as by
        :meth:`index_select`, into ``out`` (on the CPU), laid out like :attr:`steps`."""
        index, observed = self._index(rows.to(self.steps.device))
        out[index[observed].cpu()] = padded[observed.to(padded.device)].to("cpu", out.dtype)
