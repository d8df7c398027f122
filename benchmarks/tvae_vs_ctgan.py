"""Benchmark ``tssynth.TVAESynthesizer`` against ``ctgan.TVAE`` on the Adult data set.

How to run (from the repository root)::

    .venv-bench/bin/python benchmarks/tvae_vs_ctgan.py --epochs 30
    .venv-bench/bin/python benchmarks/tvae_vs_ctgan.py --only ctgan --epochs 2
    .venv-bench/bin/python benchmarks/tvae_vs_ctgan.py --json /tmp/bench.json

Protocol
--------
1. Read ``--data`` (default ``<repo root>/../shared/data/adult.csv``) as is:
   text values keep their leading space and missing values stay the category
   ``" ?"``. Integer columns are numerical, all other columns are discrete.
2. Split 80/20, stratified on ``income``, with ``--seed`` (default 0).
3. Fit each synthesizer on the 80 % train split with identical
   hyperparameters (``--epochs``, default 30) and draw as many rows as the
   train split has (26,048 for Adult).
4. Score each synthetic table with

   * the SDMetrics ``QualityReport`` against the real train split, and
   * train-on-synthetic / test-on-real (TSTR) ROC AUC of a scikit-learn
     ``HistGradientBoostingClassifier`` on the real 20 % test split
     (positive class ``" >50K"``, labels compared after stripping whitespace).
     The train-on-real / test-on-real (TRTR) AUC is the real-data baseline.

5. Print a markdown table ``tssynth | ctgan | ratio``: the ratio is
   ctgan / tssynth for times and memory (> 1 means tssynth is faster or
   smaller) and the difference ctgan - tssynth for scores.

Both models run in the same process with 2 threads
(``torch.set_num_threads(2)``; ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and
``OPENBLAS_NUM_THREADS`` are set before torch or numpy is imported; ``BENCH_THREADS=1``
changes the count).

Measurements
------------
* Time: ``time.perf_counter()`` around ``fit`` (model construction included,
  so ctgan's data transformer is part of its fit time) and around
  ``sample``: the first call right after ``fit`` (which can pay for thread pools
  still spinning from the fit) and the median of 5 further calls.
* Peak memory: before each model starts, ``gc.collect()`` and glibc
  ``malloc_trim(0)`` are run and the process RSS is read as that model's
  baseline. During ``fit`` and during ``sample`` a background thread reads
  ``VmRSS`` from ``/proc/self/status`` every ~5 ms; the table reports each
  phase's highest sample minus the baseline, in MiB. Spikes shorter than the
  sampling interval can be missed, and memory held by an earlier model that
  the allocator did not return to the OS can lower a later model's figure.
  tssynth runs first, ctgan second. Before either, one tiny optimiser step loads
  what torch imports lazily on first use (``torch._dynamo``, about 2 s), so that
  neither model is charged for it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Protocol

N_THREADS = int(os.environ.get("BENCH_THREADS", "2"))  # 2 unless overridden
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = str(N_THREADS)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from _measure import measure_phase, read_rss_bytes, release_memory  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import OrdinalEncoder  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT / ".." / "shared" / "data" / "adult.csv"
TARGET = "income"
POSITIVE_LABEL = " >50K"
TEST_SIZE = 0.2
MODEL_NAMES = ("tssynth", "ctgan")
_SAMPLE_REPEATS = 5  # further sample calls timed after the first

#: Hyperparameters shared by both implementations (epochs comes from the CLI).
SHARED_HYPERPARAMS: dict[str, Any] = {
    "embedding_dim": 128,
    "compress_dims": (128, 128),
    "decompress_dims": (128, 128),
    "l2scale": 1e-5,
    "batch_size": 500,
    "loss_factor": 2,
}


class Synthesizer(Protocol):
    """The part of the synthesizer API this benchmark relies on."""

    def fit(self, data: pd.DataFrame, discrete_columns: Sequence[str]) -> Any:
        """Fit on ``data``."""

    def sample(self, n: int) -> pd.DataFrame:
        """Draw ``n`` synthetic rows."""


@dataclass
class ModelResult:
    """Everything measured for one synthesizer.

    Attributes
    ----------
    fit_seconds, sample_seconds : float
        Wall-clock times (``sample_seconds``: the first call, right after ``fit``).
    sample_repeat_seconds : float
        Median wall-clock time of ``_SAMPLE_REPEATS`` further ``sample`` calls.
    fit_peak_mib, sample_peak_mib : float
        Peak RSS above the model's baseline during each phase, in MiB.
    baseline_rss_mib : float
        Absolute RSS just before the model started, in MiB.
    quality_score : float
        SDMetrics ``QualityReport`` overall score (NaN if it failed).
    quality_properties : dict of str to float
        Per-property QualityReport scores.
    tstr_auc : float
        Train-on-synthetic / test-on-real ROC AUC (NaN if undefined).
    dependencies_kept : float
        Share of synthetic rows that keep the real train split's exact
        dependencies (``tssynth.metrics.fidelity_report(...).dependencies``; on
        Adult, ``education`` determines ``education-num``).
    n_rows : int
        Number of synthetic rows returned.
    checks : dict
        Sanity checks on the synthetic table (dtypes, NaNs, unseen categories).
    errors : list of str
        Errors raised while scoring the synthetic data.
    """

    fit_seconds: float = math.nan
    sample_seconds: float = math.nan
    sample_repeat_seconds: float = math.nan
    fit_peak_mib: float = math.nan
    sample_peak_mib: float = math.nan
    baseline_rss_mib: float = math.nan
    quality_score: float = math.nan
    quality_properties: dict[str, float] = field(default_factory=dict)
    tstr_auc: float = math.nan
    dependencies_kept: float = math.nan
    n_rows: int = 0
    checks: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- CLI


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse command-line flags.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments to parse; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    argparse.Namespace
        Parsed flags ``data``, ``epochs``, ``seed``, ``only`` and ``json``.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="CSV file (default: <repo root>/../shared/data/adult.csv)",
    )
    parser.add_argument("--epochs", type=int, default=30, help="training epochs (default: 30)")
    parser.add_argument("--seed", type=int, default=0, help="split/model/classifier seed")
    parser.add_argument(
        "--only",
        choices=("tssynth", "ctgan", "both"),
        default="both",
        help="which synthesizer(s) to run (default: both)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    return parser.parse_args(argv)


# -------------------------------------------------------------------------- data


def load_data(path: Path) -> pd.DataFrame:
    """Read the benchmark CSV without altering its values.

    Parameters
    ----------
    path : Path
        CSV file with a header row.

    Returns
    -------
    pandas.DataFrame
        The raw table (text keeps its leading spaces, ``" ?"`` stays a value).
    """
    return pd.read_csv(path.resolve())


def numerical_columns(df: pd.DataFrame) -> list[str]:
    """Return the numerical (non-boolean numeric dtype) columns of ``df``."""
    return [
        col
        for col in df.columns
        if pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col])
    ]


def discrete_columns(df: pd.DataFrame) -> list[str]:
    """Return the columns treated as discrete (everything that is not numerical)."""
    numeric = set(numerical_columns(df))
    return [col for col in df.columns if col not in numeric]


def split_data(df: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split 80/20 stratified on the target.

    Parameters
    ----------
    df : pandas.DataFrame
        Full real table.
    seed : int
        ``random_state`` for ``train_test_split``.

    Returns
    -------
    tuple of pandas.DataFrame
        ``(train, test)`` with a fresh ``RangeIndex`` each.
    """
    train, test = train_test_split(df, test_size=TEST_SIZE, stratify=df[TARGET], random_state=seed)
    return train.reset_index(drop=True), test.reset_index(drop=True)


# -------------------------------------------------------------------- synthesizers


def tssynth_factory(epochs: int, seed: int) -> Callable[[], Synthesizer]:
    """Import tssynth and return a constructor for its TVAE.

    The import happens here, before the memory baseline is taken.
    """
    from tssynth import TVAESynthesizer

    def make() -> Synthesizer:
        return TVAESynthesizer(epochs=epochs, random_state=seed, device="cpu", **SHARED_HYPERPARAMS)

    return make


def ctgan_factory(epochs: int, seed: int) -> Callable[[], Synthesizer]:
    """Import ctgan and return a constructor for its TVAE.

    ``enable_gpu=False`` is ctgan 0.12's spelling of the deprecated
    ``cuda=False``; the seed goes through the public ``set_random_state``.
    """
    from ctgan import TVAE

    def make() -> Synthesizer:
        model = TVAE(epochs=epochs, enable_gpu=False, **SHARED_HYPERPARAMS)
        model.set_random_state(seed)
        return model

    return make


FACTORIES: dict[str, Callable[[int, int], Callable[[], Synthesizer]]] = {
    "tssynth": tssynth_factory,
    "ctgan": ctgan_factory,
}


def warm_up_torch() -> None:
    """Load what torch imports lazily on first use, before either model is measured.

    The first ``torch.optim`` optimiser a process builds imports ``torch._dynamo``
    (about 2 s and tens of MiB). That one-time cost belongs to torch, not to either
    library, and would otherwise be charged to whichever model runs first.
    """
    layer = torch.nn.Linear(4, 4)
    for fused in (False, True):
        optimizer = torch.optim.Adam(layer.parameters(), fused=fused)
        layer(torch.zeros(2, 4)).sum().backward()
        optimizer.step()


def run_synthesizer(
    make: Callable[[], Synthesizer],
    train: pd.DataFrame,
    discrete: Sequence[str],
    n_rows: int,
    seed: int,
) -> tuple[ModelResult, pd.DataFrame]:
    """Fit one synthesizer, sample from it and measure time and peak RSS.

    Parameters
    ----------
    make : callable
        Returns a fresh, unfitted synthesizer.
    train : pandas.DataFrame
        Real training split.
    discrete : sequence of str
        Discrete column names.
    n_rows : int
        Number of rows to sample.
    seed : int
        Seed for torch's global generator.

    Returns
    -------
    tuple
        ``(ModelResult with timings/memory filled in, synthetic DataFrame)``.
    """
    release_memory()
    torch.manual_seed(seed)
    baseline = read_rss_bytes()
    with measure_phase(baseline) as fit_phase:
        model = make()
        model.fit(train, discrete_columns=list(discrete))
    with measure_phase(baseline) as sample_phase:
        synthetic = model.sample(n_rows)
    repeats = []
    for _ in range(_SAMPLE_REPEATS):
        start = time.perf_counter()
        model.sample(n_rows)
        repeats.append(time.perf_counter() - start)
    del model
    release_memory()
    result = ModelResult(
        fit_seconds=fit_phase.seconds,
        sample_seconds=sample_phase.seconds,
        sample_repeat_seconds=statistics.median(repeats),
        fit_peak_mib=fit_phase.peak_above_baseline_mib,
        sample_peak_mib=sample_phase.peak_above_baseline_mib,
        baseline_rss_mib=baseline / 2**20,
        n_rows=len(synthetic),
    )
    return result, synthetic


# ----------------------------------------------------------------------- metrics


def sdmetrics_metadata(real: pd.DataFrame) -> dict[str, Any]:
    """Build single-table SDMetrics metadata: numeric columns numerical, rest categorical."""
    numeric = set(numerical_columns(real))
    return {
        "columns": {
            col: {"sdtype": "numerical" if col in numeric else "categorical"}
            for col in real.columns
        }
    }


def quality_report(
    real: pd.DataFrame, synthetic: pd.DataFrame, table_metadata: dict[str, Any]
) -> tuple[float, dict[str, float]]:
    """Score ``synthetic`` against ``real`` with the SDMetrics QualityReport.

    sdmetrics 0.32's non-deprecated ``sdmetrics.reports.QualityReport`` takes
    a dict of tables, so the single-table metadata is wrapped under one table
    name (same properties and score as the deprecated single-table report).

    Returns
    -------
    tuple
        ``(overall score, {property name: score})``.
    """
    from sdmetrics.reports import QualityReport

    name = "data"
    report = QualityReport()
    report.generate(
        {name: real},
        {name: synthetic},
        {"tables": {name: table_metadata}},
        verbose=False,
    )
    properties = report.get_properties()
    return float(report.get_score()), dict(
        zip(properties["Property"], properties["Score"].astype(float), strict=True)
    )


def binarize_target(labels: pd.Series) -> np.ndarray:
    """Map income labels to 1 for ``" >50K"`` and 0 otherwise, ignoring whitespace."""
    return (labels.astype(str).str.strip() == POSITIVE_LABEL.strip()).to_numpy(dtype=int)


@dataclass
class FeatureEncoder:
    """Encode features for the classifier with categories learned on real data.

    Categorical columns go through an ``OrdinalEncoder`` fitted on the real
    train split; categories it has not seen map to -1, which
    ``HistGradientBoostingClassifier`` treats as missing.
    """

    numeric: list[str]
    categorical: list[str]
    encoder: OrdinalEncoder

    @classmethod
    def fit(cls, real: pd.DataFrame) -> FeatureEncoder:
        """Learn the column roles and categories from the real train split."""
        features = real.drop(columns=[TARGET])
        categorical = discrete_columns(features)
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
        encoder.fit(features[categorical].astype(object))
        return cls(numerical_columns(features), categorical, encoder)

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """Return the float feature matrix: numerical columns, then categorical codes."""
        numeric = df[self.numeric].apply(pd.to_numeric, errors="coerce").to_numpy(float)
        codes = self.encoder.transform(df[self.categorical].astype(object))
        return np.hstack([numeric, codes])

    @property
    def categorical_mask(self) -> np.ndarray:
        """Boolean mask of categorical features, matching :meth:`transform`."""
        return np.array([False] * len(self.numeric) + [True] * len(self.categorical))


def roc_auc_train_on(
    train: pd.DataFrame, test: pd.DataFrame, encoder: FeatureEncoder, seed: int
) -> float:
    """Fit a HistGradientBoostingClassifier on ``train`` and return ROC AUC on ``test``.

    Returns NaN (with a warning) when ``train`` holds a single class.
    """
    y_train = binarize_target(train[TARGET])
    if np.unique(y_train).size < 2:
        warnings.warn(
            f"training labels contain a single class ({y_train[:1]}); ROC AUC is NaN",
            RuntimeWarning,
            stacklevel=2,
        )
        return math.nan
    clf = HistGradientBoostingClassifier(
        categorical_features=encoder.categorical_mask, random_state=seed
    )
    clf.fit(encoder.transform(train), y_train)
    scores = clf.predict_proba(encoder.transform(test))[:, 1]
    return float(roc_auc_score(binarize_target(test[TARGET]), scores))


def synthetic_checks(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict[str, Any]:
    """Compare the synthetic table's shape and dtypes with the real one.

    Returns
    -------
    dict
        ``missing_columns``, ``extra_columns``, ``dtype_mismatches``
        (``{col: [real dtype, synthetic dtype]}``), ``nan_counts`` and
        ``unseen_category_fraction`` (share of synthetic values of a discrete
        column that never occur in the real train split).
    """
    common = [col for col in real.columns if col in synthetic.columns]
    unseen: dict[str, float] = {}
    for col in discrete_columns(real):
        if col in synthetic.columns:
            known = set(real[col].unique())
            unseen[col] = float((~synthetic[col].isin(known)).mean())
    return {
        "missing_columns": [c for c in real.columns if c not in synthetic.columns],
        "extra_columns": [c for c in synthetic.columns if c not in real.columns],
        "column_order_matches": list(synthetic.columns) == list(real.columns),
        "dtype_mismatches": {
            col: [str(real[col].dtype), str(synthetic[col].dtype)]
            for col in common
            if real[col].dtype != synthetic[col].dtype
        },
        "nan_counts": {col: int(n) for col, n in synthetic[common].isna().sum().items() if n},
        "unseen_category_fraction": {k: v for k, v in unseen.items() if v > 0},
    }


def score_synthetic(
    result: ModelResult,
    synthetic: pd.DataFrame,
    train: pd.DataFrame,
    test: pd.DataFrame,
    encoder: FeatureEncoder,
    seed: int,
) -> None:
    """Fill quality, TSTR and sanity-check fields of ``result`` in place.

    A failing metric is recorded in ``result.errors`` and left as NaN so that
    the other model's numbers are still reported.
    """
    result.checks = synthetic_checks(train, synthetic)
    try:
        result.quality_score, result.quality_properties = quality_report(
            train, synthetic, sdmetrics_metadata(train)
        )
    except Exception as exc:
        result.errors.append(f"QualityReport: {type(exc).__name__}: {exc}")
    try:
        result.tstr_auc = roc_auc_train_on(synthetic, test, encoder, seed)
    except Exception as exc:
        result.errors.append(f"TSTR: {type(exc).__name__}: {exc}")
    from tssynth.metrics import fidelity_report

    try:
        result.dependencies_kept = fidelity_report(train, synthetic).dependencies
    except Exception as exc:
        result.errors.append(f"dependencies: {type(exc).__name__}: {exc}")


# ------------------------------------------------------------------------ report


def _fmt(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def _ratio(tssynth: float | None, ctgan: float | None) -> str:
    if tssynth is None or ctgan is None or math.isnan(tssynth) or math.isnan(ctgan):
        return "—"
    if tssynth == 0:
        return "inf"
    return f"{ctgan / tssynth:.2f}x"


def _diff(tssynth: float | None, ctgan: float | None) -> str:
    if tssynth is None or ctgan is None or math.isnan(tssynth) or math.isnan(ctgan):
        return "—"
    return f"{ctgan - tssynth:+.4f}"


def format_table(results: dict[str, ModelResult], trtr_auc: float, n_rows: int) -> str:
    """Render the side-by-side markdown table.

    Parameters
    ----------
    results : dict of str to ModelResult
        Results keyed by ``"tssynth"`` / ``"ctgan"`` (either may be missing).
    trtr_auc : float
        Real-data baseline AUC.
    n_rows : int
        Number of sampled rows, shown in the sample-time row label.

    Returns
    -------
    str
        A markdown table; ratio is ctgan/tssynth for times and memory and
        ctgan - tssynth for scores.
    """
    rows: list[tuple[str, str, int, Callable[[float | None, float | None], str]]] = [
        ("fit time (s)", "fit_seconds", 1, _ratio),
        (f"sample time, {n_rows:,} rows, first call (s)", "sample_seconds", 2, _ratio),
        (
            f"sample time, {n_rows:,} rows, median of {_SAMPLE_REPEATS} more (s)",
            "sample_repeat_seconds",
            3,
            _ratio,
        ),
        ("peak RSS during fit (MiB above baseline)", "fit_peak_mib", 0, _ratio),
        ("peak RSS during sample (MiB above baseline)", "sample_peak_mib", 0, _ratio),
        ("SDMetrics QualityReport score", "quality_score", 4, _diff),
        ("TSTR ROC AUC (real 20 % test)", "tstr_auc", 4, _diff),
        ("rows keeping the real exact dependencies", "dependencies_kept", 4, _diff),
    ]
    lines = [
        "| metric | tssynth | ctgan | ratio |",
        "|---|---:|---:|---:|",
    ]
    for label, attr, digits, compare in rows:
        ts = getattr(results["tssynth"], attr) if "tssynth" in results else None
        cg = getattr(results["ctgan"], attr) if "ctgan" in results else None
        lines.append(f"| {label} | {_fmt(ts, digits)} | {_fmt(cg, digits)} | {compare(ts, cg)} |")
    trtr = _fmt(trtr_auc, 4)
    lines.append(f"| TRTR ROC AUC (real baseline) | {trtr} | {trtr} | — |")
    lines.append("")
    lines.append(
        "ratio = ctgan / tssynth for times and memory (> 1: tssynth faster/smaller); "
        "ctgan - tssynth for scores (< 0: tssynth better)."
    )
    return "\n".join(lines)


def environment_info() -> dict[str, Any]:
    """Collect versions and thread settings for the JSON output."""
    versions = {}
    for package in ("tssynth", "ctgan", "sdmetrics", "rdt", "torch", "pandas", "scikit-learn"):
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "loadavg_1_5_15_at_end": list(os.getloadavg()),
        "torch_threads": torch.get_num_threads(),
        "env_threads": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        "versions": versions,
    }


def _json_safe(obj: Any) -> Any:
    """Replace NaN/inf by ``None`` so the output is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented strict JSON to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_json_safe(payload), indent=2) + "\n", encoding="utf-8")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; see the module docstring.

    Returns
    -------
    int
        Process exit code (0 on success, 1 if any metric failed).
    """
    args = parse_args(argv)
    torch.set_num_threads(N_THREADS)
    names = MODEL_NAMES if args.only == "both" else (args.only,)

    data = load_data(args.data)
    train, test = split_data(data, args.seed)
    discrete = discrete_columns(train)
    n_rows = len(train)
    _log(
        f"data: {args.data.resolve()} {data.shape}; train {len(train)}, test {len(test)}; "
        f"discrete: {discrete}"
    )

    encoder = FeatureEncoder.fit(train)
    trtr_auc = roc_auc_train_on(train, test, encoder, args.seed)
    _log(f"TRTR ROC AUC: {trtr_auc:.4f}; load average (1/5/15 min): {os.getloadavg()}")

    warm_up_torch()
    results: dict[str, ModelResult] = {}
    for name in names:
        make = FACTORIES[name](args.epochs, args.seed)
        _log(f"[{name}] fitting ({args.epochs} epochs) and sampling {n_rows} rows ...")
        result, synthetic = run_synthesizer(make, train, discrete, n_rows, args.seed)
        _log(f"[{name}] fit {result.fit_seconds:.1f} s, sample {result.sample_seconds:.2f} s")
        score_synthetic(result, synthetic, train, test, encoder, args.seed)
        del synthetic
        release_memory()
        for key in ("missing_columns", "extra_columns", "dtype_mismatches", "nan_counts"):
            if result.checks.get(key):
                _log(f"[{name}] warning: {key}: {result.checks[key]}")
        for error in result.errors:
            _log(f"[{name}] error: {error}")
        results[name] = result

    table = format_table(results, trtr_auc, n_rows)
    print(table)
    if args.json is not None:
        write_json(
            args.json,
            {
                "config": {
                    "data": str(args.data.resolve()),
                    "epochs": args.epochs,
                    "seed": args.seed,
                    "only": args.only,
                    "n_train": len(train),
                    "n_test": len(test),
                    "n_sampled": n_rows,
                    "hyperparameters": {**SHARED_HYPERPARAMS, "epochs": args.epochs},
                },
                "environment": environment_info(),
                "trtr_auc": trtr_auc,
                "models": {name: asdict(result) for name, result in results.items()},
                "table_markdown": table,
            },
        )
        _log(f"wrote {args.json}")
    return 1 if any(r.errors for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
