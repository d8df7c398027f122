"""Datetime columns as the parts a model can learn: calendar parts and offsets.

One mixture over years of timestamps resolves neither hours nor weekdays, and two
timestamps modelled apart come out in either order. :class:`DataTransformer`
therefore models a datetime column as continuous rows of:

- its calendar parts (:func:`choose_calendar_parts`): week and weekday (or its
  day) plus its time of day, added back together on decoding and moved into the
  column's range by whole days or weeks (:func:`into_range`);
- or, for a column never before another one (an end after its start,
  :func:`find_anchors`), its offset from that anchor, or the days between their
  midnights plus its own time of day (:func:`choose_anchored_parts`), decoded by
  :func:`after_anchor`.

Every split is exact: parts come from integer counts of the column's unit.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np
import pandas as pd

from tssynth.data.continuous import POINT_MASS_COUNT, point_masses
from tssynth.data.order import parents_first
from tssynth.data.schema import (
    CATEGORICAL,
    DATETIME,
    ColumnSpec,
    check_time_kind,
    nanoseconds_per_unit,
    restore_time_ints,
    time_ints,
)
from tssynth.data.time_index import IndexClock, month_clock, month_times

# What a continuous row of DataTransformer models: a whole column, a calendar part of
# a datetime column, or a part of a datetime column relative to its anchor.
WHOLE, DAY, TIME_OF_DAY, WEEK, WEEKDAY = 0, 1, 2, 3, 4
OFFSET, LAG = 5, 6
CALENDAR_PART = {DAY: "day", TIME_OF_DAY: "time", WEEK: "week", WEEKDAY: "weekday"}
ANCHORED_PART = {OFFSET: "offset", LAG: "lag", TIME_OF_DAY: "time"}

_CALENDAR_DAYS = 7  # distinct days a datetime column needs to be split into parts
_POINT_MASS_ROWS = 0.5  # ... and rows on frequent timestamps it must not exceed (share)
_SECONDS_IN = {DAY: 86_400, WEEK: 7 * 86_400}
_PERIOD_TOLERANCE = 2**-20  # of a day or week: well past float32 rounding of the parts
_WEEKDAY_ROWS = 140  # values a column needs before a weekday it never falls on is ruled out


def period(spec: ColumnSpec, part: int) -> int:
    """One day (``part=DAY``) or week (``WEEK``) in counts of the column's unit (exact)."""
    return _SECONDS_IN[part] * 10**9 // nanoseconds_per_unit(spec)


class AnchoredDecoding(NamedTuple):
    """What decoding an anchored column needs beyond its anchor (see :func:`after_anchor`)."""

    step: float  # the column's own time grid (0: none)
    weekdays: list[bool]  # the weekdays it falls on, Monday first
    shares_missing: bool  # missing exactly where its anchor is
    origin: float = 0.0  # the grid's offset (half past the hour on an hourly grid)


def calendar_parts(series: pd.Series, spec: ColumnSpec) -> dict[str, np.ndarray]:
    """A datetime column's calendar parts, as floats of its unit (NaN where missing).

    ``day`` (the value's midnight) and ``time`` (of day) add up to the value, and so
    do ``week``, ``weekday`` and ``time``: ``week`` is a multiple of seven days and
    ``weekday = day - week`` runs from -3 days (Monday) to 3 days (Sunday). Split in
    integer arithmetic, so every part is exact (tz-aware columns on the clock that
    :func:`~tssynth.data.schema.to_float` uses).

    Parameters
    ----------
    series : Series of datetimes
    spec : ColumnSpec
        The column's fitted spec (unit, time zone).

    Returns
    -------
    dict of str to ndarray of shape (len(series),)
        ``day``, ``time``, ``week`` and ``weekday``.
    """
    check_time_kind(series, spec)
    ints, missing = time_ints(series, spec)
    day = period(spec, DAY)
    midnight = ints // day * day
    # 1970-01-01 is a Thursday: Monday .. Sunday sit 3 days either side of a multiple of 7.
    week = (midnight + 3 * day) // (7 * day) * (7 * day)
    parts = {"day": midnight, "time": ints - midnight, "week": week, "weekday": midnight - week}
    return _floats(parts, missing)


def anchored_parts(
    later: pd.Series, later_spec: ColumnSpec, earlier: pd.Series, earlier_spec: ColumnSpec
) -> dict[str, np.ndarray]:
    """A datetime column relative to an earlier one on the same clock and unit.

    ``offset`` (``later - earlier``), ``lag`` (from the earlier value's midnight to
    the later one's) and ``time`` (the later value's time of day), as floats of the
    unit: ``later = earlier + offset = midnight(earlier) + lag + time``. Exact
    (integer arithmetic); NaN where either is missing.

    Parameters
    ----------
    later, earlier : Series of datetimes
    later_spec, earlier_spec : ColumnSpec
        Their fitted specs, on one clock (:func:`same_clock`); the results count
        ``later``'s unit.

    Returns
    -------
    dict of str to ndarray of shape (len(later),)
        ``offset``, ``lag`` and ``time``.
    """
    check_time_kind(later, later_spec)
    check_time_kind(earlier, earlier_spec)
    (late, late_missing), (early, early_missing) = (
        time_ints(later, later_spec),
        # in later's unit (exact: see same_clock), where later is present: an earlier
        # value a finer unit cannot hold matters only there
        time_ints(
            earlier.where(later.notna().to_numpy()), replace(earlier_spec, unit=later_spec.unit)
        ),
    )
    day = period(later_spec, DAY)
    late_midnight = late // day * day
    parts = {
        "offset": late - early,
        "lag": late_midnight - early // day * day,
        "time": late - late_midnight,
    }
    return _floats(parts, late_missing | early_missing)


def _floats(parts: dict[str, np.ndarray], missing: np.ndarray) -> dict[str, np.ndarray]:
    floats = {}
    for name, part in parts.items():
        floats[name] = part.astype(np.float64)
        floats[name][missing] = np.nan
    return floats


def same_clock(later: ColumnSpec, earlier: ColumnSpec) -> bool:
    """Whether ``earlier`` reads exactly in ``later``'s unit, on the same clock (so they
    subtract): the same time zone, and a unit that is a whole number of ``later``'s
    (admissions in seconds, discharges in microseconds; pandas 3 infers each column's
    resolution from its own values)."""
    return (later.tz, later.wall_clock) == (earlier.tz, earlier.wall_clock) and (
        unit_ratio(later, earlier) == int(unit_ratio(later, earlier))
    )


def unit_ratio(later: ColumnSpec, earlier: ColumnSpec) -> float:
    """Counts of ``later``'s unit in one count of ``earlier``'s."""
    return nanoseconds_per_unit(earlier) / nanoseconds_per_unit(later)


def choose_calendar_parts(series: pd.Series, spec: ColumnSpec) -> dict[int, np.ndarray]:
    """The calendar parts that model a datetime column, or {} for the whole column.

    Week and weekday when the column spans two weeks or more on different weekdays
    (else its day), plus the time of day when it varies; a single time of day
    (08:30 every day) rides on the weekday. A column on fewer than 7 days is
    modelled whole: its few timestamps are point masses, and parts drawn apart
    would pair one day with another day's time. So is a column where only one part
    varies, and one with declared bounds.

    Parameters
    ----------
    series : Series
    spec : ColumnSpec

    Returns
    -------
    dict of int to ndarray
        The chosen part codes (``WEEK``, ``WEEKDAY``, ``DAY``, ``TIME_OF_DAY``) and
        their values, in the order the rows are laid out.
    """
    if spec.value_type != DATETIME or spec.public_bounds is not None:
        return {}
    values = calendar_parts(series, spec)
    present = ~np.isnan(values["day"])

    def distinct(name: str) -> int:
        return np.unique(values[name][present]).size

    if distinct("day") < _CALENDAR_DAYS:
        return {}
    # Most rows on a few frequent timestamps (an open end written 9999-12-31) come back
    # exactly only as point masses of the whole column: parts drawn apart make
    # 9999-12-28 of them.
    stamps = values["day"][present] + values["time"][present]
    counts = np.unique(stamps, return_counts=True)[1]
    if counts[point_masses(counts)].sum() >= _POINT_MASS_ROWS * counts.sum():
        return {}
    # Weeks once the column spans two of them: samples outside its range are moved by
    # whole weeks, which needs a range longer than a week.
    days = values["day"][present]
    chosen = [WEEK, WEEKDAY] if days.max() - days.min() >= 2 * period(spec, WEEK) else []
    if chosen and distinct("weekday") == 1:
        chosen = []
    if distinct("time") > 1:
        chosen = (chosen or [DAY]) + [TIME_OF_DAY]
    elif chosen:
        values["weekday"] = values["weekday"] + values["time"]
    return {part: values[CALENDAR_PART[part]] for part in chosen}


def into_range(values: np.ndarray, low: float, high: float, step: float) -> np.ndarray:
    """Calendar parts added up, moved into [low, high] by whole ``step`` (a day or week).

    Parts drawn apart can pair the first day with a time before the first
    timestamp; clipping would pile such samples on the minimum. Moving them by their
    period keeps their weekday and time of day. Parts decode to within float32
    rounding of a bound (milliseconds of a time of day): such a sample is the bound,
    not one a week away.

    Parameters
    ----------
    values : ndarray
        Sums of a column's parts, NaN where missing.
    low, high : float
        The column's training range.
    step : float
        A day or a week in counts of the column's unit (:func:`period`).

    Returns
    -------
    ndarray, every value inside [low, high] (NaN kept).
    """
    tolerance = step * _PERIOD_TOLERANCE
    with np.errstate(invalid="ignore"):  # NaN (missing) stays NaN
        below = np.maximum(low - values - tolerance, 0.0)
        values = values + np.ceil(below / step) * step
        above = np.maximum(values - high - tolerance, 0.0)
        values = values - np.ceil(above / step) * step
    return np.clip(values, low, high)  # a range shorter than the period


class MonthGrid(NamedTuple):
    """Datetimes all on one day of the month (or all month ends) at one time of day,
    every ``step``-th month: monthly or quarterly reports, yearly dates."""

    step: int  # months between grid points: 1 monthly, 3 quarterly, 12 yearly
    origin: int  # the grid's months since 1970-01, modulo ``step``
    low: int  # the first and the last month of the training values, since 1970-01
    high: int
    clock: IndexClock  # the day of the month and the time of day

    def to_list(self) -> list:
        """Plain-data form, for generator files."""
        return [self.step, self.origin, self.low, self.high, self.clock.to_dict()]

    @classmethod
    def from_list(cls, state: list) -> MonthGrid:
        """Inverse of :meth:`to_list`."""
        step, origin, low, high, clock = state
        return cls(int(step), int(origin), int(low), int(high), IndexClock.from_dict(clock))


def month_grid(ints: np.ndarray, spec: ColumnSpec) -> MonthGrid | None:
    """The month grid every value of a datetime column is on, or None.

    Parameters
    ----------
    ints : ndarray of int64
        The column's present values in counts of its unit (:func:`time_ints`).
    spec : ColumnSpec

    Returns
    -------
    MonthGrid or None
        None for other columns, for values off every month grid (see
        :func:`~tssynth.data.time_index.month_clock`) and for fewer than two
        distinct months.
    """
    if spec.value_type != DATETIME:
        return None
    times = np.unique(ints).astype(f"datetime64[{spec.unit or 'ns'}]")
    clock = month_clock(times)
    if clock is None:
        return None
    months = times.astype("datetime64[M]").astype(np.int64)
    step = int(np.gcd.reduce(months - months[0]))
    return MonthGrid(step, int(months[0] % step), int(months[0]), int(months[-1]), clock)


def onto_month_grid(values: np.ndarray, spec: ColumnSpec, grid: MonthGrid) -> np.ndarray:
    """Decoded datetimes (floats of counts of the unit, NaN where missing) moved to
    the nearest point of ``grid`` between its first and last month."""
    values = values.copy()
    present = ~np.isnan(values)
    ints = np.round(values[present]).astype(np.int64)
    month = ints.astype(f"datetime64[{spec.unit or 'ns'}]").astype("datetime64[M]")
    month = month.astype(np.int64)
    below = month - (month - grid.origin) % grid.step
    candidates = below[:, None] + grid.step * np.array([-1, 0, 1])
    points = month_times(np.clip(candidates, grid.low, grid.high), spec, grid.clock)
    nearest = np.abs(points - ints[:, None]).argmin(axis=1)
    values[present] = points[np.arange(ints.size), nearest]
    return values


def find_anchors(
    columns: list[ColumnSpec],
    df: pd.DataFrame,
    fixed: frozenset[int] = frozenset(),
    blocked: list[tuple[int, int, int]] | None = None,
) -> dict[int, int]:
    """Datetime columns never before another one, and that one (their anchor), by position.

    A column's anchor is the column it follows by the smallest median gap, among
    those present wherever it is, on the same clock, with overlapping ranges (apart,
    births before admissions, the order holds by itself) and not identical to it (of
    identical columns, the later one is anchored). Ordered so that an anchor comes
    before the columns anchored to it; there is no cycle, since columns anchored
    round a cycle would all be identical.

    Parameters
    ----------
    columns : list of ColumnSpec
        The table's columns, by position.
    df : DataFrame
        The training data.
    fixed : frozenset of int
        Positions of columns that are never anchored (derived ones, restored
        exactly); they may be anchors, but only of columns that are missing wherever
        they are (a derived anchor has no stand-in, see :func:`with_stand_in_anchor`).
    blocked : list, optional
        Filled with ``(later, earlier, rows)`` for the unanchored columns that are
        never before a derived ``earlier`` where both are present, but are present in
        ``rows`` rows where ``earlier`` is missing.

    Returns
    -------
    dict of int to int
        Position of each anchored column to the position of its anchor.
    """
    times: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for position, spec in enumerate(columns):
        if spec.kind != CATEGORICAL and spec.value_type == DATETIME and not spec.public_bounds:
            ints, missing = time_ints(df[spec.name], spec)
            if np.unique(ints[~missing]).size > 1:
                times[position] = (ints, missing)
    anchors: dict[int, int] = {}
    for later, (late, late_missing) in times.items():
        if later in fixed:
            continue
        best: tuple[float, int] | None = None
        unrestorable: tuple[int, int] | None = None  # (rows, earlier) of the commonest
        for earlier, (early, early_missing) in times.items():
            both = ~late_missing & ~early_missing
            if earlier == later or not same_clock(columns[later], columns[earlier]):
                continue
            ratio = int(unit_ratio(columns[later], columns[earlier]))
            if ratio > 1:  # counted in later's unit, when int64 holds it there
                if np.abs(early).max(initial=0) > np.iinfo(np.int64).max // ratio:
                    continue
                early = early * ratio
            if both.sum() < 2 or late[~late_missing].min() > early[~early_missing].max():
                continue
            gaps = late[both] - early[both]
            identical = not gaps.any() and (late_missing == early_missing).all()
            if (gaps < 0).any() or (identical and earlier > later):
                continue
            lone = int((early_missing & ~late_missing).sum())
            if lone and earlier in fixed:
                unrestorable = max(unrestorable or (0, 0), (lone, earlier))
                continue
            median = float(np.median(gaps))
            if best is None or median < best[0]:
                best = (median, earlier)
        if best is not None:
            anchors[later] = best[1]
        elif unrestorable is not None and blocked is not None:
            blocked.append((later, unrestorable[1], unrestorable[0]))
    ordered = parents_first({later: (earlier,) for later, earlier in anchors.items()})
    return {later: earlier for later, (earlier,) in ordered.items()}


def stand_in_offset(
    later: pd.Series, later_spec: ColumnSpec, earlier: pd.Series, earlier_spec: ColumnSpec
) -> float | None:
    """The median of ``later - earlier`` (in ``later``'s unit) when ``earlier`` is missing
    in some rows where ``later`` is present; None when it is present wherever ``later`` is.

    Such rows model ``earlier`` as missing with a stand-in value ``later - offset``
    (:func:`with_stand_in_anchor`), from which ``later`` is decoded as in any other row,
    so that ``later`` is never before ``earlier`` in samples where both are present.
    """
    if not (earlier.isna().to_numpy() & later.notna().to_numpy()).any():
        return None
    offsets = anchored_parts(later, later_spec, earlier, earlier_spec)["offset"]
    present = offsets[~np.isnan(offsets)]
    return float(np.median(present)) if present.size else None


def with_stand_in_anchor(
    later: pd.Series,
    later_spec: ColumnSpec,
    earlier: pd.Series,
    earlier_spec: ColumnSpec,
    offset: float,
) -> pd.Series:
    """``earlier`` with ``later - offset`` (floored to ``earlier``'s unit, in its dtype) in
    the rows where it is missing and ``later`` is present (see :func:`stand_in_offset`)."""
    late, late_missing = time_ints(later, later_spec)
    early, early_missing = time_ints(earlier, earlier_spec)
    lone = early_missing & ~late_missing
    if not lone.any():
        return earlier
    ratio = int(unit_ratio(later_spec, earlier_spec))
    early = early.copy()
    early[lone] = (late[lone] - round(offset)) // ratio
    filled = restore_time_ints(early, earlier_spec)  # the smallest int64 (NaT) stays missing
    return pd.Series(filled.array, index=earlier.index, name=earlier.name)


def choose_anchored_parts(
    relative: dict[str, np.ndarray], spec: ColumnSpec, by_day: bool = True
) -> list[int]:
    """Lag and time of day for a column days after its anchor with times of its own
    (discharges at 11:00 whatever the admission's hour); else the plain offset.

    Parameters
    ----------
    relative : dict of str to ndarray
        :func:`anchored_parts` of the column.
    spec : ColumnSpec
    by_day : bool, default=True
        Whether the lag and time-of-day form may be chosen.

    Returns
    -------
    list of int
        ``[LAG, TIME_OF_DAY]`` or ``[OFFSET]``.
    """
    present = ~np.isnan(relative["offset"])
    by_day = (
        by_day
        and np.median(relative["offset"][present]) >= period(spec, DAY)
        and np.unique(relative["lag"][present]).size > 1
        and np.unique(relative["time"][present]).size > 1
    )
    return [LAG, TIME_OF_DAY] if by_day else [OFFSET]


def absolute_masses(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Frequent values of an anchored column that its offsets do not explain.

    A study's end date is the death date of every patient still alive: a point mass
    of the column itself, reached from starts spread over years, so no offset holds
    it. Such a value (a :func:`~tssynth.data.continuous.point_masses` of the column)
    is kept absolute when it is at or after every anchor, so that no start drawn in
    the anchor's range can come after it, and when fewer than half its rows with an
    anchor share one offset (an end a day after a frequent start is the start's
    point mass, which the offset carries; with fewer than three anchors, none tells).

    Parameters
    ----------
    values : ndarray of shape (n,)
        The column's present values: exact integers of a time column's unit (int64),
        or a number's floats (a numeric column above its floors, see
        :mod:`tssynth.data.order`).
    offsets : ndarray of shape (n,)
        Their offsets from the anchor, in the same unit (NaN where it is missing).

    Returns
    -------
    ndarray of the dtype of ``values``
        The absolute values, ascending.
    """
    known = ~np.isnan(offsets)
    if not known.any():
        return np.zeros(0, dtype=values.dtype)
    latest_anchor = (values[known] - offsets[known].astype(values.dtype)).max()
    distinct, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    kept = []
    for k in np.flatnonzero(point_masses(counts) & (distinct >= latest_anchor)):
        own = offsets[(inverse == k) & known]  # at most 1 / POINT_MASS_SHARE values
        shared = np.unique(own, return_counts=True)[1].max(initial=0)
        if own.size < POINT_MASS_COUNT or shared < 0.5 * own.size:
            kept.append(distinct[k])
    return np.asarray(kept, dtype=values.dtype)


def weekdays(series: pd.Series, spec: ColumnSpec) -> list[bool]:
    """The weekdays (Monday first) a datetime column falls on; all of them when it
    has fewer than 140 values, too few for an absent weekday to mean much.

    Parameters
    ----------
    series : Series of datetimes
    spec : ColumnSpec

    Returns
    -------
    list of 7 bool, Monday first.
    """
    values = calendar_parts(series, spec)["weekday"]
    present = values[~np.isnan(values)]
    if present.size < _WEEKDAY_ROWS:
        return [True] * 7
    seen = np.unique(np.round(present / period(spec, DAY)).astype(np.int64) + 3)
    return np.isin(np.arange(7), seen).tolist()


def after_anchor(
    start: np.ndarray,
    relative: np.ndarray,
    spec: ColumnSpec,
    by_day: bool,
    step: float,
    low: float,
    allowed: list[bool] | None = None,
    origin: float = 0.0,
) -> np.ndarray:
    """An anchored column from its anchor's values and its relative rows, summed.

    ``relative`` is the offset, or (``by_day``) the lag plus the time of day. The
    result is never before the anchor: a same-day end at an earlier hour is folded
    back after its start (keeping its day: moving it to the next day lost half of
    the same-day samples), and grid rounding below the start moves up one step. A
    value on a weekday the column never fell on (``allowed``, Monday first:
    deliveries on business days) moves on to the next weekday it did, keeping its
    time of day. The result is not clipped to the column's training maximum: in
    data whose latest starts have no end yet, that would pile samples on the
    maximum (13 % in a probe) or put them before their start.

    Parameters
    ----------
    start : ndarray of shape (n,)
        The anchor's decoded values, in counts of the column's unit.
    relative : ndarray of shape (n,)
        The offset, or (``by_day``) the lag plus the time of day.
    spec : ColumnSpec
        The anchored column.
    by_day : bool
        Whether ``relative`` counts from the anchor's midnight.
    step : float
        The column's own time grid (0: none).
    low : float
        The column's training minimum.
    allowed : list of 7 bool, optional
        The weekdays the column falls on, Monday first.
    origin : float, default=0.0
        The offset of the column's grid: its values are ``origin + k * step``.

    Returns
    -------
    ndarray of shape (n,)
    """
    if by_day:
        day = period(spec, DAY)
        midnight = np.floor(start / day) * day
        end = midnight + relative
        # folded within what is left of the start's day (23:00 start, 01:00 end: 23:00)
        room = midnight + day - start
        with np.errstate(invalid="ignore"):
            end = np.where(end < start, start + np.mod(start - end, room), end)
    else:
        end = start + relative
    if step > 0:
        end = np.round((end - origin) / step) * step + origin
        end = np.where(end < start, end + step, end)
    end = np.maximum(end, low)
    if allowed is not None and not all(allowed) and any(allowed):
        day = period(spec, DAY)
        # days to the next allowed weekday, from each weekday (Monday = 0)
        ahead = [next(k for k in range(7) if allowed[(w + k) % 7]) for w in range(7)]
        with np.errstate(invalid="ignore"):  # NaN (missing) stays NaN
            weekday = np.floor(end / day) + 3
            weekday = np.nan_to_num(weekday - 7 * np.floor(weekday / 7)).astype(np.int64)
        end = end + np.asarray(ahead, dtype=np.float64)[weekday] * day
    return end
