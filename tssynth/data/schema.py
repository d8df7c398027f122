"""Column schema: which columns are continuous or categorical, and how to restore them.

The schema is inferred from dtypes and can be overridden. It remembers each
column's exact dtype so that synthetic data comes back with the same dtypes,
category sets and time zones as the data it was learned from.
"""

from __future__ import annotations

import datetime
import decimal
import warnings
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pandas.errors import OutOfBoundsDatetime, OutOfBoundsTimedelta

from tssynth._validation import shown
from tssynth.exceptions import InvalidDataError, InvalidParameterError

CONTINUOUS = "continuous"
CATEGORICAL = "categorical"

# How a column's values become numbers and back.
NUMERIC = "numeric"
DATETIME = "datetime"
TIMEDELTA = "timedelta"
OTHER = "other"

_NANOSECONDS = {"D": 86_400 * 10**9, "h": 3_600 * 10**9, "m": 60 * 10**9, "s": 10**9}
_UNIT_NANOSECONDS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
# pyarrow dates have no unit attribute; they are read as datetimes of this unit and
# restored to the date dtype on output.
_ARROW_DATE_UNITS = {"date32[day]": "s", "date64[ms]": "ms"}
# datetime.date objects (object columns) likewise, restored to dates on output.
_DATE_OBJECT_UNIT = "s"
# ColumnSpec.python_type of object columns of times; None (files written before
# datetimes) is "date".
DATE_OBJECTS = "date"
DATETIME_OBJECTS = "datetime"
TIMESTAMP_OBJECTS = "timestamp"
# The largest float64 inside int64 (which holds datetimes and integer times): float64
# rounds 2**63 - 1 up to 2**63, which a cast would wrap round to the smallest int64.
LARGEST_TIME = float(np.nextafter(2.0**63, 0.0))


@dataclass
class ColumnSpec:
    """What tssynth knows about one input column.

    Attributes
    ----------
    name : hashable
        Column label.
    kind : {"continuous", "categorical"}
        How the column is modelled.
    dtype : str
        The column's original dtype, as ``str(dtype)``.
    value_type : {"numeric", "datetime", "timedelta", "other"}
        How values map to floats (continuous columns) and back.
    unit : str or None
        Resolution of datetime/timedelta values (``"ns"``, ``"us"``, ...).
    tz : str or None
        Time zone of tz-aware datetime columns.
    wall_clock : bool
        Whether tz-aware datetimes are modelled as local wall-clock times (so
        that daily or hourly values stay on local days and hours) rather than
        as UTC instants. Specs read from files written before it use UTC.
    categories : list or None
        The category set of a pandas ``category`` column (all of them, used or not).
    ordered : bool
        Whether that category dtype is ordered.
    public_categories : list or None
        Category set declared in ``metadata["categories"]`` (public schema): the
        only categories modelled, of the column's type (bools, numbers or text, as
        its values); ``None`` in the list allows missing values.
    public_bounds : list of two floats or None
        ``[low, high]`` declared in ``metadata["bounds"]`` (public schema): values
        are clipped to them in training and samples stay inside them.
    python_type : {"int", "float", "decimal", "date", "datetime", "timestamp"} or None
        The Python type of the numbers an object column holds (a column built with
        ``None`` for missing values, ``decimal.Decimal`` from a database ``NUMERIC``),
        or of its times (``datetime.date``, ``datetime.datetime``, ``pd.Timestamp``:
        a database ``DATE`` or ``TIMESTAMP`` column, ``.dt.date``,
        ``.dt.to_pydatetime()``): it is modelled as numbers or datetimes and samples
        are objects of this type. None for other columns, and for dates in files
        written before datetimes.
    decimal_places : int or None
        Digits after the point of such ``decimal.Decimal`` values (their finest;
        None under differential privacy, where samples carry six).
    missing_as : {"None", "NA", "NaT"} or None
        How an object column wrote its missing values when not as NaN (``None``,
        ``pd.NA``, ``pd.NaT``); samples write theirs the same way.
    """

    name: Hashable
    kind: str
    dtype: str
    value_type: str
    unit: str | None = None
    tz: str | None = None
    wall_clock: bool = False
    categories: list[Any] | None = field(default=None)
    ordered: bool = False
    public_categories: list[Any] | None = None
    public_bounds: list[float] | None = None
    python_type: str | None = None
    decimal_places: int | None = None
    missing_as: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, for generator files."""
        return asdict(self)

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> ColumnSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(**state)


def check_frame(df: pd.DataFrame, *, what: str = "X") -> None:
    """Reject frames that no synthesizer can learn from, naming the problem."""
    if df.shape[1] == 0:
        raise InvalidDataError(f"{what} has no columns; pass a DataFrame with at least one column.")
    if df.shape[0] == 0:
        raise InvalidDataError(f"{what} has no rows; pass at least one row of data.")
    duplicated = df.columns[df.columns.duplicated()].unique().tolist()
    if duplicated:
        raise InvalidDataError(
            f"{what} has duplicate column names {duplicated}; rename them so every column "
            "name is unique."
        )


def dtype_name(dtype: Any, kind: str) -> str:
    """``str(dtype)``, or the nearest dtype that pandas can read back from its name.

    pyarrow types with parameters (``dictionary<...>``, ``decimal128(10, 2)``)
    have names that ``pandas_dtype`` cannot parse: dictionary-encoded values come
    back as ``category``, decimals as ``float64`` (other such types: ``object``
    for categorical columns, ``float64`` for continuous ones). Python-backed
    strings keep their storage.
    """
    if isinstance(dtype, pd.StringDtype) and dtype.na_value is pd.NA:
        return f"string[{dtype.storage}]"
    if isinstance(dtype, pd.DatetimeTZDtype):  # a zone's name as pandas reads it back
        return f"datetime64[{dtype.unit}, {_zone_name(dtype.tz)}]"
    name = str(dtype)
    try:
        pd.api.types.pandas_dtype(name)
        return name
    except (TypeError, ValueError, NotImplementedError):
        pass
    arrow = getattr(dtype, "pyarrow_dtype", None)
    if arrow is not None and str(arrow).startswith("dictionary<"):
        return "category"
    return "float64" if kind == CONTINUOUS else "object"


def _value_type(dtype: Any) -> str:
    if isinstance(dtype, pd.CategoricalDtype):
        return OTHER
    if ptypes.is_bool_dtype(dtype):
        return OTHER
    if ptypes.is_datetime64_any_dtype(dtype):
        return DATETIME
    if ptypes.is_timedelta64_dtype(dtype) or _is_arrow_duration(dtype):
        return TIMEDELTA
    if ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype):
        return NUMERIC
    return OTHER


def time_objects(series: pd.Series) -> tuple[str, Any] | None:
    """The Python type of the times an object column holds, and their datetime dtype.

    Parameters
    ----------
    series : Series

    Returns
    -------
    (python_type, dtype) or None
        ``python_type`` is ``"date"`` (``datetime.date`` values, read at midnight),
        ``"datetime"`` (``datetime.datetime``) or ``"timestamp"`` (any of them a
        ``pd.Timestamp``, which may hold nanoseconds); ``dtype`` is the ``datetime64``
        dtype they are read as (with their time zone). None for columns of other dtypes
        or values, and for datetimes that make no one datetime column: UTC offsets
        that change within it, naive times beside aware ones, times out of range.
    """
    if not ptypes.is_object_dtype(series.dtype):
        return None
    # datetime.datetime is a subclass of datetime.date: "date" only when some value
    # is a plain date (they are read at midnight and come back as dates, as before)
    kind = ptypes.infer_dtype(series, skipna=True)
    if kind == "date":
        return DATE_OBJECTS, np.dtype(f"datetime64[{_DATE_OBJECT_UNIT}]")
    if kind != "datetime":
        return None
    try:
        times = _parsed_times(series)
    except (OutOfBoundsDatetime, OverflowError, TypeError, ValueError):
        return None
    present = pd.unique(series.dropna().to_numpy(dtype=object))
    stamps = any(isinstance(value, pd.Timestamp) for value in present)
    return (TIMESTAMP_OBJECTS if stamps else DATETIME_OBJECTS), times.dtype


def _parsed_times(series: pd.Series) -> pd.Series:
    """``datetime.datetime`` objects as one datetime64 column, at the unit pandas picks
    for them (microseconds; nanoseconds for Timestamps that have them).

    Raises
    ------
    ValueError
        When they make no one datetime column (see :func:`time_objects`).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pandas 2 on changing offsets
        times = pd.to_datetime(series)
    if not ptypes.is_datetime64_any_dtype(times.dtype):  # pandas 2 keeps them as objects
        raise ValueError("their UTC offsets change within the column")
    return times


def holds_dates(series: pd.Series) -> bool:
    """Whether an object column holds ``datetime.date`` or ``datetime.datetime`` values
    (and missing values) that make one datetime column (see :func:`time_objects`)."""
    return time_objects(series) is not None


def holds_time_objects(spec: ColumnSpec) -> bool:
    """Whether a datetime column was fitted on date or datetime objects (see :func:`as_times`)."""
    return spec.value_type == DATETIME and spec.dtype == "object"


def holds_date_objects(spec: ColumnSpec) -> bool:
    """Whether a datetime column was fitted on ``datetime.date`` objects (see :func:`as_times`)."""
    return holds_time_objects(spec) and spec.python_type in (None, DATE_OBJECTS)


_PYTHON_NUMBERS = {
    "integer": "int",
    "floating": "float",
    "mixed-integer-float": "float",
    "decimal": "decimal",
}
_MISSING_MARKERS = {"None": None, "NA": pd.NA, "NaT": pd.NaT}
_PRIVATE_DECIMALS = 6  # places of Decimal samples whose data's places are not released


def held_number_type(series: pd.Series) -> str | None:
    """The Python type ("int", "float" or "decimal") of the numbers an object column
    holds besides missing values; None for other columns."""
    if not ptypes.is_object_dtype(series.dtype):
        return None
    return _PYTHON_NUMBERS.get(ptypes.infer_dtype(series, skipna=True))


def decimal_places(series: pd.Series) -> int:
    """Digits after the point of the finest ``decimal.Decimal`` in an object column."""
    unique = pd.unique(series.dropna().to_numpy(dtype=object))
    exponents = np.frompyfunc(lambda value: value.as_tuple().exponent, 1, 1)(unique)
    finite = [exponent for exponent in exponents if isinstance(exponent, int)]  # not NaN
    return max(0, -min(finite)) if finite else 0


def missing_marker(series: pd.Series) -> str | None:
    """How an object column writes missing values when not as NaN: "None", "NA" or "NaT"."""
    if not ptypes.is_object_dtype(series.dtype):
        return None
    missing = series.isna().to_numpy()
    if not missing.any():
        return None
    first = series.iloc[int(np.argmax(missing))]
    return next((name for name, marker in _MISSING_MARKERS.items() if first is marker), None)


def with_missing_marker(values: Any, spec: ColumnSpec) -> Any:
    """An object column's values with missing ones written as the data wrote them."""
    if spec.missing_as is None or not ptypes.is_object_dtype(values.dtype):
        return values
    values = np.asarray(values, dtype=object).copy()
    values[pd.isna(values)] = _MISSING_MARKERS[spec.missing_as]
    return values


def holds_whole_numbers(spec: ColumnSpec) -> bool:
    """Whether a numeric column holds whole numbers by its type (int dtypes, Python ints)."""
    return spec.value_type == NUMERIC and ("int" in spec.dtype.lower() or spec.python_type == "int")


def as_times(series: pd.Series, spec: ColumnSpec) -> pd.Series:
    """A column of ``datetime.date`` or ``datetime.datetime`` objects (a database DATE or
    TIMESTAMP column, ``.dt.date``, ``.dt.to_pydatetime()``) as datetimes, when it was
    fitted so; any other series as it is.

    Dates are read at midnight in the fitted unit, datetimes at the unit pandas picks
    for them (a finer one than the fitted unit is refused later, by :func:`time_ints`).

    Raises
    ------
    InvalidDataError
        Values that are not dates or datetimes, dates a datetime cannot hold, or
        datetimes that make no one datetime column (UTC offsets that change).
    """
    if not (holds_time_objects(spec) and ptypes.is_object_dtype(series.dtype)):
        return series
    dates = holds_date_objects(spec)
    kind = ptypes.infer_dtype(series, skipna=True)
    if kind not in ("date", "datetime", "empty"):
        fitted, advice = (
            ("dates (datetime.date values)", f"pd.to_datetime(X[{spec.name!r}]).dt.date")
            if dates
            else ("datetimes (datetime.datetime values)", f"pd.to_datetime(X[{spec.name!r}])")
        )
        raise InvalidDataError(
            f"Column {spec.name!r} was fitted on {fitted} but holds {kind} values; pass "
            f"{'dates' if dates else 'datetimes'}, e.g. with {advice}."
        )
    try:
        if kind == "datetime":
            return _parsed_times(series)
        times = series.astype(f"datetime64[{spec.unit}]")
    except (OutOfBoundsDatetime, OverflowError, TypeError, ValueError) as exc:
        problem = (
            "dates that a datetime cannot hold"
            if dates
            else "datetimes that make no one datetime column (UTC offsets that change, "
            "naive ones beside aware ones: pass them in one time zone)"
        )
        raise InvalidDataError(f"Column {spec.name!r} has {problem}: {exc}") from exc
    return times.dt.tz_localize(spec.tz) if kind == "empty" and spec.tz else times


def _is_arrow_duration(dtype: Any) -> bool:
    if not isinstance(dtype, pd.ArrowDtype):
        return False
    from pyarrow import types as arrow_types  # pandas has pyarrow when it has this dtype

    return arrow_types.is_duration(dtype.pyarrow_dtype)


def _check_supported(name: Hashable, series: pd.Series) -> None:
    dtype = series.dtype
    if isinstance(dtype, pd.ArrowDtype):
        from pyarrow import types as arrow_types  # pandas has pyarrow when it has this dtype

        arrow = dtype.pyarrow_dtype
        if arrow_types.is_nested(arrow):
            raise InvalidDataError(
                f"Column {name!r} holds nested values (pyarrow type {arrow}); convert them to "
                "strings or split them into columns."
            )
        if arrow_types.is_interval(arrow):
            raise InvalidDataError(
                f"Column {name!r} has dtype {dtype}, which tssynth does not model; convert it "
                "to timedeltas, numbers or strings first."
            )
    if ptypes.is_complex_dtype(dtype):
        raise InvalidDataError(
            f"Column {name!r} has complex dtype {dtype}; split it into real and imaginary "
            "float columns."
        )
    _check_zone(name, dtype)
    if isinstance(dtype, pd.PeriodDtype | pd.IntervalDtype | pd.SparseDtype):
        raise InvalidDataError(
            f"Column {name!r} has dtype {dtype}, which tssynth does not model; convert it to "
            "numbers, datetimes or strings first."
        )
    if ptypes.is_object_dtype(dtype):
        try:
            pd.unique(series)
        except TypeError as exc:
            raise InvalidDataError(
                f"Column {name!r} holds unhashable values (such as lists or dicts); convert "
                "them to strings or split them into columns."
            ) from exc


def _check_zone(name: Hashable, dtype: Any) -> None:
    """Raise for a tz-aware datetime dtype whose zone no name reads back as."""
    if isinstance(dtype, pd.DatetimeTZDtype) and _zone_name(dtype.tz) is None:
        raise InvalidDataError(
            f"Column {name!r} has the time zone {dtype.tz!r}, which tssynth cannot name in a "
            "generator file; convert the column to a named zone or UTC first, e.g. with "
            ".dt.tz_convert('UTC')."
        )


def time_unit(dtype: Any) -> str | None:
    """The unit of a datetime or timedelta dtype (numpy, pandas or pyarrow); None for others."""
    base = getattr(dtype, "base", dtype)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return dtype.unit
    if isinstance(dtype, pd.ArrowDtype):  # timestamp[us][pyarrow], date32[day][pyarrow], ...
        arrow = dtype.pyarrow_dtype
        return getattr(arrow, "unit", None) or _ARROW_DATE_UNITS.get(str(arrow))
    try:
        return np.datetime_data(base)[0]
    except TypeError:
        return None


# Instants at which a zone read back from its name must keep the zone's UTC offsets:
# winter and summer on both hemispheres' clocks, in several decades.
_ZONE_PROBES = [
    datetime.datetime(year, month, 15, 12, tzinfo=datetime.timezone.utc)
    for year in (1975, 2000, 2024)
    for month in (1, 7)
]


def _zone_name(tz: Any) -> str | None:
    """A name pandas reads back as the time zone ``tz``; None when there is none.

    ``str(tz)`` is such a name for zoneinfo and pytz zones. dateutil zones print as
    ``tzfile('/usr/share/zoneinfo/Europe/Berlin')`` and are named
    ``dateutil/Europe/Berlin``; other fixed offsets are named by their offset,
    ``+02:00``. A name counts only when the zone read back from it keeps ``tz``'s
    UTC offsets at a few instants: ``timezone(timedelta(hours=1), 'CET')`` is not
    the zone CET, which has summer time.
    """
    names = [str(tz)]
    filename = getattr(tz, "_filename", None)  # dateutil.tz.gettz
    if isinstance(filename, str):
        names.insert(0, "dateutil/" + filename.rsplit("zoneinfo/", 1)[-1])
    try:
        offset = tz.utcoffset(None)  # None for zones with daylight saving time
    except Exception:  # a zone object of any library
        offset = None
    if offset is not None and offset.total_seconds() % 60 == 0:
        hours, minutes = divmod(abs(int(offset.total_seconds())) // 60, 60)
        names.append(f"{'-' if offset.total_seconds() < 0 else '+'}{hours:02d}:{minutes:02d}")
    for name in names:
        try:
            read_back = pd.api.types.pandas_dtype(f"datetime64[ns, {name}]").tz
            if all(
                when.astimezone(read_back).utcoffset() == when.astimezone(tz).utcoffset()
                for when in _ZONE_PROBES
            ):
                return name
        except Exception:  # pandas and zone libraries raise several kinds for unknown zones
            continue
    return None


def _time_zone(dtype: Any) -> str | None:
    """Time zone of a tz-aware datetime dtype (numpy-backed or pyarrow), else None."""
    if isinstance(dtype, pd.DatetimeTZDtype):
        return _zone_name(dtype.tz)
    if isinstance(dtype, pd.ArrowDtype):
        tz = getattr(dtype.pyarrow_dtype, "tz", None)
        return None if tz is None else str(tz)
    return None


def infer_schema(
    df: pd.DataFrame,
    discrete_columns: Iterable[Hashable] | None = None,
    metadata: Mapping[str, Iterable[Hashable]] | None = None,
) -> list[ColumnSpec]:
    """Decide how every column of ``df`` is modelled.

    Object, string, category and boolean columns are categorical; numbers,
    datetimes and timedeltas are continuous, and so are object columns of Python
    numbers, dates or datetimes (see :func:`time_objects`; datetimes whose UTC offsets
    change stay categorical), which samples give back as objects of their type.
    ``discrete_columns`` (CTGAN style) or ``metadata={"continuous": [...],
    "categorical": [...]}`` override the inference for the columns they name.
    ``metadata`` may also declare a public schema: ``"categories": {column:
    [category, ...]}`` (include ``None`` to allow missing values; categories of the
    column's type: ``[True, False]`` for a bool column, not ``["True", "False"]``)
    and ``"bounds": {column: [low, high]}``; with differential privacy these are
    used instead of privatised statistics of the data.

    Parameters
    ----------
    df : DataFrame
    discrete_columns : iterable of column labels, optional
    metadata : mapping, optional

    Returns
    -------
    list of ColumnSpec, in column order.

    Raises
    ------
    InvalidParameterError
        Declarations that contradict each other or the data, such as declared
        categories of another type than the column's values (bools, numbers, text).
    InvalidDataError
        Columns that cannot be modelled, or declared continuous without holding
        numbers, datetimes or timedeltas.
    """
    check_frame(df)
    discrete_columns, metadata = check_declarations(discrete_columns, metadata, df.columns)
    if metadata is not None and metadata.get(IDENTIFIERS):
        raise InvalidParameterError(
            "metadata['identifiers'] is for the columns of a table (TVAESynthesizer on a "
            "DataFrame); a sequence's identifier is its sequence_key, which samples number "
            "afresh."
        )
    forced = _forced_kinds(discrete_columns, metadata)
    declared_categories, declared_bounds = _public_schema(metadata)
    for name in declared_categories:
        forced.setdefault(name, CATEGORICAL)
    specs = []
    for name in df.columns:
        series = df[name]
        _check_supported(name, series)
        dtype = time_dtype = series.dtype
        value_type = _value_type(dtype)
        python_type = held_number_type(series) if forced.get(name) != CATEGORICAL else None
        times = time_objects(series) if forced.get(name) != CATEGORICAL else None
        if times is not None:
            # a database DATE or TIMESTAMP column, .dt.date, .dt.to_pydatetime()
            python_type, time_dtype = times
            _check_zone(name, time_dtype)
            value_type = DATETIME
        elif python_type is not None:
            value_type = NUMERIC  # built with None for missing values, or database decimals
        kind = forced.get(name, CONTINUOUS if value_type != OTHER else CATEGORICAL)
        if kind == CONTINUOUS and value_type == OTHER:
            raise InvalidDataError(
                f"Column {name!r} (dtype {series.dtype}) was declared continuous but does not "
                "hold numbers, datetimes or timedeltas; declare it categorical or convert it."
            )
        specs.append(
            ColumnSpec(
                name=name,
                kind=kind,
                dtype=dtype_name(dtype, kind),
                value_type=value_type,
                unit=time_unit(time_dtype) if value_type in (DATETIME, TIMEDELTA) else None,
                tz=_time_zone(time_dtype),
                wall_clock=_time_zone(time_dtype) is not None,
                categories=(
                    list(dtype.categories) if isinstance(dtype, pd.CategoricalDtype) else None
                ),
                ordered=bool(getattr(dtype, "ordered", False) or False),
                public_categories=declared_categories.get(name),
                public_bounds=declared_bounds.get(name),
                python_type=python_type,
                decimal_places=decimal_places(series) if python_type == "decimal" else None,
                missing_as=missing_marker(series),
            )
        )
        if kind == CATEGORICAL and name in declared_bounds:
            raise InvalidParameterError(
                f"metadata['bounds'] names the categorical column {name!r}; bounds apply to "
                "continuous columns only."
            )
        if kind == CONTINUOUS and name in declared_categories:
            raise InvalidParameterError(
                f"metadata['categories'] names the continuous column {name!r}; declare it "
                "categorical or drop it from metadata['categories']."
            )
        if name in declared_categories:
            _check_category_types(name, series, declared_categories[name])
    return specs


# Kinds of values (pandas' infer_dtype) that declared categories and a column share.
_VALUE_KINDS = {
    "boolean": "bool",
    "integer": "number",
    "floating": "number",
    "mixed-integer-float": "number",
    "decimal": "number",
    "string": "str",
}
_BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False}


def _check_category_types(name: Hashable, series: pd.Series, declared: list[Any]) -> None:
    """Raise when declared categories are of another kind than the column's values.

    ``"True"`` is no bool, nor ``"3"`` an int: samples would hold values never seen
    (``bool("False")`` is True) or none at all. A column of mixed or other values
    (datetimes, tuples) is not checked.

    Raises
    ------
    InvalidParameterError
        Naming the column, the declared and the observed value types, and the
        categories to declare instead where the declared ones convert exactly.
    """
    values = series.cat.categories if isinstance(series.dtype, pd.CategoricalDtype) else series
    inferred = ptypes.infer_dtype(values, skipna=True)
    observed = _VALUE_KINDS.get(inferred)
    if observed is None or _VALUE_KINDS.get(ptypes.infer_dtype(declared, skipna=True)) == observed:
        return
    present = [value for value in declared if not pd.isna(value)]
    types = " and ".join(sorted({type(value).__name__ for value in present}))
    listed = ", ".join(map(shown, declared[:5])) + (", ..." if len(declared) > 5 else "")
    held = {"bool": "bool values", "number": "numbers", "str": "text (str values)"}[observed]
    converted = _as_kind(present, observed, integers=inferred == "integer")
    if converted is None:
        advice = held
    else:
        missing = [None] if len(present) < len(declared) else []
        advice = f"[{', '.join(map(shown, converted + missing))}]"
    raise InvalidParameterError(
        f"metadata['categories'][{name!r}] declares {types} values ({listed}), but column "
        f"{name!r} holds {held} (dtype {series.dtype}); categories of another type match "
        f"no value. Declare the column's own values: {advice}."
    )


def _as_kind(values: list[Any], kind: str, integers: bool) -> list[Any] | None:
    """``values`` as values of ``kind`` ("bool", "number", "str"), where each converts
    exactly (``"True"``, ``"0"`` and ``1`` are bools, ``"3"`` is 3); None otherwise."""
    if kind == "str":
        return [str(value) for value in values]
    words = [str(value).strip().lower() for value in values]
    if kind == "bool":
        return [_BOOL_WORDS[word] for word in words] if set(words) <= set(_BOOL_WORDS) else None
    numbers = pd.to_numeric(pd.Series(words, dtype=object), errors="coerce").to_numpy(float)
    if np.isnan(numbers).any() or (integers and np.any(numbers != np.round(numbers))):
        return None
    return [int(number) for number in numbers] if integers else numbers.tolist()


IDENTIFIERS = "identifiers"
_METADATA_KEYS = (CONTINUOUS, CATEGORICAL, "categories", "bounds", IDENTIFIERS)


def _column_list(value: Any, param: str) -> list[Hashable]:
    """``value`` as a list of column labels; a bare string is an error, not its letters."""
    if isinstance(value, str):
        raise InvalidParameterError(
            f"{param} must be a list of column names, got the string {value!r}; write "
            f"{param}=[{value!r}]."
        )
    if not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise InvalidParameterError(f"{param} must be a list of column names, got {value!r}.")
    return list(value)


def check_declarations(
    discrete_columns: Iterable[Hashable] | None,
    metadata: Mapping[str, Any] | None,
    columns: Sequence[Hashable],
    where: str = "in the data, whose columns are",
) -> tuple[list[Hashable] | None, dict[str, Any] | None]:
    """Validate ``discrete_columns`` and ``metadata`` against the columns they may name.

    Parameters
    ----------
    discrete_columns : iterable of column labels, optional
    metadata : mapping, optional
        ``{"continuous": [...], "categorical": [...], "categories": {...},
        "bounds": {...}}``, every key optional.
    columns : sequence of column labels
        The columns that may be declared.
    where : str
        Describes ``columns`` in the error message; ``columns`` follow it.

    Returns
    -------
    discrete_columns : list or None
        As a list (an iterator is read once, here).
    metadata : dict or None
        A copy with ``"continuous"`` and ``"categorical"`` as lists.

    Raises
    ------
    InvalidParameterError
        A bare string or a non-iterable instead of a list of column names, a
        ``metadata`` that is not a dict of the keys above, ``"categories"`` or
        ``"bounds"`` that are not dicts, or a declared column not in ``columns``.
    """
    named: list[Hashable] = []
    if discrete_columns is not None:
        discrete_columns = _column_list(discrete_columns, "discrete_columns")
        named += discrete_columns
    if metadata is not None:
        if not isinstance(metadata, Mapping) or set(metadata) - set(_METADATA_KEYS):
            raise InvalidParameterError(
                "metadata must be a dict with the keys 'continuous' and/or 'categorical', each "
                "a list of column names, and optionally 'categories' and 'bounds' (the public "
                f"schema) and 'identifiers' (columns numbered afresh); got {metadata!r}."
            )
        metadata = dict(metadata)
        for kind in (CONTINUOUS, CATEGORICAL, IDENTIFIERS):
            if kind in metadata:
                metadata[kind] = _column_list(metadata[kind], f"metadata[{kind!r}]")
                named += metadata[kind]
        for key in ("categories", "bounds"):
            value = metadata.get(key, {})
            if not isinstance(value, Mapping):
                raise InvalidParameterError(
                    f"metadata[{key!r}] must be a dict from column name to "
                    f"{'a list of categories' if key == 'categories' else '[low, high]'}; "
                    f"got {value!r}."
                )
            named += list(value)
    unknown = list(dict.fromkeys(name for name in named if name not in columns))
    if unknown:
        raise InvalidParameterError(
            f"Columns {unknown} were declared in discrete_columns/metadata but are not {where} "
            f"{list(columns)}."
        )
    return discrete_columns, metadata


def _public_schema(
    metadata: Mapping[str, Any] | None,
) -> tuple[dict[Hashable, list[Any]], dict[Hashable, list[float]]]:
    """Validated ``metadata["categories"]`` and ``metadata["bounds"]``.

    ``metadata`` has passed :func:`check_declarations`.
    """
    if metadata is None:
        return {}, {}
    categories = metadata.get("categories", {})
    bounds = metadata.get("bounds", {})
    declared_categories: dict[Hashable, list[Any]] = {}
    for name, values in categories.items():
        if isinstance(values, str) or not isinstance(values, Iterable):
            raise InvalidParameterError(
                f"metadata['categories'][{name!r}] must be a list of categories, got {values!r}."
            )
        values = list(values)
        if not [v for v in values if not pd.isna(v)]:
            raise InvalidParameterError(
                f"metadata['categories'][{name!r}] declares no category; list at least one."
            )
        declared_categories[name] = values
    declared_bounds: dict[Hashable, list[float]] = {}
    for name, pair in bounds.items():
        try:
            low, high = (float(v) for v in pair)
        except (TypeError, ValueError):
            raise InvalidParameterError(
                f"metadata['bounds'][{name!r}] must be [low, high] numbers, got {pair!r}."
            ) from None
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise InvalidParameterError(
                f"metadata['bounds'][{name!r}] must be finite with low < high, got {pair!r}."
            )
        declared_bounds[name] = [low, high]
    return declared_categories, declared_bounds


def declared_bounds(
    metadata: Mapping[str, Any] | None, names: list[Hashable], what: str
) -> dict[Hashable, list[float]]:
    """``metadata={"bounds": {name: [low, high]}}`` of a model whose only public schema is bounds.

    Raises
    ------
    InvalidParameterError
        Other metadata keys, bounds that are not finite ``low < high`` pairs, or
        names that are not among ``names`` (the channels of ``what``).
    """
    if metadata is None:
        return {}
    if isinstance(metadata, Mapping) and "identifiers" in metadata:
        raise InvalidParameterError(
            "metadata['identifiers'] (--identifiers on the command line) is for tables "
            f"(TVAESynthesizer); the channels of {what} are numbers: drop identifier "
            "columns, or pass an entity column as sequence_key."
        )
    if not isinstance(metadata, Mapping) or set(metadata) - {"bounds"}:
        keys = sorted(map(str, metadata)) if isinstance(metadata, Mapping) else metadata
        raise InvalidParameterError(
            f"metadata must be {{'bounds': {{channel: [low, high]}}}} here, got {keys!r}."
        )
    if not isinstance(metadata["bounds"], Mapping):
        raise InvalidParameterError("metadata['bounds'] must map channels to [low, high].")
    _, bounds = _public_schema({"bounds": metadata["bounds"]})
    unknown = [name for name in bounds if name not in names]
    if unknown:
        raise InvalidParameterError(
            f"metadata['bounds'] names {unknown}, which are not channels of {what}; its "
            f"channels are {list(names)[:12]}."
        )
    return bounds


def _forced_kinds(
    discrete_columns: list[Hashable] | None, metadata: Mapping[str, Any] | None
) -> dict[Hashable, str]:
    """Kinds declared by arguments that have passed :func:`check_declarations`."""
    forced: dict[Hashable, str] = dict.fromkeys(discrete_columns or (), CATEGORICAL)
    for kind in (CONTINUOUS, CATEGORICAL):
        for name in (metadata or {}).get(kind, ()):
            if forced.get(name, kind) != kind:
                raise InvalidParameterError(
                    f"Column {name!r} is declared both continuous and categorical; declare it once."
                )
            forced[name] = kind
    return forced


# --------------------------------------------------------------------------- conversion


def check_time_kind(series: pd.Series, spec: ColumnSpec) -> None:
    """Raise unless datetimes, timedeltas (tz-aware or not) and numbers are as fitted.

    Raises
    ------
    InvalidDataError
        Datetimes where numbers were fitted (or the reverse), tz-naive where
        tz-aware datetimes were fitted (or the reverse), and so on.
    """
    series = as_times(series, spec)
    value_type = _value_type(series.dtype)
    time_types = (DATETIME, TIMEDELTA)
    if (value_type in time_types or spec.value_type in time_types) and (
        value_type != spec.value_type or (_time_zone(series.dtype) is None) != (spec.tz is None)
    ):
        if value_type == spec.value_type and spec.tz is not None:  # astype cannot add a zone
            advice = f".dt.tz_localize({spec.tz!r}) if its times are {spec.tz} times"
        elif value_type == spec.value_type:
            advice = ".dt.tz_localize(None), which keeps the local times"
        elif holds_date_objects(spec):
            advice = f"pd.to_datetime(X[{spec.name!r}]).dt.date"
        elif holds_time_objects(spec):
            advice = f"pd.to_datetime(X[{spec.name!r}])"
        else:
            advice = f".astype({spec.dtype!r})"
        raise InvalidDataError(
            f"Column {spec.name!r} was fitted with dtype {spec.dtype} but now has dtype "
            f"{series.dtype}; convert it first, e.g. with {advice}."
        )


def to_float(series: pd.Series, spec: ColumnSpec) -> np.ndarray:
    """Values of a continuous column as float64, NaN where missing.

    Datetimes and timedeltas become integers in the fitted unit (tz-aware ones as
    local wall-clock or UTC times, see :attr:`ColumnSpec.wall_clock`).

    Raises
    ------
    InvalidDataError
        When ``series`` is not of the fitted kind: datetimes where numbers were
        fitted (or the reverse), tz-naive where tz-aware datetimes were fitted (or
        the reverse), or values that are not numbers; when datetimes or
        timedeltas are out of range of the fitted unit, or finer than it.
    """
    check_time_kind(series, spec)
    if spec.value_type in (DATETIME, TIMEDELTA):
        ints, missing = time_ints(series, spec)
        values = ints.astype(np.float64)
        values[missing] = np.nan
        return values
    try:
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(
            f"Column {spec.name!r} must hold numbers, but has values that are not: {exc}"
        ) from exc


def integer_extremes(series: pd.Series, spec: ColumnSpec) -> tuple[int, int] | None:
    """Exact smallest and largest value of an integer, datetime or timedelta column.

    Datetimes and timedeltas count in the fitted unit (as in :func:`to_float`).
    None for other columns and for columns without any value.
    """
    if spec.value_type in (DATETIME, TIMEDELTA):
        ints, missing = time_ints(series, spec)
        present = ints[~missing]
    elif ptypes.is_integer_dtype(series.dtype):
        present = series.dropna().to_numpy()
    else:
        return None
    return (int(present.min()), int(present.max())) if present.size else None


def integers_from(series: pd.Series, origin: int, values: np.ndarray) -> np.ndarray:
    """An integer column's distances from ``origin`` as float64, subtracted in integer
    arithmetic (exact where they are below 2**53); ``values`` (its :func:`to_float`) for
    columns of other dtypes, and where the integer difference would wrap round."""
    approximate = values - float(origin)
    dtype = numpy_dtype(series.dtype)
    info = np.iinfo(dtype) if ptypes.is_integer_dtype(series.dtype) else None
    if info is None or not info.min <= origin <= info.max:  # another dtype given to transform
        return approximate
    ints = series.to_numpy(dtype=dtype, na_value=0)
    with np.errstate(over="ignore"):
        exact = (ints - dtype.type(origin)).astype(np.float64)
    # values far below the origin (given to transform) wrap round in unsigned or
    # overflowing arithmetic: far from it, the float difference is as good
    wrapped = ~(np.abs(exact - approximate) <= 2.0**20)
    return np.where(wrapped, approximate, exact)


def time_ints(series: pd.Series, spec: ColumnSpec) -> tuple[np.ndarray, np.ndarray]:
    """Datetimes or timedeltas as int64 counts of the fitted unit, and the missing mask."""
    series = as_times(series, spec)
    if spec.tz is not None:
        series = series.dt.tz_convert(spec.tz if spec.wall_clock else "UTC").dt.tz_localize(None)
    series = _in_unit(series, spec)
    return series.to_numpy().view(np.int64), series.isna().to_numpy()


def _in_unit(series: pd.Series, spec: ColumnSpec) -> pd.Series:
    """Tz-naive datetimes or timedeltas as numpy values of the fitted unit, losing nothing."""
    kind = "datetime64" if spec.value_type == DATETIME else "timedelta64"
    try:
        converted = series.astype(f"{kind}[{spec.unit}]")
        back = converted.astype(series.dtype)
    except (OutOfBoundsDatetime, OutOfBoundsTimedelta, OverflowError, ValueError) as exc:
        raise InvalidDataError(
            f"Column {spec.name!r} has values out of the range of its fitted dtype "
            f"{spec.dtype} (unit {spec.unit!r}): {exc}"
        ) from exc
    # astype truncates values finer than the unit without a word.
    differs = (back != series).to_numpy(dtype=bool, na_value=False)
    if np.any(differs & series.notna().to_numpy()):
        raise InvalidDataError(
            f"Column {spec.name!r} has values finer than its fitted unit {spec.unit!r} "
            f"(dtype {spec.dtype}); round them to the unit first, e.g. with "
            f".dt.floor({spec.unit!r}), or refit on this data."
        )
    return converted


def nanoseconds_per_unit(spec: ColumnSpec) -> int:
    """Nanoseconds in one count of a datetime or timedelta column's unit."""
    return _UNIT_NANOSECONDS.get(spec.unit or "ns", 1)


def time_step(values: np.ndarray, spec: ColumnSpec) -> float:
    """Coarsest calendar step (day, hour, minute, second, ...) dividing every datetime value."""
    unit_ns = nanoseconds_per_unit(spec)
    observed = values[~np.isnan(values)].astype(np.int64)
    for step_ns in (*_NANOSECONDS.values(), 10**6, 10**3, 1):
        if step_ns % unit_ns == 0:
            step = step_ns // unit_ns
            if np.all(observed % step == 0):
                return float(step)
    return 1.0


def restore_continuous(
    values: np.ndarray,
    spec: ColumnSpec,
    extremes: tuple[int, int] | None = None,
    grid: tuple[int, int] | None = None,
    origin: int = 0,
) -> pd.Series:
    """Build a column of the original dtype from float values (NaN = missing).

    ``origin``: an integer column's values are distances from it, added back in
    integer arithmetic.

    ``extremes``: the exact smallest and largest integer (datetimes and timedeltas:
    counts of their unit) the values are clipped into, in integer arithmetic; for
    integers beyond 2**53, which float64 cannot all tell apart. ``grid``: the
    ``(step, origin)`` in counts of the unit that times (and integers past 2**53) are
    rounded to, in integer arithmetic (nanoseconds since 1970 are floats 256 apart,
    off a millisecond grid).
    """
    dtype = pd.api.types.pandas_dtype(spec.dtype)
    if spec.value_type in (DATETIME, TIMEDELTA):
        missing = np.isnan(values)
        # Clipped into int64: a value past it (noise under DP) is not a cast's garbage.
        ints = np.where(missing, 0, np.round(values).clip(-LARGEST_TIME, LARGEST_TIME))
        ints = ints.astype(np.int64)
        if extremes is not None:
            ints = np.clip(ints, *extremes)
        if grid is not None:
            ints = onto_grid(ints, *grid)
        ints[missing] = np.iinfo(np.int64).min  # NaT
        return restore_time_ints(ints, spec)
    if ptypes.is_integer_dtype(dtype):
        rounded = np.round(values)
        values = _clip_to_integer_range(rounded, dtype)
        missing = np.isnan(values)
        # Through numpy integers: a float past int64 (a uint64 hash) would overflow a
        # nullable or pyarrow integer cast.
        ints = np.where(missing, 0, values).astype(numpy_dtype(dtype))
        if extremes is not None:
            ints = np.clip(ints, *extremes)
            # An extreme that float64 rounds off (a sentinel at 2**63 - 1 is 2**63 as a
            # float, clipped one float step below): a value at its float is the extreme.
            floats = np.array([float(extremes[0]), float(extremes[1])])
            bottom, top = _clip_to_integer_range(floats, dtype)
            with np.errstate(invalid="ignore"):
                ints[rounded >= top] = extremes[1]
                ints[rounded <= bottom] = extremes[0]
        if grid is not None:
            ints = onto_grid(ints, *grid)
        if origin:
            ints = ints + ints.dtype.type(origin)
        if isinstance(dtype, np.dtype):
            return pd.Series(ints)
        column = pd.Series(ints).astype(dtype)
        return column.mask(missing) if missing.any() else column
    if spec.python_type is not None:
        return _python_numbers(values, spec)
    column = pd.Series(values).astype(dtype)
    return column if extremes is None else column.clip(*extremes)


def _python_numbers(values: np.ndarray, spec: ColumnSpec) -> pd.Series:
    """Floats as the Python numbers an object column held (``spec.python_type``), NaN
    where missing."""
    restored = np.full(values.shape, np.nan, dtype=object)
    present = ~np.isnan(values)
    kept = values[present]
    if spec.python_type == "int":
        restored[present] = np.frompyfunc(int, 1, 1)(np.round(kept))
    elif spec.python_type == "decimal":  # through text: Decimal(0.1) is 0.1000000000000000055...
        places = _PRIVATE_DECIMALS if spec.decimal_places is None else spec.decimal_places
        written = np.char.mod(f"%.{places}f", kept)
        restored[present] = np.frompyfunc(decimal.Decimal, 1, 1)(written)
    else:
        restored[present] = kept.astype(object)
    return pd.Series(restored, dtype=object)


def onto_grid(ints: np.ndarray, step: int, origin: int) -> np.ndarray:
    """Integers rounded to the nearest ``origin + k * step`` (halves up), in their own
    integer dtype without overflow: the remainder is taken first, and a step is added
    only where it fits. Clipped into a range whose ends are on the grid, as the data's
    are, nothing leaves the range."""
    step, origin = int(step), int(origin)
    if step <= 1:
        return ints
    # non-negative all the way: unsigned integers would wrap below zero
    rest = np.mod(np.mod(ints, step) + (step - origin % step), step).astype(ints.dtype)
    below = ints - rest
    room = np.iinfo(ints.dtype).max - step
    return np.where((rest >= step - rest) & (below <= room), below + step, below)


def restore_time_ints(ints: np.ndarray, spec: ColumnSpec) -> pd.Series:
    """A datetime or timedelta column of the fitted dtype from int64 counts of its unit.

    The smallest int64 is NaT; tz-aware values are read as in :func:`time_ints`. A column
    fitted on date or datetime objects comes back as objects of their Python type
    (``ColumnSpec.python_type``), None where missing.
    """
    kind = "datetime64" if spec.value_type == DATETIME else "timedelta64"
    series = pd.Series(np.asarray(ints, dtype=np.int64).view(f"{kind}[{spec.unit}]"))
    if spec.tz is not None and spec.wall_clock:
        # A wall-clock time inside a DST gap moves an hour forward (02:30 to 03:30, on
        # the grid of times at half past); a repeated one takes standard time.
        standard = np.zeros(len(series), dtype=bool)
        series = series.dt.tz_localize(
            spec.tz, ambiguous=standard, nonexistent=pd.Timedelta(hours=1)
        )
    elif spec.tz is not None:
        series = series.dt.tz_localize("UTC").dt.tz_convert(spec.tz)
    if holds_date_objects(spec):
        return series.dt.date.where(series.notna(), None)
    if holds_time_objects(spec):
        if spec.python_type == TIMESTAMP_OBJECTS:
            objects = series.astype(object)
        else:  # as a Series: pandas 2's .dt.to_pydatetime() warns and gives an array
            objects = pd.Series(pd.DatetimeIndex(series).to_pydatetime(), dtype=object)
        return objects.where(series.notna(), None)
    return series.astype(pd.api.types.pandas_dtype(spec.dtype))


def restore_categorical(values: np.ndarray, spec: ColumnSpec) -> pd.Series:
    """Build a column of the original dtype from an object array (NaN/None = missing)."""
    if spec.categories is not None:
        dtype = pd.CategoricalDtype(spec.categories, ordered=spec.ordered)
        return pd.Series(pd.Categorical(values, dtype=dtype))
    dtype = pd.api.types.pandas_dtype(spec.dtype)
    if ptypes.is_object_dtype(dtype):
        return pd.Series(values, dtype=object)
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        if pd.isna(values).any():  # a category left out of a private release: missing
            return pd.Series(values, dtype=object)
        return pd.Series(values.astype(dtype))
    return pd.Series(pd.array(values, dtype=dtype))


def free_name(name: str, taken: Iterable[Hashable]) -> str:
    """A column name (or label) that is not taken.

    Parameters
    ----------
    name : str
        The preferred name.
    taken : iterable of column labels

    Returns
    -------
    str
        ``name``, or ``name`` wrapped in underscores until no label of ``taken`` has it.
    """
    taken = set(taken)
    while name in taken:
        name = f"_{name}_"
    return name


def numpy_dtype(dtype: Any) -> np.dtype:
    """The numpy dtype behind a numpy, nullable (``Int64``) or pyarrow (``int64[pyarrow]``) one."""
    return np.dtype(getattr(dtype, "numpy_dtype", dtype))


def _clip_to_integer_range(values: np.ndarray, dtype: Any) -> np.ndarray:
    """Clip floats to what ``dtype`` (numpy, nullable or pyarrow integer) can hold.

    Values near the ends of int64/uint64 are rounded to floats beyond them (float(2**63 - 1)
    is 2**63), which a cast would wrap around to the other end; the upper bound is
    therefore the largest float that still fits.
    """
    info = np.iinfo(numpy_dtype(dtype))
    high = float(info.max)
    if int(high) > info.max:
        high = float(np.nextafter(high, -np.inf))
    return np.clip(values, float(info.min), high)


def written_dates(values: pd.Series, sample: int = 200) -> bool:
    """Whether text ``values`` (a spread-out sample of them) all read as dates or times:
    each has at least four digits ('March' and 'Monday' are categories) and parses."""
    picked = values.iloc[np.unique(np.linspace(0, len(values) - 1, sample).astype(int))]
    if not all(isinstance(v, str) and sum(c.isdigit() for c in v) >= 4 for v in picked):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dateutil's guesses on odd strings
        try:
            parsed = pd.to_datetime(picked, errors="coerce", format="mixed")
        except (ValueError, TypeError, OverflowError):
            return False
    return bool(parsed.notna().all())
