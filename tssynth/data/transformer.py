"""Reversible transform between a DataFrame and the float32 array a model learns.

Continuous columns use mode-specific normalisation: a Bayesian Gaussian mixture
(at most ``max_modes`` modes, those under ``weight_threshold`` dropped) is fitted
on a bounded subsample of the (standardised) values; a value that holds at least 5 %
of a column (zeros of a mostly-zero amount, a typical 40 hours a week) is a point-mass
mode of its own, decoded to exactly that value; each value becomes a one-hot
mode plus the scalar ``(x - mean_k) / (4 std_k)`` clipped to [-0.99, 0.99] (a value
is encoded only in a mode that reaches it and whose range holds it, where one does). A
right-skewed column of non-negative values is standardised on ``log(x + c)``
instead (``log_skewed``), so its long tail is not cut short. A datetime column on
7 days or more is continuous rows of its calendar parts when more than one varies
(``split_times``):
its week and weekday (or its day, within one week) and its time of day, added back
together on decoding; one never before another datetime column (an end after its
start) is its offset from it (``relative_times``). Decoding keeps values
inside the training min/max: sampling noise that would pass a bound is folded
back at it rather than clipped onto it (no pile of samples on the extremes).
Categorical columns become one-hot codes. A continuous column with missing
values gets a two-way ``[present, missing]`` indicator; missing categorical
values are a category of their own. Constant and all-missing columns take no
space in the array and are restored as they were; so does a column that a categorical
column determines exactly (``derive_dependencies``), restored from it.

All per-row work (mode assignment, mode sampling, inverse mapping) is vectorised
over rows and over columns.

With a :class:`~tssynth.data.private.DataBudget` (differential privacy), no raw
statistic is kept: category sets come from the public schema (declared
categories or a pandas category dtype) or from a stability histogram (values too
rare to release are left out: they train no category and are never sampled);
continuous columns get the public bounds or private quantile bounds, one mode
spanning them plus point-mass modes for privately released frequent values
(replacing the mixture fit on raw values); missing-value indicators exist only
when "missing" is itself released; integer rounding follows the dtype.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture

from tssynth._validation import shown
from tssynth.data.calendar import (
    ANCHORED_PART,
    CALENDAR_PART,
    DAY,
    LAG,
    OFFSET,
    TIME_OF_DAY,
    WEEK,
    WHOLE,
    AnchoredDecoding,
    MonthGrid,
    absolute_masses,
    after_anchor,
    anchored_parts,
    calendar_parts,
    choose_anchored_parts,
    choose_calendar_parts,
    find_anchors,
    into_range,
    month_grid,
    onto_month_grid,
    period,
    stand_in_offset,
    unit_ratio,
    weekdays,
    with_stand_in_anchor,
)
from tssynth.data.continuous import (
    EXACT_FLOAT_INTEGER,
    POINT_MASS_SHARE,
    bounds_inside_integers,
    coarsest_grid,
    decimal_step,
    float_precision,
    grid_counts,
    integer_grid,
    location_scale,
    log_shift,
    point_masses,
    time_grid,
    to_log,
)
from tssynth.data.dependencies import (
    ValueRules,
    can_determine,
    dependant_values,
    find_dependencies,
    find_implications,
)
from tssynth.data.memory import fits_in_memory, shown_bytes
from tssynth.data.order import (
    above_floor,
    find_floors,
    floor_of,
    floor_stand_ins,
    with_stand_in_floor,
)
from tssynth.data.private import (
    DataBudget,
    midpoint_and_half_range,
    private_range,
    release_frequent,
)
from tssynth.data.schema import (
    CATEGORICAL,
    DATETIME,
    NUMERIC,
    TIMEDELTA,
    ColumnSpec,
    holds_whole_numbers,
    integer_extremes,
    integers_from,
    restore_categorical,
    restore_continuous,
    time_ints,
    to_float,
    with_missing_marker,
    written_dates,
)
from tssynth.data.spans import (
    GAUSSIAN,
    SOFTMAX,
    Span,
    sample_last_axis,
    segment_argmax,
    segment_sample,
    softmax_block,
)
from tssynth.data.truncated import truncated_normal
from tssynth.exceptions import (
    DataWarning,
    InvalidDataError,
    PrivacyWarning,
    caller_stacklevel,
)

_SCALAR_LIMIT = 0.99
_STANDARDISED_LIMIT = 1e6  # far past every mode; keeps the encoding finite
_MIN_MODE_STD = 1e-3
_BOUND_TOLERANCE = 4.0 * 2**-21  # of a mode's std: 16 float32 roundings of a scalar
_EXACT_TOLERANCE = 1e-6  # of a point mass's std: how far from it a value still is it
_UNDECLARED_SHARE = 0.01  # values outside declared categories warned about past this share
_CLIPPED_SHARE = 0.05  # values outside declared bounds warned about past this share
_YEARS = (1000, 2200)  # whole numbers all in this range read as calendar years
_OUTLIER_SPREAD = 0.1  # typical values this narrow against the std: outliers dominate it
# Point masses a column keeps however few mixture modes it is allowed (max_modes=1 still
# draws exact zeros of a zero-inflated amount): every value of 5 % or more, of which a
# column has at most 20 (airquality's Wind has 11; with 9, two came back in 0.4 % of
# samples instead of 5 %); a larger max_modes allows max_modes - 1.
_MIN_POINT_MASS_ROOM = 20
# Rows encoded at once: at most 16,384, and fewer for wide tables, so that the float64
# (rows, continuous columns, modes) temporaries stay near 2**21 entries (16 MiB) each.
_ROW_CHUNK = 16_384
_CHUNK_ENTRIES = 2**21
_SCALAR_STATE = ("index", "loc", "scale", "min", "max", "step", "origin", "shift", "part")
_ABSENT_STATE = {"origin": 0.0, "shift": np.nan, "part": WHOLE}  # rows in files written before them
# The parts of each column's modes; "low" and "high" (absent from older files, NaN:
# none) bound a mixture mode's values inside the column's range on the modes' scale.
_MODE_STATE = ("weights", "means", "stds", "exact", "low", "high")
_MIXTURE_WORKERS = min(4, os.cpu_count() or 1)  # mixtures of different columns fit in parallel
_IDENTIFIER_SHARE = 0.9  # a categorical column this unique (of 20+ values) looks like an ID
_NUMBERED_ROWS = 100  # distinct, nearly consecutive integers in this many rows look like an ID
_WIDE_CATEGORIES = 1_000  # categories past which a column is warned about as slow
_TEXT_NUMBER_VALUES = 20  # a text column of this many numbers and a placeholder or two:
_PLACEHOLDERS = 2  # numbers whose missing values are marked by text ('?', 'n/a')


def _is_object(array: Any) -> bool:
    """Whether ``array`` holds Python objects (pandas 3 would infer ``str`` from strings)."""
    return pd.api.types.is_object_dtype(array.dtype)


def private_units(columns: list[ColumnSpec]) -> int:
    """Budget units :meth:`DataTransformer.fit` spends on ``columns`` under DP.

    A public schema (declared categories or bounds, a category dtype) spares some.
    """
    return sum(
        int(spec.public_categories is None and spec.categories is None)
        if spec.kind == CATEGORICAL
        else 1 + 3 * (spec.public_bounds is None)
        for spec in columns
    )


def _shown(values: Any, limit: int = 3) -> str:
    """The first ``limit`` values as Python literals: ``'a', 10, ...``."""
    return ", ".join(map(shown, list(values)[:limit])) + (", ..." if len(values) > limit else "")


def _warn_outside_categories(series: pd.Series, spec: ColumnSpec) -> None:
    """Warn when over 1 % of the values of ``series`` are not among its declared
    categories (a misspelt or mistyped schema leaves the column without its values)."""
    present = series.dropna()
    declared = pd.Series(spec.public_categories, dtype=object)
    outside = present[~present.astype(object).isin(declared)]
    if len(outside) <= _UNDECLARED_SHARE * len(present):
        return
    warnings.warn(
        f"Column {spec.name!r}: {len(outside) / len(present):.1%} of its values "
        f"({_shown(pd.unique(outside.astype(object)))}) are not among its declared categories "
        f"({_shown(spec.public_categories)}): they train no category, and samples hold "
        "only declared ones. Check metadata['categories'] for this column: values match "
        "exactly ('Female' is not 'female', 1 is not '1'), and a column of numbers "
        "declared with categories becomes categorical.",
        DataWarning,
        stacklevel=caller_stacklevel(),
    )


def _warn_outside_bounds(observed: np.ndarray, spec: ColumnSpec) -> None:
    """Warn when over 5 % of a column's values lie outside its declared bounds (they
    are clipped: declared bounds that miss the data, not outliers cut on purpose)."""
    low, high = spec.public_bounds
    outside = (observed < low) | (observed > high)
    if outside.sum() <= _CLIPPED_SHARE * outside.size:  # outliers clipped on purpose (DP)
        return
    warnings.warn(
        f"Column {spec.name!r}: {outside.mean():.1%} of its values lie outside its declared "
        f"bounds [{shown(low)}, {shown(high)}] (they range from {shown(observed.min())} to "
        f"{shown(observed.max())}) and are clipped to them. Check metadata['bounds'] for "
        "this column.",
        DataWarning,
        stacklevel=caller_stacklevel(),
    )


def _covering_stds(
    values: np.ndarray, weights: np.ndarray, means: np.ndarray, stds: np.ndarray
) -> np.ndarray:
    """Mode stds widened so that every value lies within reach of its most likely
    mode (its scalar inside +-0.99, i.e. 3.96 stds), so that encoding and decoding a
    training value gives it back: tight modes (and the values of modes dropped for
    their small weight) would otherwise be clipped."""
    values = np.unique(values)
    for _ in range(3):  # a widened mode may take on values from its neighbours
        reach = np.zeros_like(stds)
        for start in range(0, values.size, _ROW_CHUNK):
            chunk = values[start : start + _ROW_CHUNK, None]
            z = (chunk - means) / stds
            mode = np.argmax(np.log(weights) - np.log(stds) - 0.5 * z**2, axis=1)
            np.maximum.at(reach, mode, np.abs(chunk[:, 0] - means[mode]))
        needed = reach / (4.0 * _SCALAR_LIMIT) * (1.0 + 1e-9)  # rounding keeps it inside
        if np.all(needed <= stds):
            break
        stds = np.maximum(stds, needed)
    return stds


def _robust_spread(values: np.ndarray) -> float:
    """Interquartile range over 1.349 (the standard deviation of normal values), or
    the standard deviation where half the values or more are equal; never 0."""
    low, high = np.quantile(values, [0.25, 0.75])
    spread = (high - low) / 1.349 if high > low else float(np.std(values))
    return max(spread, 1e-12)


def _absolute_dtype(spec: ColumnSpec) -> type:
    """Absolute values are exact integers of a time column's unit, or a number's floats."""
    return np.int64 if spec.value_type in (DATETIME, TIMEDELTA) else np.float64


def _lookup(values: list[Any], numeric: bool) -> np.ndarray:
    """A derived column's values per determinant code, from a generator file."""
    if numeric:
        return np.asarray(values, dtype=np.float64)
    lookup = np.empty(len(values), dtype=object)
    lookup[:] = values  # element-wise: tuple values stay values
    return lookup


def _sortable_unique(series: pd.Series) -> list[Any]:
    values = pd.unique(series.dropna())
    try:
        return sorted(values.tolist())
    except TypeError:
        return values.tolist()


class DataTransformer:
    """Map a DataFrame to a float32 model array and back.

    Parameters
    ----------
    max_modes : int, default=10
        Largest number of mixture modes per continuous column. Values that each
        hold at least 5 % of a column (and 3 of its values) are point-mass
        modes, which come back exactly, all of them (at most 20): they count
        against ``max_modes``, and the mixture of the other values takes the rest,
        at least one mode, so ``max_modes=1`` standardises the other values as one
        Gaussian and keeps the exact zeros of a zero-inflated amount.
    weight_threshold : float, default=0.005
        Modes whose mixture weight is below this are dropped.
    max_fit_rows : int, default=10000
        The mixtures are fitted on at most this many observed values per column.
    random_state : int or None
        Seed of the mixture fits and of the fitting subsample.
    log_skewed : bool, default=True
        Model right-skewed columns of non-negative values (amounts, durations,
        counts) on ``log(x + c)`` (see :func:`log_shift`), so that their long tails
        survive the mixture; samples still stay inside the training min/max.
    split_times : bool, default=True
        Model a datetime column by its calendar parts (week and weekday, or day,
        and time of day: :func:`~tssynth.data.calendar.choose_calendar_parts`) when more
        than one of them varies, so that daily and weekly patterns (office hours,
        night shifts, business days) survive; one mixture over years of timestamps
        resolves neither hours nor weekdays.
    relative_times : bool, default=True
        Model a datetime column that is never before another one (a discharge after
        its admission, an end after its start) as its offset from the closest such
        column, so that samples keep the order and the durations: two timestamps
        modelled apart over years come out in either order.
    relative_numbers : bool, default=True
        Model a numeric column that is never below others (a day's high above its
        open, close and low; a maximum above a minimum) as its gap above their
        row-wise maximum (see :mod:`tssynth.data.order`), so that samples keep the
        order.
    derive_dependencies : bool, default=False
        Derive a column that a categorical column determines exactly in the
        training data (a code and its label, a state and its region) from that
        column instead of modelling it (see :mod:`tssynth.data.dependencies`), so
        that samples keep every pair, and keep the rules of single values (every
        childbirth row is female) in decoded rows. Never under differential
        privacy: the pairs would be released as they are.

    Attributes
    ----------
    columns : list of ColumnSpec
        The schema, in column order.
    spans : list of Span
        Layout of the model array.
    output_dim : int
        Width of the model array.
    """

    def __init__(
        self,
        max_modes: int = 10,
        weight_threshold: float = 0.005,
        max_fit_rows: int = 10_000,
        random_state: int | None = None,
        log_skewed: bool = True,
        split_times: bool = True,
        relative_times: bool = True,
        derive_dependencies: bool = False,
        relative_numbers: bool = True,
    ) -> None:
        self.max_modes = max_modes
        self.weight_threshold = weight_threshold
        self.max_fit_rows = max_fit_rows
        self.random_state = random_state
        self.log_skewed = log_skewed
        self.split_times = split_times
        self.relative_times = relative_times
        self.derive_dependencies = derive_dependencies
        self.relative_numbers = relative_numbers

    # ------------------------------------------------------------------ fitting

    def fit(
        self,
        df: pd.DataFrame,
        columns: list[ColumnSpec],
        budget: DataBudget | None = None,
        weights: np.ndarray | None = None,
    ) -> DataTransformer:
        """Learn modes, bounds, categories and missing rates of ``df``.

        Parameters
        ----------
        df : DataFrame
            Training data with the columns named in ``columns``.
        columns : list of ColumnSpec
            Schema from :func:`tssynth.data.schema.infer_schema`.
        budget : DataBudget, optional
            With a budget, every statistic of the data is differentially private
            (see the module notes). The caller reserves :func:`private_units`
            units on it first, with every other mechanism it will run, so that all
            share the budget equally.
        weights : ndarray of shape (len(df),), optional
            Row weights of the private mechanisms: ``1 / (rows of the record)``
            when a record (a sequence) spans several rows.
        """
        rng = np.random.default_rng(self.random_state)
        # Under DP a Decimal column's places are no statistic of the data (one record's
        # 12.34567 would show in every sample): samples carry six.
        self.columns = [
            replace(spec, decimal_places=None) if budget is not None else spec for spec in columns
        ]
        # Names of the column index's levels (MultiIndex names, or columns.name).
        self.level_names = list(df.columns.names)
        # "modes" holds (weights, means, stds, exact, low, high) per column, or a Future of it.
        self._continuous: dict[str, list[Any]] = {k: [] for k in (*_SCALAR_STATE, "modes")}
        self._constants: dict[int, float] = {}
        # Exact smallest and largest values of integer columns beyond float64's exact
        # integers (2**53), which restored values are clipped into.
        self._integer_extremes: dict[int, tuple[int, int]] = {}
        self._integer_origins: dict[int, int] = {}
        # Whole-column [min, max] of datetime columns modelled in calendar parts or as
        # relative to their anchor (see tssynth.data.calendar).
        self._split_bounds: dict[int, tuple[float, float]] = {}
        # Datetime columns on a month grid (monthly, quarterly, yearly dates), which
        # decoded values are moved onto (see tssynth.data.calendar.month_grid).
        self._month_grids: dict[int, MonthGrid] = {}
        derivable = self.derive_dependencies and budget is None
        dependencies = find_dependencies(df, self.columns) if derivable else {}
        relative = self.relative_times and budget is None
        derived = frozenset(dependencies)  # restored exactly: never anchored, may be anchors
        blocked: list[tuple[int, int, int]] = []
        self._anchors = find_anchors(self.columns, df, derived, blocked) if relative else {}
        # Numeric columns never below another one: their gap above it, and their own
        # (low, high, step, origin) for decoding (see tssynth.data.order).
        numbers = self.relative_numbers and budget is None
        self._floors = find_floors(self.columns, df, derived) if numbers else {}
        self._above_floor: dict[int, tuple[float, float, float, float]] = {}
        self._missing_with_floors: set[int] = set()  # missing exactly where a floor is
        # Floors missing where their column is present: stood in for in those rows by
        # the column less its median gap above them (later -> {floor: (gap, low, high)}).
        self._floor_stand_ins = {
            later: stand_ins
            for later, floors in self._floors.items()
            if (stand_ins := floor_stand_ins(df, self.columns, later, floors))
        }
        # Anchors missing where their column is present: stood in for in those rows.
        self._stand_in_offsets: dict[int, float] = {}
        for later, earlier in self._anchors.items():
            late, early = self.columns[later], self.columns[earlier]
            offset = stand_in_offset(df[late.name], late, df[early.name], early)
            if offset is not None:
                self._stand_in_offsets[later] = offset
        for later, earlier, rows in blocked:
            later_name, earlier_name = self.columns[later].name, self.columns[earlier].name
            warnings.warn(
                f"Column {later_name!r} is never before {earlier_name!r} where both are "
                f"present, but {earlier_name!r} is missing in {rows:,} rows where "
                f"{later_name!r} is present, so the two are modelled apart and samples may "
                f"put {later_name!r} first. To keep the order, fill in those rows' "
                f"{earlier_name!r} (or blank their {later_name!r}).",
                DataWarning,
                stacklevel=caller_stacklevel(),
            )
        self._anchored: dict[int, AnchoredDecoding] = {}
        # Frequent values of anchored columns kept as they are (see _fit_continuous).
        self._absolute_times: dict[int, np.ndarray] = {}
        self._missing_index: list[int] = []
        self._categorical_index: list[int] = []
        self._categories: list[list[Any]] = []
        self._categorical_missing: list[bool] = []
        filled = self._with_stand_ins(df)
        # sklearn's mixture fit spends most of its time in numpy calls that release the
        # GIL, so the columns' mixtures run in threads while this loop goes on. Warnings
        # are filtered here, in the submitting thread, for as long as any fit runs.
        with (
            warnings.catch_warnings(),
            ThreadPoolExecutor(max_workers=_MIXTURE_WORKERS) as pool,
        ):
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                for position, spec in enumerate(self.columns):
                    if position in dependencies:
                        continue
                    if spec.kind == CATEGORICAL:
                        self._fit_categorical(position, df[spec.name], spec, budget, weights)
                    elif budget is not None:
                        self._fit_private_continuous(
                            position, to_float(df[spec.name], spec), spec, budget, weights
                        )
                    else:
                        self._fit_continuous(position, df, spec, rng, pool, filled)
                modes = self._continuous["modes"]
                self._continuous["modes"] = [
                    m.result() if isinstance(m, Future) else m for m in modes
                ]
            except BaseException:  # Ctrl-C, a bad column: drop the queued fits, not wait
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        self._derived = {
            position: (determinant, self._derived_lookup(df, position, determinant))
            for position, determinant in dependencies.items()
        }
        self._implied = self._find_implications(df) if derivable else []
        self._finalise()
        if budget is None:
            self._warn_about_wide_columns(df)
        return self

    def _derived_lookup(self, df: pd.DataFrame, position: int, determinant: int) -> np.ndarray:
        """The value of the column at ``position`` for each code of its determinant."""
        row = self._categorical_index.index(determinant)
        codes = self._category_codes(df[self.columns[determinant].name], row)
        spec = self.columns[position]
        values = dependant_values(df[spec.name], spec)
        lookup = np.empty(len(self._categories[row]) + self._categorical_missing[row], values.dtype)
        lookup[codes] = values
        return lookup

    def _find_implications(self, df: pd.DataFrame) -> list[tuple[int, int, np.ndarray]]:
        """Value rules between categorical columns (see :func:`find_implications`), as
        (determinant position, dependant position, forced codes)."""
        rows = [
            row
            for row, position in enumerate(self._categorical_index)
            if can_determine(self.columns[position])  # declared categories may leave values out
        ]
        sizes = [len(self._categories[r]) + self._categorical_missing[r] for r in rows]

        def codes(j: int) -> np.ndarray:
            return self._category_codes(
                df[self.columns[self._categorical_index[rows[j]]].name], rows[j]
            )

        rules = find_implications(codes, sizes, len(df))
        index = self._categorical_index
        return [(index[rows[a]], index[rows[b]], forced) for a, b, forced in rules]

    def _warn_about_wide_columns(self, df: pd.DataFrame) -> None:
        """Warn about identifier-like columns and very wide categorical ones."""
        advice = (
            "declare it with fit(..., metadata={{'identifiers': [{name!r}]}}) (on the command "
            "line: --identifiers) to number the samples' values afresh (tables), or drop it"
        )
        for position in dict.fromkeys(self._cont_index.tolist()):  # a column's parts: once
            spec = self.columns[position]
            if not holds_whole_numbers(spec):
                continue
            values = self._floats(df[spec.name], spec, position)
            values = values[~np.isnan(values)]
            # row numbers, customer numbers: distinct and nearly consecutive (but not
            # calendar years, one row per year of a yearly series: R's Nile)
            years = values.size and _YEARS[0] <= values.min() and values.max() <= _YEARS[1]
            if len(values) >= _NUMBERED_ROWS and np.ptp(values) < 2 * len(values) and not years:
                if np.unique(values).size == len(values):
                    warnings.warn(
                        f"Column {spec.name!r} holds a different whole number in every row, "
                        "nearly consecutive: it looks like an identifier (a row or customer "
                        "number). Samples are drawn over the same range, so they would carry "
                        f"real identifiers. If it is one, {advice.format(name=spec.name)}.",
                        DataWarning,
                        stacklevel=caller_stacklevel(),
                    )
        for row, position in enumerate(self._categorical_index):
            name = self.columns[position].name
            n_categories, present = len(self._categories[row]), int(df[name].notna().sum())
            if self._warn_about_text_values(df, row):
                continue
            if present >= 20 and n_categories >= _IDENTIFIER_SHARE * present:
                warnings.warn(
                    f"Column {name!r} has a different value in {n_categories / present:.0%} "
                    f"of its rows ({n_categories:,} categories): it looks like an identifier. "
                    "Samples copy real values of a categorical column, so real identifiers "
                    "would appear in the synthetic data, and each category is a model column. "
                    f"Either {advice.format(name=name)}, or pass it as continuous if its "
                    "values are numbers without meaning as categories.",
                    DataWarning,
                    stacklevel=caller_stacklevel(),
                )
                continue
            if n_categories > _WIDE_CATEGORIES:
                warnings.warn(
                    f"Column {name!r} has {n_categories:,} categories; each is a model column "
                    f"({self.output_dim:,} in all), so training and sampling slow down in "
                    "proportion. Group rare categories into one (such as 'other') where that "
                    "detail is not needed.",
                    DataWarning,
                    stacklevel=caller_stacklevel(),
                )

    def _warn_about_text_values(self, df: pd.DataFrame, row: int) -> bool:
        """Warn about a text column of decimal numbers (or of numbers but for a
        placeholder or two: '?', 'n/a') or of dates, which is modelled as categories;
        whether it warned."""
        position = self._categorical_index[row]
        name, dtype = self.columns[position].name, df[self.columns[position].name].dtype
        if not (ptypes.is_object_dtype(dtype) or ptypes.is_string_dtype(dtype)):
            return False
        categories = pd.Series(self._categories[row], dtype=object)
        if len(categories) < _TEXT_NUMBER_VALUES:
            return False
        numbers = pd.to_numeric(categories, errors="coerce")
        is_number = numbers.notna().to_numpy()
        texts = categories[~is_number].tolist()
        modelled = f"so it is modelled as categorical ({len(categories):,} categories)"
        if not texts:
            values = numbers.to_numpy(np.float64)
            if np.all(values == np.round(values)):  # whole numbers: codes are categories too
                return False
            message = (
                f"Column {name!r} holds decimal numbers written as text, {modelled}: the "
                "numbers lose their order and samples only repeat them. Make the column "
                f"numeric: df[{name!r}] = pd.to_numeric(df[{name!r}])."
            )
        elif is_number.sum() >= _TEXT_NUMBER_VALUES and len(texts) <= _PLACEHOLDERS:
            share = float(df[name].isin(texts).mean())
            message = (
                f"Column {name!r} holds numbers except for {_shown(texts)} in {share:.1%} of "
                f"its rows, {modelled}: the numbers lose their order and samples only repeat "
                f"them. If the text marks a missing value, make the column numeric: "
                f"df[{name!r}] = pd.to_numeric(df[{name!r}], errors='coerce') (or read the "
                f"file with na_values={texts!r})."
            )
        elif not is_number.any() and written_dates(categories):
            message = (
                f"Column {name!r} holds dates or times written as text (such as "
                f"{_shown(categories.iloc[[0, -1]])}), {modelled}: samples only repeat "
                "them, with no order in time. Make it a datetime column: "
                f"df[{name!r}] = pd.to_datetime(df[{name!r}]) (or read the file with "
                f"parse_dates=[{name!r}])."
            )
        else:
            return False
        warnings.warn(message, DataWarning, stacklevel=caller_stacklevel())
        return True

    def _too_large(self, n: int) -> str:
        """Why a model array of ``n`` rows cannot be built (names the widest columns)."""
        widths = sorted(
            (
                (len(categories) + missing, self.columns[position].name)
                for categories, missing, position in zip(
                    self._categories,
                    self._categorical_missing,
                    self._categorical_index,
                    strict=True,
                )
            ),
            key=lambda item: item[0],
            reverse=True,
        )[:3]
        widest = ", ".join(f"{name!r} ({width:,} categories)" for width, name in widths)
        return (
            f"The model array of {n:,} rows x {self.output_dim:,} columns would take "
            f"{shown_bytes(n * self.output_dim * 4)}, more than this machine can hold"
            + (f"; the widest columns are {widest}" if widest else "")
            + ". Drop identifier-like columns, group rare categories, or pass fewer rows."
        )

    def _fit_categorical(
        self,
        position: int,
        series: pd.Series,
        spec: ColumnSpec,
        budget: DataBudget | None,
        weights: np.ndarray | None,
    ) -> None:
        declared = spec.public_categories
        if declared is not None:
            _warn_outside_categories(series, spec)
        if declared is None and budget is not None and spec.categories is not None:
            declared = [*spec.categories, None]  # a category dtype is a public schema
        if declared is not None:
            categories = _sortable_unique(pd.Series(declared, dtype=object))
            has_missing = any(pd.isna(v) for v in declared) or (
                budget is None and bool(series.isna().any())
            )
        elif budget is not None:
            released, _ = release_frequent(
                series.to_numpy(dtype=object), weights, budget, f"categories of {spec.name!r}"
            )
            missing = pd.isna(released)
            categories = _sortable_unique(pd.Series(released[~missing], dtype=object))
            has_missing = bool(missing.any())
            if not categories and series.notna().any():
                warnings.warn(
                    f"Column {spec.name!r}: no category was frequent enough to be released "
                    "under differential privacy, so its samples are all missing. Declare its "
                    "categories as public schema (fit(..., metadata={'categories': {column: "
                    "[...]}})), or give more records or a larger epsilon.",
                    PrivacyWarning,
                    stacklevel=caller_stacklevel(),
                )
        else:
            categories = _sortable_unique(series)
            has_missing = bool(series.isna().any())
        if len(categories) + has_missing <= 1:
            self._constants[position] = categories[0] if categories else np.nan
            return
        self._categorical_index.append(position)
        self._categories.append(categories)
        self._categorical_missing.append(has_missing)

    def _fit_continuous(
        self,
        position: int,
        df: pd.DataFrame,
        spec: ColumnSpec,
        rng: np.random.Generator,
        pool: ThreadPoolExecutor,
        filled: pd.DataFrame,
    ) -> None:
        """Fit a continuous column's modes (or its parts'); ``filled`` is ``df`` with
        the stand-ins of anchors (:meth:`_with_stand_ins`), which its parts count from."""
        series = df[spec.name]
        extremes = None if spec.public_bounds else integer_extremes(series, spec)
        if (
            extremes is not None
            and spec.value_type == NUMERIC
            and max(map(abs, extremes)) > EXACT_FLOAT_INTEGER
            and extremes[1] - extremes[0] <= EXACT_FLOAT_INTEGER
            and position not in self._anchors
            and position not in self._anchors.values()
        ):
            # Integers past 2**53 within a range float64 holds (IDs near 1.2e18 a few
            # apart, nanoseconds since 1970): modelled as exact distances from the
            # smallest, which are then as exact as any integer column's.
            self._integer_origins[position] = extremes[0]
            extremes = (0, extremes[1] - extremes[0])
        values = self._floats(series, spec, position)
        if np.isinf(values).any():
            raise InvalidDataError(
                f"Column {spec.name!r} contains infinite values; replace them with NaN "
                "(missing) or finite numbers."
            )
        observed = values[~np.isnan(values)]
        if spec.public_bounds is not None:
            _warn_outside_bounds(observed, spec)
            observed = np.clip(observed, *spec.public_bounds)
        if 0 < observed.size < values.size:
            self._missing_index.append(position)
        if extremes is not None and max(map(abs, extremes)) > EXACT_FLOAT_INTEGER:
            self._integer_extremes[position] = extremes
        # Times as exact integers for finding their grid: past 2**53 (nanoseconds since
        # 1970) their floats are off by up to 128 units, and no millisecond grid shows.
        exact = None
        if spec.value_type in (DATETIME, TIMEDELTA):
            exact = time_ints(series, spec)[0][~np.isnan(values)]
        elif position in self._integer_extremes and not spec.public_bounds:
            present = series.dropna().to_numpy()
            if present.size and int(present.max()) <= np.iinfo(np.int64).max:
                exact = present.astype(np.int64)  # not uint64 past int64: left on floats
        extra: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # absolute modes of a part
        if position in self._anchors:
            anchor = self.columns[self._anchors[position]]
            anchor_missing = df[anchor.name].isna().to_numpy()
            step, origin = time_grid(exact, np.unique(exact), spec)
            self._anchored[position] = AnchoredDecoding(
                step=step,
                weekdays=weekdays(series, spec),
                shares_missing=bool((np.isnan(values) == anchor_missing).all()),
                origin=origin,
            )
            relative = anchored_parts(series, spec, filled[anchor.name], anchor)
            # offsets from the anchor itself (a stand-in's are all one offset)
            offsets = np.where(anchor_missing, np.nan, relative["offset"])
            at = self._find_absolute(position, values, exact, offsets)
            if at is not None:  # those rows stand aside from every relative part
                relative = {name: np.where(at, np.nan, part) for name, part in relative.items()}
            chosen = choose_anchored_parts(relative, spec, by_day=self.split_times)
            parts = {part: relative[ANCHORED_PART[part]] for part in chosen}
            if at is not None:
                extra[chosen[0]] = self._absolute_extra(
                    position, at, values, exact, parts[chosen[0]]
                )
        else:
            grid = month_grid(exact, spec) if spec.public_bounds is None else None
            if grid is not None:  # a week and a weekday mean nothing on a month grid
                self._month_grids[position] = grid
            split = self.split_times and grid is None
            parts = choose_calendar_parts(series, spec) if split else {}
        if position in self._floors:
            step, origin = coarsest_grid(
                np.unique(observed), decimal_step(observed, float_precision(series.dtype))
            )
            self._above_floor[position] = (observed.min(), observed.max(), step, origin)
            floor = self._floor_values(filled, position)
            if (np.isnan(values) == np.isnan(self._floor_values(df, position))).all():
                self._missing_with_floors.add(position)
            gaps = values - floor
            at = self._find_absolute(position, values, observed, gaps)
            if at is not None:  # a shared value of its own (a follow-up's end, in days)
                gaps = np.where(at, np.nan, gaps)
                extra[WHOLE] = self._absolute_extra(position, at, values, observed, gaps)
            values = gaps
        if not parts:
            self._fit_row(
                position,
                values,
                spec,
                series.dtype,
                rng,
                pool,
                WHOLE,
                extremes,
                exact,
                extra=extra.get(WHOLE),
            )
            return
        self._split_bounds[position] = (float(observed.min()), float(observed.max()))
        for part, part_values in parts.items():
            self._fit_row(
                position, part_values, spec, series.dtype, rng, pool, part, extra=extra.get(part)
            )

    def _find_absolute(
        self, position: int, values: np.ndarray, exact: np.ndarray, offsets: np.ndarray
    ) -> np.ndarray | None:
        """Rows of an anchored column (or one above its floors) at its absolute
        frequent values, or None.

        A shared end date (a study's end for every patient still alive) is no offset
        from starts spread over years: modelled as offsets it came back in 0 % of
        samples. Each such value (:func:`~tssynth.data.calendar.absolute_masses`)
        becomes one more point-mass mode of the first relative part (or of the gap),
        which decodes to the value itself; its rows are left out of every relative
        part. None where there is no such value, or fewer than two other distinct
        offsets. ``exact``: the present values (a time column's as integers).
        """
        present = ~np.isnan(values)
        absolute = absolute_masses(exact, offsets[present])
        at = np.zeros(len(values), dtype=bool)
        at[present] = np.isin(exact, absolute)
        if absolute.size == 0 or np.unique(offsets[~at & ~np.isnan(offsets)]).size < 2:
            return None
        self._absolute_times[position] = absolute
        return at

    def _absolute_extra(
        self,
        position: int,
        at: np.ndarray,
        values: np.ndarray,
        exact: np.ndarray,
        relative: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Row counts of a column's absolute values (rows ``at`` them, among its
        ``values``; ``exact``: the present ones) and the relative value their modes
        stand on, the others' median (decoding replaces it)."""
        absolute = self._absolute_times[position]
        codes = np.searchsorted(absolute, exact[at[~np.isnan(values)]])
        counts = np.bincount(codes, minlength=absolute.size).astype(np.float64)
        return counts, np.full(absolute.size, np.nanmedian(relative[~at]))

    def _fit_row(
        self,
        position: int,
        values: np.ndarray,
        spec: ColumnSpec,
        dtype: Any,
        rng: np.random.Generator,
        pool: ThreadPoolExecutor,
        part: int,
        extremes: tuple[int, int] | None = None,
        exact: np.ndarray | None = None,
        extra: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Modes, bounds and grid of one continuous row: a column, or a part of one.

        ``exact``: a time column's present values as integers, for its grid.
        ``extra``: absolute modes (see :meth:`_find_absolute` and :meth:`_fit_modes`).
        """
        observed = values[~np.isnan(values)]
        if spec.public_bounds is not None:
            observed = np.clip(observed, *spec.public_bounds)
        unique = np.unique(observed)
        if unique.size <= 1:
            self._constants[position] = float(unique[0]) if unique.size else np.nan
            return
        # Declared bounds may reach below zero, where no log exists.
        logs = (
            self.log_skewed
            and (part in (OFFSET, LAG) or spec.value_type not in (DATETIME, TIMEDELTA))
            and spec.public_bounds is None
        )
        shift = log_shift(observed) if logs else np.nan
        loc, scale = location_scale(to_log(observed, shift))
        # The seed is drawn here, in column order, so the result never depends on threads.
        seed = int(rng.integers(2**63))
        # Declared bounds are the range samples may take: no narrower one for a mode.
        own_range = spec.public_bounds is None
        modes = pool.submit(self._fit_modes, observed, shift, loc, scale, seed, own_range, extra)
        if exact is not None and spec.value_type not in (DATETIME, TIMEDELTA):
            step, origin = integer_grid(exact)
        elif exact is not None:
            step, origin = time_grid(exact, np.unique(exact), spec)
        elif spec.value_type in (DATETIME, TIMEDELTA):
            step, origin = time_grid(values, unique, spec)
        else:
            step, origin = coarsest_grid(unique, decimal_step(observed, float_precision(dtype)))
        low, high = spec.public_bounds or (observed.min(), observed.max())
        if extremes is not None:
            low, high = bounds_inside_integers(low, high, *extremes)
        self._add_continuous(position, loc, scale, low, high, step, origin, shift, part, modes)

    def _add_continuous(self, *values: Any) -> None:
        for key, value in zip(self._continuous, values, strict=True):
            self._continuous[key].append(value)

    def _fit_private_continuous(
        self,
        position: int,
        values: np.ndarray,
        spec: ColumnSpec,
        budget: DataBudget,
        weights: np.ndarray | None,
    ) -> None:
        """One mode over private (or public) bounds, plus released frequent values."""
        present = ~np.isnan(values)
        if spec.public_bounds is not None:
            _warn_outside_bounds(values[present], spec)
            low, high = spec.public_bounds
        else:
            low, high = private_range(
                values[present],
                None if weights is None else weights[present],
                budget,
                f"bounds of {spec.name!r}",
            )
        if not high > low:
            high = low + max(abs(low), 1.0)
        released, noisy = release_frequent(
            values.astype(object), weights, budget, f"frequent values of {spec.name!r}"
        )
        missing = pd.isna(released)
        if missing.any():
            self._missing_index.append(position)
        total = float(len(values) if weights is None else np.sum(weights))
        share = noisy[~missing] / max(total, 1.0)
        spikes = released[~missing].astype(np.float64)
        is_spike = (share >= POINT_MASS_SHARE) & (spikes >= low) & (spikes <= high)
        order = np.argsort(share[is_spike])[::-1][: self._point_mass_room]
        spikes, share = spikes[is_spike][order], share[is_spike][order]
        loc, scale = midpoint_and_half_range(low, high)
        mode_weights = np.append(share, max(1.0 - share.sum(), 0.01))
        means = np.append((spikes - loc) / scale, 0.0)
        stds = np.append(np.full(spikes.size, _MIN_MODE_STD), 0.25)  # [low, high] -> [-1, 1]
        exact = np.append(spikes, np.nan)
        sort = np.argsort(means)
        step = 1.0 if spec.value_type != NUMERIC or holds_whole_numbers(spec) else 0.0
        self._add_continuous(
            position,
            loc,
            scale,
            low,
            high,
            step,
            0.0,
            np.nan,
            WHOLE,
            (
                mode_weights[sort] / mode_weights.sum(),
                means[sort],
                stds[sort],
                exact[sort],
                np.full(sort.size, np.nan),  # the range is private: no bound of its own
                np.full(sort.size, np.nan),
            ),
        )

    @property
    def _point_mass_room(self) -> int:
        """How many frequent values of a column may become point-mass modes."""
        return max(self.max_modes - 1, _MIN_POINT_MASS_ROOM)

    def _fit_modes(
        self,
        observed: np.ndarray,
        shift: float,
        loc: float,
        scale: float,
        seed: int,
        own_range: bool = True,
        extra: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, ...]:
        """Point-mass modes for very frequent values, a Bayesian mixture for the rest.

        Modes live on ``(to_log(x, shift) - loc) / scale``. Returns weights,
        standardised means and stds of the modes, each mode's exact raw value (NaN
        for mixture modes), and the low and high bounds of each mode's values on the
        modes' scale (NaN: the column's range). With point masses and ``own_range``, the
        mixture modes keep to the range of the values that are not point masses.
        ``extra`` (row counts and raw values, beside ``observed``) adds point-mass
        modes after the sorted ones: the absolute values of an anchored column or of
        one above its floors (see :meth:`_find_absolute`).
        """
        rng = np.random.default_rng(seed)

        def standardised(raw: np.ndarray) -> np.ndarray:
            return (to_log(raw, shift) - loc) / scale

        values, counts = np.unique(observed, return_counts=True)
        share = counts / observed.size
        is_spike = point_masses(counts)
        room = self._point_mass_room
        if is_spike.sum() > room:  # the `room` most frequent values, ties broken by order
            is_spike = np.zeros_like(is_spike)
            is_spike[np.argsort(-share, kind="stable")[:room]] = True
        spikes = values[is_spike]
        parts = [(share[is_spike], standardised(spikes), np.full(spikes.size, _MIN_MODE_STD))]
        exact = [spikes.astype(np.float64)]
        rest_values = values[~is_spike]
        if rest_values.size >= 2:
            rest = observed[~np.isin(observed, spikes)]
            budget = min(rest_values.size, max(self.max_modes - spikes.size, 1))
            w, m, sd = self._fit_mixture(standardised(rest), budget, rng)
            parts.append((w * rest.size / observed.size, m, sd))
            exact.append(np.full(w.size, np.nan))
        elif rest_values.size == 1:  # a single leftover value is one more point mass
            rest_share = share[~is_spike]
            parts.append((rest_share, standardised(rest_values), np.array([_MIN_MODE_STD])))
            exact.append(rest_values.astype(np.float64))
        weights, means, stds = (np.concatenate(column) for column in zip(*parts, strict=True))
        exact_values = np.concatenate(exact)
        order = np.argsort(means)
        # Next to point masses, the mixture's values keep to the range of the values that
        # are not point masses: an amount that is 0 or at least 1,000 draws none in between.
        low, high = np.full(weights.size, np.nan), np.full(weights.size, np.nan)
        if own_range and spikes.size and rest_values.size:
            mixture = np.isnan(exact_values)
            low[mixture], high[mixture] = standardised(rest_values[[0, -1]])
        modes = [a[order] for a in (weights, means, stds, exact_values, low, high)]
        if extra is not None:  # row counts beside the others' shares
            counts, stands = extra
            none = np.full(counts.size, np.nan)
            added = (
                counts / observed.size,
                standardised(stands),
                np.full(counts.size, _MIN_MODE_STD),
                stands,
            )
            modes = [np.concatenate(pair) for pair in zip(modes, (*added, none, none), strict=True)]
        total = weights.sum() if extra is None else modes[0].sum()
        return (modes[0] / total, *modes[1:])

    def _fit_mixture(
        self, every: np.ndarray, n_unique: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        standardised = every
        if standardised.size > self.max_fit_rows:
            standardised = rng.choice(standardised, self.max_fit_rows, replace=False)
        # A few far outliers (error codes of -999999 beside readings near 20) make the
        # values' variance huge against their robust spread; sklearn's default priors
        # (that variance; a mean prior at the values' mean, of precision 1) then widen
        # every mode, by about 1 / sqrt(its size) and by its distance from the mean over
        # that, and the bulk is drawn thousands of its widths wide. Such columns get
        # weak priors scaled to the robust spread, and modes widened just enough to
        # encode every value; other columns keep the defaults.
        spread = _robust_spread(standardised)
        outlying = spread < _OUTLIER_SPREAD
        # Fitted on the values over their robust spread (a bulk 1e-15 wide beside
        # sentinels at the ends of int64 was below float64's resolution of the priors).
        center = float(np.median(standardised)) if outlying else 0.0
        unit = spread if outlying else 1.0
        priors = (
            {
                "covariance_prior": np.array([0.01**2]),
                "reg_covar": _MIN_MODE_STD**2,
                "mean_precision_prior": 1e-6,
            }
            if outlying
            else {}
        )
        # In one dimension "diag" is the same model as "full", with cheaper updates.
        mixture = BayesianGaussianMixture(
            n_components=min(self.max_modes, n_unique),
            covariance_type="diag",
            weight_concentration_prior_type="dirichlet_process",
            weight_concentration_prior=0.001,
            max_iter=100,
            n_init=1,
            random_state=int(rng.integers(2**31 - 1)),
            **priors,
        )
        try:
            mixture.fit(((standardised - center) / unit).reshape(-1, 1))
        except ValueError:  # collapsed modes sklearn cannot fit: one mode over the values
            std = max(float(np.std(standardised)), _MIN_MODE_STD * spread)
            weights, means, stds = (
                np.ones(1),
                np.array([float(np.mean(standardised))]),
                np.array([std]),
            )
            return weights, means, _covering_stds(every, weights, means, stds)
        keep = mixture.weights_ > self.weight_threshold
        if not keep.any():
            keep = mixture.weights_ == mixture.weights_.max()
        weights = mixture.weights_[keep] / mixture.weights_[keep].sum()
        means = mixture.means_[keep, 0] * unit + center
        floor = _MIN_MODE_STD * spread if outlying else _MIN_MODE_STD
        stds = np.maximum(np.sqrt(mixture.covariances_[keep].reshape(-1)) * unit, floor)
        if outlying:
            stds = _covering_stds(every, weights, means, stds)
        order = np.argsort(means)
        return weights[order], means[order], stds[order]

    def _finalise(self) -> None:
        """Turn the per-column lists into padded arrays and lay out the model array."""
        self._restored_categories: dict[int, Any] = {}  # filled by assemble
        self._restored_derived: dict[int, Any] = {}
        cont = self._continuous
        n_cont = len(cont["index"])
        width = max((len(modes[0]) for modes in cont["modes"]), default=1)
        self._log_weights = np.full((n_cont, width), -np.inf)
        self._means = np.zeros((n_cont, width))
        self._stds = np.ones((n_cont, width))
        self._exact = np.full((n_cont, width), np.nan)
        self._mode_low, self._mode_high = np.full((2, n_cont, width), np.nan)
        for row, (w, m, s, e, low, high) in enumerate(cont["modes"]):
            self._log_weights[row, : len(w)] = np.log(w)
            self._means[row, : len(m)] = m
            self._stds[row, : len(s)] = s
            self._exact[row, : len(e)] = e
            self._mode_low[row, : len(low)], self._mode_high[row, : len(high)] = low, high
        self._n_modes = np.array([len(modes[0]) for modes in cont["modes"]], dtype=np.int64)
        self._cont_arrays = {
            k: np.asarray(cont[k], dtype=np.float64)
            for k in ("loc", "scale", "min", "max", "step", "origin", "shift")
        }
        self._cont_index = np.asarray(cont["index"], dtype=np.int64)
        self._cont_part = np.asarray(cont["part"], dtype=np.int64)
        # For _decode_continuous: per-column parameters as (n_continuous, 1) columns.
        step = self._cont_arrays["step"]
        columns = {key: value[:, None] for key, value in self._cont_arrays.items()}
        origin = self._cont_arrays["origin"]
        per_unit, unit, origin_units = grid_counts(step, origin)
        columns["per_unit"], columns["unit"] = per_unit[:, None], unit[:, None]
        columns["origin_units"] = origin_units[:, None]
        self._has_origin = bool((origin > 0).any())
        with np.errstate(over="ignore", invalid="ignore"):
            for bound in ("min", "max"):  # the bounds on the modes' (standardised) scale
                logged = to_log(self._cont_arrays[bound], self._cont_arrays["shift"])
                columns[f"standard_{bound}"] = (
                    (logged - columns["loc"][:, 0]) / columns["scale"][:, 0]
                )[:, None]
        self._cont_columns = columns
        self._step_rows = np.flatnonzero(step > 0)
        self._log_rows = np.flatnonzero(~np.isnan(self._cont_arrays["shift"]))
        self._has_exact = not np.isnan(self._exact).all()
        self._point_mass = ~np.isnan(self._exact)
        # (position, row, first mode) of every column with absolute modes (its last ones).
        self._absolute_rows = [
            (position, row, int(self._n_modes[row]) - len(values))
            for position, values in sorted(self._absolute_times.items())
            for row in np.flatnonzero(self._cont_index == position)[:1].tolist()
        ]
        self._absolute_mode = np.zeros((n_cont, width), dtype=bool)
        for _, row, first in self._absolute_rows:
            self._absolute_mode[row, first : self._n_modes[row]] = True
        self._mode_offset = (np.arange(n_cont) * width)[:, None]
        self._scalar_low, self._scalar_high = self._scalar_reach()
        row = {position: r for r, position in enumerate(self._categorical_index)}
        self._value_rules = ValueRules([(row[a], row[b], forced) for a, b, forced in self._implied])
        # per time or big-integer column (an anchored one may have no row: a constant offset)
        grids = set(self._cont_index.tolist()) | set(self._anchored)
        self._integer_grids = {position: self._integer_grid(position) for position in grids}
        self._build_layout()

    def _scalar_reach(self) -> tuple[np.ndarray, np.ndarray]:
        """Per column and mode, the scalars in [-1, 1] that decode inside [min, max] (and
        inside the mode's own bounds, where it has them)."""
        a = self._cont_columns
        with np.errstate(over="ignore", invalid="ignore"):
            # fmax / fmin: a NaN bound (none of its own) leaves the column's
            lowest = np.fmax(a["standard_min"], self._mode_low)
            highest = np.fmin(a["standard_max"], self._mode_high)
            low, high = ((bound - self._means) / (4.0 * self._stds) for bound in (lowest, highest))
        low, high = np.clip(low, -1.0, 1.0), np.clip(high, -1.0, 1.0)
        usable = low < high  # else (a mode wholly outside the range) plain clipping
        return np.where(usable, low, -1.0), np.where(usable, high, 1.0)

    def _build_layout(self) -> None:
        spans: list[Span] = []
        scalar_pos, mode_pos, missing_pos, category_pos = {}, {}, {}, {}
        cont_rows: dict[int, list[int]] = {}
        for row, pos in enumerate(self._cont_index.tolist()):
            cont_rows.setdefault(pos, []).append(row)
        cat_row = {pos: row for row, pos in enumerate(self._categorical_index)}
        missing = set(self._missing_index)
        cursor = 0

        def add(width: int, kind: str) -> int:
            nonlocal cursor
            spans.append(Span(cursor, cursor + width, kind))
            cursor += width
            return cursor - width

        for position in range(len(self.columns)):
            for row in cont_rows.get(position, ()):
                scalar_pos[row] = add(1, GAUSSIAN)
                if self._n_modes[row] > 1:
                    mode_pos[row] = add(int(self._n_modes[row]), SOFTMAX)
            if position in missing:
                missing_pos[position] = add(2, SOFTMAX)
            if position in cat_row:
                row = cat_row[position]
                width = len(self._categories[row]) + self._categorical_missing[row]
                category_pos[row] = add(width, SOFTMAX)
        self.spans = spans
        self.output_dim = cursor
        self._category_starts = sorted(category_pos.values())
        n_cont = len(self._cont_index)
        self._scalar_pos = np.array([scalar_pos[r] for r in range(n_cont)], dtype=np.int64)
        # Padded (n_cont, width) index of mode columns; -1 where a column has fewer modes.
        width = self._means.shape[1]
        self._mode_cols = np.full((n_cont, width), -1, dtype=np.int64)
        for row, start in mode_pos.items():
            self._mode_cols[row, : self._n_modes[row]] = np.arange(
                start, start + self._n_modes[row]
            )
        self._missing_cols = np.array([missing_pos[p] for p in self._missing_index], dtype=np.int64)
        # Per column with missing values, the model-array columns that stand in for its
        # value in a missing row (scalars and mode one-hots), as (column, model column).
        stand_ins = [
            (i, col)
            for i, position in enumerate(self._missing_index)
            for row in cont_rows.get(position, ())
            for col in (scalar_pos[row], *self._mode_cols[row][self._mode_cols[row] >= 0])
        ]
        self._stand_in = np.array(stand_ins, dtype=np.int64).reshape(-1, 2).T
        self._category_cols = np.array(
            [category_pos[r] for r in range(len(self._categorical_index))], dtype=np.int64
        )
        # Where decoded draws come from: the Gaussian span of every continuous column,
        # and the softmax span (in layout order) of every mode, missing and category block.
        softmax_starts = [s.start for s in spans if s.kind == SOFTMAX]
        span_of = {start: index for index, start in enumerate(softmax_starts)}
        self._softmax_block = softmax_block([s for s in spans if s.kind == SOFTMAX])
        self._gaussian_cols = np.sort(self._scalar_pos)
        self._gaussian_rank = np.searchsorted(self._gaussian_cols, self._scalar_pos)
        self._mode_span = np.array(
            [span_of[mode_pos[r]] if r in mode_pos else -1 for r in range(n_cont)], dtype=np.int64
        )
        self._missing_span = np.array(
            [span_of[c] for c in self._missing_cols.tolist()], dtype=np.int64
        )
        self._category_span = np.array(
            [span_of[c] for c in self._category_cols.tolist()], dtype=np.int64
        )

    # ---------------------------------------------------------------- transform

    def transform(
        self,
        df: pd.DataFrame,
        random_state: np.random.Generator | None = None,
        clip: bool = True,
    ) -> np.ndarray:
        """Encode ``df`` as a float32 model array.

        Parameters
        ----------
        df : DataFrame
            Must contain every fitted column; other columns are ignored.
        random_state : numpy.random.Generator, optional
            With a generator, each value's mixture mode is drawn from its posterior
            and missing continuous values are filled by draws from the mixture (as in
            training); without one, the most probable mode is used and missing values
            get the mean of the column's heaviest mode (deterministic, for ``transform``;
            :meth:`stand_ins` marks them).
        clip : bool, default=True
            Whether a value far out in its mode (past about 4 of its standard
            deviations, where training rows never go) is encoded at that limit; an
            anomaly score needs the distance kept (``False``).

        Returns
        -------
        ndarray of shape (len(df), output_dim), float32
            Continuous values beyond the fitted bounds are encoded as the bounds
            (with ``clip``).
        """
        self._check_columns(df)
        n = len(df)
        if not fits_in_memory(n * self.output_dim * 4):
            raise InvalidDataError(self._too_large(n))
        try:
            out = np.zeros((n, self.output_dim), dtype=np.float32)
        except MemoryError:
            raise InvalidDataError(self._too_large(n)) from None
        rows = np.arange(n)[:, None]
        self._transform_continuous(df, out, random_state, clip)
        self._transform_missing(df, out, rows)
        self._transform_categorical(df, out, rows)
        return out

    def stand_ins(self, encoded: np.ndarray) -> np.ndarray | None:
        """Where rows of :meth:`transform` hold a stand-in for a missing value.

        A missing continuous value is encoded as a typical value (a draw in
        training) next to its missing indicator; a score of the row leaves the
        stand-in out, as it is not data.

        Parameters
        ----------
        encoded : ndarray of shape (n, output_dim)

        Returns
        -------
        ndarray of shape (n, output_dim), bool, or None when no column has missing values
        """
        if not len(self._missing_cols):
            return None
        missing = encoded[:, self._missing_cols + 1] == 1
        columns, model_columns = self._stand_in
        out = np.zeros(encoded.shape, dtype=bool)
        out[:, model_columns] = missing[:, columns]
        return out

    def _check_columns(self, df: pd.DataFrame) -> None:
        """Raise unless ``df`` has every fitted column, once."""
        missing_columns = [c.name for c in self.columns if c.name not in df.columns]
        if missing_columns:
            raise InvalidDataError(
                f"The data lacks the fitted columns {missing_columns}; pass a DataFrame with "
                f"every column seen in fit: {[c.name for c in self.columns]}."
            )
        repeated = set(df.columns[df.columns.duplicated()])
        repeated = [c.name for c in self.columns if c.name in repeated]
        if repeated:
            raise InvalidDataError(
                f"The data has the fitted columns {repeated} more than once; rename or drop "
                "the copies so that every column name is unique."
            )

    def _with_stand_ins(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` with a stand-in for each anchor or floor where it is missing and its
        anchored column, or the column above it, is present (see
        :func:`~tssynth.data.calendar.stand_in_offset` and
        :func:`~tssynth.data.order.floor_stand_ins`)."""
        filled = {}
        for later, offset in self._stand_in_offsets.items():
            late, early = self.columns[later], self.columns[self._anchors[later]]
            earlier = filled.get(early.name, df[early.name])
            filled[early.name] = with_stand_in_anchor(df[late.name], late, earlier, early, offset)
        stand_ins: dict[int, np.ndarray] = {}  # of floors without floors of their own
        for later, gaps in self._floor_stand_ins.items():
            above = to_float(df[self.columns[later].name], self.columns[later])
            for floor, (gap, low, high) in gaps.items():
                below = to_float(df[self.columns[floor].name], self.columns[floor])
                stand_in = with_stand_in_floor(above, below, gap, low, high)
                # a floor under several columns: the lowest, below each of them
                shared = stand_ins.get(floor)
                stand_ins[floor] = stand_in if shared is None else np.fmin(shared, stand_in)
        for floor, stand_in in stand_ins.items():
            filled[self.columns[floor].name] = pd.Series(stand_in, index=df.index)
        if not filled:
            return df
        df = df.copy(deep=False)  # labels of any kind (assign takes strings only)
        for name, column in filled.items():
            df[name] = column
        return df

    def _floor_values(self, df: pd.DataFrame, position: int) -> np.ndarray:
        """The row-wise maximum of the floors of the column at ``position``."""
        floors = [(self.columns[f], f) for f in self._floors[position]]
        return floor_of([self._floats(df[spec.name], spec, f) for spec, f in floors])

    def _floats(self, series: pd.Series, spec: ColumnSpec, position: int) -> np.ndarray:
        """A continuous column's values as the model reads them: :func:`to_float`, less
        the column's integer origin where it has one (in integer arithmetic)."""
        values = to_float(series, spec)
        origin = self._integer_origins.get(position)
        if origin is None:
            return values
        return integers_from(series, origin, values)

    def _continuous_matrix(
        self, df: pd.DataFrame, absolute: list[np.ndarray] | None = None
    ) -> np.ndarray:
        """Float values of every continuous row (a column, or its day or time of day);
        an anchor's or floor's stand-ins (:meth:`_with_stand_ins`) in place of its
        missing values, and NaN in the relative parts of rows at absolute values (codes
        ``absolute`` from :meth:`_absolute_codes`: their modes are set apart)."""
        if len(self._cont_index) == 0:
            return np.zeros((len(df), 0))
        df = self._with_stand_ins(df)
        columns, parts = [], {}
        rows = zip(self._cont_index.tolist(), self._cont_part.tolist(), strict=True)
        for position, part in rows:
            spec = self.columns[position]
            if part == WHOLE:
                column = self._floats(df[spec.name], spec, position)
                if position in self._floors:  # its gap above its floors
                    column = column - self._floor_values(df, position)
                columns.append(column)
                continue
            if position not in parts:
                if position in self._anchors:
                    anchor = self.columns[self._anchors[position]]
                    parts[position] = anchored_parts(df[spec.name], spec, df[anchor.name], anchor)
                else:
                    parts[position] = calendar_parts(df[spec.name], spec)
                    # as fitted: a single time of day rides on the weekday
                    if TIME_OF_DAY not in self._parts(position):
                        parts[position]["weekday"] += parts[position]["time"]
            names = ANCHORED_PART if position in self._anchors else CALENDAR_PART
            columns.append(parts[position][names[part]])
        absolute = self._absolute_codes(df) if absolute is None else absolute
        for (position, _, _), codes in zip(self._absolute_rows, absolute, strict=True):
            rows = np.flatnonzero(self._cont_index == position)
            for row in rows.tolist():
                columns[row] = np.where(codes >= 0, np.nan, columns[row])
        return np.column_stack(columns)

    def _transform_continuous(
        self, df: pd.DataFrame, out: np.ndarray, rng: np.random.Generator | None, clip: bool
    ) -> None:
        absolute = self._absolute_codes(df)
        values = self._continuous_matrix(df, absolute)
        if values.shape[1] == 0:
            return
        finite = np.isfinite(values) | np.isnan(values)
        if not finite.all():
            bad = self.columns[self._cont_index[np.where(~finite.all(axis=0))[0][0]]].name
            raise InvalidDataError(
                f"Column {bad!r} contains infinite values; replace them with NaN or finite numbers."
            )
        a = self._cont_arrays
        logged = self._log_rows
        if len(logged):  # values below the training minimum saturate like any outlier
            lowest = a["min"][logged]
            values[:, logged] = to_log(np.maximum(values[:, logged], lowest), a["shift"][logged])
        # A value far beyond the training range (or near the float limit) only has to
        # land past the outermost mode, where its encoding saturates anyway.
        with np.errstate(over="ignore"):
            standardised = (values - a["loc"]) / a["scale"]
        standardised = np.clip(standardised, -_STANDARDISED_LIMIT, _STANDARDISED_LIMIT)
        chunk = min(_ROW_CHUNK, max(1, _CHUNK_ENTRIES // self._means.size))
        for start in range(0, len(df), chunk):
            block = slice(start, start + chunk)
            scalar, mode = self._encode_values(standardised[block], rng, clip)
            for (_, row, first), codes in zip(self._absolute_rows, absolute, strict=True):
                at = codes[block] >= 0
                mode[at, row] = first + codes[block][at]
                scalar[at, row] = 0.0
            out[block, self._scalar_pos] = scalar
            mode_col = np.take_along_axis(self._mode_cols[None, :, :], mode[:, :, None], axis=2)[
                :, :, 0
            ]
            has_modes = self._n_modes > 1
            chunk_rows = np.arange(mode.shape[0])[:, None]
            out[block][chunk_rows, mode_col[:, has_modes]] = 1.0

    def _absolute_codes(self, df: pd.DataFrame) -> list[np.ndarray]:
        """Per column with absolute modes, each row's absolute value's index (-1: none)."""
        codes = []
        for position, _, _ in self._absolute_rows:
            spec, values = self.columns[position], self._absolute_times[position]
            if spec.value_type in (DATETIME, TIMEDELTA):
                given, missing = time_ints(df[spec.name], spec)
            else:
                given = self._floats(df[spec.name], spec, position)
                missing = np.isnan(given)
            index = np.minimum(np.searchsorted(values, given), len(values) - 1)
            codes.append(np.where(~missing & (values[index] == given), index, -1))
        return codes

    def _encode_values(
        self, x: np.ndarray, rng: np.random.Generator | None, clip: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mode assignment and normalised scalar for standardised values ``x`` (n, n_cont)."""
        missing = np.isnan(x)
        if missing.any():
            if rng is None:  # the heaviest mode's mean: a value training saw often
                heaviest = np.argmax(self._log_weights, axis=1)
                typical = self._means[np.arange(len(heaviest)), heaviest]
                x = np.where(missing, typical, x)
            else:
                weights = np.where(self._absolute_mode, 0.0, np.exp(self._log_weights))
                drawn_mode = sample_last_axis(weights[None].repeat(len(x), 0), rng)
                mean = np.take_along_axis(self._means[None], drawn_mode[..., None], 2)[..., 0]
                std = np.take_along_axis(self._stds[None], drawn_mode[..., None], 2)[..., 0]
                x = np.where(missing, mean + std * rng.standard_normal(x.shape), x)
        z = (x[:, :, None] - self._means[None]) / self._stds[None]
        log_post = self._log_weights[None] - np.log(self._stds[None]) - 0.5 * z**2
        if self._has_exact:
            # A point mass takes its own value alone: one std of _MIN_MODE_STD is 1.7
            # units of a column 1,700 wide, where a 2 beside a mass at 0 was encoded
            # (and decoded) as 0. Where no mode is left (a value unseen beside point
            # masses only), the nearest takes it, as before.
            at_other = self._point_mass[None] & (
                np.abs(x[:, :, None] - self._means[None]) > _EXACT_TOLERANCE * self._stds[None]
            )
            fenced = np.where(at_other, -np.inf, log_post)
            log_post = np.where(np.isinf(fenced).all(axis=2, keepdims=True), log_post, fenced)
        if self._absolute_rows:  # taken by the rows at those values alone
            log_post[:, self._absolute_mode] = -np.inf
        # A value is encoded in a mode that can give it back: inside the mode's reach
        # (drawn into a far mode, a value at 5 of its stds came back clipped at 3.96)
        # and inside its range (a 0 drawn into the mixture beside a point mass at 0 came
        # back as the mixture's smallest value). Where none can (a value past the
        # training range), any may take it.
        outside = (np.abs(z) > 4.0 * _SCALAR_LIMIT) | (x[:, :, None] < self._mode_low[None])
        outside |= x[:, :, None] > self._mode_high[None]
        fenced = np.where(outside, -np.inf, log_post)
        log_post = np.where(np.isinf(fenced).all(axis=2, keepdims=True), log_post, fenced)
        if rng is None:
            mode = np.argmax(log_post, axis=2)
        else:
            log_post -= log_post.max(axis=2, keepdims=True)
            mode = sample_last_axis(np.exp(log_post), rng)
        chosen_z = np.take_along_axis(z, mode[..., None], axis=2)[..., 0]
        scalar = chosen_z / 4.0
        return (np.clip(scalar, -_SCALAR_LIMIT, _SCALAR_LIMIT) if clip else scalar), mode

    def _transform_missing(self, df: pd.DataFrame, out: np.ndarray, rows: np.ndarray) -> None:
        if not self._missing_index:
            return
        is_missing = np.column_stack(
            [df[self.columns[p].name].isna().to_numpy() for p in self._missing_index]
        )
        out[rows, self._missing_cols[None, :] + is_missing] = 1.0

    def _transform_categorical(self, df: pd.DataFrame, out: np.ndarray, rows: np.ndarray) -> None:
        if not self._categorical_index:
            return
        codes = np.column_stack(
            [
                self._category_codes(df[self.columns[p].name], row)
                for row, p in enumerate(self._categorical_index)
            ]
        )
        known = codes >= 0  # unseen categories stay all-zero
        target = np.where(known, self._category_cols[None, :] + codes, 0)
        out[np.broadcast_to(rows, codes.shape)[known], target[known]] = 1.0

    def warn_unseen_categories(self, df: pd.DataFrame, what: str) -> None:
        """Warn (:class:`DataWarning`) about categorical values of ``df`` unseen in fit.

        They encode as none of the known categories: new data a model can still
        read, or a column whose type changed (codes ``10`` read back as text
        ``"10"``), which the warning lets a user see. Values left out of a
        private release count as unseen.
        """
        self._check_columns(df)
        for row, position in enumerate(self._categorical_index):
            series = df[self.columns[position].name]
            unseen = self._category_codes(series, row) < 0  # missing too, if never in fit
            if unseen.any():
                values = pd.unique(series[unseen])
                name = self.columns[position].name
                warnings.warn(
                    f"{what}: {unseen.sum():,} of the {unseen.size:,} values of column "
                    f"{name!r} are categories unseen in fit ({_shown(values)}); "
                    "they are encoded as none of the known categories. If they should be "
                    "known, check the column's type against the fitted categories "
                    f"{_shown(self._categories[row])}.",
                    DataWarning,
                    stacklevel=caller_stacklevel(),
                )

    def _category_codes(self, series: pd.Series, row: int) -> np.ndarray:
        categories = self._categories[row]
        # tupleize_cols=False: tuple categories (of any lengths) stay values, not a MultiIndex.
        known = pd.Index(categories, dtype=object, tupleize_cols=False)
        values = pd.Index(series.to_numpy(dtype=object), dtype=object, tupleize_cols=False)
        codes = known.get_indexer(values)
        codes = codes.astype(np.int64)  # -1: unseen or missing
        if self._categorical_missing[row]:
            codes[series.isna().to_numpy()] = len(categories)
        return codes

    # -------------------------------------------------------- inverse transform

    def inverse_transform(
        self,
        data: np.ndarray,
        sigmas: np.ndarray | None = None,
        random_state: np.random.Generator | None = None,
        fold: bool = False,
    ) -> pd.DataFrame:
        """Decode a model array back into a DataFrame of the fitted schema.

        Parameters
        ----------
        data : ndarray of shape (n, output_dim)
            Gaussian columns in [-1, 1]; softmax columns hold probabilities or
            one-hot codes.
        sigmas : ndarray of shape (output_dim,), optional
            Decoder standard deviations; with ``random_state``, Gaussian noise of this
            size is added to the Gaussian columns.
        random_state : numpy.random.Generator, optional
            With a generator, modes, categories and missingness are drawn from the
            softmax probabilities; without one, the most probable value is taken.
        fold : bool, default=False
            The Gaussian columns are draws, not means: one past its mode's reach is
            reflected back at the bound it passed (see :meth:`decode_draws`).

        Returns
        -------
        DataFrame with the fitted columns and dtypes.
        """
        return self.assemble([self.decode(data, sigmas, random_state, fold)])

    def decode(
        self,
        data: np.ndarray,
        sigmas: np.ndarray | None = None,
        random_state: np.random.Generator | None = None,
        fold: bool = False,
    ) -> dict[str, np.ndarray]:
        """First half of :meth:`inverse_transform`: compact per-column arrays for one batch.

        Decode many batches and pass them together to :meth:`assemble` to build one
        DataFrame without holding all model arrays at once.

        Returns
        -------
        dict with ``continuous`` (n, n_continuous) float64 values, ``codes``
        (n, n_categorical) int category codes, ``missing`` (n, n_missing) bool and
        ``absolute`` (n, columns with absolute modes) the absolute value taken (-1: none).
        """
        data = np.asarray(data)
        if data.ndim != 2 or data.shape[1] != self.output_dim:
            raise InvalidDataError(
                f"Expected a model array of shape (n, {self.output_dim}), got {data.shape}."
            )
        block = self._softmax_block
        # np.take keeps rows contiguous (fancy indexing on axis 1 returns F order).
        weights = np.take(data, block.dims, axis=1)
        if random_state is None:
            choices = segment_argmax(weights, block)
        else:
            choices = segment_sample(weights, block, random_state)
        means = np.take(data, self._gaussian_cols, axis=1)
        if sigmas is not None:
            sigmas = np.asarray(sigmas, dtype=np.float64)[self._gaussian_cols]
        return self.decode_draws(means, choices, sigmas, random_state, fold)

    def decode_draws(
        self,
        means: np.ndarray,
        choices: np.ndarray,
        sigmas: np.ndarray | None = None,
        random_state: np.random.Generator | None = None,
        fold: bool = False,
    ) -> dict[str, np.ndarray]:
        """Like :meth:`decode`, for rows whose softmax spans are already drawn.

        Parameters
        ----------
        means : ndarray of shape (n, n_gaussian)
            The Gaussian columns (values in [-1, 1]), in layout order.
        choices : ndarray of shape (n, n_softmax_spans), int
            The index taken in every softmax span, in layout order.
        sigmas : ndarray of shape (n_gaussian,), optional
            Decoder standard deviations of the Gaussian columns; with
            ``random_state``, Gaussian noise of this size is added to ``means``.
        random_state : numpy.random.Generator, optional
        fold : bool, default=False
            ``means`` are draws (a DVAE's, noise included): a value past its mode's
            reach is reflected back at the bound it passed, as the noise added here
            is, instead of being clipped onto it (which piles draws on the column's
            minimum or maximum). Means (reconstructions) are clipped.

        Returns
        -------
        dict, as :meth:`decode`.
        """
        means, choices = np.asarray(means), np.asarray(choices)
        expected = (len(self._gaussian_cols), len(self._softmax_block.offsets))
        if means.shape[1:] != expected[:1] or choices.shape != (len(means), expected[1]):
            raise InvalidDataError(
                f"Expected draws of shapes (n, {expected[0]}) and (n, {expected[1]}), got "
                f"{means.shape} and {choices.shape}."
            )
        # Column-major from here on: each column a contiguous row, as assemble reads them.
        scalar = means.T[self._gaussian_rank].astype(np.float64)
        scratch = np.empty_like(scalar)
        by_span = choices.T
        mode = np.zeros(scalar.shape, dtype=np.int64)
        has_modes = self._mode_span >= 0
        mode[has_modes] = by_span[self._mode_span[has_modes]]
        if sigmas is not None and random_state is not None:
            sigma = np.asarray(sigmas, dtype=np.float64)[self._gaussian_rank, None]
            scalar = self._add_noise(scalar, mode, sigma, random_state, scratch)
        elif fold:
            self._fold_into_reach(scalar, mode)
        codes = by_span[self._category_span].astype(np.int64, copy=False).T
        if self._implied:
            codes = self._value_rules.keep(codes, random_state)
        absolute = np.column_stack(
            [
                np.where(mode[row] >= first, mode[row] - first, -1)
                for _, row, first in self._absolute_rows
            ]
            or [np.empty((len(means), 0), dtype=np.int64)]
        )
        return {
            "continuous": self._decode_continuous(scalar, mode, scratch).T,
            "codes": codes,
            "missing": (by_span[self._missing_span] == 1).T,
            "absolute": absolute,
        }

    def _add_noise(
        self,
        scalar: np.ndarray,
        mode: np.ndarray,
        sigma: np.ndarray,
        rng: np.random.Generator,
        scratch: np.ndarray,
    ) -> np.ndarray:
        """``scalar`` plus N(0, sigma) noise, folded back inside [min, max].

        Clipping would put every draw past the range on the column's minimum or
        maximum (4 to 7 % of a heavy-tailed column's samples on its minimum).
        Reflecting a draw at the bound it passed (the classical boundary correction
        of kernel density estimates) spreads that mass just inside the bound
        instead, and keeps a column's spread closer to the data's than truncating
        the noise would (on 100 normal values: std 1 to 2 % low against 3 to 7 %).
        """
        noisy = rng.standard_normal(scalar.shape, out=scratch)
        noisy *= sigma
        noisy += scalar
        # A draw so far out that it passes the other bound too is drawn afresh from the
        # normal truncated to the reach.
        low, high = self._fold_into_reach(noisy, mode)
        outside = (noisy < low) | (noisy > high)
        if outside.any():
            spread = np.broadcast_to(sigma, scalar.shape)[outside]
            noisy[outside] = truncated_normal(
                scalar[outside], spread, low[outside], high[outside], rng
            )
        scalar[...] = noisy
        return scalar

    def _fold_into_reach(
        self, scalar: np.ndarray, mode: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Reflect, in place, every scalar past its mode's reach back at the bound it
        passed; returns the reach ``(low, high)`` (a value past both stays outside)."""
        flat = mode + self._mode_offset
        low, high = np.take(self._scalar_low, flat), np.take(self._scalar_high, flat)
        np.copyto(scalar, 2.0 * low - scalar, where=scalar < low)
        np.copyto(scalar, 2.0 * high - scalar, where=scalar > high)
        return low, high

    def assemble(self, batches: list[dict[str, np.ndarray]]) -> pd.DataFrame:
        """Second half of :meth:`inverse_transform`: one DataFrame from decoded batches."""
        parts = (
            batches[0]
            if len(batches) == 1
            else {key: np.concatenate([b[key] for b in batches]) for key in batches[0]}
        )
        n = len(parts["continuous"])
        values: dict[int, np.ndarray] = {}
        for position, column in zip(self._cont_index.tolist(), parts["continuous"].T, strict=True):
            # a datetime in parts: their sum (tssynth.data.calendar)
            values[position] = values[position] + column if position in values else column
        for position, (low, high) in self._split_bounds.items():
            if position not in self._anchors:
                step = period(
                    self.columns[position], WEEK if WEEK in self._parts(position) else DAY
                )
                values[position] = into_range(values[position], low, high, step)
        for position, grid in self._month_grids.items():  # before dependants read anchors
            values[position] = onto_month_grid(values[position], self.columns[position], grid)
        codes = dict(zip(self._categorical_index, parts["codes"].T, strict=True))
        for anchor in set(self._anchors.values()) & set(self._derived):
            determinant, lookup = self._derived[anchor]  # in counts of its unit, as values
            values[anchor] = lookup[codes[determinant]]
        for position, anchor in self._anchors.items():  # anchors come first
            relative = values.get(position)
            if relative is None:  # a constant offset
                relative = np.full(n, self._constants.get(position, np.nan))
            start = values[anchor] * unit_ratio(self.columns[position], self.columns[anchor])
            values[position] = after_anchor(
                start,
                relative,
                self.columns[position],
                by_day=LAG in self._parts(position),
                step=self._anchored[position].step,
                allowed=self._anchored[position].weekdays,
                origin=self._anchored[position].origin,
                low=self._split_bounds[position][0],
            )
            if position in self._absolute_times:
                values[position] = self._at_absolute(position, parts["absolute"], start, values)
        derived_floors = {f for floors in self._floors.values() for f in floors} & set(
            self._derived
        )
        for floor in derived_floors:  # restored from their determinants (as numbers)
            determinant, lookup = self._derived[floor]
            values[floor] = lookup[codes[determinant]].astype(np.float64)
        for position, floors in self._floors.items():  # floors come first
            gap = values.get(position)
            if gap is None:  # a constant gap
                gap = np.full(n, self._constants.get(position, np.nan))
            floor = floor_of([values[f] for f in floors])
            values[position] = above_floor(floor, gap, *self._above_floor[position])
            if position in self._absolute_times:
                values[position] = self._at_absolute(position, parts["absolute"], floor, values)
        missing = dict(zip(self._missing_index, parts["missing"].T, strict=True))
        # An anchor was present wherever its dependant was: the dependant is missing
        # where the anchor is (one mask for both where they were missing together). The
        # anchor's own mask stands: forcing it present where the dependant is put its
        # missing rate near the product of the two. Anchors come first, so a chain's
        # masks pass down it.
        for position, anchor in self._anchors.items():
            if position in self._stand_in_offsets or anchor not in missing:
                continue  # a stand-in anchor: each keeps its own mask
            if position in missing and self._anchored[position].shares_missing:
                missing[position] = missing[anchor]
            elif position in missing:
                missing[position] = missing[position] | missing[anchor]
        # Present only where its floors are: missing where they are when the data had
        # them missing together (its own mask would add its misses to theirs), else
        # where either is.
        for position, floors in self._floors.items():
            if position in self._floor_stand_ins:
                continue  # present where its floors are missing: it keeps its own mask
            masks = [missing[floor] for floor in floors if floor in missing]
            if not masks:
                continue
            floors_missing = np.logical_or.reduce(masks)
            if position in self._missing_with_floors or position not in missing:
                missing[position] = floors_missing
            else:
                missing[position] = missing[position] | floors_missing
        restored = {}
        for position, spec in enumerate(self.columns):
            if position in codes:
                restored[spec.name] = self._restore_codes(position, codes[position], spec)
                continue
            if position in self._derived:
                restored[spec.name] = self._restore_derived(position, codes)
                continue
            column = values.get(position)
            if column is None:
                fill = self._constants.get(position, np.nan)
                column = np.full(n, fill, dtype=object if spec.kind == CATEGORICAL else float)
            if position in missing:
                column = np.where(missing[position], np.nan, column)
            if spec.kind == CATEGORICAL:
                restored[spec.name] = restore_categorical(column, spec).array
            else:
                extremes = self._integer_extremes.get(position)
                grid = self._integer_grids.get(position)
                origin = self._integer_origins.get(position, 0)
                restored[spec.name] = restore_continuous(column, spec, extremes, grid, origin).array
        # Arrays, not Series: no index alignment, and no copies of fresh columns. Object
        # columns stay Series of their own dtype: pandas 3 would infer ``str`` for strings.
        for spec in self.columns:
            array = with_missing_marker(restored[spec.name], spec)
            if _is_object(array):
                array = pd.Series(array, dtype=object, copy=False)
            restored[spec.name] = array
        frame = pd.DataFrame(restored, index=pd.RangeIndex(n), copy=False)
        if (
            any(name is not None for name in self.level_names)
            and len(self.level_names) == frame.columns.nlevels
        ):
            frame.columns.names = self.level_names
        return frame

    def _at_absolute(
        self, position: int, absolute: np.ndarray, start: np.ndarray, values: dict[int, np.ndarray]
    ) -> np.ndarray:
        """An anchored column's (or one above its floors) decoded values, with its
        absolute values where drawn (never before the anchor or floor: such a row keeps
        its relative value)."""
        j = [p for p, _, _ in self._absolute_rows].index(position)
        codes = absolute[:, j]
        drawn = self._absolute_times[position].astype(np.float64)[np.maximum(codes, 0)]
        with np.errstate(invalid="ignore"):  # a missing anchor: NaN start
            taken = (codes >= 0) & ~(drawn < start)
        return np.where(taken, drawn, values[position])

    def _integer_grid(self, position: int) -> tuple[int, int] | None:
        """A time column's grid ``(step, origin)`` in counts of its unit, for rounding in
        integers: its own, or what its calendar parts add up to (the steps' common
        divisor, the origins' sum); an integer column's past 2**53 (float64 rounds
        it off its grid). None for columns of other kinds or with no grid."""
        is_time = self.columns[position].value_type in (DATETIME, TIMEDELTA)
        if not is_time and position not in self._integer_extremes:
            return None
        if position in self._anchored:
            grids = [(self._anchored[position].step, self._anchored[position].origin)]
        else:
            rows = np.flatnonzero(self._cont_index == position)
            a = self._cont_arrays
            grids = list(zip(a["step"][rows], a["origin"][rows], strict=True))
        if not grids or any(step < 1 for step, _ in grids):
            return None
        step = int(np.gcd.reduce([int(step) for step, _ in grids]))
        origin = int(sum(int(origin) for _, origin in grids)) % step
        bounds = self.columns[position].public_bounds or []
        if any((int(bound) - origin) % step for bound in bounds):
            return None  # a declared bound off the grid: rounding could pass it
        return step, origin

    def _parts(self, position: int) -> set[int]:
        """What the continuous rows of the column at ``position`` model."""
        return set(self._cont_part[self._cont_index == position].tolist())

    def _restore_codes(self, position: int, codes: np.ndarray, spec: ColumnSpec) -> Any:
        """The categories of ``codes`` (the code one past the last = missing), as an array."""
        row = self._categorical_index.index(position)
        restored = self._restored_categories.get(row)
        if restored is None:
            categories = self._categories[row]
            lookup = np.empty(len(categories), dtype=object)
            lookup[:] = categories
            # Restore (and validate) each category once, then take: building a string or
            # pyarrow column from one Python object per row costs far more.
            restored = self._restored_categories[row] = restore_categorical(lookup, spec).array
        missing = codes == len(restored)  # the missing code
        if missing.any():
            return restored.take(np.where(missing, -1, codes), allow_fill=True)
        return restored.take(codes)

    def _restore_derived(self, position: int, codes: dict[int, np.ndarray]) -> Any:
        """A derived column, as an array, from its determinant's category codes."""
        restored = self._restored_derived.get(position)
        if restored is None:
            spec = self.columns[position]
            lookup = self._derived[position][1]
            restore = restore_categorical if spec.kind == CATEGORICAL else restore_continuous
            restored = restore(lookup, spec).array
            self._restored_derived[position] = restored
        return restored.take(codes[self._derived[position][0]])

    def _decode_continuous(
        self, scalar: np.ndarray, mode: np.ndarray, scratch: np.ndarray | None = None
    ) -> np.ndarray:
        """Continuous values from scalars and modes, all of shape (n_continuous, n).

        Works in place: ``scalar`` becomes the result, ``mode`` and ``scratch`` (float64
        like ``scalar``) are overwritten. Fresh arrays of this size cost page faults.
        """
        if len(self._cont_index) == 0:
            return np.zeros((0, scalar.shape[1]))
        # One flat take per mode table: row r, mode k is entry r * width + k.
        flat = np.add(mode, self._mode_offset, out=mode)
        # Inside the mode's reach (within [-1, 1], and the mode's own bounds next to
        # point masses), on every path: noise-free decodes and the DVAE's torch draws too.
        low = np.take(self._scalar_low, flat, out=scratch, mode="clip")
        values = np.maximum(scalar, low, out=scalar)
        high = np.take(self._scalar_high, flat, out=scratch, mode="clip")
        values = np.minimum(values, high, out=values)
        looked_up = np.take(self._stds, flat, out=scratch, mode="clip")
        a = self._cont_columns
        # (scalar * 4 * std + mean) * scale + loc, in this order of operations.
        values *= 4.0
        values *= looked_up
        # A float32 model array holds a scalar to about 2**-25; values decoding within
        # a few such steps of the minimum or maximum are that bound, exactly (the log
        # and its inverse would leave 1e-7 where the data had zeros).
        looked_up *= _BOUND_TOLERANCE
        values += np.take(self._means, flat, mode="clip")
        at_min = values <= a["standard_min"] + looked_up
        at_max = values >= a["standard_max"] - looked_up
        with np.errstate(over="ignore"):  # beyond the largest float: clipped just below
            values *= a["scale"]
            values += a["loc"]
            logged = self._log_rows
            if len(logged):
                values[logged] = np.exp(values[logged]) - a["shift"][logged]
        np.copyto(values, a["min"], where=at_min)
        np.copyto(values, a["max"], where=at_max)
        if self._has_exact:  # point masses come back exactly
            exact = np.take(self._exact, flat, out=looked_up, mode="clip")
            values = np.where(np.isnan(exact), values, exact)
        np.clip(values, a["min"], a["max"], out=values)
        rows = self._step_rows
        if len(rows):
            # round((values * per_unit - origin) / unit) * unit + origin, over per_unit; the
            # factors equal to 1 (origins of 0) are skipped, exact no-ops. Decimal steps (0.01)
            # divide by their exact reciprocal (100): 0.3, not 0.30000000000000004.
            stepped = values if len(rows) == len(values) else values[rows]
            per_unit, unit = a["per_unit"][rows], a["unit"][rows]
            origin = a["origin_units"][rows]
            if (per_unit != 1).any():
                stepped *= per_unit
            if self._has_origin:
                stepped -= origin
            if (unit != 1).any():
                stepped /= unit
            np.round(stepped, out=stepped)
            if (unit != 1).any():
                stepped *= unit
            if self._has_origin:
                stepped += origin
            if (per_unit != 1).any():
                stepped /= per_unit
            # a declared bound need not be on the grid: rounding must not pass it
            np.clip(stepped, a["min"][rows], a["max"][rows], out=stepped)
            if stepped is not values:
                values[rows] = stepped
        return values

    # ---------------------------------------------------------------- state

    def to_state(self) -> dict[str, Any]:
        """Plain data (lists, numbers, numpy arrays) that rebuilds this transformer."""
        return {
            "params": {
                "max_modes": self.max_modes,
                "weight_threshold": self.weight_threshold,
                "max_fit_rows": self.max_fit_rows,
                "random_state": self.random_state,
                "log_skewed": self.log_skewed,
                "split_times": self.split_times,
                "relative_times": self.relative_times,
                "derive_dependencies": self.derive_dependencies,
                "relative_numbers": self.relative_numbers,
            },
            "columns": [c.to_dict() for c in self.columns],
            "continuous": self._continuous_state(),
            "constants": dict(self._constants),
            "level_names": list(self.level_names),
            "integer_extremes": {k: list(v) for k, v in self._integer_extremes.items()},
            "integer_origins": dict(self._integer_origins),
            "split_bounds": {k: list(v) for k, v in self._split_bounds.items()},
            "month_grids": {k: grid.to_list() for k, grid in self._month_grids.items()},
            "anchors": [
                [later, earlier, *self._anchored[later]] for later, earlier in self._anchors.items()
            ],
            "stand_in_offsets": dict(self._stand_in_offsets),
            "absolute_times": {k: v.tolist() for k, v in self._absolute_times.items()},
            "floors": [
                [
                    later,
                    list(floors),
                    *map(float, self._above_floor[later]),
                    later in self._missing_with_floors,
                    {f: list(v) for f, v in self._floor_stand_ins.get(later, {}).items()},
                ]
                for later, floors in self._floors.items()
            ],
            "missing_index": list(self._missing_index),
            "categorical_index": list(self._categorical_index),
            "categories": [list(c) for c in self._categories],
            "categorical_missing": list(self._categorical_missing),
            "derived": [
                [position, determinant, lookup.dtype.kind == "f", lookup.tolist()]
                for position, (determinant, lookup) in self._derived.items()
            ],
            "implied": [
                [determinant, dependant, forced.tolist()]
                for determinant, dependant, forced in self._implied
            ],
        }

    def _continuous_state(self) -> dict[str, list[Any]]:
        state = {k: [np.asarray(v).tolist() for v in self._continuous[k]] for k in _SCALAR_STATE}
        for i, key in enumerate(_MODE_STATE):
            state[key] = [np.asarray(modes[i]).tolist() for modes in self._continuous["modes"]]
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> DataTransformer:
        """Rebuild a fitted transformer from :meth:`to_state` output."""
        self = cls(**state["params"])
        self.columns = [ColumnSpec.from_dict(c) for c in state["columns"]]
        continuous = dict(state["continuous"])  # low and high may be added below
        rows = len(continuous["index"])
        self._continuous = {
            k: list(continuous[k] if k in continuous else [_ABSENT_STATE[k]] * rows)
            for k in _SCALAR_STATE
        }
        for key in ("low", "high"):  # files written before them: no bounds of the modes'
            continuous.setdefault(key, [np.full(len(w), np.nan) for w in continuous["weights"]])
        self._continuous["modes"] = [
            tuple(np.asarray(v) for v in modes)
            for modes in zip(*(continuous[k] for k in _MODE_STATE), strict=True)
        ]
        self._constants = dict(state["constants"])
        self.level_names = list(state.get("level_names", [None]))  # absent from older files
        extremes = state.get("integer_extremes", {})  # absent from older files
        self._integer_extremes = {int(k): (int(lo), int(hi)) for k, (lo, hi) in extremes.items()}
        origins = state.get("integer_origins", {})  # absent from older files
        self._integer_origins = {int(k): int(v) for k, v in origins.items()}
        split = state.get("split_bounds", {})  # absent from older files
        self._split_bounds = {int(k): (float(lo), float(hi)) for k, (lo, hi) in split.items()}
        grids = state.get("month_grids", {})  # absent from older files
        self._month_grids = {int(k): MonthGrid.from_list(v) for k, v in grids.items()}
        anchors = state.get("anchors", [])  # absent from older files
        self._anchors = {int(later): int(earlier) for later, earlier, *_ in anchors}
        self._anchored = {
            # the origin is absent from older files
            int(later): AnchoredDecoding(float(step), list(days), bool(shares), *map(float, origin))
            for later, _, step, days, shares, *origin in anchors
        }
        offsets = state.get("stand_in_offsets", {})  # absent from older files
        self._stand_in_offsets = {int(k): float(v) for k, v in offsets.items()}
        absolute = state.get("absolute_times", {})  # absent from older files
        floors = state.get("floors", [])  # absent from older files
        self._floors = {int(later): tuple(map(int, own)) for later, own, *_ in floors}
        self._above_floor = {int(later): tuple(decoding[:4]) for later, _, *decoding in floors}
        self._missing_with_floors = {int(later) for later, _, *decoding in floors if decoding[4]}
        self._floor_stand_ins = {  # absent from files before format 10
            int(later): {int(f): tuple(map(float, v)) for f, v in decoding[5].items()}
            for later, _, *decoding in floors
            if len(decoding) > 5 and decoding[5]
        }
        self._absolute_times = {
            int(k): np.asarray(v, dtype=_absolute_dtype(self.columns[int(k)]))
            for k, v in absolute.items()
        }
        self._missing_index = list(state["missing_index"])
        self._categorical_index = list(state["categorical_index"])
        self._categories = [list(c) for c in state["categories"]]
        self._categorical_missing = list(state["categorical_missing"])
        self._derived = {
            int(position): (int(determinant), _lookup(values, numeric))
            for position, determinant, numeric, values in state.get("derived", [])  # older files
        }
        self._implied = [
            (int(determinant), int(dependant), np.asarray(forced, dtype=np.int64))
            for determinant, dependant, forced in state.get("implied", [])  # older files
        ]
        self._finalise()
        return self

    @property
    def mode_columns(self) -> list[list[int]]:
        """Model-array columns of the mode indicators of every continuous column.

        One list per Gaussian span, in layout order; empty for a column with one
        mode. They say which mixture mode the column's scalar is normalised in.
        """
        order = np.argsort(self._scalar_pos)
        return [[int(c) for c in self._mode_cols[row] if c >= 0] for row in order]

    @property
    def point_masses(self) -> list[tuple[int, int]]:
        """(mode indicator, scalar) model-array columns of every point-mass mode.

        A row in a point-mass mode (a value that holds at least 5 % of its column)
        has the scalar 0, which decoding ignores: the loss leaves it out (see
        :class:`~tssynth.nn.layout.SpanLayout`).
        """
        rows, modes = np.nonzero(~np.isnan(self._exact) & (self._mode_cols >= 0))
        return [
            (int(self._mode_cols[r, m]), int(self._scalar_pos[r]))
            for r, m in zip(rows.tolist(), modes.tolist(), strict=True)
        ]

    @property
    def category_dims(self) -> list[int]:
        """Model-array columns of the categorical columns' one-hot spans, in layout order."""
        return self._span_dims(self._category_starts)

    @property
    def missing_indicator_dims(self) -> list[int]:
        """Model-array columns of the missing-value indicator spans, in layout order."""
        return self._span_dims(self._missing_cols.tolist())

    def _span_dims(self, starts: list[int]) -> list[int]:
        """Model-array columns of the spans that start at ``starts``, in layout order."""
        first = set(starts)
        return [i for s in self.spans if s.start in first for i in range(s.start, s.stop)]

    @property
    def column_names(self) -> list[Hashable]:
        """Fitted column labels, in order."""
        return [c.name for c in self.columns]
