"""Drawing one category per softmax span straight from decoder logits, fast and exactly.

Used by :meth:`tssynth.nn.tvae.TVAE.draw`; :class:`Workspace` keeps its scratch
tensors over the chunks of one sampling call.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from tssynth.nn.layout import EXP_FLOOR, MATMUL_SEGMENTS, SOFTMAX

# Padding columns that one more width group is worth when grouping spans for sampling:
# each group costs a few tensor calls per chunk, each padding column a little work per row.
_GROUP_COST = 4
_PAD_LOGIT = 2 * EXP_FLOOR
_FLOAT32_EPS = 2.0**-24


class Workspace:
    """Scratch tensors reused over the chunks of one loop, so each is allocated once.

    Fresh tensors of a few megabytes each cost page faults on every allocation on
    CPUs, more than the arithmetic done on them.

    Parameters
    ----------
    device : torch.device
    dtype : torch.dtype, default=torch.float32
        The dtype of buffers taken without one.
    """

    def __init__(self, device: torch.device, dtype: torch.dtype = torch.float32) -> None:
        self.device = device
        self.dtype = dtype
        self._buffers: dict[str, torch.Tensor] = {}

    def take(
        self, name: str, rows: int, cols: int, dtype: torch.dtype | None = None
    ) -> torch.Tensor:
        """The first ``rows`` rows of the ``(capacity, cols)`` buffer ``name`` (contiguous)."""
        dtype = self.dtype if dtype is None else dtype
        buffer = self._buffers.get(name)
        fits = buffer is not None and buffer.shape[0] >= rows and buffer.shape[1] == cols
        if not fits or buffer.dtype != dtype:
            buffer = torch.empty((rows, cols), dtype=dtype, device=self.device)
            self._buffers[name] = buffer
        return buffer[:rows]


def _blocks_of(caps: list[int]) -> list[tuple[int, int, int]]:
    """(first column, spans, width) of every run of equal padded widths in ``caps``."""
    blocks: list[tuple[int, int, int]] = []
    column = 0
    for cap in caps:
        if blocks and blocks[-1][2] == cap:
            blocks[-1] = (blocks[-1][0], blocks[-1][1] + 1, cap)
        else:
            blocks.append((column, 1, cap))
        column += cap
    return blocks


def _width_groups(widths: list[int]) -> list[int]:
    """Padded widths that group spans of similar width: few groups, little padding.

    Exact dynamic programme over the sorted distinct widths: a group padded to width
    ``c`` costs ``c`` columns per member plus ``_GROUP_COST``.
    """
    distinct = sorted(set(widths))
    counts = Counter(widths)
    members = [0]
    for width in distinct:
        members.append(members[-1] + counts[width])
    best = [0.0] + [float("inf")] * len(distinct)
    cut = [0] * (len(distinct) + 1)
    for j in range(1, len(distinct) + 1):
        for i in range(j):
            cost = best[i] + _GROUP_COST + distinct[j - 1] * (members[j] - members[i])
            if cost < best[j]:
                best[j], cut[j] = cost, i
    caps, j = [], len(distinct)
    while j:
        caps.append(distinct[j - 1])
        j = cut[j]
    return caps[::-1]


class SpanSampler(nn.Module):
    """Draws one category per softmax span from decoder logits, fast and exactly.

    The softmax spans are regrouped by width into padded blocks ``(n, k, c)`` (``k``
    spans padded to width ``c``), so that every per-span step is an operation over
    the last axis of a few blocks: no Python loop over spans or rows. The decoder's
    last linear layer is rearranged into that order once per sampling call
    (:meth:`head`), each softmax column minus its span's first column: a shift that
    leaves the softmax unchanged, keeps ``exp`` finite for any sane logits and
    makes each span's total at least 1.

    A category is drawn by inverse CDF: the first column whose running sum within
    its span exceeds ``u * total``. :meth:`draw` keeps the running sums in float32
    and flags the rare draws (about one in 10^4 per span and row) whose threshold
    lies within the float32 error bound of a category boundary, or whose span
    overflowed; :meth:`draw_exact` redoes those in float64. So every draw equals the
    float64 inverse CDF of the float32 weights ``exp(max(logit, -80))``: float64
    precision at float32 speed.

    Parameters
    ----------
    spans : sequence of (start, stop, kind)
    """

    def __init__(self, spans: Sequence[tuple[int, int, str]]) -> None:
        super().__init__()
        softmax = [(start, stop) for start, stop, kind in spans if kind == SOFTMAX]
        widths = [stop - start for start, stop in softmax]
        caps = _width_groups(widths) if softmax else []
        cap_of = [min(c for c in caps if c >= w) for w in widths]
        # Sampling order: spans grouped by padded width (layout order within a group).
        order = sorted(range(len(softmax)), key=lambda s: (cap_of[s], s))
        self.blocks = _blocks_of([cap_of[s] for s in order])
        source = [
            column
            for s in order
            for column in [*range(*softmax[s]), *[-1] * (cap_of[s] - widths[s])]
        ]
        self.n_columns = len(source)
        self.n_spans = len(softmax)
        self._dense = 0 < self.n_spans <= MATMUL_SEGMENTS
        # Per span (layout order); floats (exact integers) to meet the matmul counts.
        cap_t = torch.tensor(cap_of, dtype=torch.float32)
        order_t = torch.tensor(order, dtype=torch.long)
        first_t = (torch.cumsum(cap_t[order_t], 0) - cap_t[order_t])[torch.argsort(order_t)]
        group = torch.repeat_interleave(order_t, cap_t[order_t].long())
        membership = torch.zeros((self.n_spans if self._dense else 0, self.n_columns))
        if self._dense:
            membership[group, torch.arange(self.n_columns)] = 1.0
        starts = torch.tensor([start for start, _ in softmax], dtype=torch.long)
        buffers = {
            "source": torch.tensor(source, dtype=torch.long),  # -1: padding
            "reference": starts[group] if self.n_spans else starts,  # the span's first column
            "group": group,  # span of every column
            "membership": membership,
            "order": order_t,  # span at every sampling position
            "first": first_t,
            "top": (first_t + cap_t - 1).long(),
            "last_in_block": cap_t - 1,
            "last_choice": torch.tensor(widths, dtype=torch.float32) - 1,
            # Error bound, per unit of span total, of a float32 running sum (at most c
            # roundings, in any summation order) plus that of the threshold (two) and
            # of the check itself (two): (2c + 8) float32 epsilons, a safe overestimate.
            "margin": (cap_t + 4) * (2 * _FLOAT32_EPS),
        }
        for name, value in buffers.items():
            self.register_buffer(name, value, persistent=False)

    def head(self, weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Softmax rows of a last linear layer in sampling order, shifted and padded.

        Parameters
        ----------
        weight : Tensor of shape (data_dim, hidden)
        bias : Tensor of shape (data_dim,)

        Returns
        -------
        weight, bias : Tensors of shape (n_columns, hidden) and (n_columns,)
            Padding rows have zero weight and a logit far below the exp floor.
        """
        valid = self.source >= 0
        rows = self.source.clamp(min=0)
        shifted = (weight[rows] - weight[self.reference]) * valid[:, None]
        offset = torch.where(valid, bias[rows] - bias[self.reference], _PAD_LOGIT)
        return shifted, offset

    def _spread(self, per_span: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """One value per span repeated over its columns, written to ``out``."""
        if self._dense:
            return torch.mm(per_span, self.membership, out=out)
        return torch.index_select(per_span, 1, self.group, out=out)

    def _span_sum(self, values: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """Sum of the columns of every span, written to ``out`` (n, n_spans)."""
        if self._dense:
            return torch.mm(values, self.membership.T, out=out)
        return out.zero_().index_add_(1, self.group, values)

    def _blocks(self, values: torch.Tensor) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Per width group: the spans in it and a ``(n, k, c)`` view of their columns."""
        position = 0
        for column, k, c in self.blocks:
            spans = self.order[position : position + k]
            yield spans, values[:, column : column + k * c].unflatten(1, (k, c))
            position += k

    def draw(
        self, logits: torch.Tensor, uniforms: torch.Tensor, choices: torch.Tensor, work: Workspace
    ) -> torch.Tensor:
        """Draw in float32; return the rows whose draw is not certain.

        Parameters
        ----------
        logits : Tensor of shape (n, n_columns)
            Output of the :meth:`head` layer.
        uniforms : Tensor of shape (n, n_spans), float64
            Uniform draws in [0, 1), one per span.
        choices : Tensor of shape (n, n_spans), integer
            Written: the category drawn in every span, in layout order.
        work : Workspace

        Returns
        -------
        Tensor of shape (n_unsure,), int64
            Rows to redo with :meth:`draw_exact`.
        """
        n, spans = len(logits), self.n_spans
        running = work.take("running", n, self.n_columns)
        # The floor keeps exp out of subnormal floats, which are ~100x slower on CPUs.
        torch.clamp(logits, min=EXP_FLOOR, out=running).exp_()
        totals = work.take("totals", n, spans)
        for _, block in self._blocks(running):
            block.cumsum_(2)
        torch.index_select(running, 1, self.top, out=totals)
        # u * total in float32, u rounded first (within the margin below).
        thresholds = work.take("thresholds", n, spans).copy_(uniforms).mul_(totals)
        below = self._spread(thresholds, work.take("below", n, self.n_columns))
        torch.le(running, below, out=below)  # 1 where the running sum is within the threshold
        counts = self._span_sum(below, work.take("counts", n, spans))
        unsure = self._unsure(running, thresholds, totals, counts, work)
        choices.copy_(torch.minimum(counts, self.last_choice, out=counts))
        return unsure

    def _unsure(
        self,
        running: torch.Tensor,
        thresholds: torch.Tensor,
        totals: torch.Tensor,
        counts: torch.Tensor,
        work: Workspace,
    ) -> torch.Tensor:
        """Rows with a draw whose threshold is within the error bound of a running sum.

        A draw is certain when its threshold is farther than the bound from the running
        sums on both sides of the drawn column; NaN or inf (overflow) is never certain.
        ``totals`` is overwritten.
        """
        n, spans = counts.shape
        upper = torch.minimum(counts, self.last_in_block, out=work.take("upper", n, spans))
        index = work.take("index", n, spans, torch.long)
        high = work.take("high", n, spans)
        torch.gather(running, 1, index.copy_(upper.add_(self.first)), out=high)
        low = work.take("low", n, spans)
        torch.gather(running, 1, index.copy_(upper.sub_(1).clamp_(min=0)), out=low)
        low.mul_(torch.clamp(counts, max=1.0, out=upper))  # nothing below the first column
        gap = torch.minimum(torch.sub(thresholds, low, out=low), high.sub_(thresholds), out=low)
        certain = torch.gt(
            gap, totals.mul_(self.margin), out=work.take("certain", n, spans, torch.bool)
        )
        unsure = certain.logical_not_().flatten().nonzero().flatten()
        return unsure.div_(spans, rounding_mode="floor").unique()

    def draw_exact(self, logits: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        """:meth:`draw` in float64, for the rows it flags: categories (n, n_spans), int64.

        Rows whose float32 weights overflow are shifted by their span maxima first.
        """
        logits = logits.clone()
        weights = logits.clamp(min=EXP_FLOOR).exp()
        overflow = ~torch.isfinite(weights).all(1)
        if overflow.any():
            for _, block in self._blocks(logits):
                block[overflow] -= block[overflow].amax(2, keepdim=True)
            weights = logits.clamp(min=EXP_FLOOR).exp()
        counts = torch.empty(uniforms.shape, dtype=weights.dtype, device=weights.device)
        for spans, block in self._blocks(weights.double()):
            running = block.cumsum(2)
            threshold = uniforms[:, spans] * running[:, :, -1]
            counts[:, spans] = (running <= threshold.unsqueeze(2)).sum(2).to(counts.dtype)
        return torch.minimum(counts, self.last_choice).long()
