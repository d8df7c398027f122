"""Checks of the tables every metric reads: one place, one set of messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tssynth.data.schema import check_frame
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
