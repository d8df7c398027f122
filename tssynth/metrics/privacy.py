"""Privacy of a synthetic table: how close synthetic rows come to the real rows they learned from.

Rows are compared in one mixed-type distance (Gower-like, Euclidean):

- continuous and datetime columns are scaled by the training range, so a
  difference of the whole range counts 1; a missing value is 0 plus an indicator
  of 1, so missing against missing is 0 and missing against a value is at least 1;
- categorical columns are one-hot codes divided by √2, so two different
  categories are at distance 1 (missing is a category); a column of more than 64
  categories is compared by its codes instead (:class:`EncodedRows`), which
  gives the same distance without a one-hot block as wide as its categories.

Metrics, each a function of its own:

- :func:`nearest_neighbours` — the two smallest distances from each query row to
  a reference set (exact, chunked matrix products with a float64 refinement);
- distance to closest record (DCR): synthetic → train, compared with holdout →
  train (real rows the synthesizer never saw: the natural distance);
- :func:`share_closer_to_train`: the share of synthetic rows closer to the training
  rows than to the holdout, both complete, put on the scale of equal-sized sets
  (0.5 is ideal: what chance gives; 1.0 means every synthetic row sits on its
  training data);
- :func:`exact_copies`: synthetic rows identical to a training row (hashing, all
  rows), with the holdout's own share of copies as the natural baseline;
- nearest-neighbour distance ratio (NNDR): nearest / second-nearest training
  distance; values near 0 mean a synthetic row sits on one training row;
- :func:`membership_inference`: a distance-based membership-inference attack.
  Training rows (members) and holdout rows (non-members) are scored by minus
  their distance to the closest synthetic row; ROC AUC 0.5 means the attacker
  cannot tell who was in the training data.

:func:`privacy_report` runs them all. The distance metrics use at most
``max_rows`` query rows drawn at random (the reference sets are complete, except
the attack's synthetic reference, at most ``10 * max_rows`` rows); exact copies
are counted on every row.

:func:`privacy_verdict` turns a report into a release verdict, ``"pass"`` or
``"warn"`` with human reasons (see its docstring for the thresholds).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score, roc_curve

from tssynth._validation import check_float, check_int
from tssynth.data.schema import CATEGORICAL, infer_schema
from tssynth.exceptions import InvalidDataError, InvalidParameterError
from tssynth.metrics.fidelity import column_as_float
from tssynth.metrics.inputs import check_tables, conform_labels

_CHUNK_ELEMENTS = 2**25  # distances held at once: 128 MiB of float32
_CANDIDATES = 4  # float32 candidates refined in float64 per query row
_REFERENCE_FACTOR = 10  # the attack's synthetic reference: at most this many times max_rows
_ATTACK_FPRS = (0.01, 0.10)  # false-positive rates at which the attack's TPR is reported
_COPY_SIGMAS = 3.0  # standard errors an exact-copy excess must also exceed to warn
# Holdout rows copying training rows beyond the training halves' own share: the holdout
# holds training rows (the training file passed twice, or overlapping splits).
_HOLDOUT_OVERLAP = 0.2
_HASH_ELEMENTS = 2**20  # values hashed or compared at once by exact_copies
_ONE_HOT_LEVELS = 64  # categorical columns with more levels are compared by code


@dataclass(frozen=True)
class EncodedRows:
    """Rows in the privacy distance's compact form (:meth:`RowEncoder.encode`).

    The squared distance of two rows is the squared Euclidean distance of their
    ``dense`` parts plus the number of ``codes`` in which they differ: the same
    as the one-hot form of :meth:`RowEncoder.transform`, without building one-hot
    blocks for categorical columns of many categories.

    Attributes
    ----------
    dense : ndarray of shape (n, d), float32
        Continuous columns (with missing indicators) and the one-hot blocks of
        categorical columns of at most 64 categories.
    codes : ndarray of shape (n, k), int32
        Category codes (-1: missing) of the wider categorical columns.
    """

    dense: np.ndarray
    codes: np.ndarray

    @classmethod
    def of(cls, rows: EncodedRows | np.ndarray, what: str) -> EncodedRows:
        """``rows`` as is, or a numeric matrix as rows without codes."""
        if isinstance(rows, EncodedRows):
            return rows
        dense = np.asarray(rows, dtype=np.float32)
        if dense.ndim != 2:
            raise InvalidDataError(f"{what} must be 2-D, got shape {dense.shape}.")
        return cls(dense, np.zeros((len(dense), 0), dtype=np.int32))

    @classmethod
    def concat(cls, *parts: EncodedRows) -> EncodedRows:
        """The rows of ``parts`` one after another."""
        return cls(np.vstack([p.dense for p in parts]), np.vstack([p.codes for p in parts]))

    def __len__(self) -> int:
        return len(self.dense)

    def __getitem__(self, rows: Any) -> EncodedRows:
        return EncodedRows(self.dense[rows], self.codes[rows])


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

    def _scaled(self, frame: pd.DataFrame, spec: Any, what: str) -> np.ndarray:
        """A continuous column scaled by the training range, float32 as encoded, NaN = missing."""
        values = column_as_float(frame[spec.name], spec, what)
        return ((values - self.minimum[spec.name]) / self.scale[spec.name]).astype(np.float32)

    def _check_columns(self, frame: pd.DataFrame, what: str) -> None:
        for spec in self.specs:
            if spec.name not in frame.columns:
                raise InvalidDataError(f"The {what} data lacks the column {spec.name!r}.")

    def transform(self, frame: pd.DataFrame, what: str = "data") -> np.ndarray:
        """Encode ``frame`` as a float32 matrix (one row per row), categories one-hot.

        Its width grows with the number of categories; the distance metrics use
        the compact :meth:`encode`, which gives the same distances.
        """
        return self._encode(frame, what, one_hot_levels=None).dense

    def encode(self, frame: pd.DataFrame, what: str = "data") -> EncodedRows:
        """Encode ``frame`` compactly: categorical columns of more than 64 categories as codes."""
        return self._encode(frame, what, one_hot_levels=_ONE_HOT_LEVELS)

    def _encode(self, frame: pd.DataFrame, what: str, one_hot_levels: int | None) -> EncodedRows:
        self._check_columns(frame, what)
        blocks, wide = [], []
        for spec in self.specs:
            name = spec.name
            if spec.kind == CATEGORICAL:
                index = self.levels[name]
                codes = index.get_indexer(frame[name].astype(object))  # -1: missing
                if one_hot_levels is not None and len(index) > one_hot_levels:
                    wide.append(codes.astype(np.int32))
                    continue
                width = len(index) + 1
                block = np.zeros((len(frame), width), dtype=np.float32)
                block[np.arange(len(frame)), np.where(codes < 0, width - 1, codes)] = 1 / np.sqrt(2)
                blocks.append(block)
                continue
            scaled = self._scaled(frame, spec, what)
            missing = np.isnan(scaled)
            blocks.append(np.where(missing, np.float32(0.0), scaled)[:, None])
            if self.with_missing[name]:
                blocks.append(missing[:, None].astype(np.float32))
        n = len(frame)
        dense = np.hstack(blocks) if blocks else np.zeros((n, 0), dtype=np.float32)
        codes = np.column_stack(wide) if wide else np.zeros((n, 0), dtype=np.int32)
        return EncodedRows(dense, codes)

    def keys(self, frame: pd.DataFrame, what: str = "data") -> np.ndarray:
        """One value per column and row: two rows have equal keys iff their values are equal.

        For :func:`exact_copies`: a categorical column is its category's code
        (-1: missing), a continuous column its value as float64 with NaN for
        missing (not its float32 encoding, in which amounts over a range of
        millions a few cents apart, or times over decades a second apart, are
        equal). Float64, of shape ``(len(frame), number of columns)`` whatever the
        number of categories.
        """
        self._check_columns(frame, what)
        keys = np.empty((len(frame), len(self.specs)), dtype=np.float64)
        for j, spec in enumerate(self.specs):
            if spec.kind == CATEGORICAL:
                keys[:, j] = self.levels[spec.name].get_indexer(frame[spec.name].astype(object))
                continue
            keys[:, j] = column_as_float(frame[spec.name], spec, what)
        return keys


def nearest_neighbours(
    query: EncodedRows | np.ndarray, reference: EncodedRows | np.ndarray, k: int = 2
) -> np.ndarray:
    """Exact Euclidean distances from each query row to its ``k`` nearest reference rows.

    Candidates come from chunked float32 matrix products (``|a|² + |b|² - 2ab`` on
    centred data, plus the count of differing codes); the best few per row are
    then recomputed in float64 and sorted, so small distances (copies) are exact.
    Memory stays at a block of at most ``2**25`` distances (or compared codes).

    Parameters
    ----------
    query : EncodedRows or ndarray of shape (n, d)
    reference : EncodedRows or ndarray of shape (m, d)
        Numeric matrices, or the compact rows of :meth:`RowEncoder.encode`.
    k : int, default=2

    Returns
    -------
    ndarray of shape (n, k), float64, ascending per row (``inf`` where m < k).
    """
    query = EncodedRows.of(query, "query")
    reference = EncodedRows.of(reference, "reference")
    if (
        query.dense.shape[1] != reference.dense.shape[1]
        or query.codes.shape[1] != reference.codes.shape[1]
    ):
        raise InvalidDataError(
            f"query and reference must have the same width, got {query.dense.shape[1]} and "
            f"{reference.dense.shape[1]} values, {query.codes.shape[1]} and "
            f"{reference.codes.shape[1]} codes."
        )
    n, m = len(query), len(reference)
    result = np.full((n, k), np.inf)
    if n == 0 or m == 0:
        return result
    centre = reference.dense.mean(axis=0)
    ref = torch.from_numpy(reference.dense - centre)
    ref_sq = (ref * ref).sum(dim=1)
    ref_codes = torch.from_numpy(np.ascontiguousarray(reference.codes.T))  # (k, m)
    n_codes = reference.codes.shape[1]
    candidates = min(m, k + _CANDIDATES)
    width = reference.dense.shape[1] + n_codes
    rows = max(1, min(4096, _CHUNK_ELEMENTS // m, _CHUNK_ELEMENTS // (candidates * max(width, 1))))
    for start in range(0, n, rows):
        part = query[start : start + rows]
        block = torch.from_numpy(part.dense - centre)
        squared = torch.addmm(ref_sq[None, :], block, ref.T, alpha=-2.0)
        squared += (block * block).sum(dim=1, keepdim=True)
        codes = torch.from_numpy(part.codes)
        for j in range(n_codes):  # a few wide columns; one (rows, m) comparison each
            squared += codes[:, j, None] != ref_codes[j]
        index = torch.topk(squared, candidates, dim=1, largest=False).indices.numpy()
        exact = part.dense[:, None, :].astype(np.float64) - reference.dense[index]
        exact = (exact * exact).sum(axis=2)
        if n_codes:
            exact += (part.codes[:, None, :] != reference.codes[index]).sum(axis=2)
        distances = np.sort(np.sqrt(exact), axis=1)
        result[start : start + len(part), : min(k, m)] = distances[:, :k]
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
    """Nearest-neighbour distance ratio ``d1 / d2`` (1 where both are 0; NaN where there
    is no second neighbour, a reference of one row, rather than the 0 of a copy)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(second > 0, first / second, 1.0)
    ratio = np.where(np.isfinite(ratio), ratio, 1.0)
    return np.where(np.isinf(second), np.nan, ratio)


def share_closer_to_train(
    to_train: np.ndarray, to_holdout: np.ndarray, *, chance: float = 0.5
) -> float:
    """Share of rows closer to the training set than to the holdout, on the equal-size scale.

    A row is closer to the training set when its distance to it is smaller; a tie
    counts ``chance``. ``chance`` is the probability that a row which favours
    neither set is closer to the training set: ``n_train / (n_train + n_holdout)``
    when the distances are to all rows of each (the nearest of all real rows is then
    any of them alike). The observed share ``p`` is mapped piecewise linearly so that
    ``chance`` reads 0.5, 1 reads 1 and 0 reads 0: a share ``f`` of rows copied from
    the training set and the rest favouring neither reads ``0.5 + f / 2`` whatever
    the sizes, as it does with equal-sized sets (``chance=0.5``, the raw share).

    Parameters
    ----------
    to_train, to_holdout : ndarray
        Each row's distance to the closest training row and to the closest holdout row.
    chance : float, default=0.5
        In (0, 1).

    Returns
    -------
    float
        NaN without rows.
    """
    if not 0.0 < check_float("chance", chance, 0.0, inclusive=False) < 1.0:
        raise InvalidParameterError(f"chance must be below 1, got {chance!r}.")
    if to_train.size == 0:
        return float("nan")
    observed = _observed_share(to_train, to_holdout, chance)
    if observed <= chance:
        return 0.5 * observed / chance
    return 1.0 - 0.5 * (1.0 - observed) / (1.0 - chance)


def _observed_share(to_train: np.ndarray, to_holdout: np.ndarray, chance: float) -> float:
    """Share of rows closer to the training set, a tie counting ``chance``."""
    return float(np.mean(to_train < to_holdout) + chance * np.mean(to_train == to_holdout))


def _mix(bits: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, in place on uint64 (wrapping arithmetic)."""
    bits ^= bits >> np.uint64(30)
    bits *= np.uint64(0xBF58476D1CE4E5B9)
    bits ^= bits >> np.uint64(27)
    bits *= np.uint64(0x94D049BB133111EB)
    bits ^= bits >> np.uint64(31)
    return bits


def _canonical(block: np.ndarray) -> np.ndarray:
    """A float64 copy in which equal values have equal bits (-0.0 as 0.0, one NaN)."""
    block = np.asarray(block, dtype=np.float64) + 0.0  # a copy; -0.0 + 0.0 is 0.0
    block[np.isnan(block)] = np.nan
    return block


def _row_hashes(matrix: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row; equal rows (NaN equal to NaN, -0.0 to 0.0) hash alike.

    Each value is mixed with a salt of its column and the mixed values are summed,
    in blocks of rows, so memory stays at one block plus one hash per row.
    """
    n, d = matrix.shape
    salts = _mix(np.arange(1, d + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))
    hashes = np.empty(n, dtype=np.uint64)
    rows = max(1, _HASH_ELEMENTS // max(d, 1))
    for start in range(0, n, rows):
        bits = _canonical(matrix[start : start + rows]).view(np.uint64)
        bits ^= salts
        hashes[start : start + rows] = _mix(bits).sum(axis=1, dtype=np.uint64)
    return hashes


def _rows_equal(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Row-wise equality of two matrices of one shape, NaN equal to NaN."""
    same = first == second
    same |= np.isnan(first) & np.isnan(second)
    return same.all(axis=1)


class _RowIndex:
    """The rows of a reference matrix, hashed once, to look query rows up exactly."""

    def __init__(self, reference: np.ndarray) -> None:
        self.reference = reference
        hashes = _row_hashes(reference)
        self.order = np.argsort(hashes, kind="stable")
        self.hashes = hashes[self.order]

    def contains(self, query: np.ndarray) -> np.ndarray:
        """Mask of the query rows equal to some reference row (hash, then confirm)."""
        found = np.zeros(len(query), dtype=bool)
        if len(query) == 0 or len(self.hashes) == 0:
            return found
        hashes = _row_hashes(query)
        first = np.searchsorted(self.hashes, hashes)
        candidates = np.flatnonzero(self.hashes[np.minimum(first, len(self.hashes) - 1)] == hashes)
        # Confirm each candidate against the first reference row with its hash.
        rows = max(1, _HASH_ELEMENTS // max(query.shape[1], 1))
        for start in range(0, len(candidates), rows):
            part = candidates[start : start + rows]
            reference = self.reference[self.order[first[part]]]
            found[part] = _rows_equal(_canonical(query[part]), _canonical(reference))
        # A candidate that differs from that row shares its hash by collision: try
        # every reference row with the hash (practically never happens).
        for i in candidates[~found[candidates]]:
            end = np.searchsorted(self.hashes, hashes[i], side="right")
            same_hash = _canonical(self.reference[self.order[first[i] : end]])
            row = np.broadcast_to(_canonical(query[i : i + 1]), same_hash.shape)
            found[i] = bool(_rows_equal(row, same_hash).any())
        return found


def exact_copies(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Boolean mask of the query rows equal, in every value, to some reference row.

    Use keys from one :class:`RowEncoder` (:meth:`~RowEncoder.keys`: the values
    themselves, categories as codes), or any numeric matrices. Values compare as
    numbers: ``-0.0`` equals ``0.0`` and a NaN equals a NaN.

    Rows are hashed and only rows whose hash occurs in the reference are compared,
    value by value, with the reference rows of that hash, so a hash collision never
    counts as a copy. Memory: a few bytes per row plus a block of at most
    ``2**20`` values, whatever the width.
    """
    query, reference = np.asarray(query), np.asarray(reference)
    if query.ndim != 2 or reference.ndim != 2 or query.shape[1] != reference.shape[1]:
        raise InvalidDataError("query and reference must have the same number of columns.")
    return _RowIndex(reference).contains(query)


@dataclass
class MembershipInference:
    """Result of a distance-based membership-inference attack.

    The attacker sees the synthetic rows and a candidate real row, and guesses
    "member" (the row was in the training data) when the candidate lies close
    to some synthetic row: its score is minus the distance to the closest
    synthetic row. Candidates are training rows (members) and as many holdout
    rows (non-members).

    Attributes
    ----------
    roc_auc : float
        Area under the attack's ROC curve: 0.5 means no better than chance
        (no measurable leakage), 1.0 means every member is told apart.
    advantage : float
        ``max(TPR - FPR)`` over thresholds, in [0, 1]: the attacker's best gain
        over guessing (a few hundredths from sampling noise alone).
    tpr_at_1pct_fpr, tpr_at_10pct_fpr : float
        Share of members found while wrongly flagging at most 1 % (10 %) of the
        non-members (on the ROC curve, linear between its points; chance gives
        0.01 and 0.10).
    n_members, n_non_members : int
        Candidates of each kind.
    n_synthetic : int
        Synthetic rows the attacker compared with (at most ``10 * max_rows``).
    fpr, tpr : ndarray
        The ROC curve (for plots; not in :meth:`to_dict`).
    notes : list of str
    """

    roc_auc: float
    advantage: float
    tpr_at_1pct_fpr: float
    tpr_at_10pct_fpr: float
    n_members: int
    n_non_members: int
    n_synthetic: int
    fpr: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    tpr: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def unavailable(cls, note: str | None = None) -> MembershipInference:
        """A result of NaNs (no holdout: no non-members to compare with)."""
        nan = float("nan")
        return cls(nan, nan, nan, nan, 0, 0, 0, notes=[note] if note else [])

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (without the ROC curve)."""
        return {
            "roc_auc": self.roc_auc,
            "advantage": self.advantage,
            "tpr_at_1pct_fpr": self.tpr_at_1pct_fpr,
            "tpr_at_10pct_fpr": self.tpr_at_10pct_fpr,
            "n_members": self.n_members,
            "n_non_members": self.n_non_members,
            "n_synthetic": self.n_synthetic,
        }


def _tpr_at(fpr: np.ndarray, tpr: np.ndarray, targets: tuple[float, ...]) -> np.ndarray:
    """TPR on the ROC curve at each target FPR (linear between the curve's points).

    A point between two ROC points is reached by a randomised threshold, so it
    is an attack the attacker can run; at a vertical step the highest TPR counts.
    """
    targets_arr = np.asarray(targets, dtype=np.float64)
    last = np.searchsorted(fpr, targets_arr, side="right") - 1  # last point with fpr <= target
    nxt = np.minimum(last + 1, len(fpr) - 1)
    span = fpr[nxt] - fpr[last]
    weight = np.where(span > 0, (targets_arr - fpr[last]) / np.where(span > 0, span, 1.0), 0.0)
    return tpr[last] + weight * (tpr[nxt] - tpr[last])


def _attack_encoded(
    members: EncodedRows, non_members: EncodedRows, synthetic: EncodedRows
) -> MembershipInference:
    """The distance attack on already encoded rows (one :class:`RowEncoder`).

    Parameters
    ----------
    members : EncodedRows
        Training rows.
    non_members : EncodedRows
        Holdout rows.
    synthetic : EncodedRows
        The attacker's reference: synthetic rows.

    Returns
    -------
    MembershipInference
    """
    if len(members) == 0 or len(non_members) == 0 or len(synthetic) == 0:
        return MembershipInference.unavailable(
            "Membership inference needs members, non-members and synthetic rows."
        )
    candidates = EncodedRows.concat(members, non_members)
    distance = nearest_neighbours(candidates, synthetic, k=1)[:, 0]
    labels = np.r_[np.ones(len(members)), np.zeros(len(non_members))]
    scores = -distance  # closer to a synthetic row: more likely a member
    fpr, tpr, _ = roc_curve(labels, scores)
    at = _tpr_at(fpr, tpr, _ATTACK_FPRS)
    return MembershipInference(
        roc_auc=float(roc_auc_score(labels, scores)),
        advantage=float(np.max(tpr - fpr)),
        tpr_at_1pct_fpr=float(at[0]),
        tpr_at_10pct_fpr=float(at[1]),
        n_members=len(members),
        n_non_members=len(non_members),
        n_synthetic=len(synthetic),
        fpr=fpr,
        tpr=tpr,
    )


def _attack(
    train: EncodedRows,
    holdout: EncodedRows,
    synthetic: EncodedRows,
    max_rows: int | None,
    rng: np.random.Generator,
) -> MembershipInference:
    """Draw balanced candidates and a bounded synthetic reference, then attack."""
    size = min(len(train), len(holdout))
    if max_rows is not None:
        size = min(size, max_rows)
    members = train[_subsample(len(train), size, rng)]
    non_members = holdout[_subsample(len(holdout), size, rng)]
    limit = None if max_rows is None else _REFERENCE_FACTOR * max_rows
    reference = synthetic[_subsample(len(synthetic), limit, rng)]
    result = _attack_encoded(members, non_members, reference)
    if size < max(len(train), len(holdout)):
        result.notes.append(
            f"Membership inference: {size:,} training rows (members) and {size:,} holdout rows "
            "(non-members) as candidates, drawn at random so both kinds are equally many."
        )
    if len(reference) < len(synthetic):
        result.notes.append(
            f"Membership inference compares with {len(reference):,} of {len(synthetic):,} "
            "synthetic rows drawn at random (a weaker attacker than one with every row)."
        )
    return result


def membership_inference(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    *,
    discrete_columns: Any = None,
    max_rows: int | None = 10_000,
    random_state: int | None = 0,
) -> MembershipInference:
    """Distance-based membership-inference attack on a synthetic table.

    Candidates are training rows (members, drawn at random down to the
    holdout's size) and holdout rows (non-members, likewise down to the
    training set's size), so both kinds are equally many. The attacker scores
    each candidate by minus its distance (the :class:`RowEncoder` distance) to
    the closest synthetic row and says "member" above a threshold; sweeping the
    threshold gives the ROC curve.

    Parameters
    ----------
    train : DataFrame
        The real rows the synthesizer learned from.
    synthetic : DataFrame
    holdout : DataFrame
        Real rows from the same source that the synthesizer never saw.
    discrete_columns : list of column labels, optional
        Columns to treat as categorical whatever their dtype.
    max_rows : int or None, default=10_000
        Most candidates of each kind; the attacker compares them with at most
        ``10 * max_rows`` synthetic rows. Subsamples are drawn at random;
        ``None`` uses every row.
    random_state : int or None, default=0
        Seed of the subsamples.

    Returns
    -------
    MembershipInference
        ROC AUC (0.5 = no leakage), advantage, TPR at 1 % and 10 % FPR.
    """
    frames = {"train": train, "synthetic": synthetic, "holdout": holdout}
    check_tables(frames, "train")
    frames = conform_labels(frames, "train", discrete_columns)
    synthetic, holdout = frames["synthetic"], frames.get("holdout")
    if max_rows is not None:
        max_rows = check_int("max_rows", max_rows)
    encoder = RowEncoder.fit(train, (synthetic, holdout), discrete_columns)
    encoded = {what: encoder.encode(frame, what) for what, frame in frames.items()}
    rng = np.random.default_rng(random_state)
    return _attack(encoded["train"], encoded["holdout"], encoded["synthetic"], max_rows, rng)


@dataclass
class PrivacyReport:
    """Distances between synthetic, training and holdout rows.

    Attributes
    ----------
    overall : float
        ``min(1, 2 * (1 - share_closer_to_train))``: 1 when synthetic rows are
        no closer to the training rows than to unseen real rows, 0 when every
        one is closer to training (NaN without a holdout, and from
        :func:`~tssynth.metrics.evaluate` when no compared column tells rows apart).
    share_closer_to_train : float
        The share of synthetic rows closer to a training row than to any holdout
        row, on the scale of equal-sized sets (:func:`share_closer_to_train`): 0.5
        is ideal, ``0.5 + f / 2`` when a share ``f`` of the rows are copies (NaN
        without a holdout).
    closer_to_train_observed, closer_to_train_by_chance : float
        The observed share itself, and what chance gives: the training set's share
        of all real rows (NaN without a holdout).
    exact_copies : int
        Synthetic rows identical to a training row.
    exact_copy_rate, holdout_copy_rate : float
        That count as a share, and the holdout's own share of training copies
        (the natural rate of duplicates; NaN without a holdout).
    split_copy_rate : float
        The share of one random half of the training rows that copy a row of the
        other half: the duplicates real rows share by chance, against which a
        holdout that holds training rows stands out (NaN without a holdout).
    dcr_synthetic, dcr_holdout : dict
        ``mean``, ``median``, ``p05`` of the distance to the closest training row.
    nndr_synthetic, nndr_holdout : dict
        The same summaries of the nearest-neighbour distance ratio.
    n_query : int
        Query rows the distance metrics used (at most ``max_rows``).
    membership_inference : MembershipInference
        The distance attack (NaN without a holdout).
    n_synthetic, n_holdout, n_train : int
        Rows of the synthetic table, of the holdout (0 without one) and of the
        training table.
    verdict : PrivacyVerdict or None
        Set by :func:`tssynth.metrics.evaluate` (or by you, from
        :func:`privacy_verdict`); ``None`` from :func:`privacy_report` alone.
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
    membership_inference: MembershipInference = field(
        default_factory=MembershipInference.unavailable
    )
    n_synthetic: int = 0
    n_holdout: int = 0
    n_train: int = 0
    closer_to_train_observed: float = float("nan")
    closer_to_train_by_chance: float = float("nan")
    split_copy_rate: float = float("nan")
    verdict: PrivacyVerdict | None = None
    distances: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Nested plain-data form (without the raw distances)."""
        return {
            "overall": self.overall,
            "share_closer_to_train": self.share_closer_to_train,
            "closer_to_train_observed": self.closer_to_train_observed,
            "closer_to_train_by_chance": self.closer_to_train_by_chance,
            "exact_copies": self.exact_copies,
            "exact_copy_rate": self.exact_copy_rate,
            "holdout_copy_rate": self.holdout_copy_rate,
            "split_copy_rate": self.split_copy_rate,
            "dcr_synthetic": dict(self.dcr_synthetic),
            "dcr_holdout": dict(self.dcr_holdout),
            "nndr_synthetic": dict(self.nndr_synthetic),
            "nndr_holdout": dict(self.nndr_holdout),
            "n_query": self.n_query,
            "membership_inference": self.membership_inference.to_dict(),
            "n_synthetic": self.n_synthetic,
            "n_holdout": self.n_holdout,
            "n_train": self.n_train,
            "verdict": None if self.verdict is None else self.verdict.to_dict(),
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
    """Distance to closest record, closer-to-train share, exact copies, NNDR, membership inference.

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
        With the membership-inference attack of :func:`membership_inference`
        (candidates: at most ``max_rows`` of each kind; reference: at most
        ``10 * max_rows`` synthetic rows) when a holdout is given. Judge it
        with :func:`privacy_verdict`.
    """
    frames = {"train": train, "synthetic": synthetic}
    if holdout is not None:
        frames["holdout"] = holdout
    check_tables(frames, "train")
    frames = conform_labels(frames, "train", discrete_columns)
    synthetic, holdout = frames["synthetic"], frames.get("holdout")
    if max_rows is not None:
        max_rows = check_int("max_rows", max_rows)
    rng = np.random.default_rng(random_state)
    others = tuple(frame for what, frame in frames.items() if what != "train")
    encoder = RowEncoder.fit(train, others, discrete_columns)
    # Copies are looked up on compact keys (one value per column): no one-hot blocks.
    keys = {what: encoder.keys(frame, what) for what, frame in frames.items()}
    train_rows = _RowIndex(keys["train"])
    copies = train_rows.contains(keys["synthetic"])
    holdout_copies = None if holdout is None else train_rows.contains(keys["holdout"])
    split_rate = float("nan")
    if holdout is not None and len(train) >= 2:
        # Its own seed: the subsamples below draw as they did before this rate existed.
        halves = np.random.default_rng(random_state).permutation(len(train))
        half = _RowIndex(keys["train"][halves[: len(train) // 2]])
        split_rate = float(half.contains(keys["train"][halves[len(train) // 2 :]]).mean())
    del keys, train_rows
    encoded = {what: encoder.encode(frame, what) for what, frame in frames.items()}
    notes: list[str] = []

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
    raw_share, chance = float("nan"), float("nan")
    dcr_holdout, nndr_holdout = nan_summary, nan_summary
    if holdout is not None:
        held = encoded["holdout"]
        holdout_rate = float(holdout_copies.mean())
        held_query = held[_subsample(len(held), max_rows, rng)]
        held_to_train = nearest_neighbours(held_query, encoded["train"], k=2)
        dcr_holdout = distance_summary(held_to_train[:, 0])
        nndr_holdout = distance_summary(nndr(held_to_train[:, 0], held_to_train[:, 1]))
        result["distances"]["holdout"] = held_to_train[:, 0]
        # All rows of both sets: a synthetic row copied from a training row is closer
        # to the training set whichever rows a subsample would have kept.
        chance = len(train) / (len(train) + len(held))
        to_held = nearest_neighbours(query, held, k=1)[:, 0]
        raw_share = _observed_share(to_train[:, 0], to_held, chance)
        share = share_closer_to_train(to_train[:, 0], to_held, chance=chance)
        overall = float(min(1.0, 2.0 * (1.0 - share)))
        attack = _attack(encoded["train"], held, encoded["synthetic"], max_rows, rng)
        notes.extend(attack.notes)
    else:
        notes.append(
            "No holdout given: baselines, the closer-to-train share and membership inference "
            "are not computed."
        )
        attack = MembershipInference.unavailable("Membership inference needs a holdout.")
    return PrivacyReport(
        overall=overall,
        share_closer_to_train=share,
        closer_to_train_observed=raw_share,
        closer_to_train_by_chance=chance,
        exact_copies=int(copies.sum()),
        exact_copy_rate=float(copies.mean()),
        holdout_copy_rate=holdout_rate,
        split_copy_rate=split_rate,
        dcr_synthetic=result["dcr_synthetic"],
        dcr_holdout=dcr_holdout,
        nndr_synthetic=result["nndr_synthetic"],
        nndr_holdout=nndr_holdout,
        n_query=len(query),
        membership_inference=attack,
        n_synthetic=len(synthetic),
        n_holdout=0 if holdout is None else len(holdout),
        n_train=len(train),
        distances=result["distances"],
        notes=notes,
    )


# --------------------------------------------------------------------------- verdict


@dataclass
class PrivacyVerdict:
    """A release verdict on a :class:`PrivacyReport`.

    Attributes
    ----------
    status : {"pass", "warn"}
    reasons : list of str
        ``"warn"``: each problem found, with its numbers and threshold;
        ``"pass"``: each check made, with its numbers.
    notes : list of str
        The rest: on ``"warn"``, the checks that passed (``"fine: ..."``); the
        differential-privacy guarantee (or its absence); caveats such as a small
        holdout.
    epsilon, delta : float or None
        The differential-privacy budget of the generator, when known.
    """

    status: Literal["pass", "warn"]
    reasons: list[str]
    notes: list[str] = field(default_factory=list)
    epsilon: float | None = None
    delta: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {
            "status": self.status,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "epsilon": self.epsilon,
            "delta": self.delta,
        }

    def to_text(self, bullet: str = "  - ", note_bullet: str = "  · ") -> str:
        """``PASS`` or ``WARN`` on the first line, then one line per reason, then per note."""
        lines = [self.status.upper()]
        lines += [f"{bullet}{line}" for line in self.reasons]
        lines += [f"{note_bullet}{line}" for line in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


def _percent(value: float, digits: int = 1) -> str:
    return f"{100 * value:.{digits}f} %"


def _threshold(value: float) -> str:
    return f"{100 * value:g} %"


def check_budget(epsilon: Any, delta: Any) -> tuple[float | None, float | None]:
    """Validate a differential-privacy budget: ``epsilon > 0`` (inf allowed), ``0 <= delta < 1``.

    Returns
    -------
    (epsilon, delta) as floats, ``None`` kept.
    """
    values = []
    for name, value, ok, bound in (
        ("epsilon", epsilon, lambda v: v > 0, "a number > 0"),
        ("delta", delta, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    ):
        if value is None:
            values.append(None)
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not ok(value):
            raise InvalidParameterError(f"{name} must be None or {bound}, got {value!r}.")
        values.append(float(value))
    return values[0], values[1]


def _dp_note(epsilon: float | None, delta: float | None) -> str:
    if epsilon is None:
        return (
            "no differential-privacy guarantee given (trained without DP, or its epsilon was not "
            "passed): the verdict rests on the empirical checks alone"
        )
    if math.isinf(epsilon):
        return "ε = inf: no differential-privacy guarantee; the verdict rests on the checks alone"
    text = f"trained with differential privacy, ε = {epsilon:.3g}"
    return text + (f", δ = {delta:.2g}" if delta is not None else "")


def privacy_verdict(
    report: PrivacyReport,
    *,
    max_closer_share: float = 0.55,
    max_mia_auc: float = 0.55,
    max_copy_excess: float = 0.01,
    epsilon: float | None = None,
    delta: float | None = None,
) -> PrivacyVerdict:
    """Judge a privacy report: ``"pass"``, or ``"warn"`` with the reasons.

    Warns when

    - the share of synthetic rows closer to a training row than to any holdout
      row is above ``max_closer_share`` (0.5 is ideal);
    - the exact-copy rate of synthetic rows exceeds the holdout's own rate of
      training copies (the natural rate of duplicates) by more than
      ``max_copy_excess`` *and* by more than 3 standard errors of the difference
      of the two rates, so that neither a tiny excess on a huge table nor sampling
      noise on a small one warns;
    - the membership-inference attack's ROC AUC is above ``max_mia_auc``
      (0.5 = the attacker does no better than chance);
    - the holdout copies training rows more often than one half of the training
      rows copies the other (by more than 20 points and 3 standard errors): it
      holds training rows, and every check against it says too little;
    - no holdout was given: without unseen real rows nothing tells memorisation
      from a faithful model, so the verdict cannot pass.

    Parameters
    ----------
    report : PrivacyReport
        From :func:`privacy_report` (with a holdout).
    max_closer_share : float, default=0.55
    max_mia_auc : float, default=0.55
    max_copy_excess : float, default=0.01
        Tolerated excess of the synthetic copy rate over the holdout's, as a
        share of rows (0.01: one percentage point).
    epsilon, delta : float, optional
        The differential-privacy budget the generator was trained with (a fitted
        synthesizer's ``epsilon_`` and ``delta_``; ``None`` without DP). They
        are named in the verdict; lacking DP is mentioned, never warned about.

    Returns
    -------
    PrivacyVerdict
    """
    if not isinstance(report, PrivacyReport):
        raise InvalidDataError(f"report must be a PrivacyReport, got {type(report).__name__}.")
    max_closer_share = check_float("max_closer_share", max_closer_share)
    max_mia_auc = check_float("max_mia_auc", max_mia_auc)
    max_copy_excess = check_float("max_copy_excess", max_copy_excess)
    epsilon, delta = check_budget(epsilon, delta)
    problems: list[str] = []
    passed: list[str] = []
    notes: list[str] = []

    def check(ok: bool, text: str) -> None:
        (passed if ok else problems).append(text)

    share = report.share_closer_to_train
    if math.isnan(share):
        problems.append(
            "no holdout given: real rows kept out of training are needed to judge memorisation "
            "(closer-to-train share, membership inference, the natural rate of copies)"
        )
        copies = (
            f"{report.exact_copies:,} synthetic rows ({_percent(report.exact_copy_rate)}) are "
            "exact copies of a training row"
        )
        if report.exact_copies:
            problems.append(copies + ", with no holdout to say how many duplicates are natural")
        else:
            passed.append(copies)
    else:
        observed, chance = report.closer_to_train_observed, report.closer_to_train_by_chance
        if math.isnan(observed) or chance == 0.5:  # equal-sized sets: the share as observed
            closer = (
                f"{_percent(share)} of synthetic rows are closer to a training row than to any "
                "holdout row"
            )
        else:
            closer = (
                f"{_percent(observed)} of synthetic rows are closer to a training row than to "
                f"any holdout row, against {_percent(chance)} by chance ({report.n_train:,} "
                f"training and {report.n_holdout:,} holdout rows): {_percent(share)} on the "
                "scale of equal-sized sets"
            )
        check(
            share <= max_closer_share,
            f"{closer} (threshold {_threshold(max_closer_share)}; 50 % is ideal)",
        )
        rate, natural = report.exact_copy_rate, report.holdout_copy_rate
        split, n_half = report.split_copy_rate, report.n_train - report.n_train // 2
        if not math.isnan(split) and report.n_holdout and n_half:
            spread = math.sqrt(
                natural * (1 - natural) / report.n_holdout + split * (1 - split) / n_half
            )
            if natural - split > max(_HOLDOUT_OVERLAP, _COPY_SIGMAS * spread):  # else unsaid
                problems.append(
                    f"{_percent(natural)} of holdout rows are exact copies of a training row, "
                    f"against {_percent(split)} of training rows copying a row of the other "
                    "half: the holdout holds training rows, which hides memorisation (pass "
                    "real rows kept out of training)"
                )
        excess = rate - natural
        variance = sum(  # of the difference of the two rates (row counts 0: unknown)
            p * (1 - p) / n
            for p, n in ((rate, report.n_synthetic), (natural, report.n_holdout))
            if n > 0
        )
        tolerance = max(max_copy_excess, _COPY_SIGMAS * math.sqrt(variance))
        check(
            excess <= tolerance,
            f"{_percent(rate)} of synthetic rows ({report.exact_copies:,}) are exact copies of "
            f"a training row, against {_percent(natural)} of holdout rows (tolerated up to "
            f"{_percent(min(1.0, natural + tolerance))})",
        )
        attack = report.membership_inference
        if math.isnan(attack.roc_auc):
            problems.append("the membership-inference attack could not be computed")
        else:
            check(
                attack.roc_auc <= max_mia_auc,
                "a membership-inference attack (distance to the closest synthetic row) tells "
                f"training rows from holdout rows with ROC AUC {attack.roc_auc:.3f} (threshold "
                f"{max_mia_auc:g}; 0.5 is chance), advantage {attack.advantage:.3f}, "
                f"TPR {_percent(attack.tpr_at_1pct_fpr)} at 1 % FPR",
            )
            n1, n2 = attack.n_members, attack.n_non_members
            noise = 2 * math.sqrt((n1 + n2 + 1) / (12 * n1 * n2))  # 2 SE of AUC by chance
            if noise > 0.05:
                notes.append(
                    f"with {n2:,} holdout rows the attack's AUC varies by about ±{noise:.2f} by "
                    "chance alone: a larger holdout gives a firmer verdict"
                )
    notes.insert(0, _dp_note(epsilon, delta))
    if problems:  # what was fine still helps to read the warning
        notes[:0] = [f"fine: {text}" for text in passed]
    status: Literal["pass", "warn"] = "warn" if problems else "pass"
    return PrivacyVerdict(
        status=status,
        reasons=problems if problems else passed,
        notes=notes,
        epsilon=epsilon,
        delta=delta,
    )
