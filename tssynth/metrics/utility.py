"""Machine-learning utility: train on synthetic, test on real (TSTR) against train on real (TRTR).

A model is trained once on the real training rows and once on the synthetic rows
to predict a ``target`` column, and both are scored on the same real test rows
(a holdout the synthesizer never saw). Utility is the share of the real model's
score that the synthetic model keeps.

- classification (categorical target): ROC AUC (one-vs-rest, macro, for more than
  two classes) and accuracy; the headline metric is ROC AUC. With the default
  model a target of more than 20 classes keeps its 19 most frequent and merges
  the rest into one (a note says so), since the model grows a tree per class;
- regression (continuous target): R² and mean absolute error; the headline
  metric is R².

The default model is scikit-learn's ``HistGradientBoostingClassifier`` /
``HistGradientBoostingRegressor``: fast, handles missing values natively, and
takes categorical features as categories (columns with more than 255 levels are
given as ordinal codes). Rows whose target is missing are left out and counted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import accuracy_score, mean_absolute_error, r2_score, roc_auc_score
from threadpoolctl import threadpool_limits

from tssynth.data.schema import CATEGORICAL, ColumnSpec, free_name, infer_schema
from tssynth.exceptions import InvalidDataError, InvalidParameterError
from tssynth.metrics.fidelity import column_as_float
from tssynth.metrics.inputs import check_tables, conform_labels

CLASSIFICATION = "classification"
REGRESSION = "regression"
_MANY_CLASSES = ".*number of unique classes is greater than 50%"
_MAX_NATIVE_CATEGORIES = 255  # HistGradientBoosting's limit for categorical features
_MAX_CLASSES = 20  # the default classifier grows one tree per class and iteration


@dataclass
class UtilityReport:
    """TSTR against TRTR scores for one target column.

    Attributes
    ----------
    target : hashable
        The predicted column.
    task : {"classification", "regression"}
    primary_metric : str
        ``"roc_auc"`` or ``"r2"``.
    real : dict
        Scores of the model trained on real rows (TRTR).
    synthetic : dict
        Scores of the model trained on synthetic rows (TSTR).
    overall : float
        ``synthetic[primary] / real[primary]`` clipped to [0, 1]: 1 means the
        synthetic data trains models as good as the real data does.
    n_train, n_synthetic, n_test : int
        Rows used (after dropping rows with a missing target).
    notes : list of str
        Anything the reader should know (rows dropped, unseen classes, ...).
    """

    target: Any
    task: str
    primary_metric: str
    real: dict[str, float]
    synthetic: dict[str, float]
    overall: float
    n_train: int
    n_synthetic: int
    n_test: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Nested plain-data form."""
        return {
            "overall": self.overall,
            "target": self.target,
            "task": self.task,
            "primary_metric": self.primary_metric,
            "real": dict(self.real),
            "synthetic": dict(self.synthetic),
            "n_train": self.n_train,
            "n_synthetic": self.n_synthetic,
            "n_test": self.n_test,
            "notes": list(self.notes),
        }


class UnusableSyntheticTarget(InvalidDataError):
    """The synthetic rows' target cannot train a model (one class, all missing): a
    property of the sample, such as a weak private one, not of the input."""


def infer_task(real: pd.DataFrame, target: Any, discrete_columns: Any = None) -> str:
    """``"classification"`` for a categorical target, ``"regression"`` for a continuous one."""
    spec = {s.name: s for s in infer_schema(real, discrete_columns)}[target]
    return CLASSIFICATION if spec.kind == CATEGORICAL else REGRESSION


def _feature_matrices(
    specs: list[ColumnSpec], frames: dict[str, pd.DataFrame]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Float feature matrices for every frame, categories coded as in the first frame.

    Returns the matrices and a boolean mask of the columns to treat as categorical.
    """
    names = list(frames)
    reference = frames[names[0]]
    columns: dict[str, list[np.ndarray]] = {name: [] for name in names}
    categorical = []
    for spec in specs:
        if spec.kind == CATEGORICAL:
            levels = pd.Index(pd.unique(reference[spec.name].dropna().astype(object)))
            for name in names:
                codes = levels.get_indexer(frames[name][spec.name].astype(object)).astype(float)
                codes[codes < 0] = np.nan  # missing or unseen in the real training rows
                columns[name].append(codes)
            categorical.append(len(levels) <= _MAX_NATIVE_CATEGORIES)
        else:
            for name in names:
                columns[name].append(column_as_float(frames[name][spec.name], spec, name))
            categorical.append(False)
    matrices = {
        name: (
            np.column_stack(columns[name])
            if columns[name]
            else np.zeros((len(frames[name]), 0), dtype=float)
        )
        for name in names
    }
    return matrices, np.asarray(categorical, dtype=bool)


def _default_estimator(task: str, categorical: np.ndarray, random_state: int | None) -> Any:
    kwargs = {"categorical_features": categorical if categorical.any() else None}
    if task == CLASSIFICATION:
        return HistGradientBoostingClassifier(random_state=random_state, **kwargs)
    return HistGradientBoostingRegressor(random_state=random_state, **kwargs)


def _classification_scores(model: Any, X: np.ndarray, y: np.ndarray, labels: list[Any]) -> dict:
    """ROC AUC and accuracy, with the model's classes aligned to the real label set."""
    predicted = model.predict(X)
    proba = np.zeros((len(X), len(labels)))
    model_proba = model.predict_proba(X)
    position = {label: i for i, label in enumerate(labels)}
    for j, label in enumerate(model.classes_):
        if label in position:
            proba[:, position[label]] = model_proba[:, j]
    known = np.isin(y, labels)  # test classes unknown to the real rows cannot be ranked
    present = [label for label in labels if label in set(y[known])]
    if len(present) < 2:
        auc = float("nan")
    elif len(present) == 2:
        auc = float(roc_auc_score(y[known] == present[1], proba[known, position[present[1]]]))
    else:
        scores = proba[np.ix_(known, [position[label] for label in present])]
        totals = scores.sum(axis=1, keepdims=True)
        scores = np.divide(
            scores, totals, out=np.full_like(scores, 1 / len(present)), where=totals > 0
        )
        auc = float(roc_auc_score(y[known], scores, multi_class="ovr", labels=present))
    return {"roc_auc": auc, "accuracy": float(accuracy_score(y, predicted))}


def _whole_number_labels(targets: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Class labels that are whole numbers in every table, as ints: ``1.0`` (a column of
    0/1 with a missing value, read from CSV) and ``1`` are one class, not ``"1.0"`` and
    ``"1"``. Booleans and any other labels stay as they are."""
    converted = {}
    for what, y in targets.items():
        if pd.api.types.infer_dtype(y, skipna=True) == "boolean":
            return targets
        numbers = pd.to_numeric(pd.Series(y, dtype=object), errors="coerce").to_numpy(float)
        if np.isnan(numbers).any() or not np.all(numbers == np.round(numbers)):
            return targets
        if np.abs(numbers).max(initial=0.0) >= 2**53:  # not exact as floats
            return targets
        converted[what] = numbers.astype(np.int64).astype(object)
    return converted


def _merge_rare_classes(
    targets: dict[str, np.ndarray], limit: int
) -> tuple[dict[str, np.ndarray], str | None]:
    """Keep the ``limit - 1`` classes most frequent in the real rows, merge the rest into one.

    Returns the targets (as text) and a note, or the targets unchanged and None
    when there are at most ``limit`` classes.
    """
    classes, counts = np.unique(targets["real"].astype(str), return_counts=True)
    if len(classes) <= limit:
        return targets, None
    kept = classes[np.argsort(-counts, kind="stable")[: limit - 1]]
    other = free_name("(other)", classes)
    merged = {}
    for what, y in targets.items():
        text = y.astype(str)
        merged[what] = np.where(np.isin(text, kept), text, other).astype(object)
    share = float(np.mean(merged["real"] == other))
    note = (
        f"The target has {len(classes)} classes in the real rows; the default classifier "
        f"(one tree per class and iteration) keeps the {limit - 1} most frequent and merges "
        f"the other {len(classes) - limit + 1} ({share:.1%} of the real rows) into "
        f"{other!r}. Pass estimator= to score every class."
    )
    return merged, note


def _regression_scores(model: Any, X: np.ndarray, y: np.ndarray) -> dict:
    predicted = model.predict(X)
    return {"r2": float(r2_score(y, predicted)), "mae": float(mean_absolute_error(y, predicted))}


def _check_classes(spec: ColumnSpec, real: np.ndarray) -> None:
    """Refuse a continuous target of many fractional values as classes: each value would
    be a class of its own, and no synthetic value falls in any of them."""
    if spec.kind == CATEGORICAL:
        return
    values = pd.to_numeric(pd.Series(real), errors="coerce").dropna().to_numpy(dtype=float)
    distinct = np.unique(values).size
    if distinct > _MAX_CLASSES and not np.all(values == np.round(values)):
        raise InvalidParameterError(
            f"task='classification' with the continuous target {spec.name!r}, which takes "
            f"{distinct:,} distinct fractional values in {len(real):,} real rows: each would be "
            "a class of its own. Use task='regression', or bin the target into classes first."
        )


def _target_values(frame: pd.DataFrame, spec: ColumnSpec, task: str, what: str) -> np.ndarray:
    if task == CLASSIFICATION:
        return frame[spec.name].astype(object).to_numpy()
    if spec.kind == CATEGORICAL:
        try:
            return frame[spec.name].to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(
                f"task='regression' needs a numeric target, but column {spec.name!r} is not: {exc}"
            ) from exc
    return column_as_float(frame[spec.name], spec, what)


def _train_and_score(
    matrices: dict[str, np.ndarray],
    targets: dict[str, np.ndarray],
    categorical: np.ndarray,
    task: str,
    estimator: BaseEstimator | None,
    random_state: int | None,
    labels: list[Any],
    names: list[Any],
    notes: list[str],
) -> dict[str, dict[str, float]]:
    scores = {}
    for what in ("real", "synthetic"):
        # A feature without any value in the training rows (an identifier whose fresh
        # synthetic values are all unseen, an empty column) tells the model nothing,
        # and HistGradientBoosting cannot bin it.
        usable = ~np.isnan(matrices[what]).all(axis=0)
        if not usable.all():
            empty = [name for name, ok in zip(names, usable, strict=True) if not ok]
            notes.append(f"Features without any value in the {what} rows left out: {empty}.")
        train, test = matrices[what][:, usable], matrices["test"][:, usable]
        if not usable.any():  # no feature left: the model learns the target's prior
            train, test = np.zeros((len(train), 1)), np.zeros((len(test), 1))
        model = (
            clone(estimator)
            if estimator is not None
            else _default_estimator(task, categorical[usable], random_state)
        )
        y_train = targets[what]
        if task == CLASSIFICATION:
            y_train = y_train.astype(str)
        with warnings.catch_warnings():
            # "could represent a regression problem": many classes in few rows, which
            # the note below says without naming scikit-learn's internals
            warnings.filterwarnings("ignore", message=_MANY_CLASSES)
            model.fit(train, y_train)
        if task == CLASSIFICATION and what == "real" and len(labels) > 0.5 * len(y_train):
            note = (
                f"The target has {len(labels)} classes for {len(y_train)} {what} rows: scores "
                "rest on few rows per class."
            )
            notes.append(note)
        if task == CLASSIFICATION:
            scores[what] = _classification_scores(
                model, test, targets["test"].astype(str), [str(label) for label in labels]
            )
        else:
            scores[what] = _regression_scores(model, test, targets["test"])

    return scores


def utility_report(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    test: pd.DataFrame,
    target: Any,
    *,
    task: str = "auto",
    estimator: BaseEstimator | None = None,
    discrete_columns: Any = None,
    random_state: int | None = 0,
    n_threads: int | None = None,
) -> UtilityReport:
    """Train on synthetic and on real rows, test both on real rows the synthesizer never saw.

    Parameters
    ----------
    real : DataFrame
        The real training rows (the ones the synthesizer learned from).
    synthetic : DataFrame
        Synthetic rows with the same columns.
    test : DataFrame
        Real rows held out from the synthesizer's training.
    target : column label
        The column to predict.
    task : {"auto", "classification", "regression"}, default="auto"
        ``"auto"``: classification for a categorical target, regression otherwise.
    estimator : scikit-learn estimator, optional
        Cloned and fitted on each training set (features as float arrays,
        categorical columns as codes, missing values as NaN). Default:
        HistGradientBoosting with categorical support.
    discrete_columns : list of column labels, optional
        Columns to treat as categorical whatever their dtype.
    random_state : int or None, default=0
        Seed of the default estimator.
    n_threads : int, optional
        Cap on the OpenMP/BLAS threads of training and prediction. On a busy
        machine ``n_threads=1`` can be much faster than the default (all cores).

    Returns
    -------
    UtilityReport
    """
    frames = {"real": real, "synthetic": synthetic, "test": test}
    for what, frame in frames.items():
        if isinstance(frame, pd.DataFrame) and target not in frame.columns:
            raise InvalidParameterError(
                f"target {target!r} is not a column of the {what} data; its columns are "
                f"{list(frame.columns)}."
            )
    check_tables(frames)
    frames = conform_labels(frames, "real", discrete_columns)
    synthetic, test = frames["synthetic"], frames["test"]
    if task not in ("auto", CLASSIFICATION, REGRESSION):
        raise InvalidParameterError(
            f"task must be 'auto', 'classification' or 'regression', got {task!r}."
        )
    specs = infer_schema(real, discrete_columns)
    if task == "auto":
        task = infer_task(real, target, discrete_columns)
    target_spec = next(s for s in specs if s.name == target)
    features = [s for s in specs if s.name != target]

    notes: list[str] = []
    frames, targets = {}, {}
    for what, frame in (("real", real), ("synthetic", synthetic), ("test", test)):
        y = _target_values(frame, target_spec, task, what)
        keep = ~pd.isna(y)
        if not keep.all():
            notes.append(f"{int((~keep).sum())} {what} rows with a missing target left out.")
        frames[what], targets[what] = frame.loc[keep], y[keep]
        if not keep.any():
            error = UnusableSyntheticTarget if what == "synthetic" else InvalidDataError
            raise error(f"Every {what} row has a missing target {target!r}.")
    matrices, categorical = _feature_matrices(features, frames)

    if task == CLASSIFICATION:
        _check_classes(target_spec, targets["real"])
        targets = _whole_number_labels(targets)
        if estimator is None:
            targets, note = _merge_rare_classes(targets, _MAX_CLASSES)
            if note:
                notes.append(note)
        labels = sorted(pd.unique(targets["real"]), key=str)
        unseen = pd.Index(labels).get_indexer(targets["synthetic"]) < 0
        if unseen.any():
            notes.append(
                f"{int(unseen.sum())} synthetic rows have a target class absent from the real "
                "rows; left out."
            )
            matrices["synthetic"] = matrices["synthetic"][~unseen]
            targets["synthetic"] = targets["synthetic"][~unseen]
        untrained = pd.Index(labels).get_indexer(targets["test"]) < 0
        if untrained.any():
            notes.append(
                f"{int(untrained.sum())} test rows have a target class absent from the real "
                "rows: no model can predict it, so they count as errors in accuracy (and are "
                "left out of ROC AUC)."
            )
        for what in ("real", "synthetic"):
            classes = np.unique(targets[what].astype(str))
            if classes.size < 2:
                left_out = (
                    f" once the {int(unseen.sum())} rows of classes absent from the real rows "
                    "are left out"
                    if what == "synthetic" and unseen.any()
                    else ""
                )
                error = UnusableSyntheticTarget if what == "synthetic" else InvalidDataError
                raise error(
                    f"The {what} rows hold a single class of {target!r}{left_out} "
                    f"({str(classes[0]) if classes.size else 'none'!r}); a classifier needs two."
                )
    else:
        labels = []

    with threadpool_limits(n_threads):
        scores = _train_and_score(
            matrices,
            targets,
            categorical,
            task,
            estimator,
            random_state,
            labels,
            [spec.name for spec in features],
            notes,
        )
    primary = "roc_auc" if task == CLASSIFICATION else "r2"

    real_score, synth_score = scores["real"][primary], scores["synthetic"][primary]
    if task == CLASSIFICATION:
        known = set(map(str, labels))
        ranked = {str(v) for v in targets["test"]} & known
        if len(ranked) < 2:
            notes.append(
                f"ROC AUC is NaN: the test rows hold {len(ranked)} of the real rows' classes "
                f"of {target!r} and ranking needs two; give test rows of both classes."
            )
    if np.isnan(real_score) or np.isnan(synth_score) or real_score <= 0:
        overall = float("nan")
        if real_score <= 0:
            notes.append(
                f"The overall utility is NaN: the model trained on real rows scores "
                f"{primary} = {real_score:.3f} on the test rows, no better than "
                f"{'chance' if task == CLASSIFICATION else 'predicting the mean'}, so the "
                "synthetic model's score has nothing to be a share of."
            )
    else:
        overall = float(np.clip(synth_score / real_score, 0.0, 1.0))
    return UtilityReport(
        target=target,
        task=task,
        primary_metric=primary,
        real=scores["real"],
        synthetic=scores["synthetic"],
        overall=overall,
        n_train=len(targets["real"]),
        n_synthetic=len(targets["synthetic"]),
        n_test=len(targets["test"]),
        notes=notes,
    )
