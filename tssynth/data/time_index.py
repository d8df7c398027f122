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

from tssynth.data.continuous import decimal_step, float_precision
from tssynth.data.schema import (
    DATETIME,
    TIMEDELTA,
    ColumnSpec,
    check_time_kind,
    numpy_dtype,
    restore_continuous,
    restore_time_ints,
    time_ints,
    time_step,
    to_float,
)
from tssynth.exceptions import InvalidDataError, InvalidParameterError

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
    decimals : int or None
        Restored float times are rounded to this many decimals (the finest the
        data has, up to 6); None: as drawn.
    """

    months: bool = False
    month_end: bool = False
    day: int = 1
    time_of_day: int = 0
    resolution: int = 1
    decimals: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, for generator files."""
        return asdict(self)

    @classmethod
    def from_dict(cls, state: dict[str, Any] | None) -> IndexClock:
        """Inverse of :meth:`to_dict`; None (files written before clocks) is the plain clock."""
        return cls(**(state or {}))


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
        if pd.api.types.is_integer_dtype(pd.api.types.pandas_dtype(spec.dtype)):
            return spec, IndexClock()
        # float times on a decimal grid (ages in years to two decimals) stay on it:
        # summed gaps drift off it in the last digits (14.740000000000002)
        values = to_float(series, spec)
        precision = float_precision(pd.api.types.pandas_dtype(spec.dtype))
        step = decimal_step(values[~np.isnan(values)], precision)
        decimals = None if step <= 0 else max(0, round(-np.log10(step)))
        return spec, IndexClock(decimals=decimals)
    local = replace(spec, wall_clock=spec.tz is not None)
    ints, _ = time_ints(series, spec)
    local_ints = time_ints(series, local)[0] if spec.tz is not None else ints
    if spec.value_type == DATETIME:
        # Distinct times on one day of the month are whole months apart, even where
        # their steps happen to be equal in days (2021-07-01, 08-01, 09-01: 31 days).
        clock = month_clock(local_ints.view(f"datetime64[{spec.unit}]"))
        if clock is not None:
            return local, clock
    # Daily local midnights (a day missing or not) step on the local clock only.
    if spec.tz is not None and not _on_grid(ints, codes) and _on_grid(local_ints, codes):
        spec, ints = local, local_ints
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
    dtype = pd.api.types.pandas_dtype(spec.dtype)
    if spec.value_type in (DATETIME, TIMEDELTA):
        check_time_kind(series, spec)
        # Exact counts of the unit (floats would lose digits beyond 2**53: nanoseconds).
        ints, _ = time_ints(series, spec)
        if clock.months:
            ints = _months(ints.view(f"datetime64[{spec.unit}]"), spec, clock)
    else:
        values = to_float(series, spec)  # numbers, or a named error
        if not pd.api.types.is_integer_dtype(dtype):
            return values, 0
        if not np.all(values == np.round(values)):
            raise InvalidDataError(
                f"The sequence_index column {spec.name!r} has fractional values, but the "
                f"model was fitted on integer times ({spec.dtype}); pass whole numbers."
            )
        arithmetic = _arithmetic(dtype)
        exact = pd.api.types.is_integer_dtype(series.dtype)
        ints = series.to_numpy(dtype=arithmetic) if exact else values.astype(arithmetic)
    if not ints.size:
        return ints.astype(np.float64), 0
    lowest = ints.min()
    return (ints - lowest).astype(np.float64), int(lowest)


def restore_times(
    offsets: np.ndarray, origin: int, spec: ColumnSpec, clock: IndexClock
) -> pd.Series:
    """Inverse of :func:`read_times`: a column of the fitted dtype.

    Parameters
    ----------
    offsets : ndarray of float
        Times counted from ``origin`` (in the unit, or in months with ``clock.months``).
    origin : int
    spec, clock :
        From :func:`fit_clock`.

    Returns
    -------
    Series
        Datetimes and timedeltas rounded to ``clock.resolution`` on the grid of the
        origin; integer times that a small integer dtype cannot hold come back as
        int64 (``Int64`` for a nullable one) instead of saturating.

    Raises
    ------
    InvalidParameterError
        Times beyond what the column's 64-bit values hold (``datetime64[ns]``
        past 2262-04-11, the ends of int64 or uint64).
    """
    dtype = pd.api.types.pandas_dtype(spec.dtype)
    integer = pd.api.types.is_integer_dtype(dtype)
    offsets = np.asarray(offsets, dtype=np.float64)
    if not (clock.months or integer or spec.value_type in (DATETIME, TIMEDELTA)):
        times = offsets + origin
        if clock.decimals is not None:
            times = np.round(times, clock.decimals)
        return restore_continuous(times, spec)
    offsets = np.round(offsets)
    if clock.months:
        _check_range(_month_days(offsets + origin) * _per_day(spec), 0, spec)
        return restore_time_ints(month_times(offsets.astype(np.int64) + origin, spec, clock), spec)
    if spec.value_type in (DATETIME, TIMEDELTA) and clock.resolution > 1:
        # On the grid of the origin: a prefix at 06:00 of a daily model stays at 06:00.
        # Halves up, not to even: steps from a prefix half-way off the grid (04:30 on
        # an hourly one) went 06:00, 06:00, 08:00.
        offsets = np.floor(offsets / clock.resolution + 0.5) * clock.resolution
    _check_range(offsets, origin, spec)
    if spec.value_type in (DATETIME, TIMEDELTA):
        return restore_time_ints(_add_exactly(offsets, origin, signed=True), spec)
    arithmetic = _arithmetic(dtype)
    ints = _add_exactly(offsets, origin, signed=arithmetic == np.dtype(np.int64))
    info = np.iinfo(numpy_dtype(dtype))
    if ints.size and (ints.min() < info.min or ints.max() > info.max):
        dtype = "Int64" if isinstance(dtype, pd.api.extensions.ExtensionDtype) else np.int64
    return pd.Series(ints).astype(dtype)


def _arithmetic(dtype: Any) -> np.dtype:
    """The 64-bit integer dtype that holds every value of an integer dtype."""
    unsigned = numpy_dtype(dtype).kind == "u"
    return np.dtype(np.uint64 if unsigned else np.int64)


def _limits(spec: ColumnSpec) -> tuple[int, int]:
    """The smallest and largest time the 64-bit column holds, in the unit."""
    if spec.value_type in (DATETIME, TIMEDELTA):
        return -(2**63) + 1, 2**63 - 1  # the smallest int64 is NaT
    if _arithmetic(pd.api.types.pandas_dtype(spec.dtype)) == np.dtype(np.uint64):
        return 0, 2**64 - 1
    return -(2**63), 2**63 - 1


def _float_inside(bound: int, upward: bool) -> float:
    """The float nearest ``bound`` on the inside: for a float ``x``, ``x >= bound`` exactly
    when ``x >= _float_inside(bound, True)`` (and ``<=`` with ``upward=False``)."""
    nearest = float(bound)
    if upward and nearest < bound:  # Python compares floats with ints exactly
        return float(np.nextafter(nearest, np.inf))
    if not upward and nearest > bound:
        return float(np.nextafter(nearest, -np.inf))
    return nearest


def _check_range(offsets: np.ndarray, origin: int, spec: ColumnSpec) -> None:
    """Raise when times (float offsets from the integer ``origin``, in the unit) run
    beyond what the 64-bit column holds, compared exactly: the sum in float64 is off by
    up to 1,024 units near the ends of the range."""
    if not offsets.size:
        return
    low, high = _limits(spec)
    lowest, highest = _float_inside(low - origin, True), _float_inside(high - origin, False)
    if np.all((offsets >= lowest) & (offsets <= highest)):  # NaN fails
        return
    kind = "datetimes" if spec.value_type == DATETIME else "values"
    coarser = " or convert the column to a coarser unit first (e.g. datetime64[s])"
    raise InvalidParameterError(
        f"The sequence_index column {spec.name!r} ({spec.dtype}) cannot hold the times these "
        f"steps reach: they run beyond the largest or smallest {kind} it holds. Ask for fewer "
        f"steps{coarser if spec.value_type == DATETIME else ''}."
    )


def _add_exactly(offsets: np.ndarray, origin: int, signed: bool) -> np.ndarray:
    """``origin`` plus whole float ``offsets`` as int64 (``signed``) or uint64, exact for
    sums the dtype holds (checked by :func:`_check_range`), however far the offsets reach
    (up to 2**64 from an origin at one end of the range)."""
    magnitude = np.abs(offsets).astype(np.uint64)  # whole floats below 2**64: exact
    base = np.uint64(int(origin) % 2**64)  # a Python int: numpy integers overflow
    # modulo 2**64: the sum is in range, so its bits are those of the exact sum
    total = np.where(offsets < 0, base - magnitude, base + magnitude)
    return total.view(np.int64) if signed else total


def _month_days(months: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of the first day of each month since 1970-01 (as floats)."""
    return months * (365.2425 / 12)


def _per_day(spec: ColumnSpec) -> float:
    return float(np.timedelta64(1, "D") / np.timedelta64(1, spec.unit))


def _on_grid(ints: np.ndarray, codes: np.ndarray) -> bool:
    """Whether every step within an entity is a whole multiple of the smallest one."""
    steps = np.diff(ints)[codes[1:] == codes[:-1]]
    return steps.size == 0 or bool(np.all(steps % steps.min() == 0))


def month_clock(times: np.ndarray) -> IndexClock | None:
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
    expected = month_times(months.astype(np.int64), spec, clock).view(times.dtype)
    off = np.flatnonzero(times != expected)
    if off.size:
        anchor = "the last day of a month" if clock.month_end else f"day {clock.day} of a month"
        raise InvalidDataError(
            f"The sequence_index column {spec.name!r} was fitted on monthly times ({anchor}); "
            f"it now has {pd.Timestamp(times[off[0]])}, which is not."
        )
    return months.astype(np.int64)


def month_times(months: np.ndarray, spec: ColumnSpec, clock: IndexClock) -> np.ndarray:
    """Int64 times (in the unit) of the fitted day and time of day of each month."""
    if clock.month_end:
        days = (months + 1).astype("datetime64[M]").astype("datetime64[D]") - _DAY
    else:
        days = months.astype("datetime64[M]").astype("datetime64[D]") + (clock.day - 1) * _DAY
    return days.astype(f"datetime64[{spec.unit}]").astype(np.int64) + clock.time_of_day
