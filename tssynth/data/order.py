"""Numeric columns never below another one, modelled as their gap above it.

A day's high is never below its low, a maximum temperature never below the
minimum, a total never below one of its parts. Modelled apart, each column is
drawn within its own range and the order is left to chance: 47 % of synthetic
stock days had ``Low > High`` and 13 % of Seattle's days ``temp_min > temp_max``.
:class:`~tssynth.data.transformer.DataTransformer` therefore models such a column
as its gap above the largest of the columns it is never below (its floors,
:func:`find_floors`: a high is above the larger of open and close), and decodes
it as that plus the gap, on its own grid (:func:`above_floor`). This is the
numeric counterpart of anchored datetime columns
(:func:`tssynth.data.calendar.find_anchors`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tssynth.data.continuous import EXACT_FLOAT_INTEGER, grid_counts
from tssynth.data.schema import CATEGORICAL, NUMERIC, ColumnSpec, to_float

_SCREEN_ROWS = 512  # rows a pair is first checked on, before all of them
_MIN_CHANCE_BREAKS = 0.02  # pairs drawn apart must break the order this often to matter
# ... and this many times in as many rows: an order that chance keeps once in e**7 (1,100)
_MIN_EXPECTED_BREAKS = 7.0
_FEW_VALUES = 20  # a column of at most this many values (a count, a score) ...
_FINER_FLOOR = 2.0  # ... takes no floor with more than this many times its values


def find_floors(
    columns: list[ColumnSpec], df: pd.DataFrame, fixed: frozenset[int] = frozenset()
) -> dict[int, tuple[int, ...]]:
    """Numeric columns never below others, and those (their floors), by position.

    A column's floors are the numeric columns it is at or above in every row where both
    are present; it is modelled above their row-wise maximum. Where a floor is missing
    and the column is not, the floor is stood in for (:func:`floor_stand_ins`), so that
    a few missing lows do not lose the order of every high above its low; derived
    columns (restored exactly) and floors with floors of their own (whose stand-in would
    have to keep inside its own gaps as well) have no stand-in: they are floors only of
    columns missing wherever they are. A pair counts only where the order matters:
    values drawn apart from the two columns (each row's value beside another row's)
    would break it at least 2 % of the time; otherwise the ranges keep it by themselves
    (ages over 17 beside years of education up to 16) or nearly (Boston's house ages
    beside its crime rates, 1.1 %: modelled as a gap, the age lost fidelity), and values
    drawn apart would break it at least 7 times in as many rows as hold it, so that the
    order is no accident of a few rows (mtcars' cylinders are never below its weights in
    tonnes, 32 rows with 4 % of chance breaks). A column of at most 20 distinct values
    takes no floor with more than twice as many: as a gap above engine sizes in litres,
    the cylinders (4, 5, 6, 8) of R's mpg lost their shape (fidelity 0.831 against
    0.804). Of columns identical where both are present, the later one takes the earlier
    as a floor. Ordered so that floors come before the columns above them; a floor that
    would close a cycle (possible only through missing values: a above b where c is
    missing, b above c where a is, c above a where b is) is left out.

    Parameters
    ----------
    columns : list of ColumnSpec
        Every column's spec, by position.
    df : DataFrame
        The table the columns were inferred from.
    fixed : frozenset of int
        Columns never given floors (derived ones, restored exactly), which may be
        floors of others.

    Returns
    -------
    dict of int to tuple of int
        Position of each column with floors to the positions of its floors.
    """
    positions, values, distinct = [], [], []
    for position, spec in enumerate(columns):
        if spec.kind == CATEGORICAL or spec.value_type != NUMERIC or spec.public_bounds:
            continue
        column = to_float(df[spec.name], spec)
        observed = column[~np.isnan(column)]
        n_distinct = np.unique(observed).size
        # past 2**53 a gap is not exact (such integers count from their minimum instead)
        if n_distinct > 1 and np.abs(observed).max() <= EXACT_FLOAT_INTEGER:
            positions.append(position)
            values.append(column)
            distinct.append(n_distinct)
    if len(positions) < 2:
        return {}
    distinct = np.asarray(distinct)
    x = np.column_stack(values)
    present = ~np.isnan(x)
    covering = np.isin(positions, list(fixed))  # present wherever the column above is
    screen = np.linspace(0, len(x) - 1, min(len(x), _SCREEN_ROWS)).astype(np.int64)
    floors: dict[int, tuple[int, ...]] = {}
    for j in range(len(positions)):
        if positions[j] in fixed:
            continue
        candidates = _never_below(x[screen], present[screen], covering, j)
        if candidates.any():  # confirmed on every row
            candidates[candidates] = _never_below(
                x[:, candidates],
                present[:, candidates],
                covering[candidates],
                None,
                x[:, j],
                present[:, j],
            )
        if distinct[j] <= _FEW_VALUES:
            candidates &= distinct <= _FINER_FLOOR * distinct[j]
        own = []
        for i in np.flatnonzero(candidates).tolist():
            both = present[:, i] & present[:, j]
            identical = (x[both, j] == x[both, i]).all()  # where both are present
            if (identical and i > j) or _is_below(j, i, floors, positions):
                continue
            breaks = _chance_breaks(x[both, j], x[both, i])
            if not identical and (
                breaks < _MIN_CHANCE_BREAKS or breaks * both.sum() < _MIN_EXPECTED_BREAKS
            ):
                continue
            own.append(positions[i])
        if own:
            floors[positions[j]] = tuple(own)
    # A stand-in for a floor with floors of its own would have to keep inside its own
    # gaps as well: such a floor is kept only where it is present wherever its column is.
    index = {position: i for i, position in enumerate(positions)}
    for later, own in list(floors.items()):
        kept = tuple(
            floor
            for floor in own
            if floor not in floors
            or not (~present[:, index[floor]] & present[:, index[later]]).any()
        )
        if kept:
            floors[later] = kept
        else:
            del floors[later]
    return parents_first(floors)


def _is_below(
    column: int, other: int, floors: dict[int, tuple[int, ...]], positions: list[int]
) -> bool:
    """Whether the column at index ``column`` is a floor of the one at ``other``, or of
    a floor of it, and so on (indices into ``positions``; ``floors`` by position)."""
    target, seen, stack = positions[column], set(), [positions[other]]
    while stack:
        for floor in floors.get(stack.pop(), ()):
            if floor == target:
                return True
            if floor not in seen:
                seen.add(floor)
                stack.append(floor)
    return False


def parents_first(parents: dict[int, tuple[int, ...]]) -> dict[int, tuple[int, ...]]:
    """``parents`` (a column's position to the positions it is decoded from) reordered
    so that every column comes after its parents that have parents of their own; the
    parents form no cycle (columns round one would all be identical)."""
    ordered: dict[int, tuple[int, ...]] = {}

    def place(column: int) -> None:
        if column in parents and column not in ordered:
            for parent in parents[column]:
                place(parent)
            ordered[column] = parents[column]

    for column in parents:
        place(column)
    return ordered


def _never_below(
    x: np.ndarray,
    present: np.ndarray,
    covering: np.ndarray,
    j: int | None,
    column: np.ndarray | None = None,
    column_present: np.ndarray | None = None,
) -> np.ndarray:
    """Which columns of ``x`` the column (``x[:, j]``, or ``column``) is never below,
    where both are present, and (those marked ``covering``) present wherever it is;
    never itself."""
    if j is not None:
        column, column_present = x[:, j], present[:, j]
    with np.errstate(invalid="ignore"):
        above = (column[:, None] >= x) | ~present
    covered = present | ~column_present[:, None] | ~covering
    result = (above | ~column_present[:, None]).all(axis=0) & covered.all(axis=0)
    result &= (present & column_present[:, None]).sum(axis=0) >= 2
    if j is not None:
        result[j] = False
    return result


def _chance_breaks(later: np.ndarray, earlier: np.ndarray) -> float:
    """Share of pairs of one row's ``later`` and another row's ``earlier`` with
    ``later < earlier``: how often values drawn apart break the order."""
    ranks = np.searchsorted(np.sort(later), earlier, side="left")  # later values below each
    return float(ranks.mean() / len(later))


def floor_of(floors: list[np.ndarray]) -> np.ndarray:
    """The row-wise maximum of a column's floors (NaN where any is missing)."""
    return np.maximum.reduce(floors) if len(floors) > 1 else floors[0]


def floor_stand_ins(
    df: pd.DataFrame, columns: list[ColumnSpec], later: int, floors: tuple[int, ...]
) -> dict[int, tuple[float, float, float]]:
    """For each floor of the column at ``later`` that is missing in some rows where
    the column is present: the column's median gap above it (the lower median, a gap
    of the data, so that stand-ins stay on the floor's grid) and the floor's range.

    In such rows the floor is modelled as missing with the stand-in value ``later -
    gap`` inside its range (:func:`with_stand_in_floor`), from which ``later`` is
    decoded as in any other row: samples keep the order wherever both are present.
    (A value below the floor's smallest, in a row where the floor is missing, comes
    back at that smallest value.)
    """
    above = to_float(df[columns[later].name], columns[later])
    stand_ins = {}
    for floor in floors:
        below = to_float(df[columns[floor].name], columns[floor])
        if (np.isnan(below) & ~np.isnan(above)).any():
            gaps = (above - below)[~np.isnan(above - below)]
            gap = float(np.quantile(gaps, 0.5, method="lower"))
            stand_ins[floor] = (gap, float(np.nanmin(below)), float(np.nanmax(below)))
    return stand_ins


def with_stand_in_floor(
    above: np.ndarray, floor: np.ndarray, gap: float, low: float, high: float
) -> np.ndarray:
    """``floor`` (float values) with ``above - gap``, inside ``[low, high]``, where it
    is missing and ``above`` is present (see :func:`floor_stand_ins`)."""
    return np.where(np.isnan(floor), np.clip(above - gap, low, high), floor)


def above_floor(
    floor: np.ndarray, gap: np.ndarray, low: float, high: float, step: float, origin: float
) -> np.ndarray:
    """A column from its floor's decoded values (:func:`floor_of`) and its decoded gap.

    On the column's own grid ``origin + k * step`` (exactly, for decimal steps: see
    :func:`~tssynth.data.continuous.grid_counts`; a value rounded below its floor
    moves up one step), inside ``[low, high]``, and never below the floor.
    """
    values = floor + gap
    if step > 0:
        per_unit, unit, origin_units = (float(f[0]) for f in grid_counts([step], [origin]))
        stepped = np.round((values * per_unit - origin_units) / unit) * unit
        values = (stepped + origin_units) / per_unit
        with np.errstate(invalid="ignore"):
            values = np.where(values < floor, values + step, values)
    values = np.clip(values, low, high)
    with np.errstate(invalid="ignore"):
        return np.where(values < floor, floor, values)
