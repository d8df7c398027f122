"""Sequence data layer: every sequence input format to one ``(n, T, d)`` float array, and back.

Formats (what :func:`to_windows` accepts and :func:`from_windows` gives back):

``array``
    numpy ``(n, T)`` (one channel) or ``(n, T, d)``: one window per row.
``wide``
    a DataFrame with one row per series and one column per time step (one channel).
``long``
    a DataFrame (or a Series) with one row per time step. Without ``sequence_key``
    the rows form one long series; with it, one series per entity. Rows are put in
    time order by ``sequence_index`` when given (else kept in their given order).
    With ``window`` every series is cut into windows of that length every
    ``stride`` steps; without it, every entity is one window and all must have the
    same length.

The building blocks are separate so that variable-length models can reuse them:
:func:`index_long_frame` sorts and validates a long frame into entity codes,
positions and lengths; :func:`pad_sequences` scatters the rows into a padded
``(n_entities, T_max, d)`` array; :func:`window_starts` / :func:`cut_windows` cut
sequences laid back to back (no padding) into fixed windows. Everything is
vectorised (no loop per row, entity or time step).
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tssynth._validation import shown
from tssynth.data.frame import reject_unreadable
from tssynth.data.memory import fits_in_memory, shown_bytes
from tssynth.data.schema import check_frame, free_name, holds_dates
from tssynth.exceptions import (
    DataWarning,
    InvalidDataError,
    InvalidParameterError,
    caller_stacklevel,
)

_FINITE_CHECK_VALUES = 2**24  # values of windows checked for NaN and inf at once

WINDOW_ID = "window"
STEP = "step"


@dataclass
class LongIndex:
    """Where every row of a long frame goes in a padded sequence array.

    Attributes
    ----------
    order : ndarray of int, shape (n_rows,)
        Row positions of the frame in (entity, time) order.
    codes : ndarray of int, shape (n_rows,)
        Entity number (0..n_entities-1) of each row, in ``order``.
    positions : ndarray of int, shape (n_rows,)
        Time step of each row within its entity, in ``order``.
    lengths : ndarray of int, shape (n_entities,)
        Number of rows per entity.
    keys : Index
        The entity labels, in code order (a single ``0`` without a key column).
    """

    order: np.ndarray
    codes: np.ndarray
    positions: np.ndarray
    lengths: np.ndarray
    keys: pd.Index


def _check_column(frame: pd.DataFrame, name: str, param: str, what: str = "X") -> None:
    if name not in frame.columns:
        raise InvalidDataError(
            f"{param}={name!r} is not a column of {what}; columns are {list(frame.columns)[:10]}."
        )
    if frame[name].isna().any():
        raise InvalidDataError(f"The {param} column {name!r} of {what} has missing values.")


def _check_orderable(column: pd.Series, name: Hashable) -> None:
    """Raise for a time column of text: strings sort alphabetically, not in time."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        if dtype.ordered:
            return
    elif pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype):
        return
    elif pd.api.types.is_timedelta64_dtype(dtype) or holds_dates(column):
        return
    first = column.dropna().iloc[0] if column.notna().any() else None
    raise InvalidDataError(
        f"The sequence_index column {name!r} has dtype {dtype} (such as {shown(first)}), which "
        "sorts alphabetically, not in time ('10/01' before '9/01'); convert it to datetimes "
        "or numbers first, e.g. with pd.to_datetime(X[column], format='%d/%m/%Y')."
    )


def index_long_frame(
    frame: pd.DataFrame, sequence_key: Any = None, sequence_index: Any = None, what: str = "X"
) -> LongIndex:
    """Sort and validate a long frame into entity codes, positions and lengths.

    Parameters
    ----------
    frame : DataFrame
        One row per time step.
    sequence_key : column label, optional
        Entity column; without it all rows form one sequence.
    sequence_index : column label, optional
        Time column; rows are sorted by it within each entity (stable). Without
        it the given row order is the time order.
    what : str, default="X"
        The argument's name, for error messages.

    Returns
    -------
    LongIndex

    Raises
    ------
    InvalidDataError
        When a named column is missing or has missing values, or when an
        (entity, time) pair occurs twice.
    """
    n = len(frame)
    if sequence_key is not None:
        _check_column(frame, sequence_key, "sequence_key", what)
        codes, keys = pd.factorize(frame[sequence_key], sort=True)
        keys = pd.Index(keys)
    else:
        codes, keys = np.zeros(n, dtype=np.int64), pd.Index([0])
    if sequence_index is not None:
        _check_column(frame, sequence_index, "sequence_index", what)
        _check_orderable(frame[sequence_index], sequence_index)
        time = frame[sequence_index].to_numpy()
        try:
            order = np.lexsort((time, codes))  # by entity, then time; stable
        except TypeError as exc:
            raise InvalidDataError(
                f"The sequence_index column {sequence_index!r} (dtype "
                f"{frame[sequence_index].dtype}) holds values that cannot be put in order, "
                "such as numbers mixed with strings; convert it to numbers or datetimes."
            ) from exc
        sorted_time, sorted_codes = time[order], codes[order]
        duplicate = (sorted_time[1:] == sorted_time[:-1]) & (sorted_codes[1:] == sorted_codes[:-1])
        if duplicate.any():
            row = order[1:][duplicate][0]
            where = (
                "" if sequence_key is None else f"entity {shown(frame[sequence_key].iloc[row])}, "
            )
            when = shown(frame[sequence_index].iloc[row])
            raise InvalidDataError(
                f"{what} has {int(duplicate.sum())} duplicate time steps in sequence_index "
                f"{sequence_index!r} (first: {where}time {when}); "
                "each (entity, time) pair must occur once."
            )
    else:
        order = np.argsort(codes, kind="stable")
    codes = np.asarray(codes, dtype=np.int64)[order]
    lengths = np.bincount(codes, minlength=len(keys)).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    positions = np.arange(n, dtype=np.int64) - starts[codes]
    return LongIndex(order, codes, positions, lengths, keys)


def pad_sequences(
    values: np.ndarray,
    codes: np.ndarray,
    positions: np.ndarray,
    lengths: np.ndarray,
    fill_value: float = np.nan,
) -> np.ndarray:
    """Scatter per-row values into a padded ``(n_entities, max(lengths), d)`` array.

    Parameters
    ----------
    values : ndarray of shape (n_rows, d)
    codes, positions : ndarray of int, shape (n_rows,)
        Entity and time step of each row (see :func:`index_long_frame`).
    lengths : ndarray of int, shape (n_entities,)
    fill_value : float, default=nan
        Value of the padding after each sequence's end.

    Returns
    -------
    ndarray of shape (n_entities, max(lengths), d)
    """
    values = np.asarray(values)
    out = np.full(
        (len(lengths), int(lengths.max(initial=0)), values.shape[1]),
        fill_value,
        dtype=np.result_type(values.dtype, np.float32),
    )
    out[codes, positions] = values
    return out


def step_positions(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entity and time step of every step of sequences of ``lengths``, laid back to back.

    Returns
    -------
    codes, positions : ndarray of int, shape (sum(lengths),)
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    codes = np.repeat(np.arange(len(lengths)), lengths)
    return codes, np.arange(len(codes)) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def padded_lengths(array: np.ndarray) -> np.ndarray:
    """Length of every sequence of a NaN-padded ``(n, T, d)`` array.

    A sequence ends before its trailing steps whose every channel is NaN; other
    NaNs are missing values.
    """
    observed = ~np.isnan(array).all(axis=2)  # (n, T): a step with any channel present
    T = array.shape[1]
    return np.where(observed.any(1), T - np.argmax(observed[:, ::-1], axis=1), 0).astype(np.int64)


def long_frame(sequences: np.ndarray, offset: int = 0, drop_padding: bool = True) -> pd.DataFrame:
    """``(n, T, d)`` sequences as a long DataFrame, one row per step.

    Parameters
    ----------
    sequences : ndarray of shape (n, T, d)
    offset : int, default=0
        Number of the first sequence.
    drop_padding : bool, default=True
        Leave out the trailing all-NaN steps of every sequence (see :func:`padded_lengths`).

    Returns
    -------
    DataFrame with columns ``sequence``, ``step``, ``x0``, ..., ``x{d-1}``.
    """
    n, t, d = sequences.shape
    kept = np.ones((n, t), dtype=bool)
    if drop_padding:
        kept = np.arange(t)[None, :] < padded_lengths(sequences)[:, None]
    sequence, step = np.nonzero(kept)
    frame = pd.DataFrame(sequences[sequence, step], columns=[f"x{i}" for i in range(d)])
    frame.insert(0, "step", step)
    frame.insert(0, "sequence", sequence + offset)
    return frame


def window_starts(lengths: np.ndarray, window: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Entity and first step of every window of ``window`` steps, every ``stride`` steps.

    Parameters
    ----------
    lengths : ndarray of int, shape (n_entities,)
    window, stride : int

    Returns
    -------
    entities, starts : ndarray of int, shape (n_windows,)
        In entity order, then time order.
    """
    counts = np.where(lengths >= window, (lengths - window) // stride + 1, 0)
    entities = np.repeat(np.arange(len(lengths)), counts)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    starts = (np.arange(int(counts.sum())) - first[entities]) * stride
    return entities, starts


def cut_windows(
    steps: np.ndarray,
    lengths: np.ndarray,
    entities: np.ndarray,
    starts: np.ndarray,
    window: int,
) -> np.ndarray:
    """Gather the ``window`` steps from ``starts`` of every entity in ``entities``.

    Parameters
    ----------
    steps : ndarray of shape (sum(lengths), d)
        Every entity's steps back to back (no padding: one long series among short
        ones costs only its own steps).
    lengths : ndarray of int, shape (n_entities,)
    entities, starts : ndarray of int, shape (n_windows,)
    window : int

    Returns
    -------
    ndarray of shape (n_windows, window, d)
        A read-only strided view of ``steps`` for a single series (windows overlap,
        so copying them would take ``window`` times the series' memory), else a copy.
    """
    if len(lengths) == 1 and len(starts) > 1:  # one long series: a strided view, no copy
        stride = int(starts[1] - starts[0])
        views = np.lib.stride_tricks.sliding_window_view(steps, window, axis=0)
        return views[: starts[-1] + 1 : stride].transpose(0, 2, 1)
    offsets = np.cumsum(lengths) - lengths
    rows = (offsets[entities] + starts)[:, None] + np.arange(window)[None, :]
    return steps[rows]


# ------------------------------------------------------------------ formats


def _float_array(values: Any, what: str) -> np.ndarray:
    """``values`` as float64, rejecting strings, objects and complex numbers by name."""
    if np.iscomplexobj(values):
        raise InvalidDataError(
            f"{what} holds complex numbers; split them into real and imaginary channels."
        )
    kind = getattr(getattr(values, "dtype", None), "kind", "")
    if kind in ("M", "m"):
        raise InvalidDataError(
            f"{what} holds {'datetimes' if kind == 'M' else 'time spans'} (dtype "
            f"{values.dtype}), which would be read as counts from 1970; give times as the "
            "sequence_index column of a long DataFrame, or convert them to numbers first."
        )
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(
            f"{what} must hold numbers only ({type(exc).__name__}: {exc})."
        ) from exc


_NUMERIC_OBJECTS = {"integer", "floating", "mixed-integer-float", "decimal", "empty"}


def numeric_object_array(raw: np.ndarray, what: str, shapes: str) -> np.ndarray:
    """An object array of numbers (``to_numpy()`` of nullable ``Float64`` / ``Int64``
    columns; ``None`` or ``pd.NA`` where missing) as float64 with NaN for the gaps.

    Ragged input (an array of sequences) and anything that is not numbers (text,
    booleans, mixed objects) raise an :class:`InvalidDataError` asking for ``shapes``.
    """
    flat = raw.ravel()
    missing = pd.isna(flat) if raw.ndim > 1 else None
    kind = "ragged" if missing is None else pd.api.types.infer_dtype(flat[~missing])
    if kind not in _NUMERIC_OBJECTS:
        problem = (
            "is ragged (sequences of different lengths)"
            if missing is None
            else f"holds non-numbers (an object array of {kind} values)"
        )
        raise InvalidDataError(f"{what} {problem}; pass a numeric array of shape {shapes}.")
    return np.where(missing, np.nan, flat).astype(np.float64).reshape(raw.shape)


def _check_numeric_columns(frame: pd.DataFrame, what: str) -> None:
    for name, dtype in frame.dtypes.items():
        if (
            not pd.api.types.is_numeric_dtype(dtype)
            or pd.api.types.is_bool_dtype(dtype)
            or pd.api.types.is_complex_dtype(dtype)
        ):
            if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(
                dtype
            ):
                hint = (
                    f" If it is the time of each row, pass sequence_index={name!r} (the "
                    "command line's --sequence-index): it orders the steps."
                )
            else:
                hint = (
                    " Encode it as numbers or leave it out; DVAESynthesizer models "
                    "categorical features."
                )
            raise InvalidDataError(
                f"Column {name!r} of {what} has dtype {dtype}; window models take numeric "
                f"columns only.{hint}"
            )


def _check_size(shape: tuple[int, ...], what: str) -> None:
    """Raise when windows of ``shape``, copied as float32 model rows, would not fit in
    memory (one long series cut every step is a view, as large as its windows once
    copied; windows of several series are gathered, so this runs before)."""
    n, T, d = shape
    needed = 4.0 * n * T * d
    if not fits_in_memory(needed):
        raise InvalidDataError(
            f"{what} gives {n:,} windows of {T:,} steps x {d:,} channels, which would take "
            f"about {shown_bytes(needed)} as float32, more than half this machine's "
            "memory; cut fewer windows (a larger stride, a shorter window) or fit on part "
            "of the data."
        )


def channel_name(fmt: dict[str, Any], step: int, channel: int) -> str:
    """How an error names the value at ``step`` of ``channel`` in windows read as ``fmt``
    (see :func:`to_windows`): its column, or ``channel c`` for arrays."""
    if fmt["kind"] == "wide":
        return f"column {fmt['columns'][step]!r}"
    if "columns" in fmt:
        return f"column {fmt['columns'][channel]!r}"
    return f"channel {channel}"


def _check_finite(windows: np.ndarray, what: str, fmt: dict[str, Any]) -> None:
    # block by block: overlapping windows viewed on one series are never copied whole
    rows = max(1, _FINITE_CHECK_VALUES // max(1, windows[0].size))
    if all(np.isfinite(windows[i : i + rows]).all() for i in range(0, len(windows), rows)):
        return
    bad = ~np.isfinite(windows)
    if bad.any():
        i, t, c = (int(v[0]) for v in np.nonzero(bad))
        channel = channel_name(fmt, t, c)
        windows_hit = int(bad.any(axis=(1, 2)).sum())  # windows overlap: count windows
        raise InvalidDataError(
            f"{what} has missing or infinite values in {windows_hit} of its {len(windows)} "
            f"windows (first: window {i}, step {t}, {channel}); fill or drop them first."
        )


def _from_array(X: Any, what: str) -> tuple[np.ndarray, dict[str, Any]]:
    reject_unreadable(X, what)
    if isinstance(X, list | tuple) and len(X) and all(hasattr(x, "__len__") for x in X):
        sizes = {np.shape(x) for x in X}
        one_channel = {size[:1] if size[1:] == (1,) else size for size in sizes}
        if len(sizes) > 1 and len(one_channel) == 1 and len(one_channel.pop()) == 1:
            X = [np.reshape(x, (-1, 1)) for x in X]  # (T,) among (T, 1): all (T, 1)
        elif len(sizes) > 1:
            raise InvalidDataError(
                f"{what} holds windows of different shapes {sorted(sizes)[:4]}; all windows "
                "must have the same length and number of channels (ragged windows)."
            )
    try:
        raw = np.asarray(X)
    except ValueError as exc:
        raise InvalidDataError(f"{what} is ragged or not an array: {exc}") from exc
    if raw.dtype == object:
        raw = numeric_object_array(raw, what, "(n, T) or (n, T, d)")
    if raw.ndim not in (2, 3):
        raise InvalidDataError(
            f"{what} must be an array of shape (n, T) or (n, T, d), got shape {raw.shape}."
        )
    array = _float_array(raw, what)
    ndim = array.ndim
    if ndim == 2:
        array = array[:, :, None]
    dtype = str(raw.dtype) if raw.dtype.kind == "f" else "float64"
    fmt = {"kind": "array", "ndim": ndim, "dtype": dtype}
    return array, fmt


def _from_wide(X: pd.DataFrame, what: str) -> tuple[np.ndarray, dict[str, Any]]:
    _check_numeric_columns(X, what)
    array = _float_array(X.to_numpy(dtype=np.float64, na_value=np.nan), what)[:, :, None]
    return array, {"kind": "wide", "columns": list(X.columns), "dtypes": [str(d) for d in X.dtypes]}


def _from_long(
    X: pd.DataFrame | pd.Series,
    what: str,
    window: int | None,
    stride: int,
    sequence_key: Any,
    sequence_index: Any,
) -> tuple[np.ndarray, dict[str, Any]]:
    series = isinstance(X, pd.Series)
    frame = X.to_frame(name=X.name if X.name is not None else "value") if series else X
    ids = []
    for param, name in (("sequence_key", sequence_key), ("sequence_index", sequence_index)):
        if name is not None:
            if name not in frame.columns:
                raise InvalidDataError(
                    f"{param}={name!r} is not a column of {what}; columns are "
                    f"{list(frame.columns)[:10]}."
                )
            ids.append(name)
    values_frame = frame.drop(columns=ids) if ids else frame
    if values_frame.shape[1] == 0:
        raise InvalidDataError(f"{what} has no value columns besides {ids}.")
    _check_numeric_columns(values_frame, what)
    index = index_long_frame(frame, sequence_key, sequence_index)
    values = _float_array(values_frame.to_numpy(dtype=np.float64, na_value=np.nan), what)
    steps = values[index.order]  # every entity's steps back to back, in time order
    if window is None:
        if len(np.unique(index.lengths)) > 1:
            raise InvalidDataError(
                f"The sequences of {what} have different lengths (from {index.lengths.min()} to "
                f"{index.lengths.max()} steps); pass window= to cut them into fixed windows."
            )
        windows = pad_sequences(steps, index.codes, index.positions, index.lengths)
    else:
        longest = int(index.lengths.max(initial=0))
        if window > longest:
            raise InvalidDataError(
                f"window={window} is longer than the longest series in {what} ({longest} steps)."
            )
        short = np.flatnonzero(index.lengths < window)
        if short.size:
            warnings.warn(
                f"{short.size} of the {len(index.lengths)} sequences of {what} are shorter than "
                f"window={window} steps and give no window (first: entity "
                f"{shown(index.keys[short[0]])}, {index.lengths[short[0]]} steps); pass a "
                "smaller window to use them.",
                DataWarning,
                stacklevel=caller_stacklevel(),
            )
        entities, starts = window_starts(index.lengths, window, stride)
        _check_size((len(starts), window, steps.shape[1]), what)
        windows = cut_windows(steps, index.lengths, entities, starts, window)
    columns = list(values_frame.columns)
    fmt = {
        "kind": "series" if series else "long",
        "columns": columns,
        "dtypes": [str(d) for d in values_frame.dtypes],
        "sequence_key": sequence_key,
        "sequence_index": sequence_index,
        "name": X.name if series else None,
    }
    return windows, fmt


def window_labels(
    X: Any,
    window: int | None = None,
    stride: int = 1,
    sequence_key: Any = None,
    sequence_index: Any = None,
) -> pd.DataFrame:
    """Where each window :func:`to_windows` cuts from ``X`` begins, in its order.

    Parameters
    ----------
    X : long DataFrame or Series, or an array of windows
    window, stride, sequence_key, sequence_index
        As for :func:`to_windows`.

    Returns
    -------
    DataFrame, one row per window
        For long input: the window's entity (``sequence_key``, sorted), the time
        of its first step (``sequence_index``) and that step's position in its
        entity (``step``). For arrays and wide frames (one window per row): the
        window's number (``window``).
    """
    named = (window, sequence_key, sequence_index)
    wide = isinstance(X, pd.DataFrame) and all(value is None for value in named)
    if wide or not isinstance(X, pd.DataFrame | pd.Series):
        return pd.DataFrame({"window": np.arange(len(X) if wide else len(np.asarray(X)))})
    frame = X.to_frame() if isinstance(X, pd.Series) else X
    index = index_long_frame(frame, sequence_key, sequence_index)
    if window is None:
        entities, starts = np.arange(len(index.lengths)), np.zeros(len(index.lengths), int)
    else:
        entities, starts = window_starts(index.lengths, window, stride)
    first = np.concatenate([[0], np.cumsum(index.lengths)[:-1]]).astype(np.int64)
    rows = index.order[first[entities] + starts]  # each window's first row in X
    labels = {}
    if sequence_key is not None:
        labels[sequence_key] = index.keys[entities]
    if sequence_index is not None:
        labels[sequence_index] = frame[sequence_index].iloc[rows].to_numpy()
    labels["step"] = starts
    return pd.DataFrame(labels)


def to_windows(
    X: Any,
    *,
    window: int | None = None,
    stride: int = 1,
    sequence_key: Any = None,
    sequence_index: Any = None,
    what: str = "X",
) -> tuple[np.ndarray, dict[str, Any]]:
    """Turn any supported sequence input into a float64 ``(n, T, d)`` array.

    Parameters
    ----------
    X : ndarray, DataFrame or Series
        See the module docstring for the formats. A DataFrame is read as wide
        when ``window``, ``sequence_key`` and ``sequence_index`` are all None,
        else as long.
    window : int, optional
        Window length for long input.
    stride : int, default=1
        Steps between window starts.
    sequence_key, sequence_index : column labels, optional
        Entity and time columns of long input.
    what : str
        Name of ``X`` in error messages.

    Returns
    -------
    windows : ndarray of shape (n, T, d), float64, all finite
    input_format : dict
        Plain description of the format, for :func:`from_windows`.

    Raises
    ------
    InvalidDataError
        Ragged windows, non-numeric values, missing values inside windows,
        a window longer than the series, missing or duplicate key/time values.
    """
    if window is not None and (isinstance(window, bool) or int(window) != window or window < 1):
        raise InvalidParameterError(f"window must be None or an integer >= 1, got {window!r}.")
    if isinstance(stride, bool) or int(stride) != stride or stride < 1:
        raise InvalidParameterError(f"stride must be an integer >= 1, got {stride!r}.")
    long_input = window is not None or sequence_key is not None or sequence_index is not None
    if isinstance(X, pd.DataFrame):
        check_frame(X, what=what)
    if isinstance(X, pd.Series):
        if window is None and sequence_key is None:
            raise InvalidDataError(
                f"{what} is a Series (one long series); pass window= to cut it into windows."
            )
        windows, fmt = _from_long(X, what, window, stride, sequence_key, sequence_index)
    elif isinstance(X, pd.DataFrame):
        if long_input:
            windows, fmt = _from_long(X, what, window, stride, sequence_key, sequence_index)
        else:
            windows, fmt = _from_wide(X, what)
    else:
        if long_input:
            raise InvalidDataError(
                f"{what} is an array, which is read as windows of shape (n, T) or (n, T, d); "
                "window, sequence_key and sequence_index apply to long input: pass one long "
                "series as a pandas Series or DataFrame (e.g. pd.Series(values))."
            )
        windows, fmt = _from_array(X, what)
    if windows.shape[0] == 0 or windows.shape[1] == 0:
        raise InvalidDataError(f"{what} holds no windows (shape {windows.shape}).")
    if windows.shape[2] == 0:
        raise InvalidDataError(
            f"{what} has no channels (shape {windows.shape}); pass windows of shape (n, T) "
            "or (n, T, d) with d >= 1."
        )
    _check_size(windows.shape, what)
    _check_finite(windows, what, fmt)
    return windows, fmt


def fitted_columns(X: Any, input_format: dict[str, Any], what: str = "X") -> Any:
    """The columns of a DataFrame ``X`` that a frame-fitted window model reads, in fitted order.

    Columns are matched by name, so reordered columns give the same windows and extra
    columns are ignored; arrays, Series and models fitted on arrays pass through.

    Parameters
    ----------
    X : DataFrame, Series or array-like
    input_format : dict
        The format :func:`to_windows` returned in ``fit``.
    what : str
        Name of ``X`` in error messages.

    Returns
    -------
    ``X`` restricted to the fitted key, index and value columns (or ``X`` itself).

    Raises
    ------
    InvalidDataError
        When a fitted column is missing.
    """
    if not isinstance(X, pd.DataFrame) or input_format["kind"] not in ("wide", "long"):
        return X
    ids = [input_format.get(k) for k in ("sequence_key", "sequence_index")]
    names = [n for n in ids if n is not None] + list(input_format["columns"])
    missing = [n for n in names if n not in X.columns]
    if missing:
        raise InvalidDataError(
            f"{what} lacks the fitted columns {missing}; pass a DataFrame with every column "
            f"seen in fit: {names}."
        )
    return X[names]


def window_columns(input_format: dict[str, Any]) -> tuple[Hashable, Hashable]:
    """The window id and step columns of long results: the fitted ``sequence_key`` and
    ``sequence_index``, else ``window`` and ``step``, moved aside (``_window_``) from
    value columns, or an index, of those names."""
    values = list(input_format.get("columns") or [])
    step = input_format.get("sequence_index")
    if step is None:
        step = free_name(STEP, values)
    key = input_format.get("sequence_key")
    if key is None:
        key = free_name(WINDOW_ID, [*values, step])
    return key, step


def from_windows(windows: np.ndarray, input_format: dict[str, Any]) -> Any:
    """Give ``(n, T, d)`` windows back in the format described by ``input_format``.

    Arrays come back with their shape ((n, T) or (n, T, d)) and float dtype; wide
    frames with their columns and float dtypes; long input as a long DataFrame
    with a fresh ``window`` id (0..n-1, or in the ``sequence_key`` column), a
    ``step`` (0..T-1, or in the ``sequence_index`` column) and the value columns,
    and a Series as a Series indexed by (window, step).
    """
    n, T, d = windows.shape
    kind = input_format["kind"]
    if kind == "array":
        out = windows if input_format["ndim"] == 3 else windows[:, :, 0]
        return out.astype(input_format["dtype"], copy=False)
    if kind == "wide":
        frame = pd.DataFrame(windows[:, :, 0], columns=pd.Index(input_format["columns"]))
        return frame.astype(dict(zip(frame.columns, _float_dtypes(input_format), strict=True)))
    key, step = window_columns(input_format)
    ids = np.repeat(np.arange(n), T)
    steps = np.tile(np.arange(T), n)
    flat = windows.reshape(n * T, d)
    if kind == "series":
        index = pd.MultiIndex.from_arrays([ids, steps], names=[key, step])
        return pd.Series(flat[:, 0], index=index, name=input_format["name"])
    frame = pd.DataFrame({key: ids, step: steps})
    values = pd.DataFrame(flat, columns=input_format["columns"])
    values = values.astype(dict(zip(values.columns, _float_dtypes(input_format), strict=True)))
    return pd.concat([frame, values], axis=1)


def _float_dtypes(input_format: dict[str, Any]) -> list[str]:
    """Float columns keep their dtype; other columns come back as float64 (not rounded)."""
    return [d if _is_float(d) else "float64" for d in input_format["dtypes"]]


def _is_float(name: str) -> bool:
    """Whether a dtype name is a float one (``float32``, ``Float64``, ``double[pyarrow]``)."""
    try:
        return pd.api.types.is_float_dtype(pd.api.types.pandas_dtype(name))
    except (TypeError, ValueError):
        return False
