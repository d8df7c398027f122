"""One entry point for evaluating synthetic data: fidelity, utility, privacy and temporal scores.

``evaluate(real, synthetic, holdout=..., target=...)`` picks what applies to the
data it is given:

- a table (DataFrame or 2-D array): fidelity; utility when a ``target`` is named;
  privacy (its baselines and the membership-inference attack when a ``holdout``
  is given) and a privacy verdict (:func:`~tssynth.metrics.privacy_verdict`);
- windows, an ``(n, T, d)`` array: fidelity of the per-feature values, privacy
  on whole windows, and the temporal discriminative and predictive scores;
- a panel, a long DataFrame with ``sequence_key`` (and ``sequence_index``):
  fidelity, utility and privacy on the rows (without the key), and the temporal
  scores on windows of ``window`` consecutive steps cut from every sequence.

A section that fails on valid input (for example runs out of memory) is recorded
in ``errors`` and the notes, and the other sections are still returned; invalid
input raises :class:`~tssynth.InvalidDataError` or
:class:`~tssynth.InvalidParameterError`.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold, train_test_split
from tqdm.auto import tqdm

from tssynth._validation import check_int
from tssynth.data.frame import is_ragged
from tssynth.data.panel import pad_ragged
from tssynth.data.schema import CONTINUOUS, check_frame, infer_schema
from tssynth.data.sequences import index_long_frame, long_frame, padded_lengths
from tssynth.exceptions import InvalidDataError, InvalidParameterError, caller_stacklevel
from tssynth.metrics.fidelity import FidelityReport, column_as_float, fidelity_report
from tssynth.metrics.inputs import check_tables
from tssynth.metrics.privacy import (
    PrivacyReport,
    PrivacyVerdict,
    check_budget,
    privacy_report,
    privacy_verdict,
)
from tssynth.metrics.utility import (
    CLASSIFICATION,
    UnusableSyntheticTarget,
    UtilityReport,
    utility_report,
)

SECTIONS = ("fidelity", "utility", "privacy", "temporal")
TABLE, WINDOWS, PANEL = "table", "windows", "panel"
_FOLDS = 5  # a split without holdout tests on one part in five
_MIN_IDENTIFIER_ROWS = 20  # fewer rows are distinct by chance too often to call a column an ID


@dataclass
class TemporalReport:
    """TimeGAN discriminative and predictive scores of synthetic windows.

    Attributes
    ----------
    discriminative : float
        ``|accuracy - 0.5|`` of a GRU telling real from synthetic windows (0 is ideal).
    predictive : float
        Mean absolute error on real windows of a GRU trained on synthetic ones
        (NaN for a single feature: it predicts the last feature from the others).
    overall : float
        ``1 - 2 * discriminative``: 1 when the classifier cannot tell them apart.
    n_real, n_synthetic : int
        Windows used.
    window : int
        Steps per window.
    """

    discriminative: float
    predictive: float
    overall: float
    n_real: int
    n_synthetic: int
    window: int

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {
            "overall": self.overall,
            "discriminative": self.discriminative,
            "predictive": self.predictive,
            "n_real": self.n_real,
            "n_synthetic": self.n_synthetic,
            "window": self.window,
        }


@dataclass
class EvaluationResult:
    """What :func:`evaluate` found; ``None`` for a section that was not computed or failed.

    Attributes
    ----------
    fidelity : FidelityReport or None
    utility : UtilityReport or None
    privacy : PrivacyReport or None
        Its ``verdict`` holds the release verdict (pass or warn, with reasons).
    temporal : TemporalReport or None
    kind : {"table", "windows", "panel"}
    notes : list of str
        Why a section was skipped or failed, subsampling, and similar remarks.
    errors : dict of str
        The sections that failed (section name: ``"ExceptionType: message"``);
        empty when every chosen section was computed.
    """

    fidelity: FidelityReport | None = None
    utility: UtilityReport | None = None
    privacy: PrivacyReport | None = None
    temporal: TemporalReport | None = None
    kind: str = TABLE
    notes: list[str] = field(default_factory=list)
    # What the HTML report plots (not part of to_dict).
    real: Any = field(default=None, repr=False)
    synthetic: Any = field(default=None, repr=False)
    real_windows: np.ndarray | None = field(default=None, repr=False)
    synthetic_windows: np.ndarray | None = field(default=None, repr=False)
    loss_history: pd.DataFrame | None = field(default=None, repr=False)
    discrete_columns: Any = field(default=None, repr=False)
    errors: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Nested plain data: the four sections, ``notes`` and ``errors``.

        Each section (``fidelity``, ``utility``, ``privacy``, ``temporal``) is a
        dict with an ``overall`` score where one makes sense, or ``None`` when it
        was not computed (``errors`` says which sections failed, and why).
        """
        out: dict[str, Any] = {
            name: (None if getattr(self, name) is None else getattr(self, name).to_dict())
            for name in SECTIONS
        }
        out["notes"] = list(self.notes)
        out["errors"] = dict(self.errors)
        return out

    def to_frame(self) -> pd.DataFrame:
        """Every result as one row: ``section``, ``metric`` (dotted path), ``value``, ``text``.

        Numbers are in the float ``value`` column; text results (the task, the privacy
        verdict's ``verdict.status`` and one ``verdict.reasons.<i>`` row per reason, a
        failed section's ``error``) in the string ``text`` column, so the frame
        writes to Parquet as well as CSV.
        """
        rows = []
        for section in SECTIONS:
            part = getattr(self, section)
            if part is not None:
                rows.extend((section, name, value) for name, value in _flatten(part.to_dict()))
        verdict = None if self.privacy is None else self.privacy.verdict
        if verdict is not None:
            rows.extend(
                ("privacy", f"verdict.reasons.{i}", reason)
                for i, reason in enumerate(verdict.reasons)
            )
        rows.extend((section, "error", message) for section, message in self.errors.items())
        numbers = [isinstance(value, (int, float, np.number, np.bool_)) for _, _, value in rows]
        values = [float(v) if n else np.nan for (_, _, v), n in zip(rows, numbers, strict=True)]
        texts = [
            None if n or v is None else str(v) for (_, _, v), n in zip(rows, numbers, strict=True)
        ]
        frame = pd.DataFrame(rows, columns=["section", "metric", "value"])
        frame["value"] = np.asarray(values, dtype=np.float64)
        frame["text"] = pd.array(texts, dtype="string")
        return frame

    def save_html(self, path: str | Path, *, title: str = "tssynth evaluation") -> Path:
        """Write one self-contained HTML report (numbers, tables, embedded plots).

        Plots need matplotlib (the ``plot`` extra); without it the report holds
        the numbers and a note.

        Returns
        -------
        Path
        """
        from tssynth.metrics.report import write_html

        return write_html(self, path, title=title)


def _flatten(data: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, f"{name}.")
        elif isinstance(value, list):
            continue
        else:
            yield name, value


# --------------------------------------------------------------------------- inputs


def _as_table(data: Any, what: str) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        frame = data
    else:
        array = np.asarray(data)
        if array.ndim != 2:
            raise InvalidDataError(
                f"{what} must be a DataFrame, a 2-D array or an (n, T, d) array, got shape "
                f"{array.shape}."
            )
        frame = pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])
    return frame


def _padded_sequences(data: Any, what: str) -> Any:
    """A list of sequences of different lengths (a DVAE's array input) as NaN-padded
    ``(n, T, d)`` windows; anything else as it is."""
    if not is_ragged(data):
        return data
    padded = pad_ragged(data, what)
    if not isinstance(padded, np.ndarray):
        raise InvalidDataError(
            f"{what} is a list of sequences of different lengths that are not arrays of "
            "numbers; pass (T_i, d) arrays, a NaN-padded (n, T, d) array, or a long DataFrame."
        )
    return padded if padded.ndim == 3 else padded[:, :, None]


def _windows_array(data: Any, what: str) -> np.ndarray:
    array = np.asarray(data)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise InvalidDataError(f"{what} must be an (n, T, d) array, got shape {array.shape}.")
    try:
        array = array.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(f"{what} must hold numbers: {exc}") from exc
    if np.isinf(array).any():
        raise InvalidDataError(
            f"The {what} windows have infinite values; replace them before evaluating."
        )
    return array


def _is_windows(data: Any) -> bool:
    return isinstance(data, np.ndarray) and data.ndim == 3


def _without(columns: list[Hashable], *frames: pd.DataFrame | None) -> list[pd.DataFrame | None]:
    """``frames`` without ``columns`` (a frame not given stays None)."""
    return [None if frame is None else frame.drop(columns=columns) for frame in frames]


def _steps_beside_times(
    real: pd.DataFrame, synthetic: pd.DataFrame, key: Hashable, index: Hashable
) -> bool:
    """Whether a synthetic time column holds step numbers (DenseVAE windows) where the
    real one holds times: plain numbers beside datetimes or timedeltas, or each
    entity's steps counted 0, 1, 2, ... beside real times that are not."""
    real_times, synthetic_times = real[index], synthetic[index]
    numbers = pd.api.types.is_numeric_dtype(synthetic_times) and not (
        pd.api.types.is_bool_dtype(synthetic_times)
    )
    if pd.api.types.is_datetime64_any_dtype(real_times) or pd.api.types.is_timedelta64_dtype(
        real_times
    ):
        return numbers
    return numbers and _counts_steps(synthetic, key, index) and not _counts_steps(real, key, index)


def _counts_steps(frame: pd.DataFrame, key: Hashable, index: Hashable) -> bool:
    """Whether ``index`` numbers each entity's rows 0, 1, 2, ... in their order."""
    column = frame[index]
    if not pd.api.types.is_numeric_dtype(column) or column.isna().any():
        return False
    steps = frame.groupby(key, sort=False, dropna=False).cumcount().to_numpy()
    return bool(np.array_equal(column.to_numpy(dtype=np.float64), steps))


_LABEL_OBJECTS = frozenset({"string", "bytes", "mixed", "mixed-integer"})


def _identifier_columns(real: pd.DataFrame, synthesizer: Any) -> list[Hashable]:
    """Columns that label rows rather than measure them.

    The synthesizer's declared identifiers, and in a table of 20 rows or more the
    columns holding a distinct value on every row that are labels by nature: text
    or categories, or whole numbers that number the rows, as few as twice the rows
    in their range (:func:`_numbers_rows`).

    Copies of rows are looked for on the other columns: samples number identifiers
    afresh, so a copied row with a fresh ID would not count as a copy.
    """
    declared = getattr(synthesizer, "identifiers_", None) or {}
    names = [c["name"] for c in declared.get("columns", []) if c["name"] in real.columns]
    if len(real) < _MIN_IDENTIFIER_ROWS:
        return names
    for name in real.columns:
        column = real[name]
        kind = column.dtype
        text = pd.api.types.is_string_dtype(kind) or isinstance(kind, pd.CategoricalDtype)
        if pd.api.types.is_object_dtype(kind):  # labels, not dates or numbers (Decimals)
            text = pd.api.types.infer_dtype(column, skipna=True) in _LABEL_OBJECTS
        integers = pd.api.types.is_integer_dtype(kind)
        if name in names or not (text or integers) or pd.api.types.is_bool_dtype(kind):
            continue
        if column.notna().all() and column.nunique() == len(column):
            if text or _numbers_rows(column):
                names.append(name)
    return names


def _numbers_rows(column: pd.Series) -> bool:
    """Whether distinct whole numbers are a numbering (row, customer numbers), not amounts.

    Their range holds fewer than twice as many integers as there are values. A
    measurement drawn from such a narrow range would repeat a value (n draws from
    2n integers are all distinct with probability about ``exp(-n / 4)``), while
    measured amounts (incomes, energy) spread over a range far wider than their
    count, and stay in the privacy scores.
    """
    values = column.to_numpy(dtype=np.float64)
    return bool(np.ptp(values) < 2 * len(values))


def _informative_columns(frame: pd.DataFrame, sequence_index: Hashable | None) -> list[Hashable]:
    """The columns of ``frame`` that can tell one row from another: those holding two
    values or more (missing counts as one), other than the panel's time index."""
    return [name for name in frame.columns if name != sequence_index and _varies(frame[name])]


def _varies(column: pd.Series) -> bool:
    try:
        return column.nunique(dropna=False) > 1
    except TypeError:  # unhashable values (lists): the input checks name them later
        return True


def _blind_privacy(
    kept: pd.DataFrame,
    identifiers: list[Hashable],
    sequence_key: Hashable | None,
    sequence_index: Hashable | None,
) -> str | None:
    """Why privacy scores on ``kept`` (the columns besides the identifiers and a panel's
    sequence key) cannot tell a copied row from a new one, or None when they can."""
    if _informative_columns(kept, sequence_index):
        return None
    left_out = [] if sequence_key is None else [f"the sequence key {sequence_key!r}"]
    if identifiers:
        left_out.append(f"the identifiers {identifiers}")
    if kept.shape[1] == 0:
        basis = "every column is left out: " + " and ".join(left_out)
    elif list(kept.columns) == [sequence_index]:
        basis = f"only the time index {sequence_index!r} is compared"
        basis += f", {' and '.join(left_out)} left out" if left_out else ""
    else:
        basis = f"the columns compared, {list(kept.columns)}, hold one value each"
    advice = (
        " (an integer measurement taken for an identifier is compared when given as floats)"
        if identifiers
        else ""
    )
    return (
        f"no column tells one row from another ({basis}), so a copy of the training rows "
        "would score like new data: the privacy checks cannot pass and no overall score is "
        f"given{advice}"
    )


def _withhold_pass(verdict: PrivacyVerdict, reason: str) -> PrivacyVerdict:
    """``verdict`` turned to a warning with ``reason`` first; its passed checks become
    ``"fine: ..."`` notes, as :func:`privacy_verdict` writes them."""
    if verdict.status == "warn":
        reasons, notes = [reason, *verdict.reasons], list(verdict.notes)
    else:
        reasons = [reason]
        notes = [f"fine: {text}" for text in verdict.reasons] + verdict.notes
    return replace(verdict, status="warn", reasons=reasons, notes=notes)


def _unscored_identifiers(
    real: pd.DataFrame, identifiers: list[Hashable], synthesizer: Any
) -> list[Hashable]:
    """The identifier columns that fidelity leaves out: those declared to the synthesizer
    (its samples number them afresh) and labels (text, categories) with a distinct value
    on every real row, whose shapes and pairs say nothing as categories. Integer columns
    found distinct per row stay: as numbers their shape is still a distribution."""
    declared = getattr(synthesizer, "identifiers_", None) or {}
    named = {c["name"] for c in declared.get("columns", [])}
    return [
        name
        for name in identifiers
        if name in named or not pd.api.types.is_integer_dtype(real[name].dtype)
    ]


def _check_both_windows(given: dict[str, Any]) -> None:
    """A table beside windows is a mix-up (a long CSV of windows read back): say so."""
    for what, data in given.items():
        if isinstance(data, pd.DataFrame):
            windows = [name for name, other in given.items() if _is_windows(other)]
            raise InvalidDataError(
                f"{' and '.join(windows)} {'is an array' if len(windows) == 1 else 'are arrays'}"
                f" of windows (n, T, d), but {what} is a table with columns "
                f"{list(data.columns)[:6]}; pass windows for all (on the command line "
                "`tssynth sample ... -o synthetic.npy` writes them), or all as long tables "
                "with sequence_key and sequence_index."
            )


def _pad_steps(windows: np.ndarray, width: int) -> np.ndarray:
    """NaN-padded sequences widened to ``width`` steps."""
    n, t, d = windows.shape
    return np.concatenate([windows, np.full((n, width - t, d), np.nan)], axis=1)


def _flat_windows(windows: np.ndarray) -> pd.DataFrame:
    """Each window as one row of T*d values (for privacy distances)."""
    n, t, d = windows.shape
    names = [f"t{s}_x{i}" for s in range(t) for i in range(d)]
    return pd.DataFrame(windows.reshape(n, t * d), columns=names)


def panel_windows(
    frame: pd.DataFrame,
    sequence_key: Hashable,
    sequence_index: Hashable | None,
    window: int,
    columns: list[Hashable],
    reference: pd.DataFrame | None = None,
    what: str = "panel",
) -> np.ndarray:
    """Cut every sequence of a long panel into non-overlapping windows of ``window`` steps.

    Parameters
    ----------
    frame : DataFrame
        One row per time step.
    sequence_key, sequence_index : column labels
        The entity column and the (optional) ordering column.
    window : int
    columns : list of column labels
        The continuous columns that make the features.
    reference : DataFrame, optional
        Where the column specs come from (the real data); default ``frame``.
    what : str, default="panel"
        The panel's name in error messages.

    Returns
    -------
    ndarray of shape (n_windows, window, len(columns)); windows with a missing
    value are left out, and so are the last steps that do not fill a window.

    Raises
    ------
    InvalidDataError
        A missing key or time, or a (key, time) pair that occurs twice.
    """
    steps = _panel_steps(frame, sequence_key, sequence_index, columns, reference, what)
    return _complete(_cut_windows(*steps, window))


def _panel_steps(
    frame: pd.DataFrame,
    sequence_key: Hashable,
    sequence_index: Hashable | None,
    columns: list[Hashable],
    reference: pd.DataFrame | None,
    what: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A long panel's values in time order (rows, len(columns)), each row's position in
    its sequence and its sequence's length (validated as in :func:`panel_windows`)."""
    specs = {s.name: s for s in infer_schema(reference if reference is not None else frame)}
    index = index_long_frame(frame, sequence_key, sequence_index, what)
    ordered = frame.iloc[index.order]
    values = np.column_stack([column_as_float(ordered[c], specs[c], what) for c in columns])
    return values.astype(np.float64), index.positions, index.lengths[index.codes]


def _cut_windows(
    values: np.ndarray, positions: np.ndarray, lengths: np.ndarray, window: int
) -> np.ndarray:
    """Every whole window of ``window`` steps, those holding a missing value too."""
    keep = positions < (lengths // window) * window
    return values[keep].reshape(-1, window, values.shape[1])


def _complete(windows: np.ndarray) -> np.ndarray:
    return windows[~np.isnan(windows).any(axis=(1, 2))]


def _panel_window_length(
    real: pd.DataFrame, synthetic: pd.DataFrame, sequence_key: Hashable
) -> int:
    """The shorter of the two panels' median sequence lengths, in [2, 24]: windows both
    can fill (DenseVAE samples are windows of their own length)."""
    medians = [float(f.groupby(sequence_key).size().median()) for f in (real, synthetic)]
    return max(2, min(24, int(min(medians))))


# --------------------------------------------------------------------------- sections


def _utility(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame | None,
    target: Any,
    task: str,
    discrete_columns: Any,
    random_state: int | None,
    n_threads: int | None,
    notes: list[str],
    groups: pd.Series | None = None,
) -> UtilityReport:
    """TSTR against TRTR; without a holdout the real rows are split 80/20 (by the
    entities in ``groups``, a panel's sequence key, when given)."""
    train, test = real, holdout
    if holdout is None:
        kind = task
        if kind == "auto":
            spec = {s.name: s for s in infer_schema(real, discrete_columns)}[target]
            kind = CLASSIFICATION if spec.kind != CONTINUOUS else "regression"
        labels = real[target].astype(object).where(real[target].notna(), "__missing__")
        classes = labels if kind == CLASSIFICATION else None
        codes = None if groups is None else pd.factorize(groups, use_na_sentinel=False)[0]
        if codes is not None and codes.max() >= 1:
            train_rows, test_rows = _entity_split(codes, classes, random_state)
            train, test = real.iloc[train_rows], real.iloc[test_rows]
            notes.append(
                f"Utility: no holdout given, so the real sequences were split 80/20 by "
                f"{groups.name!r} (each entity's rows on one side) and the models are tested "
                "on the 20 %: the real model meets new entities, as the synthetic one does, "
                "but the synthesizer probably saw those entities, so the synthetic score is "
                "optimistic. Pass holdout= (real sequences kept out of training) for a fair "
                "test."
            )
        else:
            counts = labels.value_counts()
            # stratified when every class can sit on both sides: 30 classes of 2 rows in 60
            # rows cannot fit a test part of 12
            fits = counts.min() >= 2 and len(counts) <= np.ceil(0.2 * len(real))  # test rows
            train, test = train_test_split(
                real,
                test_size=0.2,
                random_state=random_state,
                stratify=classes if fits else None,
            )
            notes.append(
                "Utility: no holdout given, so the real data was split 80/20 and the models "
                "are tested on the 20 %; the synthesizer probably saw those rows, so the "
                "synthetic score is optimistic. Pass holdout= (real rows kept out of training) "
                "for a fair test."
            )
    return utility_report(
        train,
        synthetic,
        test,
        target,
        task=task,
        discrete_columns=discrete_columns,
        random_state=random_state,
        n_threads=n_threads,
    )


def _entity_split(
    codes: np.ndarray, classes: pd.Series | None, random_state: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row positions, about 80/20 of the entities (``codes``, 0..k-1).

    Stratified by ``classes`` when every class is in enough entities to sit on both
    sides: in at least 5 (one per fold) and no more classes than test entities.
    """
    n_entities = int(codes.max()) + 1
    if classes is not None:
        per_class = pd.Series(codes).groupby(classes.to_numpy()).nunique()
        if per_class.min() >= _FOLDS and len(per_class) <= np.ceil(n_entities / _FOLDS):
            folds = StratifiedGroupKFold(_FOLDS, shuffle=True, random_state=random_state)
            return next(folds.split(codes, classes.to_numpy(), groups=codes))
    split = GroupShuffleSplit(n_splits=1, test_size=1 / _FOLDS, random_state=random_state)
    return next(split.split(codes, groups=codes))


def _temporal(
    real: np.ndarray,
    synthetic: np.ndarray,
    discriminative_steps: int,
    predictive_steps: int,
    random_state: int | None,
    device: str,
) -> TemporalReport:
    # Imported here: the temporal metrics live in their own module.
    from tssynth.metrics.temporal import discriminative_score, predictive_score

    discriminative = discriminative_score(
        real, synthetic, steps=discriminative_steps, random_state=random_state, device=device
    )
    predictive = float("nan")  # it predicts the last feature from the others
    if real.shape[2] >= 2:
        predictive = predictive_score(
            real, synthetic, steps=predictive_steps, random_state=random_state, device=device
        )
    return TemporalReport(
        discriminative=float(discriminative),
        predictive=float(predictive),
        overall=float(1.0 - 2.0 * discriminative),
        n_real=len(real),
        n_synthetic=len(synthetic),
        window=real.shape[1],
    )


@contextmanager
def _torch_threads(n_threads: int | None) -> Iterator[None]:
    """Cap torch's intra-op threads for a block, then restore them."""
    if n_threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(check_int("n_threads", n_threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_metrics(metrics: Iterable[str]) -> set[str]:
    if isinstance(metrics, str):
        metrics = [metrics]
    chosen = set(metrics)
    unknown = chosen - set(SECTIONS)
    if unknown:
        raise InvalidParameterError(
            f"metrics must be a subset of {list(SECTIONS)}, got unknown {sorted(unknown)}."
        )
    return chosen


def _check_inputs(
    chosen: set[str],
    tables: tuple[tuple[str, pd.DataFrame | None], ...],
    discrete_columns: Any,
    flat_windows: pd.DataFrame | None,
    privacy_max_rows: int | None,
    n_threads: int | None,
    discriminative_steps: int,
    predictive_steps: int,
) -> None:
    """What the sections would reject, checked before any of them runs."""
    for what, frame in tables:
        if frame is not None:
            check_frame(frame, what=what)
    real = tables[0][1]
    if chosen & {"fidelity", "utility"} or ("privacy" in chosen and flat_windows is None):
        infer_schema(real, discrete_columns)  # dtypes and discrete_columns
    if "privacy" in chosen and flat_windows is not None:
        infer_schema(flat_windows)
    if "privacy" in chosen and privacy_max_rows is not None:
        check_int("privacy_max_rows", privacy_max_rows)
    if n_threads is not None:
        check_int("n_threads", n_threads)
    if "temporal" in chosen:
        check_int("discriminative_steps", discriminative_steps)
        check_int("predictive_steps", predictive_steps)


def evaluate(
    real: Any,
    synthetic: Any,
    *,
    holdout: Any = None,
    target: Hashable | None = None,
    task: str = "auto",
    discrete_columns: Iterable[Hashable] | None = None,
    sequence_key: Hashable | None = None,
    sequence_index: Hashable | None = None,
    window: int | None = None,
    synthesizer: Any = None,
    metrics: Iterable[str] = SECTIONS,
    privacy_max_rows: int | None = 10_000,
    discriminative_steps: int = 2000,
    predictive_steps: int = 5000,
    n_threads: int | None = None,
    random_state: int | None = 0,
    device: str = "cpu",
    verbose: bool = False,
    epsilon: float | None = None,
    delta: float | None = None,
) -> EvaluationResult:
    """Evaluate synthetic data against the real data it imitates.

    Parameters
    ----------
    real : DataFrame, 2-D array or (n, T, d) array
        The real data the synthesizer was trained on. An (n, T, d) array may
        hold NaN-padded sequences of several lengths (as ``DVAESynthesizer``
        takes and gives them): the temporal scores then cut them into windows
        like a panel, and the arrays may differ in T.
    synthetic : same kind as ``real``
    holdout : same kind as ``real``, optional
        Real data kept out of training: the test set of the utility scores and
        the baseline of the privacy scores.
    target : column label, optional
        The column to predict for the utility scores (tables and panels).
    task : {"auto", "classification", "regression"}, default="auto"
    discrete_columns : list of column labels, optional
        Columns to treat as categorical whatever their dtype.
    sequence_key, sequence_index : column labels, optional
        For a long panel: the entity column and the time column. Without a
        holdout, utility splits the real rows by entity.
    window : int, optional
        Steps per window cut from panel (or NaN-padded) sequences for the
        temporal scores (default: the shorter of the two panels' median sequence
        lengths, at most 24, halved while a missing value spoils most windows; a
        panel's windows that hold a missing value are left out).
    synthesizer : fitted synthesizer, optional
        Its loss curves go into the HTML report, and its ``epsilon_`` and
        ``delta_`` (when trained with differential privacy) into the privacy
        verdict unless ``epsilon`` or ``delta`` is given.
    metrics : iterable of str, default=all
        Which of ``"fidelity"``, ``"utility"``, ``"privacy"``, ``"temporal"`` to compute.
    privacy_max_rows : int or None, default=10_000
        Most query rows of the privacy distances (see :func:`privacy_report`).
    discriminative_steps, predictive_steps : int
        Training steps of the temporal scores (TimeGAN protocol: 2000 and 5000).
    n_threads : int, optional
        Cap on the threads of the utility models and of the temporal scores'
        GRUs (restored afterwards). On a busy machine ``n_threads=1`` can be
        much faster than the default (all cores).
    random_state : int or None, default=0
    device : str, default="cpu"
        Where the temporal scores' GRUs train.
    verbose : bool, default=False
        Show a progress bar over the sections.
    epsilon, delta : float, optional
        The differential-privacy budget the synthetic data's generator was
        trained with; named in the privacy verdict (see
        :func:`~tssynth.metrics.privacy_verdict`).

    Returns
    -------
    EvaluationResult
        With ``to_dict()``, ``to_frame()`` and ``save_html(path)``; the privacy
        verdict is ``result.privacy.verdict``.

    Raises
    ------
    InvalidDataError, InvalidParameterError
        For invalid input: arguments and the tables' shape, columns and dtypes
        are checked before any section runs; a problem only a section can find
        (datetimes given as plain numbers) is raised by that section, except the
        synthetic target's (a single class), recorded as below.

    Notes
    -----
    A section that fails on data that passed the checks (a synthetic target of a
    single class, a ``MemoryError`` on a very large table) does not lose the
    others: it stays ``None``, its error (``"ExceptionType: message"``) goes into
    ``result.errors[section]`` and a note, a ``RuntimeWarning`` is issued, and the
    remaining sections are computed and returned as usual.
    """
    chosen = _check_metrics(metrics)
    if task not in ("auto", "classification", "regression"):
        raise InvalidParameterError(
            f"task must be 'auto', 'classification' or 'regression', got {task!r}."
        )
    result = EvaluationResult(discrete_columns=discrete_columns)
    notes = result.notes
    if epsilon is None and delta is None:  # the synthesizer's own budget, if it has one
        epsilon = getattr(synthesizer, "epsilon_", None)
        delta = getattr(synthesizer, "delta_", None)
    epsilon, delta = check_budget(epsilon, delta)
    history = getattr(synthesizer, "loss_history_", None)
    # a generator file trained with DP carries no loss history (an empty frame)
    result.loss_history = history if isinstance(history, pd.DataFrame) and len(history) else None

    real, synthetic = _padded_sequences(real, "real"), _padded_sequences(synthetic, "synthetic")
    holdout = _padded_sequences(holdout, "holdout")
    blind: str | None = None  # why the privacy scores cannot judge memorisation
    groups: pd.Series | None = None  # a panel's entity of each real row
    if _is_windows(real) or _is_windows(synthetic):
        result.kind = WINDOWS
        _check_both_windows({"real": real, "synthetic": synthetic, "holdout": holdout})
        real_w, synth_w = _windows_array(real, "real"), _windows_array(synthetic, "synthetic")
        hold_w = None if holdout is None else _windows_array(holdout, "holdout")
        given = {"real": real_w, "synthetic": synth_w, "holdout": hold_w}
        arrays = [w for w in given.values() if w is not None]
        # Sequences of several lengths: NaN-padded (what DVAESynthesizer gives for arrays),
        # or arrays of different T (samples of another sequence_length).
        ragged = len({w.shape[1] for w in arrays}) > 1 or any(
            (padded_lengths(w) < w.shape[1]).any() for w in arrays
        )
        if len({w.shape[2:] for w in arrays}) > 1:
            shapes = ", ".join(
                f"{name} {w.shape[1:]}" for name, w in given.items() if w is not None
            )
            raise InvalidDataError(
                f"The windows differ in their channels d (shapes (T, d): {shapes}); pass "
                "windows of the same channels."
            )
        if ragged:
            width = max(w.shape[1] for w in arrays)
            real_w, synth_w, hold_w = (
                None if w is None else _pad_steps(w, width) for w in (real_w, synth_w, hold_w)
            )
        # One row per step (NaN padding left out); per-feature values for fidelity.
        real_long, synth_long = long_frame(real_w), long_frame(synth_w)
        real_t, synth_t = (f.drop(columns=["sequence", "step"]) for f in (real_long, synth_long))
        real_f, synth_f = real_t, synth_t
        real_p, synth_p = _flat_windows(real_w), _flat_windows(synth_w)
        hold_p = None if hold_w is None else _flat_windows(hold_w)
        if ragged and "temporal" in chosen:
            _panel_temporal_inputs(result, real_long, synth_long, "sequence", "step", window, None)
        else:
            result.real_windows, result.synthetic_windows = real_w, synth_w
        if target is not None:
            notes.append("Utility is not computed for windows: target is ignored.")
            chosen.discard("utility")
        hold_t = None
    else:
        real_t, synth_t = _as_table(real, "real"), _as_table(synthetic, "synthetic")
        hold_t = None if holdout is None else _as_table(holdout, "holdout")
        given = {"real": real_t, "synthetic": synth_t}
        check_tables(given if hold_t is None else {**given, "holdout": hold_t})
        if sequence_key is not None:
            result.kind = PANEL
            for name, label in (("sequence_key", sequence_key), ("sequence_index", sequence_index)):
                if label is not None and label not in real_t.columns:
                    raise InvalidParameterError(
                        f"{name} {label!r} is not a column of the real data; its columns are "
                        f"{list(real_t.columns)}."
                    )
            drop = [sequence_key]
            if sequence_index is not None and _steps_beside_times(
                real_t, synth_t, sequence_key, sequence_index
            ):
                drop.append(sequence_index)
                notes.append(
                    f"The synthetic {sequence_index!r} holds step numbers where the real one "
                    "holds times (DenseVAE windows): it orders the steps only and is left out "
                    "of the fidelity and privacy scores."
                )
            groups = real_t[sequence_key]  # utility splits by entity
            real_t, synth_t, hold_t = _without(drop, real_t, synth_t, hold_t)
            if "temporal" in chosen:
                _panel_temporal_inputs(
                    result, real, synthetic, sequence_key, sequence_index, window, discrete_columns
                )
        elif "temporal" in chosen:
            notes.append(
                "Temporal scores need windows ((n, T, d) arrays) or sequence_key=; not computed."
            )
            chosen.discard("temporal")
        real_p, synth_p, hold_p = real_t, synth_t, hold_t
        real_f, synth_f = real_t, synth_t
        identifiers = [  # a panel's time index is compared, whatever its values
            name for name in _identifier_columns(real_t, synthesizer) if name != sequence_index
        ]
        kept = [name for name in real_t.columns if name not in identifiers]
        blind = _blind_privacy(real_t[kept], identifiers, sequence_key, sequence_index)
        if identifiers and kept:  # identifiers only: nothing else to compare
            notes.append(
                f"Privacy scores leave out the identifier columns {identifiers} (declared to "
                "the synthesizer, or labels distinct on every row: text, categories, or whole "
                "numbers that number the rows): fresh IDs would hide copied rows."
            )
            real_p, synth_p, hold_p = _without(identifiers, real_p, synth_p, hold_p)
            unscored = _unscored_identifiers(real_t, identifiers, synthesizer)
            if unscored and "fidelity" in chosen:
                notes.append(
                    f"Fidelity leaves out the identifier columns {unscored}: their values are "
                    "numbered afresh or distinct on every row, so they match nothing by design."
                )
                real_f, synth_f = _without(unscored, real_t, synth_t)
        if blind is not None and "privacy" in chosen:
            notes.append(f"Privacy: {blind}.")
    result.real, result.synthetic = real_t, synth_t
    if target is not None and "utility" in chosen and target not in real_t.columns:
        raise InvalidParameterError(
            f"target {target!r} is not a column of the real data; its columns are "
            f"{list(real_t.columns)}."
        )
    if target is None and "utility" in chosen:
        notes.append("Utility needs target=: not computed.")
        chosen.discard("utility")

    _check_inputs(
        chosen,
        (("real", real_t), ("synthetic", synth_t), ("holdout", hold_t)),
        discrete_columns,
        real_p if result.kind == WINDOWS else None,
        privacy_max_rows,
        n_threads,
        discriminative_steps,
        predictive_steps,
    )

    steps = [name for name in SECTIONS if name in chosen]
    for name in tqdm(steps, desc="evaluate", disable=not verbose, unit="section"):
        try:
            if name == "fidelity":
                result.fidelity = fidelity_report(real_f, synth_f, discrete_columns)
            elif name == "utility":
                result.utility = _utility(
                    real_t,
                    synth_t,
                    hold_t,
                    target,
                    task,
                    discrete_columns,
                    random_state,
                    n_threads,
                    notes,
                    groups,
                )
            elif name == "privacy":
                privacy = privacy_report(
                    real_p,
                    synth_p,
                    hold_p,
                    discrete_columns=None if result.kind == WINDOWS else discrete_columns,
                    max_rows=privacy_max_rows,
                    random_state=random_state,
                )
                privacy.verdict = privacy_verdict(privacy, epsilon=epsilon, delta=delta)
                if blind is not None:  # the scores say nothing: no pass, no headline score
                    privacy.overall = float("nan")
                    privacy.notes.append(f"{blind[0].upper()}{blind[1:]}.")
                    privacy.verdict = _withhold_pass(privacy.verdict, blind)
                result.privacy = privacy
            elif name == "temporal" and result.real_windows is not None:
                with _torch_threads(n_threads):
                    result.temporal = _temporal(
                        result.real_windows,
                        result.synthetic_windows,
                        discriminative_steps,
                        predictive_steps,
                        random_state,
                        device,
                    )
                if result.real_windows.shape[2] < 2:
                    notes.append(
                        "The temporal predictive score needs at least 2 features (channels) "
                        "(it predicts the last from the others); not computed."
                    )
        except UnusableSyntheticTarget as exc:  # a weak (private) sample: the others stand
            _record_failure(result, notes, name, exc)
        except (InvalidDataError, InvalidParameterError):
            raise  # the input is wrong: every section would need it fixed
        except Exception as exc:  # e.g. MemoryError on a huge table: keep the other sections
            _record_failure(result, notes, name, exc)
    return result


def _record_failure(
    result: EvaluationResult, notes: list[str], name: str, exc: BaseException
) -> None:
    """Leave section ``name`` out, with its error in ``result.errors``, a note and a warning."""
    message = f"{type(exc).__name__}: {exc}"
    result.errors[name] = message
    notes.append(f"The {name} section failed and is not computed ({message}).")
    warnings.warn(
        f"evaluate: the {name} section failed ({message}); the other sections are still computed.",
        RuntimeWarning,
        stacklevel=caller_stacklevel(),
    )


def _panel_temporal_inputs(
    result: EvaluationResult,
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    sequence_key: Hashable,
    sequence_index: Hashable | None,
    window: int | None,
    discrete_columns: Any,
) -> None:
    """Cut real and synthetic panels into windows of their continuous columns."""
    skip = {sequence_key, sequence_index}
    specs = infer_schema(real, discrete_columns)
    columns = [s.name for s in specs if s.kind == CONTINUOUS and s.name not in skip]
    empty = [name for name in columns if real[name].isna().all()]
    if empty:
        columns = [name for name in columns if name not in empty]
        result.notes.append(f"Temporal scores leave out {empty}: no value in the real panel.")
    if not columns:
        result.notes.append("Temporal scores need continuous columns besides the key and index.")
        return
    default = window is None
    length = _panel_window_length(real, synthetic, sequence_key) if default else window
    first = length = check_int("window", length)
    real_steps, synth_steps = (
        _panel_steps(frame, sequence_key, sequence_index, columns, real, name)
        for frame, name in ((real, "real"), (synthetic, "synthetic"))
    )
    while True:
        real_all, synth_all = (_cut_windows(*steps, length) for steps in (real_steps, synth_steps))
        real_w, synth_w = _complete(real_all), _complete(synth_all)
        # A default length shortens while a missing value spoils most windows (a first
        # step without feed in every sequence): half-length windows miss it.
        spoiled = any(
            len(w) < max(2, len(a) / 2) for w, a in ((real_w, real_all), (synth_w, synth_all))
        )
        if not default or length == 2 or not spoiled:
            break
        length = max(2, length // 2)
    if length < first:
        result.notes.append(
            f"Temporal windows are {length} steps: in longer ones, most held a missing value."
        )
    if len(real_w) < 2 or len(synth_w) < 2:
        result.notes.append(
            f"Temporal scores need at least 2 complete windows of {length} steps (no value of "
            f"{columns} missing) in each panel; not computed."
        )
        return
    skipped = [s.name for s in specs if s.kind != CONTINUOUS and s.name not in skip]
    if skipped:
        result.notes.append(f"Temporal scores use the continuous columns only (not {skipped}).")
    result.real_windows, result.synthetic_windows = real_w, synth_w
