"""Panels: mixed-type, variable-length sequences ↔ padded model arrays with masks.

A panel is many entities, each a sequence of time steps with continuous and
categorical features (missing values allowed) and, optionally, static context
columns (one value per entity). Two input formats:

``frame``
    a long DataFrame, one row per step, with a ``sequence_key`` (entity) column,
    an optional ``sequence_index`` (time: numbers or datetimes; rows are sorted
    by it, a duplicate (key, time) pair is an error) and any other columns.
``array``
    numpy ``(n, T)`` or ``(n, T, d)`` of numbers; a sequence ends before its
    trailing steps whose every channel is NaN (NaN padding gives variable
    lengths); other NaNs are missing values.

:func:`read_panel` validates and indexes the input (reusing
:func:`tssynth.data.sequences.index_long_frame`), :class:`PanelTransformer`
fits a :class:`~tssynth.data.DataTransformer` on the per-step feature rows (and
one on the per-entity context rows), encodes panels as ``(n, T, D)`` model
arrays + ``(n, T)`` masks, and decodes model arrays back into the format that
was fitted. Nothing here loops over rows, steps or entities.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from tssynth._validation import shown
from tssynth.data.frame import reject_unreadable
from tssynth.data.private import (
    DataBudget,
    private_spread,
    release_frequent,
)
from tssynth.data.schema import (
    CATEGORICAL,
    DATETIME,
    LARGEST_TIME,
    NUMERIC,
    TIMEDELTA,
    ColumnSpec,
    _value_type,
    check_declarations,
    check_frame,
    dtype_name,
    free_name,
    infer_schema,
    numpy_dtype,
    with_missing_marker,
    written_dates,
)
from tssynth.data.sequences import (
    _float_array,
    index_long_frame,
    numeric_object_array,
    pad_sequences,
    padded_lengths,
    step_positions,
)
from tssynth.data.time_index import (
    IndexClock,
    fit_clock,
    read_times,
    restore_times,
)
from tssynth.data.transformer import DataTransformer, private_units
from tssynth.exceptions import InvalidDataError, PrivacyWarning, caller_stacklevel

SAMPLE = "sample"


@dataclass
class LongPanel:
    """A validated panel in (entity, time) order.

    Attributes
    ----------
    features : DataFrame
        One row per observed step, in (entity, time) order; the feature columns.
    codes, positions : ndarray of int, shape (n_rows,)
        Entity number and step of each row.
    lengths : ndarray of int, shape (n_entities,)
    keys : Index
        Entity labels, in code order.
    time : ndarray of float or None
        ``sequence_index`` values as numbers (datetimes in their unit, or calendar
        months), per row, minus ``time_origin``.
    context : DataFrame or None
        One row per entity: the context columns.
    input_format : dict
        Plain description of the format, to give results back in kind.
    time_origin : int
        What ``time`` is counted from (see :func:`~tssynth.data.time_index.read_times`).
    index_values : Series or None
        The ``sequence_index`` column as given, per row.
    row_labels : Index or None
        The index labels of the given rows, per row (long frames).
    """

    features: pd.DataFrame
    codes: np.ndarray
    positions: np.ndarray
    lengths: np.ndarray
    keys: pd.Index
    time: np.ndarray | None
    context: pd.DataFrame | None
    input_format: dict[str, Any]
    time_origin: int = 0
    index_values: pd.Series | None = None
    row_labels: pd.Index | None = None


def static_feature_columns(panel: LongPanel) -> list[Hashable]:
    """Feature columns of a long frame that hold one value per entity, but differ between them.

    Such a column (a sex, a device type) is context: modelled per step, it may
    change within a generated sequence. Entities of one step say nothing and are
    skipped; arrays have no named columns and give none.
    """
    if panel.input_format.get("kind") != "frame":
        return []
    several = panel.lengths[panel.codes] >= 2
    features = panel.features[several]
    if features.empty:
        return []
    per_entity = features.groupby(panel.codes[several], sort=False).nunique(dropna=False).max()
    overall = features.nunique(dropna=False)
    return [name for name in features.columns if per_entity[name] == 1 and overall[name] > 1]


_NEAREST_BLOCK = 2**22  # distances computed at once by nearest_rows


def nearest_rows(queries: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For every query, the index of a nearest row (Euclidean), a random one among ties.

    Parameters
    ----------
    queries : ndarray of shape (m, c)
    rows : ndarray of shape (N, c), N >= 1
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of int64, shape (m,)
    """
    queries = np.asarray(queries, dtype=np.float64)
    distinct, group = np.unique(np.asarray(rows, dtype=np.float64), axis=0, return_inverse=True)
    group = group.reshape(-1)
    members = np.argsort(group, kind="stable")  # row indices grouped by distinct row
    sizes = np.bincount(group, minlength=len(distinct))
    firsts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    nearest = np.empty(len(queries), dtype=np.int64)
    block = max(1, _NEAREST_BLOCK // max(1, len(distinct) * max(1, distinct.shape[1])))
    for start in range(0, len(queries), block):
        part = queries[start : start + block]
        distances = ((part[:, None, :] - distinct[None, :, :]) ** 2).sum(axis=2)
        nearest[start : start + block] = distances.argmin(axis=1)
    pick = np.floor(rng.random(len(queries)) * sizes[nearest]).astype(np.int64)
    return members[firsts[nearest] + pick]


def _missing_steps(panel: LongPanel, columns: list[Hashable]) -> np.ndarray:
    """Missing steps of each entity of ``panel`` in each of ``columns``: (n, k)."""
    firsts = np.concatenate([[0], np.cumsum(panel.lengths)[:-1]]).astype(np.int64)
    missing = panel.features[columns].isna().to_numpy()
    if not (len(firsts) and columns and missing.any()):
        return np.zeros((len(firsts), len(columns)), dtype=np.int64)
    return np.add.reduceat(missing, firsts, axis=0, dtype=np.int64)


def _absent_flags(panel: LongPanel, columns: list[Hashable]) -> np.ndarray:
    """Whether each entity of ``panel`` lacks each of ``columns`` at every step: (n, k)."""
    lacks = _missing_steps(panel, columns) == panel.lengths[:, None]
    return lacks.astype(np.float32)


def _gap_column(panel: LongPanel) -> str | None:
    """A free column name for the time gaps when they are irregular, else None."""
    if panel.time is None:
        return None
    same = panel.codes[1:] == panel.codes[:-1]
    gaps = np.diff(panel.time)[same]
    # Float times carry rounding error of a few ulps of their magnitude (0.1 steps
    # stored as float32); integer, datetime and month times are exact.
    dtype = pd.api.types.pandas_dtype(panel.input_format["index_spec"]["dtype"])
    is_float = pd.api.types.is_float_dtype(dtype)
    eps = np.finfo(numpy_dtype(dtype)).eps if is_float else 0.0
    tolerance = 8 * eps * float(np.abs(panel.time).max(initial=0.0))
    if gaps.size == 0 or np.allclose(gaps, np.median(gaps), rtol=1e-9, atol=tolerance):
        return None
    return free_name("__gap__", panel.features.columns)


def holds_integers(keys: pd.Series) -> bool:
    """Whether an object or categorical column holds integers (its labels are numbers)."""
    if isinstance(keys.dtype, pd.CategoricalDtype):
        categories = keys.cat.categories
        return pd.api.types.is_integer_dtype(categories.dtype)
    if pd.api.types.is_object_dtype(keys.dtype):
        return pd.api.types.infer_dtype(keys, skipna=True) == "integer"
    return False


def _is_text_dtype(dtype: Any) -> bool:
    """Object, string or categorical: a dtype that holds the labels "0", "1", ..."""
    return (
        pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
    )


def _index_spec(frame: pd.DataFrame, name: Hashable) -> ColumnSpec:
    # UTC instants: an hourly index keeps one step across DST changes.
    spec = replace(infer_schema(frame[[name]])[0], wall_clock=False)
    if spec.value_type not in (NUMERIC, DATETIME, TIMEDELTA):
        values = pd.Series(pd.unique(frame[name].dropna()), dtype=object)
        advice = (
            f" Its values are dates written as text (such as {shown(values.iloc[0])}): "
            f"convert it with df[{name!r}] = pd.to_datetime(df[{name!r}], format=...); the "
            "command line reads ISO 8601 dates (2021-01-20 or 2021-01-20 08:30) as times, "
            "so write the file's dates so."
            if len(values) and written_dates(values)
            else ""
        )
        raise InvalidDataError(
            f"The sequence_index column {name!r} has dtype {frame[name].dtype}; it must hold "
            f"numbers or datetimes.{advice}"
        )
    return spec


def pad_ragged(X: Any, what: str) -> Any:
    """A list (or 1-D object array) of sequences ``(T_i, d)`` or ``(T_i,)`` as one array,
    NaN-padded where their lengths differ; any other ``X`` as it is."""
    if isinstance(X, np.ndarray) and X.dtype == object and X.ndim == 1:
        # what np.array(sequences, dtype=object) or a column of arrays gives
        if all(isinstance(item, np.ndarray | list | tuple) for item in X):
            X = list(X)
    if not isinstance(X, (list, tuple)) or not X:
        return X
    try:
        items = [np.asarray(item) for item in X]
    except ValueError:
        return X
    if any(item.dtype == object or item.ndim not in (1, 2) for item in items):
        return X
    channels = {item.shape[1] if item.ndim == 2 else 1 for item in items}
    if len(channels) > 1:
        raise InvalidDataError(
            f"{what} is a list of sequences with different channel counts "
            f"{sorted(channels)}; every sequence needs the same channels."
        )
    if len({item.ndim for item in items}) > 1:  # (T_i,) among (T_j, 1): all (T_i, 1)
        items = [item if item.ndim == 2 else item[:, None] for item in items]
    if len({item.shape for item in items}) == 1:
        return np.stack(items)
    lengths = np.array([len(item) for item in items])
    codes, positions = step_positions(lengths)
    rows = np.concatenate([item if item.ndim == 2 else item[:, None] for item in items])
    padded = pad_sequences(rows, codes, positions, lengths)
    return padded if items[0].ndim == 2 else padded[..., 0]


def _read_array(X: Any, what: str) -> LongPanel:
    reject_unreadable(X, what)
    X = pad_ragged(X, what)
    try:
        raw = np.asarray(X)
    except ValueError as exc:
        raise InvalidDataError(f"{what} is ragged or not an array: {exc}") from exc
    if raw.dtype == object:
        raw = numeric_object_array(raw, what, "(n, T) or (n, T, d)")
    if raw.ndim not in (2, 3):
        raise InvalidDataError(
            f"{what} must be a long DataFrame or a numeric array of shape (n, T) or (n, T, d), "
            f"got {type(X).__name__} with shape {raw.shape} and dtype {raw.dtype}."
        )
    array = _float_array(raw, what)
    if array.ndim == 2:
        array = array[:, :, None]
    n, T, d = array.shape
    if T == 0 or d == 0:
        raise InvalidDataError(
            f"{what} has no {'time steps' if T == 0 else 'channels'} (shape {raw.shape}); pass "
            "an (n, T, d) array with at least one step and one channel."
        )
    lengths = padded_lengths(array)
    codes, positions = step_positions(lengths)
    features = pd.DataFrame(array[codes, positions], columns=list(range(d)))
    fmt = {
        "kind": "array",
        "ndim": int(raw.ndim),
        "dtype": str(raw.dtype) if raw.dtype.kind == "f" else "float64",
        "n_channels": int(d),
        "steps": int(T),  # trailing all-NaN steps are padding, but results keep them
    }
    return LongPanel(features, codes, positions, lengths, pd.RangeIndex(n), None, None, fmt)


def _read_frame(
    X: pd.DataFrame,
    sequence_key: Hashable,
    sequence_index: Hashable,
    context_columns: list[Hashable],
    what: str,
    fitted_index_spec: ColumnSpec | None = None,
    fitted_clock: IndexClock | None = None,
) -> LongPanel:
    if sequence_key is None:
        raise InvalidDataError(
            f"{what} is a long DataFrame; pass sequence_key= (the entity column; "
            "--sequence-key on the command line) so its rows can be split into sequences."
        )
    for param, name in (("sequence_key", sequence_key), ("sequence_index", sequence_index)):
        if not isinstance(name, Hashable) or (
            isinstance(name, (tuple, frozenset)) and (name not in X.columns)
        ):
            raise InvalidDataError(
                f"{param} must be one column label, got {name!r}; to key sequences by several "
                "columns, join them into one first, e.g. X['key'] = X['store'].astype(str) + '/' "
                "+ X['item'].astype(str)."
            )
    check_frame(X, what=what)
    for param, names in (
        ("sequence_key", [sequence_key]),
        ("sequence_index", [] if sequence_index is None else [sequence_index]),
        ("context_columns", context_columns),
    ):
        missing = [name for name in names if name not in X.columns]
        parts = str(sequence_key).split(",") if missing and param == "sequence_key" else []
        if len(parts) > 1 and all(part.strip() in X.columns for part in parts):
            raise InvalidDataError(
                f"sequence_key={sequence_key!r} names several columns; a sequence is keyed by "
                "one column: join them into one first, e.g. X['key'] = "
                f"X[{parts[0].strip()!r}].astype(str) + '/' + X[{parts[1].strip()!r}].astype(str)."
            )
        if missing:
            raise InvalidDataError(
                f"{param} names {missing}, which {'is' if len(missing) == 1 else 'are'} not "
                f"a column of {what}; its columns are {list(X.columns)[:12]}."
            )
    ids = {sequence_key, sequence_index} - {None}
    overlap = [c for c in context_columns if c in ids]
    if overlap:
        raise InvalidDataError(f"context_columns {overlap} repeat the sequence_key/index column.")
    feature_names = [c for c in X.columns if c not in ids and c not in context_columns]
    if not feature_names:
        raise InvalidDataError(
            f"{what} has no feature columns besides the key, index and context columns."
        )
    index_spec = None if sequence_index is None else _index_spec(X, sequence_index)
    index = index_long_frame(X, sequence_key, sequence_index, what)
    ordered = X.iloc[index.order].reset_index(drop=True)
    time, origin, clock = None, 0, None
    if sequence_index is not None:
        # Later data is read the fitted way: unit, time zone, clock (and must be of its kind).
        if fitted_index_spec is not None:
            index_spec, clock = fitted_index_spec, fitted_clock or IndexClock()
        elif fitted_clock is not None:  # a clock chosen without looking at the data
            clock = fitted_clock
        else:
            index_spec, clock = fit_clock(ordered[sequence_index], index.codes, index_spec)
        time, origin = read_times(ordered[sequence_index], index_spec, clock)
    context = None
    if context_columns:
        varying = ordered.groupby(index.codes)[context_columns].nunique(dropna=False).max()
        varying = varying[varying > 1]
        if len(varying):
            column = varying.index[0]
            counts = ordered.groupby(index.codes)[column].nunique(dropna=False)
            rows = ordered.loc[index.codes == counts.index[np.argmax(counts.to_numpy() > 1)]]
            values = ", ".join(map(repr, pd.unique(rows[column])[:4].tolist()))
            raise InvalidDataError(
                f"The context column {column!r} changes within the sequence of "
                f"{rows[sequence_key].tolist()[0]!r} ({values}; a missing value counts as one); "
                "context columns must hold one value per sequence_key entity."
            )
        firsts = np.concatenate([[0], np.cumsum(index.lengths)[:-1]])
        context = ordered[context_columns].iloc[firsts].reset_index(drop=True)
    fmt = {
        "kind": "frame",
        "columns": list(X.columns),
        "sequence_key": sequence_key,
        "sequence_index": sequence_index,
        "context_columns": list(context_columns),
        "index_spec": None if index_spec is None else index_spec.to_dict(),
        "index_clock": None if clock is None else clock.to_dict(),
        "key_dtype": dtype_name(X[sequence_key].dtype, CATEGORICAL),
        "key_numbers": holds_integers(X[sequence_key]),
    }
    return LongPanel(
        ordered[feature_names],
        index.codes,
        index.positions,
        index.lengths,
        index.keys,
        time,
        context,
        fmt,
        origin,
        None if sequence_index is None else ordered[sequence_index],
        X.index[index.order],
    )


def read_panel(
    X: Any,
    sequence_key: Hashable = None,
    sequence_index: Hashable = None,
    context_columns: Iterable[Hashable] | None = None,
    *,
    min_length: int = 1,
    what: str = "X",
    index_spec: ColumnSpec | None = None,
    index_clock: IndexClock | None = None,
) -> LongPanel:
    """Validate and index a panel (a long DataFrame or a numeric array).

    Parameters
    ----------
    X : DataFrame or array-like of shape (n, T) or (n, T, d)
    sequence_key, sequence_index : column labels, optional
        Entity and time columns of a DataFrame.
    context_columns : list of column labels, optional
        Static per-entity columns of a DataFrame.
    min_length : int, default=1
        Shortest sequence allowed.
    what : str
        Name of ``X`` in error messages.
    index_spec : ColumnSpec, optional
        The fitted ``sequence_index`` column: later data is read in its unit and
        time zone, and must be of its kind.
    index_clock : IndexClock, optional
        How times become numbers: the fitted clock (with ``index_spec``), or one
        chosen without looking at the data (without it). Default: fitted from ``X``
        (see :func:`~tssynth.data.time_index.fit_clock`).

    Returns
    -------
    LongPanel

    Raises
    ------
    InvalidDataError
        Missing key/index/context columns, duplicate (key, time) pairs, context
        values that change within a sequence, sequences shorter than
        ``min_length``, or non-numeric arrays.
    """
    context_columns = [] if context_columns is None else list(context_columns)
    if isinstance(X, pd.DataFrame):
        panel = _read_frame(
            X, sequence_key, sequence_index, context_columns, what, index_spec, index_clock
        )
    else:
        if isinstance(X, pd.Series):
            raise InvalidDataError(f"{what} is a Series; pass a long DataFrame or an array.")
        panel = _read_array(X, what)
    if len(panel.lengths) == 0 or panel.lengths.max(initial=0) == 0:
        raise InvalidDataError(f"{what} holds no sequences.")
    short = np.flatnonzero(panel.lengths < min_length)
    if short.size:
        first = shown(panel.keys[short[0]])
        raise InvalidDataError(
            f"{what} has {short.size} sequences shorter than {min_length} steps (first: entity "
            f"{first} with {panel.lengths[short[0]]}); a sequence model needs "
            f"at least {min_length} steps per sequence: drop or merge them."
        )
    return panel


def _split(names: Any, features: list[Hashable]) -> tuple[Any, Any]:
    if names is None:
        return None, None
    if isinstance(names, Mapping):  # metadata["categories"] / ["bounds"]
        return (
            {k: v for k, v in names.items() if k in features},
            {k: v for k, v in names.items() if k not in features},
        )
    names = list(names)
    return [n for n in names if n in features], [n for n in names if n not in features]


_LENGTH_LEVELS = np.array([0.1, 0.3, 0.5, 0.7, 0.9])


def _warn_unusable(what: str, instead: str) -> None:
    warnings.warn(
        f"sequence_index: the released {what} cannot be used (with too few sequences for "
        f"this epsilon they are noise); {instead}. Give more sequences or a larger epsilon.",
        PrivacyWarning,
        stacklevel=caller_stacklevel(),
    )


def _released_draws(released: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Released values repeated in proportion to their noisy counts (a pool to draw from)."""
    values, counts = released
    if values.size == 0:
        return np.zeros(0)
    repeats = np.maximum(np.round(100.0 * counts / counts.sum()), 1).astype(np.int64)
    return np.repeat(values.astype(np.float64), repeats)


def _as_given(series: pd.Series, spec: ColumnSpec) -> pd.Series:
    """A given context column with its values unchanged, for the output.

    It keeps its own dtype when that is of the fitted kind (numbers, datetimes,
    timedeltas, other); otherwise it takes the fitted dtype when that holds every
    value exactly, and keeps its own when not.
    """
    if _value_type(series.dtype) == spec.value_type:
        return series
    dtype = (
        pd.api.types.pandas_dtype(spec.dtype)
        if spec.categories is None
        else pd.CategoricalDtype(spec.categories, ordered=spec.ordered)
    )
    try:
        cast = series.astype(dtype)
    except (TypeError, ValueError, OverflowError):
        return series
    missing = series.isna().to_numpy()
    same = np.array_equal(cast.isna().to_numpy(), missing) and bool(
        np.all(cast.to_numpy(dtype=object)[~missing] == series.to_numpy(dtype=object)[~missing])
    )
    return cast if same else series


def _exact_values(series: pd.Series, spec: ColumnSpec) -> np.ndarray | None:
    """A training context column as kept for sampling.

    None for a categorical column (its one-hot code decodes exactly); a continuous
    column's values themselves, which its float32 encoding only approximates (integers
    past 2**24 a unit or two off, floats in their last digits): a numpy array of its own
    dtype, or objects for other dtypes (nullable, tz-aware, Python numbers, dates).
    """
    if spec.kind == CATEGORICAL:
        return None
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "iufmM":
        return series.to_numpy(copy=True)
    return series.to_numpy(dtype=object)


def _frequent_or_median(values: np.ndarray, budget: DataBudget, what: str) -> np.ndarray:
    """Released frequent values (one per record), else the private median (3 units)."""
    pool = _released_draws(release_frequent(values, None, budget, what, per_record=1))
    median, _ = private_spread(values, None, np.array([0.5]), budget, f"median of {what}")
    return pool if pool.size else median


class PanelTransformer:
    """Map panels to padded model arrays with masks, and model arrays back to panels.

    Parameters
    ----------
    max_modes : int, default=10
        Mixture modes per continuous feature (see :class:`DataTransformer`).
    random_state : int or None

    Attributes
    ----------
    steps : DataTransformer
        The per-step feature transformer; ``steps.spans`` is one step's layout.
    context : DataTransformer or None
        The per-entity context transformer.
    lengths : ndarray of int
        Training sequence lengths (drawn from when sampling).
    starts : ndarray of float or None
        Training first ``sequence_index`` values, as numbers counted from ``origin``.
    step : float
        The median ``sequence_index`` increment.
    origin : int
        What ``starts`` count from: the earliest training time (0 under
        differential privacy, where starts are released as absolute values).
    context_rows : ndarray of shape (n_entities, context_dim) or None
        The encoded training contexts, then the entities' absence flags (drawn from
        when sampling).
    context_values : list of (ndarray or None), or None
        Per context column, the training entities' exact values of a continuous column
        (None for a categorical one, which decodes exactly): sampled contexts take them
        (see :meth:`training_context`). None without context, under differential
        privacy and in generator files written before them.
    absent_columns : list of column labels
        Features that some entities (at least two, not all) lack at every step (a lab
        never taken for a patient, a channel a device does not have). Whether an
        entity lacks each is a context value after the encoded context columns: the
        model conditions on it, sampled entities take it from the training entity
        they are drawn from, and one that lacks a column gets none of its values (per
        step, missing values would be drawn independently, and nearly every sampled
        entity would have a few). Empty under differential privacy.
    input_format : dict
    """

    absent_columns: Sequence[Hashable] = ()  # transformers pickled before them
    absent_rates: np.ndarray | None = None
    context_values: list[np.ndarray | None] | None = None

    def __init__(self, max_modes: int = 10, random_state: int | None = None) -> None:
        self.max_modes = max_modes
        self.random_state = random_state

    def fit(
        self,
        panel: LongPanel,
        discrete_columns: Iterable[Hashable] | None = None,
        metadata: Mapping[str, Any] | None = None,
        budget: DataBudget | None = None,
    ) -> PanelTransformer:
        """Fit the per-step and context transformers and the length/time statistics.

        With a ``budget`` (differential privacy; the record is a whole sequence)
        every statistic is private: each step row weighs ``1 / length`` in the
        step transformer's mechanisms; lengths, starts and the time step are
        released by stability histograms (private quantiles when no length, a
        private median when no start or step is frequent enough); contexts are
        not kept, so ``sample`` needs ``context=``.
        """
        step_schema, context_schema = self._schemas(panel, discrete_columns, metadata)
        # Irregular times: the gap to the previous step is one more step feature (not
        # under DP, where the index keeps one released step).
        self.gap_column = None if budget is not None else _gap_column(panel)
        step_rows = self._step_rows(panel)
        if self.gap_column is not None:
            step_schema = step_schema + infer_schema(step_rows[[self.gap_column]])
        weights = None
        if budget is not None:
            # lengths: frequent + coarse domain + quantiles; starts and step: 3 each
            budget.reserve(
                private_units(step_schema)
                + private_units(context_schema or [])
                + 2
                + len(_LENGTH_LEVELS)
                + 6 * (panel.time is not None)
            )
            # The lengths are released first: the longest released one, public from
            # here, bounds the values one record adds to a step statistic (the raw
            # longest would let one long sequence move every threshold). Steps past it
            # are left out of the statistics, each kept step weighing 1 / kept steps.
            self._fit_private_sequence_statistics(panel, budget)
            cap = max(1, int(self.lengths.max(initial=1)))
            budget.max_values_per_record = cap
            kept = panel.positions < cap
            step_rows = step_rows[kept]
            weights = (1.0 / np.minimum(panel.lengths, cap)[panel.codes])[kept]
        # One model column per feature, on its raw scale: no log scale for skewed
        # columns (the DVAE calibrates its draws to the training quantiles within each
        # mode, which restores long tails), no calendar parts or offsets of datetime
        # features (the sequence index carries the time) and no gaps above numeric
        # floors (calibrated one by one, the columns' marginals); its measured results
        # (docs/dvae.md) were taken so.
        settings = {
            "max_modes": self.max_modes,
            "random_state": self.random_state,
            "log_skewed": False,
            "split_times": False,
            "relative_times": False,
            "relative_numbers": False,
        }
        self.steps = DataTransformer(**settings)
        self.steps.fit(step_rows, step_schema, budget, weights)
        self.context, self.context_rows, self.absent_columns = None, None, []
        self.context_values = None
        if panel.context is not None:
            self.context = DataTransformer(**settings)
            self.context.fit(panel.context, context_schema, budget)
            if budget is None:  # DP keeps no training contexts
                self.context_values = [
                    _exact_values(panel.context[spec.name], spec) for spec in self.context.columns
                ]
        if budget is None:  # sampling draws training contexts; DP keeps none
            missing = _missing_steps(panel, list(panel.features.columns))
            lengths = panel.lengths[:, None]
            n, lacks = len(panel.lengths), missing == lengths
            kept = (lacks.sum(axis=0) >= 2) & (lacks.sum(axis=0) < n)
            self.absent_columns = [
                c for c, k in zip(panel.features.columns, kept, strict=True) if k
            ]
            missing, lacks = missing[:, kept], lacks[:, kept]
            # Per column: the share of entities lacking it, and the share of missing steps
            # among the entities that have it (for forecasts, lacking_chance).
            had = np.maximum((lengths * ~lacks).sum(axis=0), 1)
            self.absent_rates = np.column_stack(
                [lacks.mean(axis=0), (missing * ~lacks).sum(0) / had]
            )
            user = None if panel.context is None else self.context.transform(panel.context)
            self.context_rows = self.with_flags(user, lacks.astype(np.float32), n)
            self._fit_sequence_statistics(panel)
        self.input_format = panel.input_format
        return self

    @staticmethod
    def _schemas(
        panel: LongPanel,
        discrete_columns: Iterable[Hashable] | None,
        metadata: Mapping[str, Any] | None,
    ) -> tuple[list[ColumnSpec], list[ColumnSpec] | None]:
        """Schemas of the step features and of the context (None without context)."""
        names = list(panel.features.columns)
        modelled = names + ([] if panel.context is None else list(panel.context.columns))
        discrete_columns, metadata = check_declarations(
            discrete_columns,
            metadata,
            modelled,
            "feature or context columns (the sequence_key and sequence_index columns are not "
            "modelled), which are",
        )
        step_discrete, context_discrete = _split(discrete_columns, names)
        meta_steps = meta_context = None
        if metadata is not None:
            pairs = {k: _split(v, names) for k, v in metadata.items()}
            meta_steps = {k: v[0] for k, v in pairs.items()}
            meta_context = {k: v[1] for k, v in pairs.items()}
        step_schema = infer_schema(panel.features, step_discrete, meta_steps)
        if panel.context is None:
            return step_schema, None
        return step_schema, infer_schema(panel.context, context_discrete, meta_context)

    def _fit_sequence_statistics(self, panel: LongPanel) -> None:
        """Training lengths, start times and the median time step."""
        self.lengths = panel.lengths.copy()
        self.starts, self.step, self.origin = None, 1.0, panel.time_origin
        if panel.time is not None:
            firsts = np.concatenate([[0], np.cumsum(panel.lengths)[:-1]])
            self.starts = panel.time[firsts]
            same = panel.codes[1:] == panel.codes[:-1]
            diffs = np.diff(panel.time)[same]
            self.step = float(np.median(diffs)) if diffs.size else 1.0

    def _fit_private_sequence_statistics(self, panel: LongPanel, budget: DataBudget) -> None:
        """Released lengths, start times and time step (units reserved by :meth:`fit`)."""
        lengths = _released_draws(
            release_frequent(panel.lengths, None, budget, "sequence lengths", per_record=1)
        )
        spread, _ = private_spread(
            panel.lengths.astype(np.float64), None, _LENGTH_LEVELS, budget, "length quantiles"
        )
        if lengths.size == 0:  # no length frequent enough: its private quantiles
            lengths = np.maximum(np.round(spread), 2)
        # Noise-made quantiles (too few sequences for the budget) can be inf or NaN;
        # without any usable length, sample() asks for sequence_length=.
        lengths = lengths[np.isfinite(lengths) & (lengths < 2**31)]
        self.lengths = lengths.astype(np.int64)
        # The origin (the earliest time) is not released: starts are absolute.
        self.starts, self.step, self.origin = None, 1.0, 0
        if panel.time is not None:
            firsts = np.concatenate([[0], np.cumsum(panel.lengths)[:-1]])
            absolute = panel.time[firsts] + panel.time_origin
            starts = _frequent_or_median(absolute, budget, "start times")
            # One value per record: each sequence's first step (lengths are >= 2).
            first_steps = panel.time[firsts + 1] - panel.time[firsts]
            step = float(np.median(_frequent_or_median(first_steps, budget, "time steps")))
            # With too few sequences for the budget the releases can be noise: starts no
            # 64-bit time holds, a step that is not positive. Fall back, and say so.
            starts = starts[np.isfinite(starts) & (np.abs(starts) < LARGEST_TIME)]
            if starts.size == 0:
                _warn_unusable("start times", "samples start at 0 (1970-01-01 for datetimes)")
            if not (np.isfinite(step) and 0 < step < LARGEST_TIME):
                _warn_unusable("time step", "samples step by one unit of the index")
                step = 1.0
            index_dtype = pd.api.types.pandas_dtype(panel.input_format["index_spec"]["dtype"])
            if not pd.api.types.is_float_dtype(index_dtype):
                # whole units (integers, datetimes, months): a step of 0.58 repeated times
                step = max(float(np.round(step)), 1.0)
            self.starts = starts if starts.size else np.zeros(1)
            self.step = step

    @property
    def context_dim(self) -> int:
        """Width of an encoded context row (0 without context and absence flags)."""
        return self.user_context_dim + len(self.absent_columns)

    @property
    def user_context_dim(self) -> int:
        """Width of the encoded context columns, which come first in a context row."""
        return 0 if self.context is None else self.context.output_dim

    def with_flags(
        self, user_rows: np.ndarray | None, flags: np.ndarray | None, n: int
    ) -> np.ndarray | None:
        """Context rows of ``n`` entities: the encoded context columns (``user_rows``),
        then the absence flags (``flags``; none absent when not given)."""
        if not self.absent_columns:
            return user_rows
        if flags is None:
            flags = np.zeros((n, len(self.absent_columns)), dtype=np.float32)
        parts = [flags] if user_rows is None else [user_rows, flags]
        return np.hstack(parts).astype(np.float32, copy=False)

    def training_context(self, entities: np.ndarray) -> pd.DataFrame | None:
        """The context columns of training entities, exactly as fitted.

        Categorical columns decode from the encoded rows; continuous ones take the kept
        values (:attr:`context_values`), not the float32 encodings' decoding.

        Parameters
        ----------
        entities : ndarray of int, shape (n,)
            Training entities, one per new sequence.

        Returns
        -------
        DataFrame with the fitted context columns and a fresh index, or None where the
        values are not kept (no context, differential privacy, generator files written
        before them: the encoded rows are decoded instead).
        """
        if self.context_values is None or self.context_rows is None:
            return None
        rows = self.context_rows[entities, : self.user_context_dim]
        decoded = self.context.inverse_transform(rows).reset_index(drop=True)
        columns = {
            spec.name: decoded[spec.name]
            if values is None
            else _as_given(pd.Series(values[entities]), spec)
            for spec, values in zip(self.context.columns, self.context_values, strict=True)
        }
        return pd.DataFrame(columns, index=pd.RangeIndex(len(entities)))

    def lacking_chance(self, lengths: np.ndarray) -> np.ndarray | None:
        """Chance that an entity lacks each absent column throughout, given that its first
        ``lengths`` steps lack it (a forecast prefix): (n, k), or None when not known.

        Bayes over the training entities: a share ``s`` lacks the column; the others
        miss a step with rate ``q``, so all of ``L`` steps with chance ``q**L``.
        """
        if self.absent_rates is None or not self.absent_columns:
            return None
        share, rate = self.absent_rates[:, 0], self.absent_rates[:, 1]
        by_chance = (1.0 - share) * rate ** np.asarray(lengths, dtype=np.float64)[:, None]
        return share / (share + by_chance)

    def check_columns(self, panel: LongPanel, what: str) -> None:
        """Raise when ``panel`` is not in the fitted format or has other columns."""
        fitted = self.input_format
        if panel.input_format["kind"] != fitted["kind"]:
            kind = "a long DataFrame" if fitted["kind"] == "frame" else "a numeric array"
            raise InvalidDataError(f"This synthesizer was fitted on {kind}; pass {what} as that.")
        if fitted["kind"] == "array":
            if panel.input_format["n_channels"] != fitted["n_channels"]:
                raise InvalidDataError(
                    f"{what} has {panel.input_format['n_channels']} channels, but the "
                    f"synthesizer was fitted on {fitted['n_channels']}."
                )
            return
        unseen = [c for c in panel.input_format["columns"] if c not in fitted["columns"]]
        absent = [c for c in fitted["columns"] if c not in panel.input_format["columns"]]
        if unseen or absent:
            problems = [f"has columns {unseen} unseen in fit"] if unseen else []
            problems += [f"lacks the fitted columns {absent}"] if absent else []
            raise InvalidDataError(
                f"{what} {' and '.join(problems)}; pass exactly the columns seen in fit: "
                f"{fitted['columns']}."
            )

    def warn_unseen_categories(self, panel: LongPanel, what: str) -> None:
        """Warn about feature and context categories of ``panel`` unseen in fit (see
        :meth:`DataTransformer.warn_unseen_categories`)."""
        self.steps.warn_unseen_categories(self._step_rows(panel), what)
        if panel.context is not None and self.context is not None:
            self.context.warn_unseen_categories(panel.context, what)

    def encode(
        self, panel: LongPanel, rng: np.random.Generator | None = None, clip: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Model arrays of a panel.

        Parameters
        ----------
        panel : LongPanel
        rng : numpy.random.Generator, optional
            Draw mixture modes and fill missing values by draws (training);
            without it the most probable mode and the mean (deterministic).
        clip : bool, default=True
            Whether step values far out in their mode are encoded at its limit (see
            :meth:`DataTransformer.transform`).

        Returns
        -------
        steps : ndarray of shape (total steps, D), float32
            Every sequence's steps back to back, ``panel.lengths`` of each (no padding).
        context : ndarray of shape (n, context_dim), float32, or None
            The encoded context columns, then whether each entity lacks each of
            :attr:`absent_columns` at every step.
        """
        rows = self.steps.transform(self._step_rows(panel), rng, clip)
        context = None if panel.context is None else self.context.transform(panel.context)
        flags = _absent_flags(panel, self.absent_columns)
        return np.asarray(rows, dtype=np.float32), self.with_flags(context, flags, len(flags))

    def last_times(self, panel: LongPanel) -> np.ndarray | None:
        """The last ``sequence_index`` of every entity, as a number from ``panel.time_origin``."""
        if panel.time is None:
            return None
        return panel.time[np.cumsum(panel.lengths) - 1]

    def decode(
        self,
        values: np.ndarray,
        lengths: np.ndarray,
        context_rows: np.ndarray | None = None,
        starts: np.ndarray | None = None,
        keys: Any = None,
        samples: np.ndarray | None = None,
        context: pd.DataFrame | None = None,
        continuation: bool = False,
        index_values: pd.Series | None = None,
        origin: int | None = None,
        width: int | None = None,
        drawn: bool = False,
    ) -> Any:
        """Model arrays back to a panel in the fitted format.

        Parameters
        ----------
        values : ndarray of shape (sum(lengths), D)
            Drawn (or most likely) model arrays of every step, sequence after sequence.
        lengths : ndarray of int, shape (n,)
            Steps per sequence.
        context_rows : ndarray of shape (n, context_dim), optional
            Encoded contexts drawn by the model, decoded into the context columns.
        starts : ndarray of shape (n,), optional
            First ``sequence_index`` value (as a number) per sequence; later steps
            add the learned step or, for irregular times, their drawn gaps.
        keys : array-like of shape (n,), optional
            Entity labels (default 0..n-1, in the fitted key dtype); an Index keeps its dtype.
        samples : ndarray of int, shape (n,), optional
            Sample number per sequence: adds a ``sample`` column after the key
            (named apart from the fitted columns, see :func:`~tssynth.data.schema.free_name`).
        context : DataFrame, optional
            Context given by the user, one row per sequence: its values come back
            exactly as given (see :meth:`given_context`) and ``context_rows`` is
            not decoded.
        continuation : bool, default=False
            ``starts`` are the last times before the sequences (a forecast): the
            first step is one step or gap after them.
        index_values : Series, optional
            The ``sequence_index`` of every kept step, in (sequence, step) order:
            given (and returned as they are), not derived from ``starts``.
        origin : int, optional
            What ``starts`` count from (default: the training origin).
        width : int, optional
            Steps ``T`` of an array result (default: the longest length).
        drawn : bool, default=False
            ``values`` are draws (samples, forecasts), not most likely values: a
            continuous value past its range is reflected back inside rather than
            clipped onto the bound (``fold`` of
            :meth:`~tssynth.data.transformer.DataTransformer.decode_draws`).

        Returns
        -------
        Long DataFrame for frame input; ``(n, T, d)`` (or ``(n, T)``) ndarray with
        NaN after each length for array input.
        """
        lengths = np.asarray(lengths, dtype=np.int64)
        n = len(lengths)
        codes, positions = step_positions(lengths)
        features = self.steps.inverse_transform(values, fold=drawn)
        user_rows = context_rows
        if self.absent_columns and context_rows is not None:
            user_rows = context_rows[:, : self.user_context_dim]
            lacking = (context_rows[:, self.user_context_dim :] > 0.5)[codes]
            specs = {spec.name: spec for spec in self.steps.columns}
            for j, name in enumerate(self.absent_columns):  # the few columns entities lack
                masked = features[name].mask(lacking[:, j])
                marked = with_missing_marker(masked, specs[name])
                features[name] = pd.Series(marked, index=masked.index, dtype=masked.dtype)
        fmt = self.input_format
        if fmt["kind"] == "array":
            T = int(lengths.max(initial=0)) if width is None else width
            out = np.full((n, T, fmt["n_channels"]), np.nan)
            out[codes, positions] = features.to_numpy(dtype=np.float64, na_value=np.nan)
            out = out.astype(fmt["dtype"], copy=False)
            return out if fmt["ndim"] == 3 else out[:, :, 0]
        columns: dict[Hashable, Any] = {}
        key_values = self._fresh_keys(n) if keys is None else np.asarray(keys, dtype=object)
        # Fresh keys take the fitted key dtype, given keys (an Index) their own.
        key_dtype = key_values.dtype if keys is None else getattr(keys, "dtype", None)
        if context is not None:
            context = self.given_context(context)
        elif self.context is not None and context_rows is not None:
            context = self.context.inverse_transform(user_rows)
        for name in fmt["columns"]:
            if name == fmt["sequence_key"]:
                columns[name] = pd.Series(key_values[codes], dtype=key_dtype)
                if samples is not None:
                    # A feature called "sample" keeps its name; the path number moves aside.
                    columns[free_name(SAMPLE, fmt["columns"])] = pd.Series(
                        np.asarray(samples)[codes]
                    )
            elif name == fmt["sequence_index"] and index_values is not None:
                columns[name] = index_values.reset_index(drop=True)
            elif name == fmt["sequence_index"]:
                if starts is None:
                    # the training start nearest their mean: a mean half-way between two
                    # grid times rounded consecutive steps onto one time
                    nearest = np.argmin(np.abs(self.starts - self.starts.mean()))
                    start = np.full(n, self.starts[nearest])
                else:
                    start = np.asarray(starts, float)
                times = start[codes] + self._offsets(features, positions, continuation)
                columns[name] = restore_times(
                    times,
                    self.origin if origin is None else origin,
                    ColumnSpec.from_dict(fmt["index_spec"]),
                    IndexClock.from_dict(fmt.get("index_clock")),
                )
            elif name in fmt["context_columns"]:
                columns[name] = context[name].iloc[codes].reset_index(drop=True)
            else:
                columns[name] = features[name]
        return pd.DataFrame(columns)

    def _offsets(
        self, features: pd.DataFrame, positions: np.ndarray, continuation: bool
    ) -> np.ndarray:
        """Time from each sequence's start to each of its steps (rows in sequence order)."""
        if self.gap_column is None:
            return self.step * (positions + continuation)
        gaps = features[self.gap_column].to_numpy(dtype=np.float64, na_value=np.nan)
        gaps = np.where(np.isnan(gaps), self.step, gaps)  # a drawn "missing" gap
        if not continuation:
            gaps[positions == 0] = 0.0
        total = np.cumsum(gaps)
        first = np.maximum.accumulate(np.where(positions == 0, np.arange(len(positions)), 0))
        return total - total[first] + gaps[first] if len(total) else total

    def _step_rows(self, panel: LongPanel) -> pd.DataFrame:
        """The per-step rows the step transformer sees: features, and the gap when modelled."""
        if self.gap_column is None:
            return panel.features
        gaps = np.full(len(panel.positions), np.nan)
        gaps[1:] = np.diff(panel.time)
        gaps[panel.positions == 0] = np.nan  # a sequence's first step has no gap
        rows = panel.features.copy()
        rows[self.gap_column] = gaps
        return rows

    def given_context(self, context: pd.DataFrame) -> pd.DataFrame:
        """The context columns of a given context, as results give them back.

        The values are the given ones, not encoded and decoded: a category that
        was never seen in fit (or not released under differential privacy) and
        a number outside the fitted range come back as given. A column keeps its
        own dtype when it is of the fitted kind, else takes the fitted dtype when
        that holds every value exactly.

        Parameters
        ----------
        context : DataFrame
            One row per sequence, with (at least) the fitted context columns.

        Returns
        -------
        DataFrame with the fitted context columns, in order, and a fresh index.
        """
        columns = {
            spec.name: _as_given(context[spec.name].reset_index(drop=True), spec)
            for spec in self.context.columns
        }
        return pd.DataFrame(columns, index=pd.RangeIndex(len(context)))

    def _fresh_keys(self, n: int) -> Any:
        """Keys 0..n-1 for new sequences in the fitted key dtype (text when it was text).

        Numbers take the fitted dtype when it holds 0..n-1 (int64 when, say, int8
        cannot hold n keys), also as the labels of an object or categorical column of
        integers; other keys (datetimes, time spans, booleans) become int64.
        """
        dtype = pd.api.types.pandas_dtype(self.input_format.get("key_dtype", "int64"))
        keys = np.arange(n)
        if self.input_format.get("key_numbers"):  # integer labels in an object or category
            return (
                pd.Categorical(keys)
                if isinstance(dtype, pd.CategoricalDtype)
                else keys.astype(object)
            )
        if _is_text_dtype(dtype):
            return pd.array(keys.astype(str), dtype=dtype)
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            # Datetimes, booleans, intervals ...: 0..n-1 would not be n distinct keys.
            return keys
        try:
            cast = pd.Index(keys).astype(dtype)
        except (TypeError, ValueError, OverflowError, NotImplementedError):  # float16 ...
            return keys
        return cast if bool((cast == keys).all()) else keys

    def signature(self) -> list[list[Any]]:
        """Plain description of the fitted columns (for generator-file checks)."""
        fmt = self.input_format
        rows = [[repr(c.name), "step", c.kind, c.dtype] for c in self.steps.columns]
        if self.context is not None:
            rows += [[repr(c.name), "context", c.kind, c.dtype] for c in self.context.columns]
        if fmt["kind"] == "frame":
            rows += [[repr(fmt["sequence_key"]), "key", "", ""]]
            if fmt["sequence_index"] is not None:
                rows += [[repr(fmt["sequence_index"]), "index", "", fmt["index_spec"]["dtype"]]]
        return rows

    # ------------------------------------------------------------------ state

    def to_state(self) -> dict[str, Any]:
        """Plain data that rebuilds this transformer."""
        return {
            "params": {"max_modes": self.max_modes, "random_state": self.random_state},
            "steps": self.steps.to_state(),
            "context": None if self.context is None else self.context.to_state(),
            "context_rows": self.context_rows,
            "context_values": self.context_values,
            "lengths": self.lengths,
            "starts": self.starts,
            "step": self.step,
            "origin": self.origin,
            "gap_column": self.gap_column,
            "absent_columns": self.absent_columns,
            "absent_rates": self.absent_rates,
            "input_format": self.input_format,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PanelTransformer:
        """Inverse of :meth:`to_state`."""
        self = cls(**state["params"])
        self.steps = DataTransformer.from_state(state["steps"])
        self.context = (
            None if state["context"] is None else DataTransformer.from_state(state["context"])
        )
        self.context_rows = state["context_rows"]
        self.context_values = state.get("context_values")  # files written before: decoded
        self.lengths = np.asarray(state["lengths"], dtype=np.int64)
        self.starts = None if state["starts"] is None else np.asarray(state["starts"], float)
        self.step = float(state["step"])
        self.origin = int(state.get("origin", 0))  # files written before: absolute starts
        self.gap_column = state.get("gap_column")  # files written before: regular steps
        self.absent_columns = list(state.get("absent_columns", []))  # files written before
        rates = state.get("absent_rates")
        self.absent_rates = None if rates is None else np.asarray(rates, dtype=np.float64)
        self.input_format = state["input_format"]
        return self
