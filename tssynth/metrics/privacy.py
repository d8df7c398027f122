"""Privacy of a synthetic table: how close synthetic rows come to the real rows they learned from.

Rows are compared in one mixed-type distance (Gower-like, Euclidean):

- continuous and datetime columns are scaled by the training range, so a
  difference of the whole range counts 1; a missing value is 0 plus an indicator
  of 1, so missing against missing is 0 and missing against a value is at least 1;
- categorical columns are one-hot codes divided by √2, so two different
  categories are at distance 1 (missing is a category).

Metrics, each a function of its own:

- :func:`nearest_neighbours` — the two smallest distances from each query row to
  a reference set (exact, chunked matrix products with a float64 refinement);
- distance to closest record (DCR): synthetic → train, compared with holdout →
  train (real rows the synthesizer never saw: the natural distance);
- :func:`share_closer_to_train`: the share of synthetic rows closer to the training
  rows than to the holdout (the training rows subsampled to the holdout's size,
  so 0.5 is ideal and 1.0 means every synthetic row sits on its training data);
- :func:`exact_copies`: synthetic rows identical to a training row (hashing, all
  rows), with the holdout's own share of copies as the natural baseline;
- nearest-neighbour distance ratio (NNDR): nearest / second-nearest training
  distance; values near 0 mean a synthetic row sits on one training row.

:func:`privacy_report` runs them all. The distance metrics use at most
``max_rows`` query rows drawn at random (the reference sets are always complete);
exact copies are counted on every row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from tssynth._validation import check_int
from tssynth.data.schema import CATEGORICAL, check_frame, infer_schema
from tssynth.exceptions import InvalidDataError
from tssynth.metrics.fidelity import column_as_float

_CHUNK_ELEMENTS = 2**25  # distances held at once: 128 MiB of float32
_CANDIDATES = 4  # float32 candidates refined in float64 per query row


@dataclass
class RowEncoder:
    """Maps rows of a table to vectors whose Euclidean distance is the privacy distance.

    Build it with :meth:`fit` on the real training rows (plus any other table, so
    that every category seen anywhere gets a code).
    """

    specs: list[Any]
    minimum: dict[Any, float]
    scale: dict[Any, float]
    with_missing: dict[Any, bool]
    levels: dict[Any, pd.Index]

    @classmethod
    def fit(
        cls,
        train: pd.DataFrame,
        others: tuple[pd.DataFrame, ...] = (),
        discrete_columns: Any = None,
    ) -> RowEncoder:
        """Learn ranges from ``train`` and categories from every table."""
        specs = infer_schema(train, discrete_columns)
        minimum, scale, with_missing, levels = {}, {}, {}, {}
        frames = (train, *others)
        for spec in specs:
            name = spec.name
            if spec.kind == CATEGORICAL:
                values = pd.concat([f[name].astype(object) for f in frames], ignore_index=True)
                levels[name] = pd.Index(pd.unique(values.dropna()))
                continue
            values = column_as_float(train[name], spec, "train")
            observed = values[~np.isnan(values)]
            low, high = (observed.min(), observed.max()) if observed.size else (0.0, 1.0)
            minimum[name], scale[name] = float(low), float(high - low) or 1.0
            with_missing[name] = any(bool(f[name].isna().any()) for f in frames)
        return cls(specs, minimum, scale, with_missing, levels)

    def transform(self, frame: pd.DataFrame, what: str = "data") -> np.ndarray:
        """Encode ``frame`` as a float32 matrix (one row per row)."""
        blocks = []
        for spec in self.specs:
            name = spec.name
            if name not in frame.columns:
                raise InvalidDataError(f"The {what} data lacks the column {name!r}.")
            if spec.kind == CATEGORICAL:
                index = self.levels[name]
                codes = index.get_indexer(frame[name].astype(object))  # -1: missing
                width = len(index) + 1
                block = np.zeros((len(frame), width), dtype=np.float32)
                block[np.arange(len(frame)), np.where(codes < 0, width - 1, codes)] = 1 / np.sqrt(2)
                blocks.append(block)
                continue
            values = column_as_float(frame[name], spec, what)
            scaled = (values - self.minimum[name]) / self.scale[name]
            missing = np.isnan(scaled)
            blocks.append(np.where(missing, 0.0, scaled)[:, None].astype(np.float32))
            if self.with_missing[name]:
                blocks.append(missing[:, None].astype(np.float32))
        if not blocks:
            return np.zeros((len(frame), 0), dtype=np.float32)
        return np.hstack(blocks)


def nearest_neighbours(query: np.ndarray, reference: np.ndarray, k: int = 2) -> np.ndarray:
    """Exact Euclidean distances from each query row to its ``k`` nearest reference rows.

    Candidates come from chunked float32 matrix products (``|a|² + |b|² - 2ab`` on
    centred data); the best few per row are then recomputed in float64 and sorted,
    so small distances (copies) are exact.

    Parameters
    ----------
    query : ndarray of shape (n, d)
    reference : ndarray of shape (m, d)
    k : int, default=2

    Returns
    -------
    ndarray of shape (n, k), float64, ascending per row (``inf`` where m < k).
    """
    query = np.asarray(query, dtype=np.float32)
    reference = np.asarray(reference, dtype=np.float32)
    if query.ndim != 2 or reference.ndim != 2 or query.shape[1] != reference.shape[1]:
        raise InvalidDataError(
            f"query and reference must be 2-D with the same width, got {query.shape} and "
            f"{reference.shape}."
        )
    n, m = len(query), len(reference)
    result = np.full((n, k), np.inf)
    if n == 0 or m == 0:
        return result
    centre = reference.mean(axis=0)
    ref = torch.from_numpy(reference - centre)
    ref_sq = (ref * ref).sum(dim=1)
    ref64 = reference.astype(np.float64)
    candidates = min(m, k + _CANDIDATES)
    rows = max(1, min(4096, _CHUNK_ELEMENTS // m))
    for start in range(0, n, rows):
        block = torch.from_numpy(query[start : start + rows] - centre)
        squared = torch.addmm(ref_sq[None, :], block, ref.T, alpha=-2.0)
        squared += (block * block).sum(dim=1, keepdim=True)
        index = torch.topk(squared, candidates, dim=1, largest=False).indices.numpy()
        exact = query[start : start + rows, None, :].astype(np.float64) - ref64[index]
        distances = np.sort(np.sqrt((exact * exact).sum(axis=2)), axis=1)
        result[start : start + len(block), : min(k, m)] = distances[:, :k]
    return result


def distance_summary(distances: np.ndarray) -> dict[str, float]:
    """Mean, median and 5th percentile of distances (NaN for none)."""
    finite = distances[np.isfinite(distances)]
    if finite.size == 0:
        return {"mean": float("nan"), "median": float("nan"), "p05": float("nan")}
    return {
        "mean": float(finite.mean()),
        "median": float(np.median(finite)),
        "p05": float(np.percentile(finite, 5)),
    }


def nndr(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Nearest-neighbour distance ratio ``d1 / d2`` (1 where both are 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(second > 0, first / second, 1.0)
    return np.where(np.isfinite(ratio), ratio, 1.0)


def share_closer_to_train(to_train: np.ndarray, to_holdout: np.ndarray) -> float:
    """Share of rows strictly closer to the training set than to the holdout (ties count half).

    Meaningful when the two reference sets have the same size: 0.5 is ideal.
    """
    if to_train.size == 0:
        return float("nan")
    return float(np.mean(to_train < to_holdout) + 0.5 * np.mean(to_train == to_holdout))


def _row_keys(matrix: np.ndarray) -> np.ndarray:
    contiguous = np.ascontiguousarray(matrix, dtype=np.float64)
    return contiguous.view(np.dtype((np.void, contiguous.dtype.itemsize * matrix.shape[1]))).ravel()


def exact_copies(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Boolean mask of the query rows equal, in every encoded value, to some reference row.

    Use encodings from one :class:`RowEncoder` (or any float matrices without NaN).
    """
    if query.shape[1] != reference.shape[1]:
        raise InvalidDataError("query and reference must have the same number of columns.")
    if len(query) == 0:
        return np.zeros(0, dtype=bool)
    # +0.0 turns -0.0 into 0.0 so equal numbers have equal bytes.
    return np.isin(_row_keys(query + 0.0), _row_keys(reference + 0.0))


@dataclass
class PrivacyReport:
    """Distances between synthetic, training and holdout rows.

    Attributes
    ----------
    overall : float
        ``min(1, 2 * (1 - share_closer_to_train))``: 1 when synthetic rows are
        no closer to the training rows than to unseen real rows, 0 when every
        one is closer to training (NaN without a holdout).
    share_closer_to_train : float
        0.5 is ideal (NaN without a holdout).
    exact_copies : int
        Synthetic rows identical to a training row.
    exact_copy_rate, holdout_copy_rate : float
        That count as a share, and the holdout's own share of training copies
        (the natural rate of duplicates; NaN without a holdout).
    dcr_synthetic, dcr_holdout : dict
        ``mean``, ``median``, ``p05`` of the distance to the closest training row.
    nndr_synthetic, nndr_holdout : dict
        The same summaries of the nearest-neighbour distance ratio.
    n_query : int
        Query rows the distance metrics used (at most ``max_rows``).
    distances : dict of ndarray
        ``synthetic`` and ``holdout`` distances to the closest training row (for plots).
    notes : list of str
    """

    overall: float
    share_closer_to_train: float
    exact_copies: int
    exact_copy_rate: float
    holdout_copy_rate: float
    dcr_synthetic: dict[str, float]
    dcr_holdout: dict[str, float]
    nndr_synthetic: dict[str, float]
    nndr_holdout: dict[str, float]
    n_query: int
    distances: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Nested plain-data form (without the raw distances)."""
        return {
            "overall": self.overall,
            "share_closer_to_train": self.share_closer_to_train,
            "exact_copies": self.exact_copies,
            "exact_copy_rate": self.exact_copy_rate,
            "holdout_copy_rate": self.holdout_copy_rate,
            "dcr_synthetic": dict(self.dcr_synthetic),
            "dcr_holdout": dict(self.dcr_holdout),
            "nndr_synthetic": dict(self.nndr_synthetic),
            "nndr_holdout": dict(self.nndr_holdout),
            "n_query": self.n_query,
            "notes": list(self.notes),
        }


def _subsample(n: int, limit: int | None, rng: np.random.Generator) -> np.ndarray:
    if limit is None or n <= limit:
        return np.arange(n)
    return np.sort(rng.choice(n, size=limit, replace=False))


def privacy_report(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame | None = None,
    *,
    discrete_columns: Any = None,
    max_rows: int | None = 10_000,
    random_state: int | None = 0,
) -> PrivacyReport:
    """Distance to closest record, closer-to-train share, exact copies and NNDR.

    Parameters
    ----------
    train : DataFrame
        The real rows the synthesizer learned from.
    synthetic : DataFrame
    holdout : DataFrame, optional
        Real rows the synthesizer never saw, from the same source. Without it
        the baselines and the closer-to-train share are NaN.
    discrete_columns : list of column labels, optional
        Columns to treat as categorical whatever their dtype.
    max_rows : int or None, default=10_000
        Most query rows (synthetic, holdout) the distance metrics use, drawn at
        random; ``None`` uses all. Exact copies always use every row.
    random_state : int or None, default=0
        Seed of the subsamples.

    Returns
    -------
    PrivacyReport
    """
    frames = {"train": train, "synthetic": synthetic}
    if holdout is not None:
        frames["holdout"] = holdout
    for what, frame in frames.items():
        if not isinstance(frame, pd.DataFrame):
            raise InvalidDataError(f"{what} must be a DataFrame, got {type(frame).__name__}.")
        check_frame(frame, what=what)
    if max_rows is not None:
        max_rows = check_int("max_rows", max_rows)
    rng = np.random.default_rng(random_state)
    others = tuple(frame for what, frame in frames.items() if what != "train")
    encoder = RowEncoder.fit(train, others, discrete_columns)
    encoded = {what: encoder.transform(frame, what) for what, frame in frames.items()}
    notes: list[str] = []

    copies = exact_copies(encoded["synthetic"], encoded["train"])
    query = encoded["synthetic"][_subsample(len(synthetic), max_rows, rng)]
    if len(query) < len(synthetic):
        notes.append(
            f"Distances use {len(query):,} of {len(synthetic):,} synthetic rows drawn at random."
        )
    to_train = nearest_neighbours(query, encoded["train"], k=2)
    result = {
        "dcr_synthetic": distance_summary(to_train[:, 0]),
        "nndr_synthetic": distance_summary(nndr(to_train[:, 0], to_train[:, 1])),
        "distances": {"synthetic": to_train[:, 0]},
    }
    nan_summary = distance_summary(np.zeros(0))
    share, holdout_rate, overall = float("nan"), float("nan"), float("nan")
    dcr_holdout, nndr_holdout = nan_summary, nan_summary
    if holdout is not None:
        held = encoded["holdout"]
        holdout_rate = float(exact_copies(held, encoded["train"]).mean())
        held_query = held[_subsample(len(held), max_rows, rng)]
        held_to_train = nearest_neighbours(held_query, encoded["train"], k=2)
        dcr_holdout = distance_summary(held_to_train[:, 0])
        nndr_holdout = distance_summary(nndr(held_to_train[:, 0], held_to_train[:, 1]))
        result["distances"]["holdout"] = held_to_train[:, 0]
        # Equal-sized reference sets, so that a synthetic row with no preference
        # is closer to either with probability 1/2.
        size = min(len(held), len(train))
        train_part = encoded["train"][_subsample(len(train), size, rng)]
        held_part = held[_subsample(len(held), size, rng)]
        if size < len(train):
            notes.append(
                f"Closer-to-train share compares with {size:,} training rows drawn at random "
                "(as many as the holdout has)."
            )
        share = share_closer_to_train(
            nearest_neighbours(query, train_part, k=1)[:, 0],
            nearest_neighbours(query, held_part, k=1)[:, 0],
        )
        overall = float(min(1.0, 2.0 * (1.0 - share)))
    else:
        notes.append("No holdout given: baselines and the closer-to-train share are not computed.")
    return PrivacyReport(
        overall=overall,
        share_closer_to_train=share,
        exact_copies=int(copies.sum()),
        exact_copy_rate=float(copies.mean()),
        holdout_copy_rate=holdout_rate,
        dcr_synthetic=result["dcr_synthetic"],
        dcr_holdout=dcr_holdout,
        nndr_synthetic=result["nndr_synthetic"],
        nndr_holdout=nndr_holdout,
        n_query=len(query),
        distances=result["distances"],
        notes=notes,
    )
