"""A panel's ``sequence_index``: times as exact offsets, calendar months, and back.

Times are modelled as float offsets from an integer origin (the earliest time of
the data read), so that nanosecond datetimes or epoch integers keep every digit
(float64 is exact to 2**53 units from the origin) and a forecast continues from
exactly the last given time. How a column becomes numbers is fitted once
(:func:`fit_clock`) and reused for later data:

- tz-aware times count as UTC instants (an hourly index keeps one step across a
  daylight-saving change) unless only local wall-clock times are regular (a daily
  index at local midnight);
- datetimes that are all on one day of the month (or all month ends) at one time
  of day, with steps that are not regular in their unit (28 to 31 days), count in
  calendar months: monthly, quarterly and yearly data keep their calendar;
- restored datetimes are rounded to the coarsest calendar step (day, hour, ...,
  nanosecond) that divides every fitted time, and integer times widen to int64
  rather than saturate at the end of a small integer dtype.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from tssynth.data.schema import (
    DATETIME,
    TIMEDELTA,
    ColumnSpec,
    restore_continuous,
    restore_time_ints,
    time_ints,
    time_step,
    to_float,
)
from tssynth.exceptions import InvalidDataError

_DAY = np.timedelta64(1, "D")


@dataclass(frozen=True)
class IndexClock:
    """How ``sequence_index`` values become numbers.

    Attributes
    ----------
    months : bool
        Times count in calendar months (since 1970-01) rather than in the unit.
    month_end : bool
        With ``months``: every time is the last day of its month.
    day : int
        With ``months`` and not ``month_end``: the day of the month of every time.
    time_of_day : int
        With ``months``: the time of day of every time, in the unit.
    resolution : int
        Restored datetimes and timedeltas are multiples of it (in the unit).
    """

    months: bool = False
    month_end: bool = False
    day: int = 1
    time_of_day: int = 0
    resolution: int = 1

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, for generator files."""
        return asdict(self)


def fit_clock(
    series: pd.Series, codes: np.ndarray, spec: ColumnSpec
) -> tuple[ColumnSpec, IndexClock]:
    """Choose how a ``sequence_index`` column becomes numbers.

    Parameters
    ----------
    series : Series
        The column, rows in (entity, time) order.
    codes : ndarray of int
        Entity of every row.
    spec : ColumnSpec
        The column's spec (tz-aware datetimes as UTC instants).

    Returns
    -------
    spec : ColumnSpec
        ``spec``, with ``wall_clock`` set when local times are the regular ones.
    clock : IndexClock
    """
    if spec.value_type not in (DATETIME, TIMEDELTA):
        return spec, IndexClock()
    ints, _ = time_ints(series, spec)
    if spec.tz is not None and not _regular(ints, codes):
        local = replace(spec, wall_clock=True)
        local_ints, _ = time_ints(series, local)
        if _regular(local_ints, codes):
            spec, ints = local, local_ints
    if spec.value_type == DATETIME and not _regular(ints, codes):
        local = replace(spec, wall_clock=spec.tz is not None)
        clock = _month_clock(_naive(series, local), local)
        if clock is not None:
            return local, clock
    return spec, IndexClock(resolution=int(time_step(ints, spec)))


def read_times(series: pd.Series, spec: ColumnSpec, clock: IndexClock) -> tuple[np.ndarray, int]:
    """``sequence_index`` values as float offsets from an integer origin.

    Parameters
    ----------
    series : Series
        The column (no missing values), of the fitted kind.
    spec, clock :
        From :func:`fit_clock`.

    Returns
    -------
    offsets : ndarray of float64
        Time of every row minus the origin (exact within 2**53 units of it).
    origin : int
        The earliest time, in the unit (months with ``clock.months``); 0 for
        float times, which are returned as they are.

    Raises
    ------
    InvalidDataError
        Fractional values for an integer index, or (monthly clock) times that
        are not on the fitted day of the month and time of day.
    """
    values = to_float(series, spec)  # checks the kind, unit and zone
    dtype = pd.api.types.pandas_dtype(spec.dtype)
    if clock.months:
        ints = _months(_naive(series, spec), spec, clock)
    elif spec.value_type in (DATETIME, TIMEDELTA):
        ints, _ = time_ints(series, spec)
    elif pd.api.types.is_integer_dtype(dtype):
        if not np.all(values == np.round(values)):
            raise InvalidDataError(
                f"The sequence_index column {spec.name!r} has fractional values, but the "
                f"model was fitted on integer times ({spec.dtype}); pass whole numbers."
            )
        exact = pd.api.types.is_integer_dtype(series.dtype)
        ints = series.to_numpy(dtype=np.int64) if exact else values.astype(np.int64)
    else:
        return values, 0
    origin = int(ints.min()) if ints.size else 0
    return (ints - origin).astype(np.float64), origin


def restore_times(
    offsets: np.ndarray, origin: int, spec: ColumnSpec, clock: IndexClock
) -> pd.Series:
    """Inverse of :func:`read_times`: a column of the fitted dtype.

    Integer times that a small integer dtype cannot hold come back as int64
    (``Int64`` for a nullable one) instead of saturating.
    """
    dtype = pd.api.types.pandas_dtype(spec.dtype)
    integer = pd.api.types.is_integer_dtype(dtype)
    if not (clock.months or integer or spec.value_type in (DATETIME, TIMEDELTA)):
        return restore_continuous(np.asarray(offsets, dtype=np.float64) + origin, spec)
    ints = np.round(np.asarray(offsets, dtype=np.float64)).astype(np.int64) + origin
    if clock.months:
        return restore_time_ints(_month_times(ints, spec, clock), spec)
    if spec.value_type in (DATETIME, TIMEDELTA):
        step = clock.resolution
        if step > 1:
            ints = (ints + step // 2) // step * step
        return restore_time_ints(ints, spec)
    info = np.iinfo(np.dtype(getattr(dtype, "numpy_dtype", dtype)))
    if ints.size and (ints.min() < info.min or ints.max() > info.max):
        dtype = "Int64" if isinstance(dtype, pd.api.extensions.ExtensionDtype) else np.int64
    return pd.Series(ints).astype(dtype)


def _regular(ints: np.ndarray, codes: np.ndarray) -> bool:
    """Whether every step within an entity is the same."""
    steps = np.diff(ints)[codes[1:] == codes[:-1]]
    return steps.size == 0 or bool(np.all(steps == steps[0]))


def _naive(series: pd.Series, spec: ColumnSpec) -> np.ndarray:
    """Datetimes as tz-naive numpy values of the unit (local wall clock when tz-aware)."""
    ints, _ = time_ints(series, spec)
    return ints.view(f"datetime64[{spec.unit}]")


def _month_clock(times: np.ndarray, spec: ColumnSpec) -> IndexClock | None:
    """A monthly clock when every time is on one day of the month (or a month end)."""
    if times.size < 2:
        return None
    days = times.astype("datetime64[D]")
    time_of_day = (times - days).astype(np.int64)
    if np.any(time_of_day != time_of_day[0]):
        return None
    months = times.astype("datetime64[M]")
    day = (days - months.astype("datetime64[D]")) // _DAY + 1
    if np.all(day == day[0]) and day[0] <= 28:
        return IndexClock(months=True, day=int(day[0]), time_of_day=int(time_of_day[0]))
    month_ends = (months + 1).astype("datetime64[D]") - _DAY
    if np.all(days == month_ends):
        return IndexClock(months=True, month_end=True, time_of_day=int(time_of_day[0]))
    return None


def _months(times: np.ndarray, spec: ColumnSpec, clock: IndexClock) -> np.ndarray:
    """Months since 1970-01 of datetimes on the fitted day and time of day."""
    months = times.astype("datetime64[M]")
    expected = _month_times(months.astype(np.int64), spec, clock).view(times.dtype)
    off = np.flatnonzero(times != expected)
    if off.size:
        anchor = "the last day of a month" if clock.month_end else f"day {clock.day} of a month"
        raise InvalidDataError(
            f"The sequence_index column {spec.name!r} was fitted on monthly times ({anchor}); "
            f"it now has {pd.Timestamp(times[off[0]])}, which is not."
        )
    return months.astype(np.int64)


def _month_times(months: np.ndarray, spec: ColumnSpec, clock: IndexClock) -> np.ndarray:
    """Int64 times (in the unit) of the fitted day and time of day of each month."""
    if clock.month_end:
        days = (months + 1).astype("datetime64[M]").astype("datetime64[D]") - _DAY
    else:
        days = months.astype("datetime64[M]").astype("datetime64[D]") + (clock.day - 1) * _DAY
    return days.astype(f"datetime64[{spec.unit}]").astype(np.int64) + clock.time_of_day
