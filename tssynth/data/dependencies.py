"""Columns that another column determines exactly: a code and its label, a state and its region.

A model that draws each column on its own given the latent pairs them wrongly in some
rows (Adult's ``education`` and ``education-num`` disagreed in one synthetic row in five).
Deriving such a column from its determinant at sampling keeps every pair. Only
categorical columns determine others (their samples are always values seen in fit),
and only with enough rows behind their values, on average and for most of them, that
the dependency is not chance nor a row-by-row lookup (an ID with a value per row
determines every column, and so does one that is a placeholder in most rows and an
ID in the others).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from tssynth.data.continuous import EXACT_FLOAT_INTEGER
from tssynth.data.schema import (
    CATEGORICAL,
    DATETIME,
    NUMERIC,
    TIMEDELTA,
    ColumnSpec,
    time_ints,
)

_SUPPORT = 10  # training rows per value of a determinant, on average and the median
_MAX_DETERMINANT_VALUES = 1_000
_QUICK_ROWS = 64  # rows on which every determinant is tested against a candidate at once
_CHECK_ROWS = 2_048  # rows spread over the table that a candidate pair is checked on next
_SIGNIFICANCE = 1e-6  # chance of a group this pure, under which a value forces another
_IMPLICATION_ROWS = 2_000  # rows searched for value rules at the least
_IMPLICATION_WORK = 2**26  # rows x columns**2 searched for value rules, past that floor
_MAX_RULE_COLUMNS = 200  # categorical columns past which no value rule is searched


def can_determine(spec: ColumnSpec) -> bool:
    """Whether a column may determine others: categorical, without declared categories."""
    return spec.kind == CATEGORICAL and spec.public_categories is None


def can_be_derived(spec: ColumnSpec) -> bool:
    """Whether a column may be derived: categorical, numeric, datetime or timedelta, with
    no declared schema."""
    if spec.kind == CATEGORICAL:
        return spec.public_categories is None
    return spec.value_type in (NUMERIC, DATETIME, TIMEDELTA) and spec.public_bounds is None


def dependant_values(series: pd.Series, spec: ColumnSpec) -> np.ndarray | None:
    """A column's values as a derived column stores them (object or float64, NaN where
    missing; times as counts of their unit); None when floats would not hold them
    exactly (integers past 2**53, nanoseconds off a grid float64 resolves) or are not
    numbers a model takes (infinities: modelled, they are refused by name)."""
    if spec.kind == CATEGORICAL:
        return series.to_numpy(dtype=object)
    if spec.value_type in (DATETIME, TIMEDELTA):
        ints, missing = time_ints(series, spec)
        values = ints.astype(np.float64)
        with np.errstate(invalid="ignore"):  # past int64 when cast back: not exact
            exact = values[~missing].astype(np.int64) == ints[~missing]
        if not exact.all():
            return None
        values[missing] = np.nan
        return values
    if ptypes.is_integer_dtype(series.dtype):
        observed = series.dropna()
        if len(observed) and max(abs(int(observed.min())), abs(int(observed.max()))) > (
            EXACT_FLOAT_INTEGER
        ):
            return None
    try:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        return None
    return None if np.isinf(values).any() else values


def find_dependencies(df: pd.DataFrame, columns: list[ColumnSpec]) -> dict[int, int]:
    """Columns of ``df`` that one categorical column determines exactly.

    Parameters
    ----------
    df : DataFrame
        Training data.
    columns : list of ColumnSpec
        Its schema.

    Returns
    -------
    dict
        Position of each derivable column -> position of its determinant, a column
        that is itself not derived. Of two columns that determine each other (a
        one-to-one code and label), the categorical one, or the first, is kept.
        Missing values count as a value of their own.
    """
    n = len(df)
    limit = min(n // _SUPPORT, _MAX_DETERMINANT_VALUES)
    if limit < 2:
        return {}
    codes: dict[int, np.ndarray] = {}
    sizes: dict[int, int] = {}
    for position, spec in enumerate(columns):
        if not (can_determine(spec) or can_be_derived(spec)):
            continue
        values = dependant_values(df[spec.name], spec)
        if values is None:
            continue
        column_codes, uniques = pd.factorize(values, use_na_sentinel=False)
        if 2 <= len(uniques) <= limit:  # a dependant has at most its determinant's values
            codes[position], sizes[position] = column_codes.astype(np.int64), len(uniques)
    # Widest first: a determinant has at least as many values as what it determines.
    order = sorted(codes, key=lambda p: (-sizes[p], not can_determine(columns[p]), p))
    spread = _spread(n, _CHECK_ROWS)
    quick = spread[_spread(len(spread), _QUICK_ROWS)]
    candidates = [
        p
        for p in order
        if can_determine(columns[p]) and np.median(np.bincount(codes[p])) >= _SUPPORT
    ]
    slot = {p: i for i, p in enumerate(candidates)}
    # Each candidate determinant's codes on the quick rows, offset into one flat table,
    # so that all of them are tested against a column in one array operation.
    offsets = np.cumsum([0] + [sizes[p] for p in candidates])
    flat = np.array([codes[p][quick] + offsets[i] for i, p in enumerate(candidates)])
    seen = np.empty(offsets[-1], dtype=np.int64)
    kept = np.zeros(len(candidates), dtype=bool)  # determinants: candidates not derived
    derived: dict[int, int] = {}
    for position in order:
        found = None
        if can_be_derived(columns[position]) and kept.any():
            rows = np.flatnonzero(kept)
            tables, values = flat[rows], codes[position][quick]
            seen[tables] = values  # some row's value per code: whichever, all must equal it
            passed = rows[(seen[tables] == values).all(axis=1)]
            found = next(
                (
                    candidates[i]
                    for i in passed[::-1]  # the fewest values first
                    if _determines(codes[candidates[i]][spread], codes[position][spread])
                    and _determines(codes[candidates[i]], codes[position])
                ),
                None,
            )
        if found is not None:
            derived[position] = found
        elif position in slot:
            kept[slot[position]] = True
    return dict(sorted(derived.items()))


def _spread(n: int, count: int) -> np.ndarray:
    """At most ``count`` positions spread evenly over ``range(n)``."""
    return np.unique(np.linspace(0, n - 1, min(n, count)).astype(np.int64))


def _determines(determinant: np.ndarray, dependant: np.ndarray) -> bool:
    """Whether every row with the same determinant code has the same dependant code."""
    seen = np.empty(int(determinant.max()) + 1, dtype=np.int64)
    seen[determinant] = dependant
    return bool((seen[determinant] == dependant).all())


def find_implications(
    codes: Callable[[int], np.ndarray], sizes: list[int], n: int
) -> list[tuple[int, int, np.ndarray]]:
    """Values of one categorical column that always come with one value of another.

    Every one of the (at least 10) training rows with ``diagnosis == "childbirth"``
    has ``sex == "F"``, while other diagnoses go with either sex: not a dependency
    of whole columns, but of one value, which a model that draws columns on their
    own given the latent breaks in some rows. A rule is kept only when a group that
    pure is not chance: ``share(b) ** rows(a) < 1e-6``, with ``share(b)`` the
    frequency of the forced value in the whole column (20 rows when it is 50 %, 684
    when it is 98 %).

    Rules only go one way: no column that a rule forces is the determinant of
    another, so that keeping one never breaks another (a skip pattern, where any
    of several questions answered "n/a" means all are, keeps the rules of the
    first question; a one-to-one pair of values keeps one direction). Rules are
    searched on a spread of at least 2,000 rows (then checked on all of them),
    among at most 200 categorical columns: wider tables get none.

    Parameters
    ----------
    codes : callable
        ``codes(j)``: category codes ``0 .. sizes[j] - 1`` of categorical column
        ``j`` over all ``n`` training rows (missing is a code of its own).
    sizes : list of int
        Number of codes of each column.
    n : int
        Training rows.

    Returns
    -------
    list of (determinant, dependant, forced)
        Column indices, and per code of the determinant the dependant's code it
        forces (-1: none).
    """
    k = len(sizes)
    if k < 2 or k > _MAX_RULE_COLUMNS or n < _SUPPORT:
        return []
    rows = _spread(n, max(_IMPLICATION_ROWS, _IMPLICATION_WORK // (k * k)))
    sample = np.empty((len(rows), k), dtype=np.int64)
    shares = []
    for j in range(k):
        column = codes(j)
        sample[:, j] = column[rows]
        shares.append(np.bincount(column, minlength=sizes[j]) / n)
    offsets = np.cumsum([0, *sizes[:-1]])
    flat_shares = np.concatenate(shares)
    log_limit = np.log(_SIGNIFICANCE)
    rules = []
    # One way only: a column that a kept rule forces determines none, and a column that
    # determines a kept rule is forced by none (both sets only grow, so skipping is exact).
    determinants: set[int] = set()
    dependants: set[int] = set()
    for a in range(k):
        if a in dependants:
            continue
        # pure groups of the sample: every dependant's smallest code equals its largest
        order = np.argsort(sample[:, a], kind="stable")
        ordered = sample[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:, a] != ordered[:-1, a]])
        low = np.minimum.reduceat(ordered, starts, axis=0)
        pure = low == np.maximum.reduceat(ordered, starts, axis=0)
        size = np.diff(np.r_[starts, len(ordered)])[:, None]
        share = flat_shares[low + offsets]
        with np.errstate(divide="ignore"):
            rare = size * np.log(share) < log_limit
        found = pure & rare & (size >= _SUPPORT) & (share < 1.0)
        found[:, a] = False
        determinant = None  # all rows' codes, read once per determinant that may force
        for b in np.flatnonzero(found.any(axis=0)).tolist():
            if b in determinants:
                continue
            determinant = codes(a) if determinant is None else determinant
            forced = _forced_codes(determinant, codes(b), sizes[a], sizes[b], shares[b])
            if forced is not None:
                rules.append((a, b, forced))
                determinants.add(a)
                dependants.add(b)
    return rules


def _forced_codes(
    determinant: np.ndarray, dependant: np.ndarray, size: int, size_b: int, share: np.ndarray
) -> np.ndarray | None:
    """Per determinant code, the dependant code that all its rows have, where that is
    not chance (-1: none), on all rows; None when no code forces one."""
    # The distinct (determinant, dependant) pairs, in memory of the rows, not of the
    # product of the two category counts.
    pairs = np.unique(determinant * size_b + dependant)
    first, second = np.divmod(pairs, size_b)
    pure = np.bincount(first, minlength=size) == 1
    forced = np.full(size, -1, dtype=np.int64)
    forced[first] = second  # the only dependant code where the group is pure
    rows = np.bincount(determinant, minlength=size)
    share = share[np.maximum(forced, 0)]
    with np.errstate(divide="ignore"):
        chance = rows * np.log(share) < np.log(_SIGNIFICANCE)
    kept = pure & (rows >= _SUPPORT) & chance & (share < 1.0)
    if not kept.any():
        return None
    return np.where(kept, forced, -1)


class ValueRules:
    """Keeps the value rules of :func:`find_implications` in drawn category codes.

    Parameters
    ----------
    rules : list of (determinant, dependant, forced)
        Columns of the code matrix (categorical columns in order), and per code of
        the determinant the dependant's code it forces (-1: none).
    """

    def __init__(self, rules: list[tuple[int, int, np.ndarray]]) -> None:
        by_dependant: dict[int, list[tuple[int, np.ndarray]]] = {}
        unforcing: dict[int, np.ndarray] = {}  # per determinant, its codes that force nothing
        for a, b, forced in rules:
            by_dependant.setdefault(b, []).append((a, forced))
            unforcing[a] = unforcing.get(a, forced < 0) & (forced < 0)
        self._by_dependant = list(by_dependant.items())
        self._unforcing = {a: np.flatnonzero(free) for a, free in unforcing.items()}

    def keep(self, codes: np.ndarray, random_state: np.random.Generator | None) -> np.ndarray:
        """Category codes ``(n, n_categorical)`` with the value rules kept.

        A row whose determinant value forces a dependant value it lacks gets that
        value. Drawn at random (``random_state``), as many rows under no rule of
        that dependant give up that value for the ones displaced, so that the
        dependant's frequencies stay as drawn: a model that puts some men in
        childbirth puts too many women elsewhere, and forcing alone would keep
        both errors. No dependant determines a rule (see ``find_implications``),
        so one pass keeps them all.

        Childbirth forces sex F and a prostatectomy sex M: a row drawn with both, a
        combination the training data never had, first gets another value of the
        later determinant, one that forces nothing (drawn from the rows that hold
        such values, or the first such code without ``random_state``); as no rule
        forces a determinant, no rule breaks by it. The caller's array is copied
        before the first change, never changed.
        """
        copied = False
        for dependant, rules in self._by_dependant:
            target = None
            for determinant, forced in rules:
                own = forced[codes[:, determinant]]
                if target is not None:
                    clash = np.flatnonzero((target >= 0) & (own >= 0) & (own != target))
                    free = self._unforcing[determinant]
                    if len(clash) and len(free):
                        if not copied:
                            codes, copied = np.array(codes), True
                        column = codes[:, determinant]
                        pool = column[np.isin(column, free)]
                        if random_state is not None and len(pool):
                            column[clash] = random_state.choice(pool, len(clash))
                        else:
                            column[clash] = free[0]
                        own = forced[column]
                    own = np.where(target < 0, own, target)
                target = own
            wrong = np.flatnonzero((target >= 0) & (codes[:, dependant] != target))
            if not len(wrong):
                continue
            if not copied:
                codes, copied = np.array(codes), True
            column = codes[:, dependant]
            displaced, given = column[wrong], target[wrong]
            column[wrong] = given
            if random_state is None:
                continue
            for value in np.unique(given).tolist():
                returned = displaced[given == value]
                free = np.flatnonzero((target < 0) & (column == value))
                if len(free) > len(returned):
                    free = random_state.choice(free, len(returned), replace=False)
                column[free] = returned[: len(free)]
        return codes
