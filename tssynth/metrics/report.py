"""A self-contained HTML report of an evaluation: numbers, tables and embedded plots.

Everything lives in one file (PNG images as base64 ``data:`` URLs, inline CSS),
so the report can be mailed or attached to a ticket. Plots need matplotlib (the
``plot`` extra); without it the report holds the numbers and says so.

A wide table keeps the report small and quick: at most 40 column distributions
are drawn (the columns with the lowest shape scores) and the correlation and
pair-trend matrices show at most 40 columns each (those that differ most), in
figures of bounded size; a note says so, and every number stays in the tables.
"""

from __future__ import annotations

import base64
import html
import io
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tssynth._version import __version__
from tssynth.data.schema import CATEGORICAL, DATETIME, infer_schema
from tssynth.metrics.fidelity import column_as_float, label_key
from tssynth.metrics.inputs import as_text
from tssynth.serialization import write_atomic

if TYPE_CHECKING:
    from tssynth.metrics.evaluate import EvaluationResult

_MAX_LEVELS = 20  # categories shown per bar chart; the rest are grouped
_MAX_POINTS = 500  # windows per side in the t-SNE
_MAX_PATHS = 5  # sample paths per side
_MAX_PLOTTED = 40  # column distributions drawn, and columns per matrix plot
_MAX_PANEL_INCHES = 10.0  # side of one matrix panel
_REAL, _SYNTH = "#1f77b4", "#ff7f0e"

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
.score { font-size: 1.3em; font-weight: bold; }
.grid { display: flex; flex-wrap: wrap; gap: .5em; }
.grid figure { margin: 0; } figcaption { font-size: .8em; text-align: center; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: .4em .8em; }
.verdict { padding: .5em 1em; margin: .8em 0; border-left: 6px solid; }
.verdict.pass { background: #e8f5e9; border-color: #2e7d32; }
.verdict.warn { background: #fff3e0; border-color: #e65100; }
.verdict ul { margin: .3em 0; } .verdict .muted { color: #555; }
img { max-width: 100%; }
"""


class _Figures:
    """Figures without pyplot: no global backend is touched and nothing needs closing."""

    def __init__(self, figure_class: Any) -> None:
        self._figure_class = figure_class

    def subplots(self, *args: Any, figsize: tuple[float, float], **kwargs: Any) -> tuple:
        fig = self._figure_class(figsize=figsize, layout="constrained")
        return fig, fig.subplots(*args, **kwargs)


def _matplotlib() -> _Figures | None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return _Figures(Figure)


def _short_label(label: Any, width: int) -> str:
    """``label`` in at most ``width`` characters, cut in the middle: long names that share
    a prefix (``measurement_017_mean``) stay apart by their ends."""
    text = str(label)
    if len(text) <= width:
        return text
    tail = (width - 1) // 2
    return f"{text[: width - 1 - tail]}…{text[-tail:]}"


def _png(fig: Any, plt: Any) -> str:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # Labels in scripts the default font lacks (CJK categories) draw as boxes; the
        # report says nothing wrong, so matplotlib's warning per glyph is noise.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
        fig.savefig(buffer, format="png", dpi=80)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(data: str, plot_id: str, alt: str) -> str:
    return (
        f'<img id="{html.escape(plot_id, quote=True)}" alt="{html.escape(alt, quote=True)}" '
        f'src="data:image/png;base64,{data}">'
    )


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return "n/a" if math.isnan(value) else f"{value:.4g}"
    return html.escape(str(value))


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _dict_table(data: dict[str, Any]) -> str:
    rows = [(k, v) for k, v in data.items() if not isinstance(v, list | dict)]
    return _table(pd.DataFrame(rows, columns=["metric", "value"]))


# ------------------------------------------------------------------ plots


def _column_plot(plt: Any, real: pd.Series, synth: pd.Series, spec: Any) -> str:
    fig, ax = plt.subplots(figsize=(3.6, 2.6))
    if spec.kind == CATEGORICAL:
        r = as_text(real.astype(object).where(real.notna(), "(missing)"))
        s = as_text(synth.astype(object).where(synth.notna(), "(missing)"))
        r, s = r.value_counts(normalize=True), s.value_counts(normalize=True)
        levels = r.index[:_MAX_LEVELS]
        r_top, s_top = r.reindex(levels, fill_value=0), s.reindex(levels, fill_value=0)
        labels = list(levels)
        if len(r) > _MAX_LEVELS or not s.index.isin(levels).all():
            r_top["(other)"] = 1 - r_top.sum()
            s_top["(other)"] = 1 - s_top.sum()
            labels.append("(other)")
        x = np.arange(len(labels))
        ax.bar(x - 0.2, r_top.to_numpy(), 0.4, color=_REAL, label="real")
        ax.bar(x + 0.2, s_top.to_numpy(), 0.4, color=_SYNTH, label="synthetic")
        ax.set_xticks(x)
        ax.set_xticklabels([_short_label(label, 14) for label in labels], rotation=60, ha="right")
        ax.set_ylabel("share")
    else:
        r = column_as_float(real, spec, "real")
        s = column_as_float(synth, spec, "synthetic")
        r, s = r[~np.isnan(r)], s[~np.isnan(s)]
        if spec.value_type == DATETIME:
            import matplotlib.dates as mdates

            unit = spec.unit or "ns"
            r = mdates.date2num(pd.to_datetime(r, unit=unit).to_numpy())
            s = mdates.date2num(pd.to_datetime(s, unit=unit).to_numpy())
            ax.xaxis_date()
            fig.autofmt_xdate()
        values = r if r.size else s
        low, high = (values.min(), values.max()) if values.size else (0.0, 1.0)
        bins = np.linspace(low, high if high > low else low + 1, 41)
        for values, color, label in ((r, _REAL, "real"), (s, _SYNTH, "synthetic")):
            if values.size:
                clipped = np.clip(values, bins[0], bins[-1])
                ax.hist(clipped, bins=bins, density=True, alpha=0.55, color=color, label=label)
        ax.set_ylabel("density")
    ax.set_title(str(spec.name)[:40], fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no observed values", ha="center", transform=ax.transAxes)
    return _png(fig, plt)


def _matrix_inches(columns: int) -> float:
    """Side of a matrix panel: 0.35 in per column, within [3.5, _MAX_PANEL_INCHES]."""
    return min(_MAX_PANEL_INCHES, max(3.5, 0.35 * columns + 2))


def _most_relevant(badness: np.ndarray) -> np.ndarray:
    """Positions of the ``_MAX_PLOTTED`` largest values (NaN last), in their original order."""
    ranked = np.argsort(-np.nan_to_num(badness, nan=-np.inf), kind="stable")
    return np.sort(ranked[:_MAX_PLOTTED])


def _shown_note(shown: int, total: int, what: str, why: str) -> str | None:
    if shown == total:
        return None
    return f"Showing {shown} of {total} {what}: {why}."


def _correlation_plot(
    plt: Any, real: pd.DataFrame, synth: pd.DataFrame, specs: list
) -> tuple[str, str | None] | None:
    """The real, synthetic and difference correlation matrices, and a note when cut."""
    numeric = [s for s in specs if s.kind != CATEGORICAL]
    if len(numeric) < 2:
        return None
    matrices = []
    for frame, what in ((real, "real"), (synth, "synthetic")):
        # keyed by position: labels such as 0 and "0" print alike
        values = pd.DataFrame(
            {i: column_as_float(frame[s.name], s, what) for i, s in enumerate(numeric)}
        )
        matrices.append(values.corr().to_numpy())
    difference = np.abs(matrices[0] - matrices[1])
    keep = np.arange(len(numeric))
    if len(numeric) > _MAX_PLOTTED:
        with np.errstate(all="ignore"):
            worst = np.fmax.reduce(difference, axis=1)  # NaN only for an all-NaN row
        keep = _most_relevant(worst)
    note = _shown_note(
        len(keep),
        len(numeric),
        "continuous columns",
        "those whose correlations differ most between the real and synthetic data",
    )
    names = [_short_label(numeric[i].name, 16) for i in keep]
    size = _matrix_inches(len(names))
    fig, axes = plt.subplots(1, 3, figsize=(3 * size, size))
    titles = ("real", "synthetic", "|real - synthetic|")
    panels = [m[np.ix_(keep, keep)] for m in (*matrices, difference)]
    for ax, title, matrix in zip(axes, titles, panels, strict=True):
        is_difference = "|" in title
        image = ax.imshow(
            matrix,
            vmin=0 if is_difference else -1,
            vmax=1,
            cmap="Reds" if is_difference else "RdBu_r",
        )
        ax.set_title(title)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names, fontsize=7)
        fig.colorbar(image, ax=ax, shrink=0.7)
    fig.suptitle("Pearson correlation of the continuous columns")
    return _png(fig, plt), note


def _pair_score_plot(
    plt: Any, per_pair: pd.DataFrame, columns: list
) -> tuple[str, str | None] | None:
    """The pair trend scores as a matrix, and a note when cut."""
    if per_pair.empty:
        return None
    names = [str(c) for c in columns]
    position = {label_key(c): i for i, c in enumerate(columns)}
    first, second = (
        np.array([position[label_key(c)] for c in per_pair[side]], dtype=np.int64)
        for side in ("column_1", "column_2")
    )
    matrix = np.full((len(names), len(names)), np.nan)
    matrix[first, second] = matrix[second, first] = per_pair["score"].to_numpy(dtype=np.float64)
    keep = np.arange(len(names))
    if len(names) > _MAX_PLOTTED:
        with np.errstate(all="ignore"):
            worst = 1.0 - np.fmin.reduce(matrix, axis=1)  # NaN only without scored pairs
        keep = _most_relevant(worst)
    note = _shown_note(len(keep), len(names), "columns", "those with the lowest pair trend scores")
    matrix, names = matrix[np.ix_(keep, keep)], [names[i] for i in keep]
    size = _matrix_inches(len(names))
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix, vmin=0.5, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([_short_label(n, 16) for n in names], rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels([_short_label(n, 16) for n in names], fontsize=7)
    ax.set_title("Pair trend scores (1 = same relationship)")
    fig.colorbar(image, ax=ax, shrink=0.7)
    return _png(fig, plt), note


def _loss_plot(plt: Any, history: pd.DataFrame) -> str | None:
    columns = [c for c in history.columns if c != "epoch"]
    if history.empty or not columns:
        return None
    x = history["epoch"] if "epoch" in history else np.arange(len(history))
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for column in columns:
        ax.plot(x, history[column], label=str(column))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("Training loss")
    ax.legend(fontsize=8)
    return _png(fig, plt)


def _dcr_plot(plt: Any, distances: dict[str, np.ndarray]) -> str | None:
    if "synthetic" not in distances or distances["synthetic"].size == 0:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.2))
    everything = np.concatenate([d[np.isfinite(d)] for d in distances.values()])
    high = float(np.percentile(everything, 99)) if everything.size else 1.0
    bins = np.linspace(0, high or 1.0, 41)
    for name, color in (("holdout", _REAL), ("synthetic", _SYNTH)):
        if name in distances:
            values = np.clip(distances[name], 0, bins[-1])
            ax.hist(
                values, bins=bins, alpha=0.55, density=True, color=color, label=f"{name} → train"
            )
    ax.set_xlabel("distance to the closest training row")
    ax.set_title("Distance to closest record")
    ax.legend(fontsize=8)
    return _png(fig, plt)


def _roc_plot(plt: Any, attack: Any) -> str | None:
    if attack.fpr.size < 2 or math.isnan(attack.roc_auc):
        return None
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.plot([0, 1], [0, 1], linestyle="--", color="#888", label="chance (AUC 0.5)")
    ax.plot(attack.fpr, attack.tpr, color=_SYNTH, label=f"attack (AUC {attack.roc_auc:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("false-positive rate (holdout rows called members)")
    ax.set_ylabel("true-positive rate (training rows found)")
    ax.set_title("Membership-inference attack", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    return _png(fig, plt)


def _paths_plot(plt: Any, real: np.ndarray, synth: np.ndarray) -> str:
    d = min(real.shape[2], 4)
    fig, axes = plt.subplots(2, d, figsize=(3.2 * d, 4.4), squeeze=False)
    for row, (data, name, color) in enumerate(
        ((real, "real", _REAL), (synth, "synthetic", _SYNTH))
    ):
        for feature in range(d):
            ax = axes[row, feature]
            ax.plot(data[:_MAX_PATHS, :, feature].T, color=color, alpha=0.7, linewidth=1)
            ax.set_title(f"{name}, feature {feature}", fontsize=9)
    fig.suptitle("Sample paths")
    return _png(fig, plt)


def _tsne_plot(plt: Any, real: np.ndarray, synth: np.ndarray, seed: int = 0) -> str:
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(seed)
    picks = [
        data[rng.choice(len(data), size=min(len(data), _MAX_POINTS), replace=False)]
        for data in (real, synth)
    ]
    flat = np.concatenate([p.reshape(len(p), -1) for p in picks])
    perplexity = float(min(30, max(2, (len(flat) - 1) // 3)))
    embedded = TSNE(
        n_components=2, perplexity=perplexity, init="pca", random_state=seed, max_iter=500
    ).fit_transform(flat)
    fig, ax = plt.subplots(figsize=(5, 4.4))
    n = len(picks[0])
    ax.scatter(embedded[:n, 0], embedded[:n, 1], s=6, alpha=0.5, color=_REAL, label="real")
    ax.scatter(embedded[n:, 0], embedded[n:, 1], s=6, alpha=0.5, color=_SYNTH, label="synthetic")
    ax.set_title("t-SNE of real and synthetic windows")
    ax.legend(fontsize=8)
    return _png(fig, plt)


# ------------------------------------------------------------------ sections


def _summary(result: EvaluationResult) -> str:
    rows = []
    for name in ("fidelity", "utility", "privacy", "temporal"):
        part = getattr(result, name)
        if name in result.errors:
            rows.append((name, f"failed: {result.errors[name]}"))
        else:
            rows.append((name, "not computed" if part is None else part.overall))
    text = "<h2>Summary</h2>" + _table(pd.DataFrame(rows, columns=["section", "overall score"]))
    verdict = None if result.privacy is None else result.privacy.verdict
    return text if verdict is None else text + _verdict_box(verdict)


def _verdict_box(verdict: Any) -> str:
    reasons = "".join(f"<li>{html.escape(reason)}</li>" for reason in verdict.reasons)
    notes = "".join(f'<li class="muted">{html.escape(note)}</li>' for note in verdict.notes)
    status = "pass" if verdict.status == "pass" else "warn"
    return (
        f'<div class="verdict {status}" id="privacy-verdict">'
        f"<strong>Privacy verdict: {status.upper()}</strong><ul>{reasons}{notes}</ul></div>"
    )


def _fidelity_section(result: EvaluationResult, plt: Any) -> str:
    report = result.fidelity
    parts = ["<h2>Fidelity</h2>", _dict_table(report.to_dict())]
    specs = infer_schema(result.real, result.discrete_columns)
    if plt is not None:
        shown = np.arange(len(specs))
        if len(specs) > _MAX_PLOTTED:
            shown = _most_relevant(1.0 - report.per_column["score"].to_numpy(dtype=np.float64))
        figures = []
        for spec in (specs[i] for i in shown):
            data = _column_plot(plt, result.real[spec.name], result.synthetic[spec.name], spec)
            image = _img(data, f"plot-column-{spec.name}", f"{spec.name}: real vs synthetic")
            caption = html.escape(str(spec.name))
            figures.append(f"<figure>{image}<figcaption>{caption}</figcaption></figure>")
        parts.append("<h3>Column distributions</h3>")
        parts += _note(
            _shown_note(
                len(shown),
                len(specs),
                "columns",
                "those with the lowest shape scores (every column is in the per-column table)",
            )
        )
        parts += ['<div class="grid">', *figures, "</div>"]
        correlation = _correlation_plot(plt, result.real, result.synthetic, specs)
        if correlation is not None:
            parts.append("<h3>Correlation matrices</h3>")
            parts += _note(correlation[1])
            parts.append(_img(correlation[0], "plot-correlation", "correlation matrices"))
        pairs = _pair_score_plot(plt, report.per_pair, [s.name for s in specs])
        if pairs is not None:
            parts.append("<h3>Pair trends</h3>")
            parts += _note(pairs[1])
            parts.append(_img(pairs[0], "plot-pair-trends", "pair trend scores"))
    parts += ["<h3>Per column</h3>", _table(report.per_column)]
    worst = report.per_pair.sort_values("score").head(15)
    parts += ["<h3>Weakest column pairs</h3>", _table(worst)]
    if len(report.per_dependency):
        parts.append("<h3>Exact dependencies of the real data</h3>")
        parts += _note(
            "Each row of the real data with the same determinant value has the same dependant "
            "value; kept is the share of synthetic rows that pair them as the real data does."
        )
        parts.append(_table(report.per_dependency))
    return "\n".join(parts)


def _note(text: str | None) -> list[str]:
    return [] if text is None else [f'<p class="note">{html.escape(text)}</p>']


def _utility_section(result: EvaluationResult) -> str:
    report = result.utility
    metrics = sorted(set(report.real) | set(report.synthetic))
    frame = pd.DataFrame(
        {
            "metric": metrics,
            "train real, test real": [report.real.get(m, np.nan) for m in metrics],
            "train synthetic, test real": [report.synthetic.get(m, np.nan) for m in metrics],
        }
    )
    info = {k: v for k, v in report.to_dict().items() if k not in ("real", "synthetic")}
    return "\n".join(["<h2>Utility</h2>", _dict_table(info), _table(frame)])


def _privacy_section(result: EvaluationResult, plt: Any) -> str:
    report = result.privacy
    flat = {}
    for key, value in report.to_dict().items():
        if key == "verdict":
            continue  # shown as a box under the summary
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    parts = ["<h2>Privacy</h2>", _dict_table(flat)]
    if report.notes:
        items = "".join(f"<li>{html.escape(note)}</li>" for note in report.notes)
        parts.append(f'<ul class="note">{items}</ul>')
    if plt is not None:
        data = _dcr_plot(plt, report.distances)
        if data is not None:
            parts.append(_img(data, "plot-dcr", "distance to closest record"))
        data = _roc_plot(plt, report.membership_inference)
        if data is not None:
            parts.append(_img(data, "plot-mia-roc", "membership-inference ROC curve"))
    return "\n".join(parts)


def _temporal_section(result: EvaluationResult, plt: Any) -> str:
    parts = ["<h2>Temporal</h2>"]
    if result.temporal is not None:
        parts.append(_dict_table(result.temporal.to_dict()))
    if plt is not None and result.real_windows is not None:
        parts.append(
            _img(
                _paths_plot(plt, result.real_windows, result.synthetic_windows),
                "plot-paths",
                "sample paths",
            )
        )
        parts.append(
            _img(
                _tsne_plot(plt, result.real_windows, result.synthetic_windows),
                "plot-tsne",
                "t-SNE of windows",
            )
        )
    return "\n".join(parts)


def write_html(
    result: EvaluationResult, path: str | Path, *, title: str = "tssynth evaluation"
) -> Path:
    """Write ``result`` as one self-contained HTML file.

    Parameters
    ----------
    result : EvaluationResult
    path : str or Path
    title : str

    Returns
    -------
    Path
    """
    plt = _matplotlib()
    body = [f"<h1>{html.escape(title)}</h1>", f"<p>tssynth {__version__}, data: {result.kind}</p>"]
    if plt is None:
        body.append(
            '<p class="note">Plots need matplotlib: <code>pip install "tssynth[plot]"</code>. '
            "This report holds the numbers only.</p>"
        )
        body += _sections(result, plt)
    else:
        import matplotlib

        # Names and categories are data: "$5-$10" is a price band, not TeX to typeset.
        with matplotlib.rc_context({"text.parse_math": False}):
            body += _sections(result, plt)
    if result.notes:
        items = "".join(f"<li>{html.escape(note)}</li>" for note in result.notes)
        body.append(f'<h2>Notes</h2><ul class="note">{items}</ul>')
    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
    return write_atomic(path, document.encode("utf-8"), "the report")


def _sections(result: EvaluationResult, plt: _Figures | None) -> list[str]:
    """The report's sections after the title, plots drawn with ``plt`` (None: numbers only)."""
    body = [_summary(result)]
    if result.fidelity is not None:
        body.append(_fidelity_section(result, plt))
    if result.utility is not None:
        body.append(_utility_section(result))
    if result.privacy is not None:
        body.append(_privacy_section(result, plt))
    if result.temporal is not None or result.real_windows is not None:
        body.append(_temporal_section(result, plt))
    if plt is not None and result.loss_history is not None:
        data = _loss_plot(plt, result.loss_history)
        if data is not None:
            body += ["<h2>Training</h2>", _img(data, "plot-loss", "training loss curves")]
    return body
