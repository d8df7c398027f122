"""Helpers for a continuous column's values: their scale, log transform and grid.

The data transformer standardises a column with :func:`location_scale`, models
right-skewed amounts on ``log(x + c)`` (:func:`log_shift`, :func:`to_log`) and
rounds samples to the finest grid the data sit on (:func:`decimal_step`,
:func:`coarsest_grid`, :func:`grid_factors`, :func:`time_grid`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tssynth.data.schema import ColumnSpec, nanoseconds_per_unit, numpy_dtype, time_step

MAX_DECIMALS = 6  # finest decimal grid that samples are rounded to
_COMPUTED_ERROR = 1e-9  # of a grid step: the error of a decimal computed, then stored
EXACT_FLOAT_INTEGER = 2**53  # float64 holds every integer up to here
POINT_MASS_SHARE = 0.05  # a value this frequent is a point-mass mode of its own
# ... and seen this often: in 20 values or fewer each one is 5 %, and samples would copy
# values seen once.
POINT_MASS_COUNT = 3
_SKEWED = 1.0  # skewness past which a column of non-negative values is modelled on log(x + c)
_LOG_SPAN = 10.0  # ... when its largest value is at least this many times its smallest


def point_masses(counts: np.ndarray) -> np.ndarray:
    """Which distinct values, seen ``counts`` times, are frequent enough to be point masses."""
    return (counts >= POINT_MASS_SHARE * counts.sum()) & (counts >= POINT_MASS_COUNT)


def location_scale(observed: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of at least two distinct finite values.

    When the plain moments underflow (values near 1e-300 give a variance of 0) or
    overflow (values near 1e300 or 1.7e308), they are computed on the values divided
    by their largest magnitude and scaled back; a spread that still underflows
    (subnormal values) is taken as that magnitude. Where a value's distance from the
    mean would overflow (values of both signs near 1.7e308), the location is the
    midpoint of the range, from which every distance is finite.
    """
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        loc, scale = float(observed.mean()), float(observed.std())
    if not (np.isfinite(loc) and np.isfinite(scale) and scale > 0):
        magnitude = float(np.abs(observed).max())
        relative = observed / magnitude
        loc, scale = float(relative.mean()) * magnitude, float(relative.std()) * magnitude
        # Subnormal values (0 beside 5e-324): a spread float64 cannot hold counts as their size.
        scale = scale if scale > 0 else magnitude
    low, high = float(observed.min()), float(observed.max())
    with np.errstate(over="ignore"):
        if not np.isfinite(high - loc) or not np.isfinite(low - loc):
            loc = low / 2 + high / 2
    return loc, scale


def decimal_step(observed: np.ndarray, precision: Any = np.float64) -> float:
    """Coarsest grid ``10**-k`` (k = 0 .. 6) holding every value, 0.0 when none does.

    Whole numbers give 1.0; prices with two decimals 0.01. Samples are rounded to
    the grid, so they look like the data. ``precision``: the float type the values
    were stored in (a float32 price of 53.92 is 53.919998...).
    """
    # A stored value lies within half a unit of its precision of the decimal, and float64
    # arithmetic adds a few units of its own.
    magnitude = np.abs(observed)
    float_error = 4 * np.spacing(magnitude)
    if precision is not np.float64:
        float_error += 0.5 * np.spacing(magnitude.astype(precision)).astype(np.float64)
    for decimals in range(MAX_DECIMALS + 1):
        power = 10.0**decimals
        on_grid = np.round(observed * power) / power
        # Equal up to float error (0.30000000000000004 is 0.3), or up to a billionth of the
        # step for values computed before they were stored (R's 3.00999999999999, 2e-13
        # off 3.01), never just "near zero": at most half the value (a subnormal's
        # spacing is its own size, and 5e-324 is not 0).
        tolerance = np.minimum(np.maximum(float_error, _COMPUTED_ERROR / power), 0.5 * magnitude)
        if np.all(np.abs(on_grid - observed) <= tolerance):
            return 1.0 / power
    return 0.0


def skewness(values: np.ndarray) -> float:
    """Sample skewness of at least two distinct finite values (0 when it overflows)."""
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        centred = values - values.mean()
        scale = np.sqrt(np.mean(centred**2))
        skew = float(np.mean((centred / scale) ** 3)) if scale > 0 else 0.0
    return skew if np.isfinite(skew) else 0.0


def log_shift(observed: np.ndarray) -> float:
    """The ``c`` of ``log(x + c)`` for a right-skewed column of non-negative values.

    Amounts, durations and counts pile up near zero with a long right tail, which a
    mixture of at most ten Gaussians on the raw scale cuts short (the top 0.1 % of
    a Pareto column came back at a third of its size). Such a column is modelled on
    ``log(x)`` (``c = 0``) or, when it holds zeros, on ``log(x + c)`` with ``c`` its
    smallest positive value. NaN (no transform) for negative values, a skewness of
    at most 1, values spanning less than a factor of 10 on that scale (far from
    zero the log is nearly linear, and costs float resolution: 1e18 + x would come
    back in steps of thousands), or when the log is more skewed than the raw values.

    Parameters
    ----------
    observed : ndarray
        A column's finite values (at least two distinct).

    Returns
    -------
    float
        ``c``, or NaN for no transform.
    """
    low, high = float(observed.min()), float(observed.max())
    if low < 0 or not np.isfinite(high):
        return np.nan
    skew = skewness(observed)
    if skew <= _SKEWED:
        return np.nan
    shift = 0.0 if low > 0 else float(observed[observed > 0].min())
    if not high + shift >= _LOG_SPAN * (low + shift):
        return np.nan
    return shift if abs(skewness(to_log(observed, shift))) < skew else np.nan


def to_log(values: float | np.ndarray, shift: float | np.ndarray) -> float | np.ndarray:
    """``log(values + shift)`` where ``shift`` is a number, ``values`` where it is NaN.

    Parameters
    ----------
    values : float or ndarray
    shift : float or ndarray broadcasting against ``values``
        NaN where a column is not logged.

    Returns
    -------
    float or ndarray
    """
    if np.ndim(shift) == 0:
        return values if np.isnan(shift) else np.log(values + shift)
    return np.where(np.isnan(shift), values, np.log(np.where(np.isnan(shift), 1.0, values + shift)))


def float_precision(dtype: Any) -> Any:
    """The numpy float type a column's values were stored in (float64 unless narrower)."""
    stored = numpy_dtype(dtype)
    return stored.type if stored.kind == "f" and stored.itemsize < 8 else np.float64


def coarsest_grid(values: np.ndarray, step: float) -> tuple[float, float]:
    """The coarsest grid ``origin + k * grid`` holding every value, ``grid`` a multiple of ``step``.

    Incomes rounded to 100 give ``(100, 0)``, minutes in 15s ``(15, 0)``, half-integers
    ``(1, 0.5)``, odd numbers ``(2, 1)``, prices ending in .49 or .99 ``(0.5, 0.49)``:
    the greatest common divisor of the values' distances from the smallest one,
    counted in units of ``step``. Samples rounded to it keep the data's offset
    (rounding half-integers to multiples of 0.5 would make half of them whole).

    Parameters
    ----------
    values : ndarray
        Finite values, all on the grid of ``step``.
    step : float
        The finest grid the values are on (0: none).

    Returns
    -------
    grid : float
        ``step`` times a whole number; ``step`` itself when nothing coarser holds.
    origin : float
        The grid's offset, ``0 <= origin < grid`` (0 for a grid through zero).
    """
    if step <= 0:
        return step, 0.0
    counts = np.round(np.asarray(values, dtype=np.float64) / step)
    if counts.size == 0 or not np.all(np.abs(counts) < EXACT_FLOAT_INTEGER):
        return step, 0.0
    counts = counts.astype(np.int64)
    base = int(counts.min())
    divisor = int(np.gcd.reduce(counts - base))
    if divisor <= 1:
        return step, 0.0
    return step * divisor, step * (base % divisor)


def integer_grid(values: np.ndarray) -> tuple[float, float]:
    """:func:`coarsest_grid` of integers past float64's exact ones, in int64 arithmetic:
    nanoseconds since 1970 at whole seconds give ``(1e9, 0)``. ``(1, 0)`` when the grid
    is 1, or too wide for the differences or the grid to be exact."""
    values = np.asarray(values, dtype=np.int64)
    if values.size == 0:
        return 1.0, 0.0
    base, top = int(values.min()), int(values.max())
    if top - base > np.iinfo(np.int64).max:  # the differences would overflow
        return 1.0, 0.0
    divisor = int(np.gcd.reduce(values - base))
    if divisor <= 1 or divisor > EXACT_FLOAT_INTEGER:
        return 1.0, 0.0
    return float(divisor), float(base % divisor)


def grid_factors(step: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``per_unit`` and ``unit`` of every grid step: ``step == unit / per_unit`` with
    ``per_unit`` a power of ten (up to ``10**6``) and ``unit`` a whole number, so that
    rounding to the grid is ``round(x * per_unit / unit) * unit / per_unit`` (0.15 is
    15 / 100: dividing by 0.15 would not land exactly on 0.3). Steps of 0 get 1, 1."""
    step = np.asarray(step, dtype=np.float64)
    per_unit, unit = np.ones_like(step), np.ones_like(step)
    pending = step > 0
    for decimals in range(MAX_DECIMALS + 1):
        scaled = step * 10.0**decimals
        whole = pending & (np.abs(scaled - np.round(scaled)) <= 1e-9 * scaled)
        per_unit[whole], unit[whole] = 10.0**decimals, np.round(scaled[whole])
        pending &= ~whole
    # A step finer than 1e-6 that is no decimal: its reciprocal, as before.
    per_unit[pending] = np.round(1.0 / step[pending])
    return per_unit, unit


def grid_counts(step: np.ndarray, origin: np.ndarray) -> tuple[np.ndarray, ...]:
    """``per_unit``, ``unit`` and ``origin_units`` of grids ``origin + k * step``, for
    exact rounding in whole counts: ``round((x * per_unit - origin_units) / unit)``
    (see :func:`grid_factors`). An origin may have finer decimals than its step
    (0.49 + k * 0.5, prices ending in .99 on a whole grid): counted in those."""
    step, origin = np.asarray(step, dtype=np.float64), np.asarray(origin, dtype=np.float64)
    per_unit, unit = grid_factors(step)
    per_unit = np.maximum(per_unit, np.where(origin > 0, grid_factors(origin)[0], 1.0))
    unit = np.where(origin > 0, np.round(step * per_unit), unit)
    return per_unit, unit, np.round(origin * per_unit)


def time_grid(values: np.ndarray, unique: np.ndarray, spec: ColumnSpec) -> tuple[float, float]:
    """The coarsest calendar grid ``(grid, origin)`` every time value is on (see
    :func:`coarsest_grid`): hourly readings at half past give one hour and 30 minutes."""
    step = time_step(values, spec)
    # Times on whole seconds are exact in float64, so their common multiple is too
    # (15-minute slots); finer times may carry float rounding.
    if step * nanoseconds_per_unit(spec) >= 10**9:
        return coarsest_grid(unique, step)
    return step, 0.0


def bounds_inside_integers(
    low: float, high: float, true_low: int, true_high: int
) -> tuple[float, float]:
    """Float bounds of an integer-valued column (ints, datetimes) that do not leave its range.

    Beyond 2**53 float64 does not hold every integer, and the float nearest the true
    minimum (maximum) may lie below (above) it; such a bound moves one float inwards.
    """
    if int(low) < true_low:
        low = float(np.nextafter(low, np.inf))
    if int(high) > true_high:
        high = float(np.nextafter(high, -np.inf))
    return float(low), float(high)
