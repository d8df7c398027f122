"""Checks of the tables every metric reads: one place, one set of messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tssynth.data.schema import CATEGORICAL, check_frame, infer_schema
from tssynth.exceptions import InvalidDataError


def as_text(values: pd.Series) -> pd.Series:
    """Values as strings, converted once per distinct value: bytes decoded from UTF-8 as
    ``Series.astype(str)`` does, and shown as ``b'\\xff'`` where they are not UTF-8 (on
    which ``astype(str)`` raises); ``str`` of anything else."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    text = np.array([_text(value) for value in uniques], dtype=object)
    return pd.Series(text[codes], index=values.index, name=values.name)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return str(value)
    return str(value)


def check_finite(frame: pd.DataFrame, what: str) -> None:
    """Raise when a number column of ``frame`` holds an infinite value (named by column)."""
    numbers = frame.select_dtypes("number")
    # pyarrow durations count as numbers but cannot be read as floats: never infinite
    numbers = numbers.iloc[:, [dtype.kind in "iuf" for dtype in numbers.dtypes]]
    values = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = numbers.columns[np.isinf(values).any(axis=0)].tolist()
    if infinite:
        raise InvalidDataError(
            f"The {what} data has infinite values in columns {infinite}; replace them (with "
            "NaN for missing, or a finite value) before evaluating."
        )


def check_tables(frames: Mapping[str, Any], reference: str = "real") -> None:
    """Check the tables a metric compares.

    Parameters
    ----------
    frames : mapping of str to DataFrame
        The tables by role (``"real"``, ``"synthetic"``, ...); leave out an optional
        table that was not given.
    reference : str
        The role whose columns every other table must have.

    Raises
    ------
    InvalidDataError
        A table that is not a DataFrame, fails :func:`~tssynth.data.schema.check_frame`
        (no rows, duplicate names ...), has infinite numbers, or lacks a column of
        the reference table.
    """
    for what, frame in frames.items():
        if not isinstance(frame, pd.DataFrame):
            raise InvalidDataError(f"{what} must be a DataFrame, got {type(frame).__name__}.")
        check_frame(frame, what=what)
        check_finite(frame, what)
    columns = frames[reference].columns
    for what, frame in frames.items():
        absent = [c for c in columns if c not in frame.columns]
        if absent:
            raise InvalidDataError(f"The {what} data lacks the {reference} columns {absent}.")


def conform_labels(
    frames: Mapping[str, pd.DataFrame | None], reference: str, discrete_columns: Any = None
) -> dict[str, pd.DataFrame | None]:
    """``frames`` with the categories of other tables read as the reference table's values.

    A categorical column of the reference that holds booleans or numbers, compared with
    a column of text in another table (``"True"``, ``"3"``: a table written to CSV and
    read back), has each text that prints like a reference value replaced by that value,
    so that both hold the same categories; ``"true"``/``"false"`` in any case count for
    booleans. Other texts stay as they are (categories the reference lacks).

    Parameters
    ----------
    frames : mapping of str to DataFrame or None
        Tables by role, checked by :func:`check_tables`; None stays None.
    reference : str
        The role whose columns are the real ones.
    discrete_columns : list of column labels, optional
        Columns to treat as categorical whatever their dtype.

    Returns
    -------
    dict
        The same roles; a table is copied only where a column changes.
    """
    real = frames[reference]
    conformed = dict(frames)
    for spec in infer_schema(real, discrete_columns):
        if spec.kind != CATEGORICAL:
            continue
        values = pd.unique(real[spec.name].dropna().to_numpy(dtype=object))
        if len(values) == 0 or pd.api.types.infer_dtype(values, skipna=True) == "string":
            continue
        printed: dict[str, Any] = {}
        booleans = any(isinstance(value, bool | np.bool_) for value in values)
        for value in values:
            printed.setdefault(_text(value).lower() if booleans else _text(value), value)
        for what, frame in conformed.items():
            if what == reference or frame is None:
                continue
            column = frame[spec.name]
            if pd.api.types.infer_dtype(column, skipna=True) != "string":
                continue
            key = column.astype(object)
            if booleans:
                key = key.where(key.isna(), key.str.lower())
            read = key.map(printed)
            frame = frame.copy(deep=False)
            frame[spec.name] = read.where(read.notna(), column.astype(object))
            conformed[what] = frame
    return conformed
