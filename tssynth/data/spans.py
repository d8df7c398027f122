"""The layout of a model array, and vectorised operations over its softmax spans.

A model array has one row per record and ``output_dim`` columns. Its layout is a
list of :class:`Span`: a ``gaussian`` span is one scalar column modelled with a
Gaussian, a ``softmax`` span is a block of columns holding a one-hot category (or
the probabilities of one). Spans are contiguous and cover the array in order.

Softmax spans have different widths; the helpers here work on all of them at once
with ``np.ufunc.reduceat`` over the concatenated block, so cost is linear in the
number of cells and there is no Python loop over spans or rows.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

GAUSSIAN = "gaussian"
SOFTMAX = "softmax"


class Span(NamedTuple):
    """One block of a model array: columns ``start:stop`` of kind ``gaussian`` or ``softmax``."""

    start: int
    stop: int
    kind: str


class SoftmaxBlock(NamedTuple):
    """Where the softmax spans of a layout sit, precomputed for vectorised work.

    Attributes
    ----------
    dims : ndarray of shape (n_dims,)
        Array columns of every softmax span, concatenated in layout order.
    offsets : ndarray of shape (n_spans,)
        Start of each span inside ``dims``.
    widths : ndarray of shape (n_spans,)
        Width of each span.
    segment : ndarray of shape (n_dims,)
        Span number of each entry of ``dims``.
    """

    dims: np.ndarray
    offsets: np.ndarray
    widths: np.ndarray
    segment: np.ndarray


def softmax_block(spans: list[Span]) -> SoftmaxBlock:
    """Index arrays for the softmax spans of ``spans`` (see :class:`SoftmaxBlock`)."""
    soft = [s for s in spans if s.kind == SOFTMAX]
    widths = np.array([s.stop - s.start for s in soft], dtype=np.int64)
    dims = (
        np.concatenate([np.arange(s.start, s.stop) for s in soft])
        if soft
        else np.zeros(0, dtype=np.int64)
    )
    offsets = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64) if soft else widths
    segment = np.repeat(np.arange(len(soft)), widths)
    return SoftmaxBlock(dims, offsets, widths, segment)


def segment_argmax(values: np.ndarray, block: SoftmaxBlock) -> np.ndarray:
    """Index of the largest entry inside every segment (first one on ties).

    Parameters
    ----------
    values : ndarray of shape (n, n_dims)
        The softmax columns, already gathered with ``block.dims``.
    block : SoftmaxBlock

    Returns
    -------
    ndarray of shape (n, n_spans), int64
    """
    if values.shape[0] == 0 or len(block.offsets) == 0:
        return np.zeros((values.shape[0], len(block.offsets)), dtype=np.int64)
    peak = np.maximum.reduceat(values, block.offsets, axis=1)
    is_peak = values >= peak[:, block.segment]
    # Entries count down from the segment's width, so the largest marked one is the first peak.
    countdown = block.widths[block.segment] - (
        np.arange(len(block.segment)) - block.offsets[block.segment]
    )
    first = np.maximum.reduceat(is_peak * countdown, block.offsets, axis=1)
    return (block.widths - first).astype(np.int64)


def segment_sample(
    probabilities: np.ndarray, block: SoftmaxBlock, rng: np.random.Generator
) -> np.ndarray:
    """Draw one index per segment from (unnormalised) non-negative weights.

    Inverse-CDF sampling on the running sum of each row: since that sum never
    decreases along a row, every draw is one ``searchsorted`` into the flattened
    running sums, each row shifted above the previous one.

    Parameters
    ----------
    probabilities : ndarray of shape (n, n_dims)
        Non-negative weights, gathered with ``block.dims``; each segment is
        normalised on its own.
    block : SoftmaxBlock
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of shape (n, n_spans), int64
    """
    n, width = probabilities.shape
    n_segments = len(block.offsets)
    if n == 0 or n_segments == 0:
        return np.zeros((n, n_segments), dtype=np.int64)
    running = np.cumsum(np.maximum(probabilities, 0.0).astype(np.float64), axis=1)
    ends = running[:, block.offsets + block.widths - 1]
    starts = np.zeros_like(ends)
    starts[:, 1:] = ends[:, :-1]
    # Shift each row above the previous one so that the flattened sums stay sorted.
    shift = (np.arange(n, dtype=np.float64) * (running[:, -1].max() + 1.0))[:, None]
    threshold = starts + rng.random((n, n_segments)) * (ends - starts) + shift
    position = np.searchsorted((running + shift).ravel(), threshold.ravel(), side="right")
    index = position.reshape(n, n_segments) - np.arange(n)[:, None] * width - block.offsets
    return np.clip(index, 0, block.widths - 1).astype(np.int64)


def sample_last_axis(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw an index along the last axis from non-negative weights (padded arrays)."""
    cumulative = np.cumsum(probabilities, axis=-1)
    threshold = rng.random((*cumulative.shape[:-1], 1)) * cumulative[..., -1:]
    index = (cumulative <= threshold).sum(axis=-1)
    return np.minimum(index, probabilities.shape[-1] - 1)
