"""Accept a DataFrame or a 2-D array as tabular input, and give results back in kind."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tssynth.exceptions import InvalidDataError


def reject_unreadable(X: Any, what: str = "X") -> None:
    """Raise a clear error for input numpy would misread: a scipy sparse matrix or array
    (not supported), a dict of columns, or a list of records (dicts), which numpy reads
    as one column."""
    from scipy import sparse

    if sparse.issparse(X):
        raise InvalidDataError(
            f"{what} is a scipy sparse {type(X).__name__}; sparse input is not supported: "
            f"pass a dense array ({what}.toarray()) or a DataFrame."
        )
    if isinstance(X, Mapping):
        raise InvalidDataError(
            f"{what} is a dict; pass pd.DataFrame({what}), which makes each key a named column."
        )
    if isinstance(X, list | tuple) and X and all(isinstance(row, Mapping) for row in X):
        raise InvalidDataError(
            f"{what} is a list of records (dicts); pass pd.DataFrame({what}), which makes "
            "each key a named column."
        )


def as_frame(X: Any, *, what: str = "X") -> tuple[pd.DataFrame, dict[str, Any]]:
    """Return ``X`` as a DataFrame plus a note of its original format.

    DataFrames pass through unchanged; 2-D arrays (and nested lists) become a
    DataFrame with integer column labels ``0..d-1``.

    Returns
    -------
    frame : DataFrame
    input_format : dict
        ``{"kind": "frame"}`` or ``{"kind": "array", "dtype": str}``.
    """
    if isinstance(X, pd.DataFrame):
        return X, {"kind": "frame"}
    reject_unreadable(X, what)
    if isinstance(X, pd.Series):
        raise InvalidDataError(
            f"{what} is a pandas Series; pass a DataFrame, e.g. {what}.to_frame()."
        )
    try:
        array = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(f"{what} must be a DataFrame or a 2-D array: {exc}") from exc
    if array.dtype.names is not None:
        raise InvalidDataError(
            f"{what} is a numpy structured (record) array; convert it with "
            f"pd.DataFrame({what}) so that each field becomes a named column."
        )
    if array.ndim == 3:
        raise InvalidDataError(
            f"{what} is an array of shape {array.shape}, windows or sequences (n, T, d): fit "
            "DenseVAESynthesizer or DVAESynthesizer on them, or flatten each into one row "
            f"with {what}.reshape(len({what}), -1) for a table."
        )
    if array.ndim != 2:
        raise InvalidDataError(
            f"{what} must be a DataFrame or a 2-D array, got an array of shape {array.shape}; "
            "reshape a single column with X.reshape(-1, 1)."
        )
    return pd.DataFrame(array), {"kind": "array", "dtype": str(array.dtype)}


def from_frame(frame: pd.DataFrame, input_format: dict[str, Any]) -> Any:
    """Inverse of :func:`as_frame`: a 2-D array for array input, else the frame."""
    if input_format["kind"] == "array":
        return frame.to_numpy(dtype=np.dtype(input_format["dtype"]))
    return frame


# Odd multipliers that weigh each column's cell hashes differently in a row's hash.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def fingerprint(X: Any) -> dict[str, int] | None:
    """Rows and an order-free hash of the records of ``X`` (a frame's rows, an array's
    first axis), to tell whether a generator file was trained on these records; None
    when ``X`` cannot be hashed (ragged sequences, unhashable cells).

    Numbers hash as float64, so the same values in another numeric dtype (arrays carry
    no dtype in a file's checks) are the same records.
    """
    try:
        if isinstance(X, pd.Series):
            X = X.to_frame()
        if isinstance(X, pd.DataFrame) and not all(map(_is_number, X.dtypes)):
            hashes = pd.util.hash_pandas_object(X, index=False).to_numpy(dtype=np.uint64)
        elif is_ragged(X):
            return {"rows": len(X), "hash": _ragged_hash(X)}
        else:
            hashes = _row_hashes(X)
    except (TypeError, ValueError):
        return None
    # A sum, not a hash of the sequence: shuffled rows are the same records.
    return {"rows": len(hashes), "hash": int(hashes.sum(dtype=np.uint64))}


def is_ragged(X: Any) -> bool:
    """Whether ``X`` is a list (or 1-D object array) of sequences of different lengths."""
    if isinstance(X, list | tuple) or (isinstance(X, np.ndarray) and X.dtype == object):
        lengths = {len(sequence) for sequence in X if hasattr(sequence, "__len__")}
        return len(lengths) > 1
    return False


def _ragged_hash(X: Any) -> int:
    """An order-free hash of sequences of different lengths: each step's hash weighed by
    its place in its sequence, so that a sequence's steps keep their order."""
    sequences = [np.asarray(sequence, dtype=np.float64) for sequence in X]
    lengths = np.array([len(sequence) for sequence in sequences], dtype=np.int64)
    steps = np.concatenate([sequence.reshape(len(sequence), -1) for sequence in sequences])
    places = np.arange(len(steps)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    weights = (2 * places.astype(np.uint64) + 1) * _GOLDEN
    hashes = np.append(_row_hashes(steps) * weights, pd.util.hash_array(lengths))
    return int(hashes.sum(dtype=np.uint64))


def _is_number(dtype: Any) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)


def _row_hashes(X: Any) -> np.ndarray:
    """One hash per record of numbers (any shape): every cell hashed at once, then each
    row's cells weighed by column (no loop over a wide array's columns)."""
    if isinstance(X, pd.DataFrame):
        values = X.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        try:
            values = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError):  # text or mixed objects: hashed as they are
            values = np.asarray(X)
    cells = values.reshape(len(values), -1)
    hashes = pd.util.hash_array(cells.ravel()).reshape(cells.shape)
    weights = (2 * np.arange(cells.shape[1], dtype=np.uint64) + 1) * _GOLDEN
    return (hashes * weights).sum(axis=1, dtype=np.uint64)
