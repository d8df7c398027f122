"""Generator files: a checked header, then a joblib payload of plain data.

Layout::

    b"TSSYNTH\\0"                      8 bytes, the magic
    header length                      4 bytes, little-endian unsigned
    header                             JSON: format_version, library_version, class,
                                       payload_length, payload_sha256
    payload                            joblib dump of a dict of plain Python values,
                                       numpy arrays and CPU tensors' numpy copies

The header is read and checked (format version, length, checksum) before any byte
of the payload is unpickled, so a damaged, truncated, foreign or too new file
gives a clear :class:`~tssynth.exceptions.GeneratorFileError`. Files are written
to a temporary file beside the target and renamed over it, so a failed save never
leaves a half-written file and never destroys the previous one.

Like any pickle, a payload can run code when loaded: load generator files only
from sources you trust.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import stat
import struct
from pathlib import Path
from typing import Any

import joblib

from tssynth._version import __version__
from tssynth.exceptions import GeneratorFileError

_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
MAGIC = b"TSSYNTH\x00"
# 2: a transformer's continuous rows may be log-scaled or a datetime's day / time of day
# (the "shift" and "part" state, read as absent from format 1 files, which still load).
# 3: a grid may be offset from zero (the "origin" state, 0 in older files).
# 4: a column may be derived from the one that determines it (the "derived" state, none
# in older files; a reader of format 3 would sample such a column as all missing), and
# rules of single values may be kept (the "implied" state, none in older files).
# 5: the early-stopping parameters (defaults in older files; a reader of format 4 could
# not build the synthesizer from them), derived time columns, and integer grids past
# 2**53.
# 6: a DVAE's context rows may end with absence flags (the panel "absent_columns" state,
# none in older files; a reader of format 5 would build a model narrower than its
# weights), and a fingerprint of the training records (absent: not checked).
# 7: columns of datetime.date objects are datetime columns (a reader of format 6 would
# restore them as timestamps and refuse dates to transform), and an anchor may have
# stand-ins where it is missing and its column is present (the transformer's
# "stand_in_offsets" state, none in older files; a reader of format 6 would decode
# such a start as present wherever its end is).
# 8: object columns of Python numbers are numeric, and object columns keep their missing
# marker (the column specs' "python_type", "decimal_places" and "missing_as", absent in
# older files; a reader of format 7 could not build the specs).
# 9: an anchored datetime column may keep frequent values absolute (the transformer's
# "absolute_times" state, none in older files; a reader of format 8 would decode those
# rows as offsets from their anchors), and a numeric column may be modelled as its gap
# above its floors (the "floors" state, none in older files; a reader of format 8
# would decode the gaps as the values).
# 10: a floor may have stand-ins where it is missing and its column is present (a sixth
# element of each "floors" entry, none in older files; a reader of format 9 would decode
# such a column as missing wherever its floor is); object columns of datetime.datetime
# or Timestamp values are datetime columns (python_type "datetime" / "timestamp": a
# reader of format 9 would restore them as dates), and missing_as may be "NaT". A DVAE's
# panel state may hold the exact training context values ("context_values", absent in
# older files, which decode contexts as before and whose readers ignore it).
FORMAT_VERSION = 10
_LENGTH = struct.Struct("<I")


def check_save_path(
    path: str | os.PathLike[str], what: str = "the generator", probe: bool = True
) -> Path:
    """Check that a file can be written at ``path`` (before any work goes into it).

    Raises
    ------
    GeneratorFileError
        When the folder does not exist or cannot be written (``probe``: a temporary
        file is made there and removed), or ``path`` is a folder.
    """
    path = Path(path).expanduser()  # '~/model.tssynth' is in the home folder
    if path.is_dir():
        raise GeneratorFileError(
            f"Cannot save {what} to {str(path)!r}: it is a folder; give a file path inside it, "
            f"e.g. {str(path / 'model.tssynth')!r}."
        )
    if not path.parent.is_dir():
        raise GeneratorFileError(
            f"Cannot save {what} to {str(path)!r}: folder {str(path.parent)!r} does not "
            "exist; create it first."
        )
    if not probe:
        return path
    # the temporary file a write goes through, made and removed: can it be?
    descriptor, temporary = _open_temporary(path, what)
    os.close(descriptor)
    Path(temporary).unlink(missing_ok=True)
    return path


def write_generator(path: str | os.PathLike[str], class_name: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` as a generator file at ``path``, atomically.

    Parameters
    ----------
    path : str or path-like
        Target file; its folder must exist.
    class_name : str
        Name of the synthesizer class, recorded in the header.
    payload : dict
        Plain data to store.

    Returns
    -------
    Path
        The path written.
    """
    buffer = io.BytesIO()
    joblib.dump(payload, buffer, compress=3)
    body = buffer.getvalue()
    header = json.dumps(
        {
            "format_version": FORMAT_VERSION,
            "library_version": __version__,
            "class": class_name,
            "payload_length": len(body),
            "payload_sha256": hashlib.sha256(body).hexdigest(),
        }
    ).encode()
    return write_atomic(path, MAGIC + _LENGTH.pack(len(header)) + header + body)


def _new_temporary(path: Path) -> tuple[int, str]:
    """A fresh temporary file beside ``path``, open for writing, with the mode a new file
    gets under the umask (``tempfile.mkstemp`` would make it private, 0600)."""
    for _ in range(100):
        name = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o666), str(name)
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file beside {str(path)!r}")


def _open_temporary(path: Path, what: str) -> tuple[int, str]:
    """:func:`_new_temporary`, with a folder that cannot be written named."""
    try:
        return _new_temporary(path)
    except OSError as exc:
        raise GeneratorFileError(
            f"Cannot save {what} to {str(path)!r}: folder {str(path.parent)!r} cannot be "
            f"written ({exc.strerror or exc}); choose a folder you can write to."
        ) from None


def write_atomic(path: str | os.PathLike[str], data: bytes, what: str = "the generator") -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    Readers see the old file or the new one, never a part; a failed write
    leaves the old file as it was.
    """
    path = check_save_path(path, what, probe=False)
    descriptor, temporary = _open_temporary(path, what)
    try:
        if path.exists():  # the replaced file's permissions carry over
            os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as exc:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(exc, OSError):  # a full disk, a file system gone read-only ...
            raise GeneratorFileError(
                f"Could not save {what} to {str(path)!r} ({exc.strerror or exc}); what was "
                "there before, if anything, is unchanged."
            ) from exc
        raise
    return path


def read_header(path: str | os.PathLike[str]) -> tuple[dict[str, Any], bytes]:
    """Read and check a generator file; return its header and raw payload bytes."""
    path = Path(path).expanduser()  # '~/model.tssynth' is in the home folder
    if not path.is_file():
        raise GeneratorFileError(f"No generator file at {str(path)!r}.")
    data = path.read_bytes()
    where = f"{str(path)!r}"
    if not data.startswith(MAGIC):
        raise GeneratorFileError(
            f"{where} is not a tssynth generator file (it does not start with the tssynth "
            "header); pass a file written by a synthesizer's save()."
        )
    start = len(MAGIC) + _LENGTH.size
    if len(data) < start:
        raise GeneratorFileError(f"{where} is truncated: it ends inside its header.")
    (header_length,) = _LENGTH.unpack_from(data, len(MAGIC))
    try:
        header = json.loads(data[start : start + header_length])
        version = int(header["format_version"])
        expected_length = int(header["payload_length"])
        checksum = str(header["payload_sha256"])
    except (ValueError, KeyError, TypeError) as exc:
        raise GeneratorFileError(
            f"{where} has a damaged or truncated header; save the generator again."
        ) from exc
    if version > FORMAT_VERSION:
        raise GeneratorFileError(
            f"{where} was written by tssynth {header.get('library_version', '?')} in generator "
            f"format {version}; this tssynth ({__version__}) reads formats up to "
            f"{FORMAT_VERSION}. Upgrade tssynth to load it."
        )
    body = data[start + header_length :]
    if len(body) != expected_length:
        raise GeneratorFileError(
            f"{where} is truncated or padded: its payload has {len(body)} bytes where the header "
            f"says {expected_length}; copy or save the file again."
        )
    if hashlib.sha256(body).hexdigest() != checksum:
        raise GeneratorFileError(
            f"{where} is damaged: its checksum does not match its content; save the generator "
            "again."
        )
    return header, body


def read_generator(path: str | os.PathLike[str]) -> tuple[str, dict[str, Any]]:
    """Read a generator file; return the class name and the payload."""
    header, body = read_header(path)
    try:
        payload = joblib.load(io.BytesIO(body))
    except Exception as exc:  # a checksummed payload that still fails is a library mismatch
        raise GeneratorFileError(
            f"{str(path)!r} passed its checksum but could not be decoded ({type(exc).__name__}: "
            f"{exc}); it may need the tssynth version that wrote it "
            f"({header.get('library_version', '?')})."
        ) from exc
    if not isinstance(payload, dict):
        raise GeneratorFileError(f"{str(path)!r} holds no tssynth generator payload.")
    return str(header.get("class")), payload
