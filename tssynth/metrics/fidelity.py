"""Fidelity of a synthetic table: per-column shapes and pairwise trends.

The scores follow the definitions of SDMetrics' QualityReport, so the numbers are
comparable with it:

- column shape: for continuous and datetime columns the KS complement
  ``1 - KS statistic`` (on observed values); for categorical columns the total
  variation complement ``1 - TVD`` of the category frequencies (missing counted as
  a category);
- column pair trend: for two continuous columns ``1 - |corr_real - corr_synth| / 2``
  (Pearson, pairwise complete rows); otherwise the contingency similarity
  ``1 - TVD`` of the joint frequencies, continuous columns binned into 10
  equal-width bins of the real range;
- overall: the mean of the average column shape and the average pair trend.

Missing values are a level of their own in the categorical and contingency scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from tssynth.data.schema import CATEGORICAL, check_frame, infer_schema, to_float
from tssynth.exceptions import InvalidDataError

_BINS = 10


@dataclass
class FidelityReport:
    """Scores in [0, 1], 1 meaning identical distributions.

    Attributes
    ----------
    column_shapes : float
        Mean per-column shape score.
    column_pair_trends : float
        Mean pairwise trend score (NaN for a single column).
    overall : float
        Mean of the two.
    per_column : DataFrame
        ``column``, ``metric``, ``score``.
    per_pair : DataFrame
        ``column_1``, ``column_2``, ``metric``, ``score``, ``real``, ``synthetic``
        (the correlations, for continuous pairs).
    """

    column_shapes: float
    column_pair_trends: float
    overall: float
    per_column: pd.DataFrame
    per_pair: pd.DataFrame

    def to_dict(self) -> dict[str, float]:
        """The three headline numbers."""
        return {
            "column_shapes": self.column_shapes,
            "column_pair_trends": self.column_pair_trends,
            "overall": self.overall,
        }


def _ks_complement(real: np.ndarray, synthetic: np.ndarray) -> float:
    real, synthetic = real[~np.isnan(real)], synthetic[~np.isnan(synthetic)]
    if real.size == 0 or synthetic.size == 0:
        return float(real.size == synthetic.size)
    grid = np.sort(np.concatenate([real, synthetic]))
    cdf_real = np.searchsorted(np.sort(real), grid, side="right") / real.size
    cdf_synth = np.searchsorted(np.sort(synthetic), grid, side="right") / synthetic.size
    return float(1.0 - np.abs(cdf_real - cdf_synth).max())


def _tv_complement(real_codes: np.ndarray, synth_codes: np.ndarray, levels: int) -> float:
    p = np.bincount(real_codes, minlength=levels) / max(real_codes.size, 1)
    q = np.bincount(synth_codes, minlength=levels) / max(synth_codes.size, 1)
    return float(1.0 - 0.5 * np.abs(p - q).sum())


def _category_codes(real: pd.Series, synthetic: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Shared integer codes for two columns; missing values get a code of their own."""
    both = pd.concat([real.astype(object), synthetic.astype(object)], ignore_index=True)
    codes, uniques = pd.factorize(both, use_na_sentinel=True)
    codes = np.where(codes < 0, len(uniques), codes)
    return codes[: len(real)], codes[len(real) :], len(uniques) + 1


def _bin_codes(real: np.ndarray, synthetic: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Equal-width bins of the real range (synthetic values clipped into it); NaN = last bin."""
    observed = real[~np.isnan(real)]
    low, high = (observed.min(), observed.max()) if observed.size else (0.0, 1.0)
    width = (high - low) / _BINS or 1.0

    def codes(values: np.ndarray) -> np.ndarray:
        index = np.clip(np.floor((values - low) / width), 0, _BINS - 1)
        return np.where(np.isnan(values), _BINS, index).astype(np.int64)

    return codes(real), codes(synthetic), _BINS + 1


def fidelity_report(
    real: pd.DataFrame, synthetic: pd.DataFrame, discrete_columns: Any = None
) -> FidelityReport:
    """Compare a synthetic table with the real one, column by column and pair by pair.

    Parameters
    ----------
    real, synthetic : DataFrame
        Tables with the same columns (synthetic may have any number of rows).
    discrete_columns : list of column labels, optional
        Columns to treat as categorical whatever their dtype.

    Returns
    -------
    FidelityReport
    """
    check_frame(real, what="real")
    check_frame(synthetic, what="synthetic")
    missing = [c for c in real.columns if c not in synthetic.columns]
    if missing:
        raise InvalidDataError(f"The synthetic table lacks the real columns {missing}.")
    schema = infer_schema(real, discrete_columns)
    columns, numeric, codes = [], {}, {}
    for spec in schema:
        name = spec.name
        if spec.kind == CATEGORICAL:
            r, s, levels = _category_codes(real[name], synthetic[name])
            score, metric = _tv_complement(r, s, levels), "TVComplement"
        else:
            r_values = to_float(real[name], spec)
            s_values = to_float(synthetic[name], spec)
            numeric[name] = (r_values, s_values)
            score, metric = _ks_complement(r_values, s_values), "KSComplement"
            r, s, levels = _bin_codes(r_values, s_values)
        codes[name] = (r, s, levels)
        columns.append({"column": name, "metric": metric, "score": score})
    per_column = pd.DataFrame(columns)

    pairs = []
    for first, second in combinations([spec.name for spec in schema], 2):
        if first in numeric and second in numeric:
            real_corr = _correlation(*(numeric[first][0], numeric[second][0]))
            synth_corr = _correlation(*(numeric[first][1], numeric[second][1]))
            score = (
                np.nan
                if np.isnan(real_corr) or np.isnan(synth_corr)
                else 1.0 - abs(real_corr - synth_corr) / 2.0
            )
            pairs.append((first, second, "CorrelationSimilarity", score, real_corr, synth_corr))
        else:
            (r1, s1, l1), (r2, s2, l2) = codes[first], codes[second]
            score = _tv_complement(r1 * l2 + r2, s1 * l2 + s2, l1 * l2)
            pairs.append((first, second, "ContingencySimilarity", score, np.nan, np.nan))
    per_pair = pd.DataFrame(
        pairs, columns=["column_1", "column_2", "metric", "score", "real", "synthetic"]
    )
    shapes = float(per_column["score"].mean())
    trends = float(per_pair["score"].mean()) if len(per_pair) else float("nan")
    overall = float(np.nanmean([shapes, trends]))
    return FidelityReport(shapes, trends, overall, per_column, per_pair)


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    keep = ~(np.isnan(x) | np.isnan(y))
    if keep.sum() < 2 or np.std(x[keep]) == 0 or np.std(y[keep]) == 0:
        return float("nan")
    return float(np.corrcoef(x[keep], y[keep])[0, 1])
