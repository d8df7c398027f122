"""The ``tssynth`` command line: fit a generator, sample from it, evaluate synthetic data, demo.

::

    tssynth fit adult.csv --model tvae --epochs 300 -o adult.tssynth
    tssynth sample adult.tssynth -n 1000000 -o synthetic.parquet
    tssynth evaluate real.csv synthetic.csv --holdout holdout.csv --target income \\
        --report report.html
    tssynth demo

Tables are read from and written to CSV (also ``.csv.gz``, ``.tsv``) or Parquet
(``.parquet``, ``.pq``; needs pyarrow) by extension; ``evaluate`` also reads
``(n, T, d)`` windows from ``.npy`` files. Bad input ends with one line on stderr
and exit status 1 (2 for bad usage); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import inspect
import json
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tssynth.exceptions import DataWarning, InvalidParameterError, PrivacyWarning, TssynthError
from tssynth.serialization import check_save_path, write_atomic

PROG = "tssynth"
MODELS = {"tvae": "TVAESynthesizer", "dense": "DenseVAESynthesizer", "dvae": "DVAESynthesizer"}
DEFAULT_CHUNK = 100_000
_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".tsv", ".txt", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz", ".tsv.gz")
_COMPRESSION = {"gz": "gzip", "bz2": "bz2", "xz": "xz", "zip": "zip"}
_DELIMITERS = ",;\t|"  # separators a .csv file may use
_SNIFF_BYTES = 1 << 16  # text read to tell the separator
# Numbers with their thousands grouped, by decimal mark: 1.234,5 or 2,5 or 7 in a
# decimal-comma file; 36,133.00 (Excel in English) in a decimal-point one.
_GROUPED_NUMBER = {
    ",": r"[-+]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?",
    ".": r"[-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?",
}
# Parquet rows held back at most to learn every column's type from a value.
_SCHEMA_ROWS = 100_000
_ENCODINGS = ("utf-8", "cp1252")  # tried in turn (Excel on Windows writes cp1252)


class CLIError(Exception):
    """A problem to report on one line, without a traceback."""


# --------------------------------------------------------------------------- files


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted((*_PARQUET, *_CSV, ".npy"), key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _require_pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:
        raise CLIError(
            "Parquet files need pyarrow: pip install pyarrow (or pip install 'tssynth[parquet]')."
        ) from exc
    return pyarrow


def _parse_datetimes(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn text columns that hold ISO dates or timestamps into datetime columns."""
    for name in frame.columns:
        column = frame[name]
        if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
            continue
        observed = column.dropna()
        if observed.empty or not observed.astype(str).str.match(r"^\d{4}-\d{2}-\d{2}").all():
            continue
        try:
            frame[name] = _read_times(column, utc=False)
        except (TypeError, ValueError):
            try:  # offsets that change (a daylight-saving change): the UTC instants
                frame[name] = _read_times(column, utc=True)
            except (TypeError, ValueError):
                continue
    return frame


def _read_times(column: pd.Series, utc: bool) -> pd.Series:
    """ISO 8601 text as datetimes; ValueError where they do not make one datetime column.

    pandas 3 raises on offsets that change within a column; pandas 2 returns the
    parsed objects with a FutureWarning instead, which counts as the same failure.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*mixed time zones", category=FutureWarning)
        parsed = pd.to_datetime(column, format="ISO8601", utc=utc)
    if not pd.api.types.is_datetime64_any_dtype(parsed):
        raise ValueError("the times do not share one UTC offset")
    return parsed


def _read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet file as a DataFrame; dates as datetimes and decimals as floats.

    pandas reads DATE and DECIMAL columns (what databases and Spark write) as
    Python objects, which would be modelled as categories.
    """
    pa = _require_pyarrow()
    table = pa.parquet.read_table(path)
    fields = []
    for field in table.schema:
        if pa.types.is_date(field.type):
            field = field.with_type(pa.timestamp("s"))
        elif pa.types.is_decimal(field.type):
            field = field.with_type(pa.float64())
        fields.append(field)
    table = table.cast(pa.schema(fields, metadata=table.schema.metadata))
    frame = table.to_pandas()
    for field in table.schema:  # integers with nulls would be float64, booleans object
        nullable = _nullable_dtype(pa, field.type)
        if nullable is not None and table.column(field.name).null_count:
            frame[field.name] = table.column(field.name).to_pandas().astype(nullable)
    return frame


def _nullable_dtype(pa: Any, arrow_type: Any) -> str | None:
    """The pandas nullable dtype (``Int8``, ``UInt64``, ``boolean``) of an Arrow integer
    or boolean type; None for other types."""
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type):
        name = str(arrow_type)  # int8 ... uint64
        return "U" + name[1:].capitalize() if name.startswith("u") else name.capitalize()
    return None


def _text_sample(path: Path) -> str:
    """The first 64 KiB of a (possibly compressed) text file, as far as its bytes decode."""
    raw = _byte_sample(path)
    return raw.decode(_encodings(raw)[0], errors="replace")


def _encodings(raw: bytes) -> tuple[str, ...]:
    """Encodings to try for a text file starting with ``raw``: UTF-16 when its byte order
    mark says so (Excel's "Unicode Text"), else :data:`_ENCODINGS`."""
    return ("utf-16",) if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else _ENCODINGS


def _byte_sample(path: Path) -> bytes:
    """The first 64 KiB of a (possibly compressed) file."""
    import bz2
    import gzip
    import lzma
    import zipfile

    name = path.name.lower()
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(Path(name).suffix)
    if name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
            raw = archive.open(members[0]).read(_SNIFF_BYTES) if members else b""
    else:
        with (opener or open)(path, "rb") as handle:
            raw = handle.read(_SNIFF_BYTES)
    return raw


def _csv_dialect(path: Path) -> dict[str, str]:
    """Separator (and decimal mark) of a .csv file: ',' unless its lines agree on another.

    A ';'-separated file is read with decimal commas, as spreadsheets in much of
    Europe write it; columns that hold dot decimals there are converted after.
    """
    sample = _text_sample(path)
    lines = sample.splitlines()[:50]
    if len(lines) > 1 and not sample.endswith("\n"):
        lines = lines[:-1]  # the sample may end inside a line
    try:
        sep = csv.Sniffer().sniff("\n".join(lines), delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return {"sep": ","}
    # The header must split into as many fields as the lines: a one-column file whose
    # text holds ';' is not a ';'-separated table.
    if sep != "," and _even_fields(lines, sep) < 2:
        return {"sep": ","}
    if sep == ",":  # unless another splits every line into more fields: a ';' file with
        # decimal commas and a comma in one header name ('Betrag, EUR') splits evenly on ','
        wider = max(_DELIMITERS, key=lambda other: _even_fields(lines, other))
        if _even_fields(lines, wider) > max(_even_fields(lines, ","), 1):
            sep = wider
    return {"sep": ";", "decimal": ","} if sep == ";" else {"sep": sep}


def _even_fields(lines: list[str], sep: str) -> int:
    """The number of fields every (non-blank) line splits into at ``sep``; 0 if they differ."""
    fields = {len(row) for row in csv.reader(lines, delimiter=sep) if row}
    return fields.pop() if len(fields) == 1 else 0


def _text_numbers(frame: pd.DataFrame, decimal: str) -> pd.DataFrame:
    """Text columns that hold numbers after all, as numbers.

    In a decimal-comma file: dot decimals (``1.5``), and decimal commas with dots
    between thousands (``1.234,5``), which pandas cannot read in one pass without
    misreading the other. Dot decimals are tried first, so a column of only
    ``1.000``-like values reads as 1.0: both readings are guesses there. In a
    decimal-point file: numbers with commas between thousands (``36,133.00``,
    quoted), which would be categories, each sampled value a real one.
    """
    group = "." if decimal == "," else ","
    for name in frame.columns[frame.dtypes.map(pd.api.types.is_string_dtype)]:
        column = frame[name]
        if decimal == ",":
            try:
                frame[name] = pd.to_numeric(column)
                continue
            except (TypeError, ValueError):
                pass
        values = column.dropna().astype(str)
        grouped = decimal == "," or values.str.contains(group, regex=False).any()
        if len(values) and grouped and values.str.fullmatch(_GROUPED_NUMBER[decimal]).all():
            plain = column.str.replace(group, "", regex=False).str.replace(
                decimal, ".", regex=False
            )
            frame[name] = pd.to_numeric(plain)
    return frame


def _read_csv(
    path: Path, suffix: str, what: str = "data", na_values: list[str] | None = None
) -> pd.DataFrame:
    options = {"sep": "\t"} if suffix.startswith(".tsv") else _csv_dialect(path)
    if na_values is not None:  # an empty cell is missing whatever else is
        options.update(keep_default_na=False, na_values=["", *na_values])
    encodings = _encodings(_byte_sample(path))
    for encoding in encodings:
        try:
            with warnings.catch_warnings():
                # index_col=False: a line with more fields than the header is an error,
                # not a row label (pandas warns, then drops the extra fields).
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(path, encoding=encoding, index_col=False, **options)
            break
        except UnicodeDecodeError:
            if encoding == encodings[-1]:
                raise
        except pd.errors.ParserWarning:
            raise CLIError(
                f"could not read {what} file {str(path)!r}: some lines have more fields than "
                "the header. Quote text that holds the separator, or add the missing column "
                "names to the header."
            ) from None
    names = _check_header(path, options["sep"], what)
    frame = _without_written_index(frame, names, path, what)
    frame = _without_empty_rows(frame, path, what)
    frame = _text_numbers(frame, options.get("decimal", "."))
    frame = _integers_as_written(frame, path, encoding, options)  # after: text may be numbers
    return _parse_datetimes(frame.reset_index(drop=True))


def _check_header(path: Path, sep: str, what: str) -> list[str]:
    """The header's names; refuses one naming a column twice (pandas would rename the
    second ``age.1``).

    Empty names (a spreadsheet's trailing empty columns) are pandas' ``Unnamed: 2``.
    """
    lines = [line for line in _text_sample(path).lstrip("\ufeff").splitlines() if line.strip()]
    names = next(csv.reader(lines[:1], delimiter=sep), [])  # pandas skips blank lines too
    twice = sorted({name for name in names if name.strip() and names.count(name) > 1})
    if twice:
        raise CLIError(
            f"{what} file {str(path)!r}: the header names {', '.join(map(repr, twice))} more "
            "than once; give every column a name of its own."
        )
    return names


def _without_written_index(
    frame: pd.DataFrame, names: list[str], path: Path, what: str
) -> pd.DataFrame:
    """Leave out a first column without a name that numbers the rows 0, 1, 2, ...: the
    index ``DataFrame.to_csv`` writes, which would be modelled as an identifier."""
    if not names or names[0].strip() or frame.shape[1] < 2:
        return frame
    first = frame.iloc[:, 0]
    if not pd.api.types.is_integer_dtype(first) or not np.array_equal(
        first.to_numpy(), np.arange(len(frame))
    ):
        return frame
    warnings.warn(
        f"The first column of {what} file {str(path)!r} has no name and numbers the rows "
        "0, 1, 2, ... (the index that DataFrame.to_csv writes), so it is left out; name it in "
        "the header to keep it, or write the file with to_csv(index=False).",
        DataWarning,
        stacklevel=2,
    )
    return frame.iloc[:, 1:]


def _without_empty_rows(frame: pd.DataFrame, path: Path, what: str) -> pd.DataFrame:
    """Leave out rows without a single value: the lines of separators only (``;;;``)
    that spreadsheets write after a table would be records that lack every value."""
    empty = frame.isna().all(axis=1).to_numpy()
    if not empty.any() or empty.all():
        return frame
    warnings.warn(
        f"{what} file {str(path)!r} has {int(empty.sum()):,} rows without any value (such as "
        "the lines of separators only that spreadsheets write after a table); they are left "
        "out.",
        DataWarning,
        stacklevel=2,
    )
    return frame[~empty]


def _integers_as_written(
    frame: pd.DataFrame, path: Path, encoding: str, options: dict[str, Any]
) -> pd.DataFrame:
    """Whole-number columns as the file writes them: with leading zeros (ZIP codes,
    account codes) as their text, since ``01000`` read as a number comes back as
    ``1000``; integers with empty cells as nullable integers (``Int64``), which pandas
    reads as floats and samples would write as ``3.0``."""
    candidates = [
        name
        for name in frame.columns
        if pd.api.types.is_integer_dtype(frame[name])
        or (pd.api.types.is_float_dtype(frame[name]) and _whole(frame[name]))
    ]
    if not candidates:
        return frame
    text = pd.read_csv(
        path, encoding=encoding, index_col=False, usecols=candidates, dtype=str, **options
    ).loc[frame.index]
    for name in candidates:
        written = text[name].dropna().str.strip()
        if written.str.match(r"[+-]?0\d").any():
            frame[name] = text[name]
        elif pd.api.types.is_float_dtype(frame[name]) and written.str.fullmatch(r"[+-]?\d+").all():
            try:
                numbers = pd.array(pd.to_numeric(text[name]), dtype="Int64")
            except (TypeError, ValueError, OverflowError):  # past int64: stays float
                continue
            # missing only in the empty rows left out: plain integers
            frame[name] = numbers if numbers.isna().any() else numbers.astype(np.int64)
    return frame


def _whole(column: pd.Series) -> bool:
    """Whether a float column's present values are all whole numbers inside int64."""
    values = column.dropna().to_numpy()
    return bool(values.size) and bool(
        np.all(values == np.round(values)) and np.all(np.abs(values) < 2.0**63)
    )


def read_data(
    path: str | Path, what: str = "data", na_values: list[str] | None = None
) -> pd.DataFrame | np.ndarray:
    """Read a table (CSV, TSV, Parquet) or an array (``.npy``) named on the command line.

    ``na_values``: the texts of a CSV that mark a missing value besides an empty cell
    (None: pandas' list, with ``NA``, ``null``, ``NaN``, ``None`` ...).
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise CLIError(f"{what} file {str(path)!r} is a folder; name a data file in it.")
    if not path.is_file():
        raise CLIError(f"{what} file {str(path)!r} does not exist.")
    suffix = _suffix(path)
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix in _PARQUET:
            frame = _read_parquet(path)
        elif suffix in _CSV:
            frame = _read_csv(path, suffix, what, na_values)
        else:
            raise CLIError(
                f"{what} file {str(path)!r}: unknown extension {suffix!r}; use .csv, .tsv, "
                ".parquet or .npy."
            )
    except CLIError:
        raise
    except (OSError, ValueError, EOFError, pd.errors.ParserError) as exc:  # EOF: a cut .gz
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CLIError(f"could not read {what} file {str(path)!r}: {message}") from exc
    if frame.shape[1] == 0 or frame.shape[0] == 0:
        raise CLIError(f"{what} file {str(path)!r} holds no data.")
    return frame


def _as_output_frame(sample: Any, offset: int, ragged: bool = False) -> pd.DataFrame:
    """A sample as a table: DataFrames as they are, arrays as columns (3-D in long format).

    With ``ragged`` (sequences of several lengths, NaN after each end), the padding
    steps are left out.
    """
    if isinstance(sample, pd.DataFrame):
        return sample
    array = np.asarray(sample)
    if ragged and array.ndim == 2:
        array = array[:, :, None]
    if array.ndim == 2:
        return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])
    if array.ndim == 3:
        from tssynth.data.sequences import long_frame

        return long_frame(array, offset, drop_padding=ragged)
    raise CLIError(f"the generator returned an array of shape {array.shape}; cannot write it.")


def _sequence_key(synthesizer: Any) -> Any:
    """The column that numbers the sampled sequences or windows (None for tables)."""
    from tssynth import DenseVAESynthesizer
    from tssynth.data.sequences import WINDOW_ID, window_columns

    for name in ("sequence_key_", "sequence_key"):
        key = getattr(synthesizer, name, None)
        if key is not None:
            return key
    if not isinstance(synthesizer, DenseVAESynthesizer):
        return None
    # Windows cut from one long series are numbered in a fresh "window" column.
    input_format = synthesizer.input_format_
    return window_columns(input_format)[0] if input_format["kind"] == "long" else WINDOW_ID


class TableWriter:
    """Write a table chunk by chunk to CSV (appending) or Parquet (one row group per chunk)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.suffix = _suffix(path)
        if self.suffix not in (*_PARQUET, *_CSV):
            raise CLIError(
                f"output {str(path)!r}: unknown extension {self.suffix!r}; use .csv, .parquet "
                "or, for array samples, .npy."
            )
        if self.suffix in _PARQUET:
            self._pa = _require_pyarrow()
        # From the final name: chunks go to a temporary file whose name tells pandas nothing.
        self._compression = _COMPRESSION.get(self.suffix.rsplit(".", 1)[-1])
        if self._compression == "zip":
            raise CLIError(
                f"output {str(path)!r}: a zip archive cannot be written chunk by chunk; use "
                ".csv.gz (or .csv.bz2, .csv.xz)."
            )
        self._writer: Any = None
        self._schema: Any = None
        # Parquet chunks held back while a column has no value yet (its type unknown).
        self._pending: list[pd.DataFrame] = []
        self._held = 0
        self._typed: np.ndarray | None = None  # columns that had a value
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        """Append one chunk."""
        if self.suffix in _PARQUET:
            self._pending.append(frame)
            self._held += len(frame)
            self.rows += len(frame)
            if self._writer is None:
                seen = frame.notna().any().to_numpy()
                self._typed = seen if self._typed is None else self._typed | seen
                if not self._typed.all() and self._held < _SCHEMA_ROWS:
                    return
            self._write_pending()
            return
        sep = "\t" if self.suffix.startswith(".tsv") else ","
        frame.to_csv(
            self.path,
            mode="w" if self.rows == 0 else "a",
            header=self.rows == 0,
            index=False,
            sep=sep,
            compression=self._compression,  # appended chunks: one gzip member each
        )
        self.rows += len(frame)

    def _write_pending(self) -> None:
        import pyarrow.parquet as pq

        frame = self._pending[0] if len(self._pending) == 1 else pd.concat(self._pending)
        self._pending, self._held = [], 0
        try:
            table = self._pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
        except (self._pa.ArrowInvalid, self._pa.ArrowTypeError) as exc:
            raise CLIError(
                f"could not write Parquet {str(self.path)!r}: a column holds values of another "
                f"type than in the rows written before ({exc}); write CSV instead."
            ) from exc
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self.path, self._schema)
        self._writer.write_table(table)

    def close(self, complete: bool = True) -> None:
        """Finish the file (``complete=False``: a failed run, whose file is removed)."""
        if complete and self._pending:
            self._write_pending()
        if self._writer is not None:
            self._writer.close()


class ArrayWriter:
    """Write array samples (windows, NaN-padded sequences) chunk by chunk into one .npy file.

    The file is laid out for all ``n`` samples when the first chunk tells their shape.
    """

    def __init__(self, path: Path, n: int) -> None:
        self.path, self.n = path, n
        self._array: Any = None
        self.rows = 0

    def write(self, sample: Any) -> None:
        """Append one chunk: an ndarray of ``(size, ...)``."""
        sample = np.asarray(sample)
        if self._array is None:
            shape = (self.n, *sample.shape[1:])
            self._array = np.lib.format.open_memmap(
                self.path, mode="w+", dtype=sample.dtype, shape=shape
            )
        self._array[self.rows : self.rows + len(sample)] = sample
        self.rows += len(sample)

    def close(self, complete: bool = True) -> None:
        """Finish the file."""
        if self._array is not None:
            self._array.flush()
            self._array = None


def _chunks(total: int, size: int) -> Iterator[int]:
    for start in range(0, total, size):
        yield min(size, total - start)


# --------------------------------------------------------------------------- commands


def _na_values(text: str | None) -> list[str] | None:
    """``--na-values``: comma-separated texts that mark a missing value; '' for none."""
    if text is None:
        return None
    return [value for value in text.split(",") if value]


def _split_columns(text: str | None, data: Any = None) -> list[Any] | None:
    """Comma-separated names as a list; with a table ``data``, each read as its column:
    a name holding commas (``Income, USD``) whole, and one written with the spaces a
    header has around its commas (``id, grade``) as that column."""
    if text is None:
        return None
    pieces = text.split(",")
    if not isinstance(data, pd.DataFrame):
        return [piece.strip() for piece in pieces if piece.strip()] or None
    exact = {name for name in data.columns if isinstance(name, str)}
    stripped: dict[str, list[str]] = {}
    for name in exact:
        stripped.setdefault(name.strip(), []).append(name)
    names, start = [], 0
    while start < len(pieces):
        for stop in range(len(pieces), start, -1):  # the longest run that names a column
            joined = ",".join(pieces[start:stop])
            candidates = [joined] if joined in exact else stripped.get(joined.strip(), [])
            if len(candidates) == 1:
                names.append(candidates[0])
                start = stop
                break
        else:  # no column: left as written, for the synthesizer's error to name it
            if pieces[start].strip():
                names.append(pieces[start].strip())
            start += 1
    return names or None


def _column_labels(names: list[str] | None, data: Any) -> list[Any] | None:
    """Column names from the command line as labels of ``data``: positions for arrays."""
    if names is None or not isinstance(data, np.ndarray):
        return names
    wrong = [name for name in names if not (name.isascii() and name.isdigit())]
    if wrong:
        raise CLIError(
            f"--discrete-columns {','.join(wrong)}: an array's columns are positions "
            f"0 to {data.shape[-1] - 1}; give those."
        )
    return [int(name) for name in names]


def _resolve_model(name: str) -> type:
    import tssynth

    cls = getattr(tssynth, MODELS[name], None)
    if cls is None:
        raise CLIError(
            f"--model {name} ({MODELS[name]}) is not available in this version of tssynth "
            f"({tssynth.__version__})."
        )
    return cls


def _accepted(function: Callable, names: Sequence[str]) -> set[str]:
    parameters = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return set(names)
    return {name for name in names if name in parameters}


def _route_options(cls: type, options: dict[str, Any]) -> tuple[dict, dict]:
    """Give each option to the constructor or to ``fit``, whichever takes it."""
    init_names = _accepted(cls.__init__, list(options))
    fit_names = _accepted(cls.fit, list(options)) - init_names
    unsupported = set(options) - init_names - fit_names
    if unsupported:
        flags = ", ".join(
            _OPTION_FLAGS.get(name, f"--{name.replace('_', '-')}") for name in sorted(unsupported)
        )
        raise CLIError(f"{flags} is not supported by {cls.__name__}.")
    return (
        {k: v for k, v in options.items() if k in init_names},
        {k: v for k, v in options.items() if k in fit_names},
    )


def _output_path(name: str, force: bool, what: str, inputs: tuple[Any, ...] = ()) -> Path:
    """The output file, checked before any work: writable, not overwritten unasked, and
    never one of the command's ``inputs`` (not even with ``--force``)."""
    output = check_save_path(name, what)
    for given in inputs:
        if (
            given is not None
            and output.exists()
            and Path(given).expanduser().exists()
            and output.samefile(Path(given).expanduser())
        ):
            raise CLIError(
                f"the output for {what} ({str(output)!r}) is the input file {str(given)!r}; "
                "choose another output file."
            )
    if output.exists() and not force:
        raise CLIError(f"{str(output)!r} exists; pass --force to overwrite it.")
    return output


def cmd_fit(args: argparse.Namespace) -> int:
    """``tssynth fit``: learn a generator from a data file and save it."""
    cls = _resolve_model(args.model)
    output = _output_path(args.output, args.force, "the generator", (args.data,))
    data = read_data(args.data, na_values=_na_values(args.na_values))
    init = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "random_state": args.seed,
        "epsilon": args.epsilon,
        "delta": args.delta,
        "loss_factor": args.loss_factor,
        "learning_rate": args.learning_rate,
        "embedding_dim": args.embedding_dim,
        "n_iter_no_change": args.early_stopping,
    }
    init = {k: v for k, v in init.items() if v is not None}
    init["early_stopping"] = args.early_stopping is not None
    init["verbose"] = not args.quiet
    identifiers = _split_columns(args.identifiers, data)
    options = {
        "discrete_columns": _column_labels(_split_columns(args.discrete_columns, data), data),
        "metadata": None if identifiers is None else {"identifiers": identifiers},
        "sequence_key": args.sequence_key,
        "sequence_index": args.sequence_index,
        "context_columns": _split_columns(args.context_columns, data),
        "window": args.window,
        "stride": args.stride,
        "derive_dependencies": False if args.no_derive_dependencies else None,
    }
    options = {k: v for k, v in options.items() if v is not None}
    init_extra, fit_options = _route_options(cls, options)
    synthesizer = cls(**init, **init_extra)
    synthesizer.fit(data, **fit_options)
    synthesizer.save(output)
    # an array's first axis holds sequences (dvae) or windows (dense)
    array_records = {"dvae": "sequences", "dense": "windows"}
    records = "rows" if isinstance(data, pd.DataFrame) else array_records.get(args.model, "rows")
    print(
        f"fitted {cls.__name__} on {len(data):,} {records} of {args.data}; generator saved "
        f"to {output}"
    )
    if synthesizer.epsilon_ is not None:
        print(
            f"differential privacy: epsilon = {synthesizer.epsilon_:.3g}, "
            f"delta = {synthesizer.delta_:.2g} spent"
        )
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    """``tssynth sample``: draw rows from a generator file, streamed in chunks."""
    from tqdm.auto import tqdm

    import tssynth

    if args.n < 0:
        raise CLIError(f"-n must be a non-negative number of rows, got {args.n}.")
    if args.chunk_size < 1:
        raise CLIError(f"--chunk-size must be a positive integer, got {args.chunk_size}.")
    output = _output_path(args.output, args.force, "the samples", (args.generator, args.context))
    arrays = _suffix(output) == ".npy"
    writer = ArrayWriter(output, args.n) if arrays else TableWriter(output)
    synthesizer = tssynth.load(args.generator)
    if arrays and not _gives_arrays(synthesizer):
        raise CLIError(
            f"{type(synthesizer).__name__} here was fitted on a table, so its samples are "
            "tables: write them to .csv or .parquet (.npy is for models fitted on arrays)."
        )
    key = _sequence_key(synthesizer)
    ragged = isinstance(synthesizer, tssynth.DVAESynthesizer)
    context = None if args.context is None else _read_context(args.context, synthesizer, args.n)
    done = 0
    temporary = output.with_name(output.name + ".partial")
    writer.path = temporary
    try:
        with tqdm(total=args.n, unit="row", disable=args.quiet, desc="sample") as bar:
            # chunks this machine holds, whatever --chunk-size (long sequences)
            chunk_size = min(args.chunk_size, synthesizer._sample_chunk_limit() or args.chunk_size)
            for size in _chunks(args.n, chunk_size) if args.n else [0]:
                given = {}
                if context is not None:  # the chunk's own rows of the context file
                    given["context"] = context.iloc[done : done + size].reset_index(drop=True)
                sample = synthesizer.sample(size, **given)
                if not arrays:
                    sample = _as_output_frame(sample, done, ragged)
                    if key is not None and key in sample.columns and done:
                        sample[key] = _offset_keys(sample[key], done)
                writer.write(sample)
                done += size
                bar.update(size)
        writer.close()
        temporary.replace(output)
    except BaseException:
        writer.close(complete=False)
        temporary.unlink(missing_ok=True)
        raise
    if not args.quiet:
        what = "samples" if arrays else "rows"
        print(f"wrote {writer.rows:,} {what} to {output}", file=sys.stderr)
    return 0


def _gives_arrays(synthesizer: Any) -> bool:
    """Whether ``sample`` returns ndarrays: a dense or dvae model fitted on an array."""
    transformer = getattr(synthesizer, "panel_transformer_", None)
    input_format = getattr(synthesizer, "input_format_", None)
    if transformer is not None:
        input_format = transformer.input_format
    return input_format is not None and input_format.get("kind") == "array"


def _read_context(path: str, synthesizer: Any, n: int) -> pd.DataFrame:
    """The ``--context`` table of ``tssynth sample``: one row per sequence, checked."""
    import tssynth

    if (
        not isinstance(synthesizer, tssynth.DVAESynthesizer)
        or synthesizer.panel_transformer_.context is None
    ):
        raise CLIError(
            "--context is for dvae generators fitted with --context-columns; this one has "
            "no context columns."
        )
    context = read_data(path, "context")
    if not isinstance(context, pd.DataFrame):
        raise CLIError(f"context file {path!r} must be a table (.csv or .parquet), not an array.")
    if len(context) != n:
        raise CLIError(
            f"context file {path!r} has {len(context):,} rows; it needs one per sequence, -n {n:,}."
        )
    return context


def _offset_keys(keys: pd.Series, offset: int) -> pd.Series:
    """Keep sequence keys unique across chunks: integers (also as text) shifted, others prefixed."""
    from tssynth.data.panel import holds_integers

    if pd.api.types.is_integer_dtype(keys):
        return keys + offset
    if holds_integers(keys):  # integers in an object or categorical column
        shifted = keys.astype(np.int64) + offset
        return shifted.astype("category" if keys.dtype == "category" else object)
    text = keys.astype(str)
    if text.str.fullmatch(r"\d+").all():  # fresh keys of a model fitted on text keys
        categorical = isinstance(keys.dtype, pd.CategoricalDtype)
        return (
            (text.astype(np.int64) + offset)
            .astype(str)
            .astype("category" if categorical else keys.dtype)
        )
    return f"c{offset}_" + text


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``tssynth evaluate``: fidelity, utility, privacy and temporal scores (and a report)."""
    import tssynth
    from tssynth.metrics import evaluate

    inputs = (args.real, args.synthetic, args.holdout, args.generator)
    if args.json and args.report and Path(args.json).resolve() == Path(args.report).resolve():
        raise CLIError(
            f"--json and --report both name {args.json!r}; give the scores and the report "
            "files of their own."
        )
    for name, what in ((args.json, "the scores"), (args.report, "the report")):
        if name:  # checked before the (long) evaluation
            _output_path(name, args.force, what, inputs)
    na_values = _na_values(args.na_values)
    real = read_data(args.real, "real", na_values)
    synthetic = read_data(args.synthetic, "synthetic", na_values)
    holdout = None if args.holdout is None else read_data(args.holdout, "holdout", na_values)
    synthesizer = None if args.generator is None else tssynth.load(args.generator)
    # A DP-trained generator carries the budget it spent; None without DP.
    epsilon = getattr(synthesizer, "epsilon_", None)
    delta = getattr(synthesizer, "delta_", None)
    metrics = _split_columns(args.metrics) or ["fidelity", "utility", "privacy", "temporal"]
    result = evaluate(
        real,
        synthetic,
        holdout=holdout,
        target=args.target,
        task=args.task,
        discrete_columns=_split_columns(args.discrete_columns, real),
        sequence_key=args.sequence_key,
        sequence_index=args.sequence_index,
        window=args.window,
        synthesizer=synthesizer,
        metrics=metrics,
        privacy_max_rows=args.privacy_rows or None,
        discriminative_steps=args.discriminative_steps,
        predictive_steps=args.predictive_steps,
        random_state=args.seed,
        n_threads=args.threads,
        verbose=not args.quiet,
        epsilon=epsilon,
        delta=delta,
    )
    summary = result.to_dict()
    for section in ("fidelity", "utility", "privacy", "temporal"):
        part = summary[section]
        if part is None:
            continue
        if section == "utility":
            metric = part["primary_metric"]
            shown = (
                f"{metric}: train real {_short(part['real'][metric])}, "
                f"train synthetic {_short(part['synthetic'][metric])}"
            )
        elif section == "privacy":
            attack = part["membership_inference"]
            shown = (
                f"closer to train {_short(part['share_closer_to_train'])}, "
                f"copies {_short(part['exact_copy_rate'])} "
                f"(holdout {_short(part['holdout_copy_rate'])}), "
                f"membership-inference AUC {_short(attack['roc_auc'])}"
            )
        else:
            numbers = {
                k: v for k, v in part.items() if isinstance(v, int | float) and k != "overall"
            }
            shown = ", ".join(f"{k} {_short(v)}" for k, v in list(numbers.items())[:5])
        print(f"{section:<9} overall {_short(part.get('overall'))}  ({shown})")
    if result.privacy is not None and result.privacy.verdict is not None:
        print(f"privacy verdict: {result.privacy.verdict.to_text()}")
    for note in result.notes:
        print(f"note: {note}")
    if args.json:
        text = json.dumps(_json_safe(summary), indent=2, allow_nan=False)
        write_atomic(args.json, text.encode("utf-8"), "the scores")
        print(f"scores written to {args.json}")
    if args.report:
        result.save_html(args.report)
        print(f"report written to {args.report}")
    return 0


def _short(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:.3f}"
    return str(value)


def _json_safe(value: Any) -> Any:
    """``value`` as strict JSON data: NaN and infinities (scores not defined, such as
    missing-value similarity on tables without missing values) become null."""
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


# --------------------------------------------------------------------------- parser


NA_HELP = (
    "comma-separated texts of a CSV that mark a missing value besides an empty cell "
    "(default: pandas' list: NA, N/A, null, NaN, None, ...); '' reads only empty cells as "
    "missing, so that a category such as 'NA' (North America) stays one"
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tssynth`` and its sub-commands."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Learn real data with variational autoencoders, sample synthetic data "
        "and evaluate it.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    from tssynth import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    fit = commands.add_parser(
        "fit",
        help="learn a generator from a data file",
        description="Fit a synthesizer on a CSV/Parquet file and save the generator.",
    )
    fit.add_argument(
        "data",
        metavar="DATA",
        help="training data (.csv, .tsv, .parquet; .npy arrays for dense/dvae)",
    )
    fit.add_argument(
        "--model",
        choices=sorted(MODELS),
        default="tvae",
        help="tvae: tables; dense: fixed-length windows; dvae: sequences (default tvae)",
    )
    fit.add_argument("--epochs", type=int, help="training epochs (model default if omitted)")
    fit.add_argument("--batch-size", type=int, help="rows per training batch")
    fit.add_argument(
        "--discrete-columns", metavar="COLS", help="comma-separated columns to treat as categorical"
    )
    fit.add_argument(
        "--identifiers",
        metavar="COLS",
        help="comma-separated ID columns: not modelled, numbered afresh in samples (tables)",
    )
    fit.add_argument("--sequence-key", metavar="COL", help="entity column of a long panel")
    fit.add_argument("--sequence-index", metavar="COL", help="time column of a long panel")
    fit.add_argument(
        "--context-columns",
        metavar="COLS",
        help="comma-separated static columns of a panel, one value per entity (dvae)",
    )
    fit.add_argument(
        "--window",
        type=int,
        help="window length (dense): cut each series, or each --sequence-key entity, into windows",
    )
    fit.add_argument(
        "--stride",
        type=int,
        help="steps between window starts (default 1; under --epsilon use the window length)",
    )
    fit.add_argument(
        "--no-derive-dependencies",
        action="store_true",
        help="model every column, also one that a categorical column determines exactly "
        "(by default derived from it, so samples keep each pair; tvae)",
    )
    fit.add_argument("--na-values", metavar="TEXTS", help=NA_HELP)
    fit.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    fit.add_argument(
        "--epsilon",
        type=float,
        help="train with differential privacy at this budget (needs tssynth[privacy])",
    )
    fit.add_argument("--delta", type=float, help="DP delta (default 1 / records)")
    fit.add_argument(
        "--loss-factor",
        type=float,
        help="reconstruction weight (model default if omitted; 20 works well with --epsilon)",
    )
    fit.add_argument("--learning-rate", type=float, help="Adam learning rate (model default)")
    fit.add_argument(
        "--early-stopping",
        type=int,
        metavar="EPOCHS",
        help="hold out 10%% of the records and stop after EPOCHS epochs without a lower "
        "loss on them, keeping the best epoch's weights",
    )
    fit.add_argument("--embedding-dim", type=int, help="latent dimensions (model default)")
    fit.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="GENERATOR",
        help="where to save the generator file",
    )
    fit.add_argument("--force", action="store_true", help="overwrite an existing output file")
    fit.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    fit.set_defaults(handler=cmd_fit)

    sample = commands.add_parser(
        "sample",
        help="draw synthetic rows from a generator file",
        description="Sample from a generator file into CSV or Parquet (by extension), "
        "streamed in chunks so any number of rows fits in memory.",
    )
    sample.add_argument("generator", metavar="GENERATOR", help="generator file from tssynth fit")
    sample.add_argument(
        "-n",
        type=int,
        required=True,
        help="number of rows (sequences for a DVAE model, windows for a dense one)",
    )
    sample.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="output file (.csv, .csv.gz, .tsv, .parquet; .npy for a model fitted on arrays)",
    )
    sample.add_argument(
        "--chunk-size",
        type=int,
        default=DEFAULT_CHUNK,
        help=f"rows generated and written at once (default {DEFAULT_CHUNK:,})",
    )
    sample.add_argument(
        "--context",
        metavar="TABLE",
        help="dvae: the context columns of each sequence, one row per sequence (-n rows)",
    )
    sample.add_argument("--force", action="store_true", help="overwrite an existing output file")
    sample.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sample.set_defaults(handler=cmd_sample)

    evaluate = commands.add_parser(
        "evaluate",
        help="score synthetic data against real data",
        description="Fidelity, utility (with --target), privacy (baselines, a "
        "membership-inference attack and a PASS/WARN release verdict with --holdout) "
        "and temporal scores (windows in .npy files, or panels with --sequence-key).",
    )
    evaluate.add_argument("real", metavar="REAL", help="real training data")
    evaluate.add_argument("synthetic", metavar="SYNTH", help="synthetic data")
    evaluate.add_argument("--holdout", metavar="H", help="real data kept out of training")
    evaluate.add_argument("--na-values", metavar="TEXTS", help=NA_HELP)
    evaluate.add_argument("--target", metavar="COL", help="column to predict (utility)")
    evaluate.add_argument(
        "--task",
        choices=["auto", "classification", "regression"],
        default="auto",
        help="utility task (default: from the target's type)",
    )
    evaluate.add_argument(
        "--discrete-columns", metavar="COLS", help="comma-separated columns to treat as categorical"
    )
    evaluate.add_argument("--sequence-key", metavar="COL", help="entity column of a long panel")
    evaluate.add_argument("--sequence-index", metavar="COL", help="time column of a long panel")
    evaluate.add_argument(
        "--window",
        type=int,
        help="steps per window for temporal scores (default: the shorter median length, "
        "at most 24)",
    )
    evaluate.add_argument(
        "--metrics",
        metavar="LIST",
        help="comma-separated subset of fidelity,utility,privacy,temporal",
    )
    evaluate.add_argument(
        "--generator",
        metavar="GENERATOR",
        help="generator file: its loss curves go into the report and its differential-privacy "
        "budget (epsilon, delta) into the privacy verdict",
    )
    evaluate.add_argument(
        "--privacy-rows",
        type=int,
        default=10_000,
        help="most rows for privacy distances, 0 for all (default 10,000)",
    )
    evaluate.add_argument(
        "--discriminative-steps",
        type=int,
        default=2000,
        metavar="N",
        help="training steps of the discriminative score (default 2000)",
    )
    evaluate.add_argument(
        "--predictive-steps",
        type=int,
        default=5000,
        metavar="N",
        help="training steps of the predictive score (default 5000)",
    )
    evaluate.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="cap on the threads of the evaluation models (default: all)",
    )
    evaluate.add_argument("--report", metavar="HTML", help="write a self-contained HTML report")
    evaluate.add_argument("--json", metavar="PATH", help="write every score as JSON")
    evaluate.add_argument(
        "--force", action="store_true", help="overwrite existing --report / --json files"
    )
    evaluate.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    evaluate.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    evaluate.set_defaults(handler=cmd_evaluate)

    demo = commands.add_parser(
        "demo",
        help="fit, sample and score the bundled Adult data",
        description="Run tssynth's demo; options after 'demo' go to it (tssynth demo --help).",
        add_help=False,
    )
    demo.add_argument("demo_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    demo.set_defaults(handler=cmd_demo)
    return parser


def cmd_demo(args: argparse.Namespace) -> int:
    """``tssynth demo``: the bundled demo (options are passed through)."""
    from tssynth.demo import main as demo_main

    program = sys.argv[0]
    sys.argv[0] = f"{PROG} demo"  # the demo's usage line names the command
    try:
        demo_main(list(args.demo_args))
    finally:
        sys.argv[0] = program
    return 0


# Options whose flag is not their name with dashes.
_OPTION_FLAGS = {"derive_dependencies": "--no-derive-dependencies"}

# Python parameters whose errors the command line reports under its own flags.
_FLAGS = {
    "epochs": "--epochs",
    "batch_size": "--batch-size",
    "random_state": "--seed",
    "epsilon": "--epsilon",
    "delta": "--delta",
    "loss_factor": "--loss-factor",
    "learning_rate": "--learning-rate",
    "embedding_dim": "--embedding-dim",
    "n_iter_no_change": "--early-stopping",
    "early_stopping": "--early-stopping",
    "window": "--window",
    "stride": "--stride",
    "privacy_max_rows": "--privacy-rows",
    "discriminative_steps": "--discriminative-steps",
    "predictive_steps": "--predictive-steps",
    "n_threads": "--threads",
}


def _one_line(exc: BaseException) -> str:
    text = " ".join((str(exc).strip() or type(exc).__name__).split())
    first, _, rest = text.partition(" ")
    if isinstance(exc, InvalidParameterError) and first in _FLAGS and rest.startswith("must"):
        return f"{_FLAGS[first]} {rest}"  # "n_threads must be ..." -> "--threads must be ..."
    return text


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """A warning as one ``tssynth: warning: ...`` line, without the source path."""
    own = issubclass(category, (DataWarning, PrivacyWarning))
    label = "" if own else f"{category.__name__}: "
    print(f"{PROG}: warning: {label}{' '.join(str(message).split())}", file=sys.stderr)


@contextlib.contextmanager
def _terminated_as_exit() -> Iterator[None]:
    """SIGTERM (a job scheduler, ``kill``) exits through Python, as Ctrl-C does: the
    ``.partial`` file of a stream being written is removed rather than left behind."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tssynth`` command line; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    positional = [arg for arg in argv if not arg.startswith("-")]
    if positional and positional[0] == "demo":
        # Everything after 'demo' belongs to the demo's own parser (--help included).
        at = argv.index("demo")
        args = argparse.Namespace(
            demo_args=argv[at + 1 :], debug="--debug" in argv[:at], handler=cmd_demo
        )
    else:
        args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings(), _terminated_as_exit():
            if not args.debug:
                warnings.showwarning = _show_warning
            return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (CLIError, TssynthError, InvalidParameterError, OSError, ValueError, KeyError) as exc:
        if args.debug:
            raise
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"{PROG}: error: unexpected {type(exc).__name__}: {_one_line(exc)} "
            "(run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
