"""Fidelity of a synthetic table: per-column shapes and pairwise trends.

The scores follow the definitions of SDMetrics' QualityReport, so the numbers are
comparable with it:

- column shape: for continuous and datetime columns the KS complement
  ``1 - KS statistic`` (on observed values); for categorical columns the total
  variation complement ``1 - TVD`` of the category frequencies (missing counted as
  a category);
- column pair trend: for two continuous columns ``1 - |corr_real - corr_synth| / 2``
  (Pearson, pairwise complete rows); otherwise the contingency similarity
  ``1 - TVD`` of the joint frequencies, a continuous column binned as SDMetrics
  does: 10 equal-width bins spanning the observed range of *each table on its
  own* (``numpy.histogram_bin_edges``), bin ``i`` holding ``edge_i <= x <
  edge_i+1`` and the maximum itself an 11th bin. Bin ``i`` of the synthetic
  table therefore need not cover the values of bin ``i`` of the real one: a
  synthetic column that misses the real minimum or maximum (a rare value of an
  integer column such as Adult's ``education-num``, a tail the generator never
  reaches) has all its edges moved, which can lower its pair scores a lot, and a
  shifted or rescaled column keeps its pair scores (its KS complement shows the
  shift). Missing values are a bin of their own (SDMetrics puts them with the
  maximum; tables without missing numbers score the same);
- which pairs count: as in SDMetrics' QualityReport (0.32), only pairs that are
  related in the real data, ``|Pearson r| > 0.5`` for two continuous columns,
  Cramér's V > 0.3 of the real contingency table otherwise; pairs with no real
  relationship score near 1 whatever the synthesizer does and would only dilute
  the average. Every pair is scored and listed (``contributes`` says which count);
  ``column_pair_trends_all`` is the mean over all of them, and setting both
  thresholds to 0 makes the headline use all pairs. When no pair passes, all
  pairs count;
- overall: the mean of the average column shape and the average pair trend.

Missing values are never dropped silently: they are a level of their own in the
categorical and contingency scores, and every column's missing-value rate in both
tables is reported (``real_missing``, ``synthetic_missing``) together with a
``missing_values`` score, ``1 - mean |rate_real - rate_synthetic|`` over the
columns that have missing values in either table. KS complements compare the
observed values only, so the missing-value score is where a continuous column's
missing rate shows.

Beyond SDMetrics: ``dependencies``, the share of synthetic rows that keep the exact
dependencies of the real table (a code and its label: every real row with the same
value of one categorical column has the same value of another, found as
:func:`tssynth.data.dependencies.find_dependencies` finds them for
``TVAESynthesizer``). Pair trends compare frequencies, so they barely see a pair
broken in one row in five; this score counts such rows. It is not part of
``overall``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from tssynth._validation import check_float
from tssynth.data.dependencies import dependant_values, find_dependencies
from tssynth.data.schema import (
    CATEGORICAL,
    DATETIME,
    TIMEDELTA,
    ColumnSpec,
    infer_schema,
    time_unit,
    to_float,
)
from tssynth.exceptions import InvalidDataError
from tssynth.metrics.inputs import check_tables, conform_labels

_BINS = 10


@dataclass
class FidelityReport:
    """Scores in [0, 1], 1 meaning identical distributions.

    Attributes
    ----------
    column_shapes : float
        Mean per-column shape score.
    column_pair_trends : float
        Mean trend score of the pairs related in the real data (NaN for a
        single column).
    column_pair_trends_all : float
        Mean trend score of all pairs.
    overall : float
        Mean of the two.
    missing_values : float
        ``1 - mean |missing rate real - missing rate synthetic|`` over the columns
        with missing values in either table (NaN when there are none).
    dependencies : float
        Mean over the real table's exact dependencies of the share of synthetic
        rows that keep them: the determinant's value was seen in the real data and
        the dependant has the value the real data pairs with it (NaN when the real
        table has none). Not part of ``overall``.
    per_column : DataFrame
        ``column``, ``metric``, ``score``, ``real_missing``, ``synthetic_missing``.
    per_pair : DataFrame
        ``column_1``, ``column_2``, ``metric``, ``score``, ``real``, ``synthetic``
        (the correlations, for continuous pairs), ``real_association`` (|r| or
        Cramér's V in the real data) and ``contributes``.
    per_dependency : DataFrame
        ``determinant``, ``dependant``, ``kept`` (share of synthetic rows).
    """

    column_shapes: float
    column_pair_trends: float
    column_pair_trends_all: float
    overall: float
    missing_values: float
    dependencies: float
    per_column: pd.DataFrame
    per_pair: pd.DataFrame
    per_dependency: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """The headline numbers, and every column's and pair's score.

        ``columns`` maps each column's name (as text) to its shape score, ``pairs``
        each pair's ``"first / second"`` to its trend score, so that the JSON of
        ``tssynth evaluate --json`` says which column fell short. Names that print
        alike (``1`` and ``"1"``) are told apart by ``repr``, then by number.
        ``dependency_pairs`` maps each ``"determinant -> dependant"`` to the share of
        rows that keep it.
        """
        columns, pairs = self.per_column, self.per_pair
        labels = list(columns.get("column", []))
        names = _unique_keys(labels, [str(label) for label in labels])
        text = dict(zip(map(label_key, labels), names, strict=True))
        firsts, seconds = list(pairs.get("column_1", [])), list(pairs.get("column_2", []))
        pair_names = _unique_keys(
            list(range(len(firsts))),
            [
                f"{text[label_key(first)]} / {text[label_key(second)]}"
                for first, second in zip(firsts, seconds, strict=True)
            ],
        )
        return {
            "overall": self.overall,
            "column_shapes": self.column_shapes,
            "column_pair_trends": self.column_pair_trends,
            "column_pair_trends_all": self.column_pair_trends_all,
            "missing_values": self.missing_values,
            "dependencies": self.dependencies,
            "columns": dict(zip(names, map(float, columns.get("score", [])), strict=True)),
            "pairs": dict(zip(pair_names, map(float, pairs.get("score", [])), strict=True)),
            "dependency_pairs": {
                f"{text[label_key(row.determinant)]} -> {text[label_key(row.dependant)]}": float(
                    row.kept
                )
                for row in self.per_dependency.itertuples(index=False)
            },
        }


def label_key(label: Any) -> Any:
    """A column label as a dict key; a frame of labels reads a None label back as NaN."""
    return None if isinstance(label, float) and np.isnan(label) else label


def _unique_keys(labels: list[Any], keys: list[str]) -> list[str]:
    """``keys``, made unique where two collide: by ``repr`` of the label, then by number."""
    if len(set(keys)) == len(keys):
        return keys
    keys = [
        repr(label) if keys.count(key) > 1 else key for label, key in zip(labels, keys, strict=True)
    ]
    if len(set(keys)) == len(keys):
        return keys
    return [f"{key} #{number}" for number, key in enumerate(keys)]


def column_as_float(series: pd.Series, spec: ColumnSpec, what: str) -> np.ndarray:
    """Values of a continuous column as float64 (NaN = missing), read as the real column is.

    A synthetic column that was written to and read back from a file may have lost
    its datetime or timedelta dtype; it is parsed back here.

    Parameters
    ----------
    series : Series
    spec : ColumnSpec
        The real column's spec.
    what : str
        ``"real"``, ``"synthetic"``, ... for error messages.

    Returns
    -------
    ndarray of float64
    """
    if spec.value_type in (DATETIME, TIMEDELTA) and ptypes.is_numeric_dtype(series.dtype):
        kind = "datetimes" if spec.value_type == DATETIME else "time spans"
        raise InvalidDataError(
            f"Column {spec.name!r} holds {kind} in the real data but plain numbers "
            f"({series.dtype}) in the {what} data; convert it to the same kind (numbers would "
            "be read as counts from 1970)."
        )
    if str(series.dtype) == spec.dtype:  # as fitted (the real column itself)
        return to_float(series, spec)
    try:
        if spec.value_type == DATETIME and not ptypes.is_datetime64_any_dtype(series.dtype):
            series = pd.to_datetime(series, utc=spec.tz is not None)
            if spec.tz is not None:
                series = series.dt.tz_convert(spec.tz)
            series = series.astype(pd.api.types.pandas_dtype(spec.dtype))
        elif spec.value_type == TIMEDELTA and not ptypes.is_timedelta64_dtype(series.dtype):
            series = pd.to_timedelta(series).astype(pd.api.types.pandas_dtype(spec.dtype))
        unit = time_unit(series.dtype)
        if spec.value_type in (DATETIME, TIMEDELTA) and unit is not None and unit != spec.unit:
            # Finer times (another tool's nanoseconds against real seconds) are compared
            # on the real column's unit.
            series = series.dt.round(spec.unit).astype(pd.api.types.pandas_dtype(spec.dtype))
        return to_float(series, spec)
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(
            f"Column {spec.name!r} of the {what} data must hold values like the real column "
            f"(dtype {spec.dtype}), but some cannot be read as such: {exc}"
        ) from exc


def _ks_complement(real: np.ndarray, synthetic: np.ndarray) -> float:
    real, synthetic = real[~np.isnan(real)], synthetic[~np.isnan(synthetic)]
    if real.size == 0 or synthetic.size == 0:
        return float(real.size == synthetic.size)
    grid = np.sort(np.concatenate([real, synthetic]))
    cdf_real = np.searchsorted(np.sort(real), grid, side="right") / real.size
    cdf_synth = np.searchsorted(np.sort(synthetic), grid, side="right") / synthetic.size
    return float(1.0 - np.abs(cdf_real - cdf_synth).max())


def _tv_complement(real_codes: np.ndarray, synth_codes: np.ndarray, levels: int) -> float:
    if levels > real_codes.size + synth_codes.size:  # e.g. the joint codes of two wide columns
        _, both = np.unique(np.concatenate([real_codes, synth_codes]), return_inverse=True)
        real_codes, synth_codes = both[: real_codes.size], both[real_codes.size :]
        levels = int(both.max(initial=-1)) + 1
    p = np.bincount(real_codes, minlength=levels) / max(real_codes.size, 1)
    q = np.bincount(synth_codes, minlength=levels) / max(synth_codes.size, 1)
    return float(max(0.0, 1.0 - 0.5 * np.abs(p - q).sum()))  # not -2e-16 for disjoint tables


def _category_codes(real: pd.Series, synthetic: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Shared integer codes for two columns; missing values get a code of their own."""
    both = pd.concat([real.astype(object), synthetic.astype(object)], ignore_index=True)
    codes, uniques = pd.factorize(both, use_na_sentinel=True)
    codes = np.where(codes < 0, len(uniques), codes)
    return codes[: len(real)], codes[len(real) :], len(uniques) + 1


def _bin_codes(values: np.ndarray) -> np.ndarray:
    """Bin codes of a continuous column on its own range, as SDMetrics' pair trends bin.

    Parameters
    ----------
    values : ndarray of float64
        One table's column, NaN = missing.

    Returns
    -------
    ndarray of int64
        ``1 .. _BINS`` for the equal-width bins ``[edge_i, edge_i+1)`` of the
        observed range (``min - 0.5 .. max + 0.5`` for a constant column,
        ``0 .. 1`` for an empty one), ``_BINS + 1`` for the maximum itself and
        ``_BINS + 2`` for missing values; ``_BINS + 3`` levels in all (code 0,
        below the range, never occurs).
    """
    observed = values[~np.isnan(values)]
    low, high = (observed.min(), observed.max()) if observed.size else (0.0, 1.0)
    if low == high:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, _BINS + 1)
    codes = np.searchsorted(edges, values, side="right")
    return np.where(np.isnan(values), _BINS + 2, codes).astype(np.int64)


def fidelity_report(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    discrete_columns: Any = None,
    *,
    correlation_threshold: float = 0.5,
    association_threshold: float = 0.3,
) -> FidelityReport:
    """Compare a synthetic table with the real one, column by column and pair by pair.

    Parameters
    ----------
    real, synthetic : DataFrame
        Tables with the same columns (synthetic may have any number of rows).
    discrete_columns : list of column labels, optional
        Columns to treat as categorical whatever their dtype.
    correlation_threshold : float, default=0.5
        A continuous pair counts in ``column_pair_trends`` when its real
        ``|Pearson r|`` exceeds this.
    association_threshold : float, default=0.3
        Any other pair counts when the Cramér's V of its real contingency table
        exceeds this.

    Returns
    -------
    FidelityReport
    """
    check_float("correlation_threshold", correlation_threshold, 0.0)
    check_float("association_threshold", association_threshold, 0.0)
    check_tables({"real": real, "synthetic": synthetic})
    synthetic = conform_labels({"real": real, "synthetic": synthetic}, "real", discrete_columns)[
        "synthetic"
    ]
    schema = infer_schema(real, discrete_columns)
    columns, numeric, codes = [], {}, {}
    for spec in schema:
        name = spec.name
        if spec.kind == CATEGORICAL:
            r, s, levels = _category_codes(real[name], synthetic[name])
            score, metric = _tv_complement(r, s, levels), "TVComplement"
        else:
            r_values = column_as_float(real[name], spec, "real")
            s_values = column_as_float(synthetic[name], spec, "synthetic")
            numeric[name] = (r_values, s_values)
            score, metric = _ks_complement(r_values, s_values), "KSComplement"
            r, s, levels = _bin_codes(r_values), _bin_codes(s_values), _BINS + 3
        codes[name] = (r, s, levels)
        columns.append(
            {
                "column": name,
                "metric": metric,
                "score": score,
                "real_missing": float(real[name].isna().mean()),
                "synthetic_missing": float(synthetic[name].isna().mean()),
            }
        )
    per_column = pd.DataFrame(columns)

    # Every continuous pair's correlation at once, per table (as _correlation gives it).
    position = {name: i for i, name in enumerate(numeric)}
    real_matrix = _correlations([r for r, _ in numeric.values()])
    synth_matrix = _correlations([s for _, s in numeric.values()])
    pairs = []
    for first, second in combinations([spec.name for spec in schema], 2):
        if first in numeric and second in numeric:
            i, j = position[first], position[second]
            real_corr, synth_corr = float(real_matrix[i, j]), float(synth_matrix[i, j])
            score = (
                np.nan
                if np.isnan(real_corr) or np.isnan(synth_corr)
                else max(0.0, 1.0 - abs(real_corr - synth_corr) / 2.0)
            )
            strength = abs(real_corr)
            counts = strength > correlation_threshold or correlation_threshold == 0
            pairs.append(
                (
                    first,
                    second,
                    "CorrelationSimilarity",
                    score,
                    real_corr,
                    synth_corr,
                    strength,
                    counts,
                )
            )
        else:
            (r1, s1, l1), (r2, s2, l2) = codes[first], codes[second]
            score = _tv_complement(r1 * l2 + r2, s1 * l2 + s2, l1 * l2)
            strength = _cramers_v(r1, r2)
            counts = strength > association_threshold or association_threshold == 0
            pairs.append(
                (first, second, "ContingencySimilarity", score, np.nan, np.nan, strength, counts)
            )
    per_pair = pd.DataFrame(
        pairs,
        columns=[
            "column_1",
            "column_2",
            "metric",
            "score",
            "real",
            "synthetic",
            "real_association",
            "contributes",
        ],
    )
    shapes = float(per_column["score"].mean())
    trends_all = float(per_pair["score"].mean()) if len(per_pair) else float("nan")
    counted = per_pair.loc[per_pair["contributes"].astype(bool), "score"].dropna()
    trends = float(counted.mean()) if len(counted) else trends_all
    overall = float(np.nanmean([shapes, trends]))
    gaps = (per_column["real_missing"] - per_column["synthetic_missing"]).abs()
    has_missing = (per_column["real_missing"] > 0) | (per_column["synthetic_missing"] > 0)
    missing_score = float(1.0 - gaps[has_missing].mean()) if has_missing.any() else float("nan")
    per_dependency = _kept_dependencies(real, synthetic, schema)
    dependencies = float(per_dependency["kept"].mean()) if len(per_dependency) else float("nan")
    return FidelityReport(
        shapes,
        trends,
        trends_all,
        overall,
        missing_score,
        dependencies,
        per_column,
        per_pair,
        per_dependency,
    )


def _kept_dependencies(
    real: pd.DataFrame, synthetic: pd.DataFrame, schema: list[ColumnSpec]
) -> pd.DataFrame:
    """Per exact dependency of ``real``, the share of ``synthetic`` rows that keep it."""
    rows = []
    for dependant, determinant in find_dependencies(real, schema).items():
        first, second = schema[determinant], schema[dependant]
        pairs = {}
        for which, table in (("real", real), ("synthetic", synthetic)):
            values = dependant_values(table[second.name], second)
            if values is None:  # a synthetic dtype that floats cannot hold
                values = table[second.name].to_numpy(dtype=object)
            pairs[which] = (table[first.name].to_numpy(dtype=object), values)
        kept = _kept_share(*pairs["real"], *pairs["synthetic"])
        rows.append((first.name, second.name, kept))
    return pd.DataFrame(rows, columns=["determinant", "dependant", "kept"])


def _kept_share(
    real_keys: np.ndarray, real_values: np.ndarray, keys: np.ndarray, values: np.ndarray
) -> float:
    """Share of (``keys``, ``values``) rows whose value is the one the real data pairs
    with their key (missing equals missing; an unseen key keeps nothing)."""
    if len(keys) == 0:
        return float("nan")
    n = len(real_keys)
    key_codes, _ = pd.factorize(np.concatenate([real_keys, keys]), use_na_sentinel=False)
    both = np.concatenate([real_values.astype(object), values.astype(object)])
    value_codes, _ = pd.factorize(both, use_na_sentinel=False)
    paired = np.full(key_codes.max() + 1, -1, dtype=np.int64)
    paired[key_codes[:n]] = value_codes[:n]
    return float((paired[key_codes[n:]] == value_codes[n:]).mean())


def _cramers_v(first: np.ndarray, second: np.ndarray) -> float:
    """Cramér's V of two code arrays, from the observed cells only.

    ``chi2 = N * sum(O_ij**2 / (row_i * col_j)) - N`` over the cells with
    ``O_ij > 0``, so memory follows the rows, not the product of the levels.
    """
    _, first = np.unique(first, return_inverse=True)
    _, second = np.unique(second, return_inverse=True)
    rows, cols = np.bincount(first), np.bincount(second)
    if min(len(rows), len(cols)) < 2:
        return float("nan")
    cells, observed = np.unique(first * len(cols) + second, return_counts=True)
    total = first.size
    ratio = observed.astype(float) ** 2 / (rows[cells // len(cols)] * cols[cells % len(cols)])
    chi2 = max(total * float(ratio.sum()) - total, 0.0)
    return float(np.sqrt(chi2 / total / (min(len(rows), len(cols)) - 1)))


def _unit_scaled(column: np.ndarray) -> np.ndarray:
    """``column`` scaled by the power of two that brings its largest magnitude into
    [0.5, 1): no rounding (except values some 300 orders of magnitude below the
    largest, which become subnormal or zero), a correlation does not change, and its
    sums of products neither overflow (1e160) nor underflow (1e-160)."""
    largest = np.nanmax(np.abs(column), initial=0.0)
    if not 0.0 < largest < np.inf:
        return column
    return np.ldexp(column, -int(np.frexp(largest)[1]))


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation on the rows where both are observed (NaN below 2 rows or if constant)."""
    keep = ~(np.isnan(x) | np.isnan(y))
    # min == max, not np.std == 0: the std of a constant 0.1 rounds above zero.
    if keep.sum() < 2 or np.ptp(x[keep]) == 0 or np.ptp(y[keep]) == 0:
        return float("nan")
    return float(np.corrcoef(_unit_scaled(x[keep]), _unit_scaled(y[keep]))[0, 1])


def _correlations(columns: list[np.ndarray]) -> np.ndarray:
    """``_correlation`` of every pair of columns, as a symmetric matrix (NaN diagonal).

    The pairs of complete, varying columns come from one matrix product, computed
    as :func:`numpy.corrcoef` computes one pair (the same centring and scaling;
    only the summation order of the products may differ, by rounding). Pairs with
    a constant column are NaN, as in ``_correlation``. Pairs with a missing value
    (their complete rows depend on the pair) come from :func:`_pairwise_complete`.
    Every column is first divided by its largest magnitude (see :func:`_unit_scaled`).
    """
    k = len(columns)
    result = np.full((k, k), np.nan)
    if k < 2 or len(columns[0]) < 2:
        return result  # fewer than 2 rows: every pair is NaN
    columns = [_unit_scaled(column) for column in columns]
    complete = np.array([not np.isnan(column).any() for column in columns])
    varying = np.zeros(k, dtype=bool)
    for i in np.flatnonzero(complete):
        varying[i] = columns[i].min() != columns[i].max()
    fast = np.flatnonzero(complete & varying)
    if len(fast):
        matrix = np.vstack([columns[i] for i in fast])  # a copy, centred in place
        matrix -= matrix.mean(axis=1, keepdims=True)
        product = np.dot(matrix, matrix.T)
        product *= np.true_divide(1, matrix.shape[1] - 1)
        scale = np.sqrt(np.diag(product))
        product /= scale[:, None]
        product /= scale[None, :]
        product = np.triu(product) + np.triu(product, 1).T  # (i, j) as corrcoef gives it, i < j
        result[np.ix_(fast, fast)] = np.clip(product, -1, 1)
    # Constant complete columns: their pairs with complete columns stay NaN.
    slow = np.flatnonzero(~complete)
    if len(slow):
        pairs = _pairwise_complete(np.vstack(columns), slow)
        result[slow, :] = pairs
        result[:, slow] = pairs.T
    np.fill_diagonal(result, np.nan)
    return result


_CONSTANT = 1e-10  # a pair's variance below this share of n * range**2 counts as constant


def _pairwise_complete(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Pearson correlation of columns ``rows`` of ``values`` (k, n) with every column, each
    pair on the entries where both are observed: ``(len(rows), k)``, NaN below 2 entries
    or where one side is constant on them.

    Sums over the shared entries come from matrix products of the observed masks and
    the values (each column centred on its own observed mean, zero where missing),
    so a wide table costs a few BLAS calls, not one Python call per pair.
    """
    observed = ~np.isnan(values)
    mask = observed.astype(np.float64)
    counts = observed.sum(axis=1, keepdims=True)
    means = np.where(observed, values, 0.0).sum(axis=1, keepdims=True) / np.maximum(counts, 1)
    centred = np.where(observed, values - means, 0.0)
    spread = np.abs(centred).max(axis=1)
    a, m = centred[rows], mask[rows]
    count = m @ mask.T  # entries both observe
    sum_a, sum_b = a @ mask.T, m @ centred.T
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = a @ centred.T - sum_a * sum_b / count
        var_a = (a**2) @ mask.T - sum_a**2 / count
        var_b = m @ (centred**2).T - sum_b**2 / count
        constant = (var_a <= _CONSTANT * count * spread[rows, None] ** 2) | (
            var_b <= _CONSTANT * count * spread[None, :] ** 2
        )
        result = cov / np.sqrt(var_a * var_b)
    result[(count < 2) | constant] = np.nan
    return np.clip(result, -1.0, 1.0)
