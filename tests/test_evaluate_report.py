"""evaluate(): sections, to_dict/to_frame, the HTML report and the temporal branch."""

from __future__ import annotations

import base64
import importlib
import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from tssynth import InvalidDataError, InvalidParameterError, TVAESynthesizer
from tssynth.datasets import load_adult
from tssynth.metrics import EvaluationResult, evaluate

_IMG = re.compile(r'<img id="([^"]+)" alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _images(path) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in _IMG.findall(path.read_text(encoding="utf-8"))}


@pytest.fixture(scope="module")
def adult_parts() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    adult = load_adult().sample(6000, random_state=0).reset_index(drop=True)
    return adult.iloc[:2500], adult.iloc[2500:5000].reset_index(drop=True), adult.iloc[5000:]


def test_adult_evaluation_and_report_hold_every_plot(adult_parts, tmp_path):
    real, synthetic, holdout = adult_parts
    result = evaluate(real, synthetic, holdout=holdout, target="income", n_threads=1)
    data = result.to_dict()
    assert set(data) == {"fidelity", "utility", "privacy", "temporal", "notes", "errors"}
    assert data["errors"] == {} and not result.errors
    assert data["temporal"] is None
    for section in ("fidelity", "utility", "privacy"):
        assert 0.0 <= data[section]["overall"] <= 1.0
    assert data["fidelity"]["overall"] > 0.9  # two samples of the same real data
    shapes = result.fidelity.per_column.set_index("column")["score"]
    assert data["fidelity"]["columns"]["age"] == shapes["age"]  # which column fell short
    assert len(data["fidelity"]["pairs"]) == len(real.columns) * (len(real.columns) - 1) // 2
    assert data["utility"]["real"]["roc_auc"] > 0.8
    assert 0.35 < data["privacy"]["share_closer_to_train"] < 0.65

    frame = result.to_frame()
    assert list(frame.columns) == ["section", "metric", "value", "text"]
    row = frame[(frame.section == "utility") & (frame.metric == "synthetic.roc_auc")]
    assert row["value"].iloc[0] == data["utility"]["synthetic"]["roc_auc"]
    assert frame["value"].dtype == np.float64
    task = frame[(frame.section == "utility") & (frame.metric == "task")]
    assert task["text"].iloc[0] == "classification" and np.isnan(task["value"].iloc[0])
    frame.to_parquet(tmp_path / "scores.parquet")  # one type per column
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "scores.parquet"), frame)

    path = result.save_html(tmp_path / "adult.html")
    text = path.read_text(encoding="utf-8")
    images = _images(path)
    expected = {f"plot-column-{c}" for c in real.columns} | {
        "plot-correlation",
        "plot-pair-trends",
        "plot-dcr",
    }
    assert expected <= set(images)
    assert all(png.startswith(b"\x89PNG") and len(png) > 1000 for png in images.values())
    assert "http://" not in text and "https://" not in text  # self-contained
    assert f"{data['fidelity']['overall']:.4g}" in text
    # education determines education-num: real rows keep it, and the report lists it
    assert data["fidelity"]["dependency_pairs"] == {"education -> education-num": 1.0}
    assert "Exact dependencies of the real data" in text


def test_loss_curves_when_a_fitted_synthesizer_is_passed(mixed_frame, tmp_path):
    real = mixed_frame[["amount", "group", "day", "empty"]]
    synthesizer = TVAESynthesizer(
        epochs=3,
        embedding_dim=8,
        compress_dims=(16,),
        decompress_dims=(16,),
        random_state=0,
        device="cpu",
    ).fit(real)
    result = evaluate(real, synthesizer.sample(300), synthesizer=synthesizer, metrics=["fidelity"])
    assert result.utility is None and result.privacy is None
    images = _images(result.save_html(tmp_path / "mixed.html"))
    # the datetime and the all-missing column are plotted too
    assert {"plot-loss", "plot-column-day", "plot-column-empty"} <= set(images)


def test_report_plots_columns_of_bytes_that_are_not_text(tmp_path):
    """Bytes that are not UTF-8 are labelled by their repr (the plot raised a raw
    UnicodeDecodeError), and differing values stay different bars."""
    rng = np.random.default_rng(0)
    real = pd.DataFrame(
        {"x": rng.normal(size=200), "tag": pd.Series([b"\x00", b"\xff"] * 100, dtype=object)}
    )
    synthetic = real.assign(tag=pd.Series([b"\xff"] * 200, dtype=object))
    result = evaluate(real, synthetic, metrics=["fidelity"])
    assert result.fidelity.per_column.set_index("column").loc["tag", "score"] == 0.5
    assert "plot-column-tag" in _images(result.save_html(tmp_path / "bytes.html"))


def test_report_without_matplotlib_has_numbers_and_a_note(adult_parts, tmp_path, monkeypatch):
    import tssynth.metrics.report as report

    monkeypatch.setattr(report, "_matplotlib", lambda: None)
    real, synthetic, _ = adult_parts
    result = evaluate(real, synthetic, metrics=["fidelity"])
    text = result.save_html(tmp_path / "plain.html").read_text(encoding="utf-8")
    assert "<img" not in text and "pip install" in text and "column_shapes" in text


def test_notes_explain_skipped_sections(adult_parts):
    real, synthetic, _ = adult_parts
    result = evaluate(real, synthetic, metrics=["utility", "temporal"])
    assert result.utility is None and result.temporal is None
    assert any("target" in note for note in result.notes)
    assert any("Temporal" in note for note in result.notes)


def test_without_holdout_utility_splits_and_says_so(adult_parts):
    real, synthetic, _ = adult_parts
    result = evaluate(real, synthetic, target="income", metrics=["utility"], n_threads=1)
    assert result.utility.n_test == 500
    assert any("optimistic" in note for note in result.notes)


def test_bad_arguments_name_the_parameter(adult_parts):
    real, synthetic, _ = adult_parts
    with pytest.raises(InvalidParameterError, match="metrics"):
        evaluate(real, synthetic, metrics=["beauty"])
    with pytest.raises(InvalidParameterError, match="target 'salary'"):
        evaluate(real, synthetic, target="salary")
    with pytest.raises(InvalidParameterError, match="sequence_key"):
        evaluate(real, synthetic, sequence_key="id")


def test_infinite_values_are_named_before_scoring(adult_parts):
    real, synthetic, _ = adult_parts
    with pytest.raises(InvalidDataError, match=r"synthetic data has infinite values.*'age'"):
        evaluate(real, synthetic.assign(age=np.inf))
    windows = _sines(20, 0)
    with pytest.raises(InvalidDataError, match="real windows have infinite values"):
        evaluate(np.where(windows > 0.99, np.inf, windows), windows)


def _sines(n: int, seed: int, freq: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 6, 12)[None, :, None]
    phase = rng.uniform(0, 3, size=(n, 1, 2))
    return (np.sin(freq * t + phase) + 1) / 2


def test_windows_get_temporal_scores_and_sequence_plots(tmp_path):
    real, holdout = _sines(120, 0), _sines(60, 2)
    result = evaluate(
        real, _sines(120, 1), holdout=holdout, discriminative_steps=60, predictive_steps=60
    )
    assert isinstance(result, EvaluationResult) and result.kind == "windows"
    temporal = result.to_dict()["temporal"]
    assert 0.0 <= temporal["discriminative"] <= 0.5 and temporal["predictive"] >= 0
    assert temporal["overall"] == pytest.approx(1 - 2 * temporal["discriminative"])
    assert result.fidelity.overall > 0.9 and result.privacy is not None
    images = _images(result.save_html(tmp_path / "windows.html"))
    assert {"plot-paths", "plot-tsne", "plot-column-x0", "plot-column-x1"} <= set(images)


def test_panels_are_cut_into_windows():
    rng = np.random.default_rng(0)
    keys, steps = np.repeat(np.arange(30), 20), np.tile(np.arange(20), 30)

    def panel() -> pd.DataFrame:
        frame = pd.DataFrame(
            {
                "id": keys,
                "t": steps,
                "v": np.sin(steps / 3 + keys),
                "w": np.cos(steps / 3),
                "kind": rng.choice(["a", "b"], keys.size),
            }
        )
        return frame.sample(frac=1.0, random_state=1)  # order must come from sequence_index

    result = evaluate(
        panel(),
        panel(),
        sequence_key="id",
        sequence_index="t",
        window=10,
        discriminative_steps=30,
        predictive_steps=30,
        metrics=["temporal"],
    )
    assert result.kind == "panel" and result.real_windows.shape == (60, 10, 2)
    np.testing.assert_allclose(result.real_windows[0, :, 0], np.sin(np.arange(10) / 3))
    assert any("continuous columns only" in note for note in result.notes)
    # A column without any value is left out (it would leave no complete window); with
    # one feature left the predictive score is not computed, and a note says why.
    sparse = panel().assign(empty=np.nan).drop(columns="w")
    result = evaluate(
        sparse,
        sparse,
        sequence_key="id",
        sequence_index="t",
        window=10,
        discriminative_steps=30,
        metrics=["temporal"],
    )
    assert result.real_windows.shape == (60, 10, 1) and result.temporal is not None
    assert any("leave out ['empty']" in note for note in result.notes)
    assert np.isnan(result.temporal.predictive)
    assert any("predictive score needs at least 2" in note for note in result.notes)


def _walks(n: int, T: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "k": np.repeat(np.arange(n), T),
            "t": np.tile(np.arange(T), n),
            "a": np.cumsum(rng.normal(size=n * T)),
            "b": rng.random(n * T),
        }
    )


def test_panel_windows_fit_both_panels_and_skip_a_missing_first_step():
    fast = {"discriminative_steps": 20, "predictive_steps": 20, "metrics": ["temporal"]}
    real = _walks(40, 17)
    # DenseVAE samples are windows of their own length: the window was 17, none fitted
    short = evaluate(real, _walks(60, 5, seed=1), sequence_key="k", sequence_index="t", **fast)
    assert short.temporal is not None and short.real_windows.shape[1:] == (5, 2)
    # a first step without a value in every sequence spoiled every window of 17 steps
    gap = real.assign(b=real["b"].mask(real["t"] == 0))
    result = evaluate(gap, gap, sequence_key="k", sequence_index="t", **fast)
    assert result.temporal is not None and result.real_windows.shape[1] < 17
    assert len(result.real_windows) >= 40
    assert any("most held a missing value" in note for note in result.notes)


def test_a_panel_with_a_time_twice_is_refused_by_name():
    real = _walks(10, 6)
    with pytest.raises(InvalidDataError, match=r"^real has 60 duplicate time steps in sequence_i"):
        evaluate(pd.concat([real, real]), real, sequence_key="k", sequence_index="t", window=3)


def test_windows_beside_a_table_are_named_as_a_mix_up():
    windows = _sines(20, 0)
    table = pd.DataFrame({"sequence": [0, 0], "step": [0, 1], "x0": [0.1, 0.2]})
    with pytest.raises(
        InvalidDataError, match=r"real is an array of windows.*synthetic is a table"
    ):
        evaluate(windows, table)


def test_a_failing_section_keeps_the_others(adult_parts, tmp_path, monkeypatch):
    evaluation = importlib.import_module("tssynth.metrics.evaluate")  # not the function

    def out_of_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 4.16 GiB for an array")

    monkeypatch.setattr(evaluation, "privacy_report", out_of_memory)
    real, synthetic, holdout = adult_parts
    with pytest.warns(RuntimeWarning, match="privacy section failed"):
        result = evaluate(real, synthetic, holdout=holdout, metrics=["fidelity", "privacy"])
    assert result.fidelity is not None and result.privacy is None
    message = "MemoryError: Unable to allocate 4.16 GiB for an array"
    assert result.errors == {"privacy": message}
    assert any("privacy section failed" in note and message in note for note in result.notes)
    data = result.to_dict()
    assert data["errors"] == {"privacy": message} and data["fidelity"]["overall"] > 0.9
    frame = result.to_frame()
    error = frame[frame.metric == "error"]
    assert error[["section", "text"]].values.tolist() == [["privacy", message]]
    text = result.save_html(tmp_path / "failed.html").read_text(encoding="utf-8")
    assert f"failed: {message}" in text and 'id="plot-correlation"' in text


def test_invalid_input_still_raises_before_any_section(adult_parts, monkeypatch):
    evaluation = importlib.import_module("tssynth.metrics.evaluate")  # not the function

    ran = []
    monkeypatch.setattr(evaluation, "fidelity_report", lambda *a, **k: ran.append("fidelity"))
    real, synthetic, _ = adult_parts
    with pytest.raises(InvalidParameterError, match="privacy_max_rows"):
        evaluate(real, synthetic, metrics=["fidelity", "privacy"], privacy_max_rows=0)
    with pytest.raises(InvalidDataError, match="duplicate column names"):
        evaluate(real, pd.concat([synthetic, synthetic[["age"]]], axis=1))
    assert not ran


def test_a_synthetic_target_of_one_class_keeps_the_other_sections(adult_parts):
    """A weak private sample whose target has one class raised from the utility section,
    and the privacy verdict was lost with it (examples/private_release.py --rows)."""
    real, synthetic, holdout = adult_parts
    single = synthetic.assign(income="<=50K")
    with pytest.warns(RuntimeWarning, match="utility section failed"):
        result = evaluate(real, single, holdout=holdout, target="income")
    assert result.utility is None and "single class" in result.errors["utility"]
    assert result.fidelity is not None and result.privacy.verdict is not None
    # the real rows' target is input: still raised
    with pytest.raises(InvalidDataError, match="real rows hold a single class"):
        evaluate(real.assign(income="<=50K"), synthetic, holdout=holdout, target="income")


def test_wide_tables_give_a_bounded_report(tmp_path, monkeypatch):
    import tssynth.metrics.report as report
    from tssynth.data.schema import infer_schema

    rng = np.random.default_rng(0)
    columns = [f"c{i}" for i in range(100)]
    real = pd.DataFrame(rng.normal(size=(200, 100)), columns=columns)
    synthetic = real.sample(frac=1.0, random_state=0).reset_index(drop=True)
    synthetic["c7"] = rng.normal(size=200)
    figures = report._matplotlib()
    if figures is None:
        pytest.skip("matplotlib is not installed")
    panel = report._MAX_PANEL_INCHES * 80  # pixels at the report's 80 dpi
    data, note = report._correlation_plot(figures, real, synthetic, infer_schema(real))
    width, height = _png_size(base64.b64decode(data))
    assert width <= 3 * panel and height <= panel  # 100 columns would take 37 in
    assert note.startswith("Showing 40 of 100 continuous columns")
    fidelity = evaluate(real, synthetic, metrics=["fidelity"]).fidelity
    data, note = report._pair_score_plot(figures, fidelity.per_pair, columns)
    width, height = _png_size(base64.b64decode(data))
    assert width <= panel + 80 and height <= panel and note.startswith("Showing 40 of 100")

    # The column distributions drawn are the worst ones, and the report says so.
    monkeypatch.setattr(report, "_MAX_PLOTTED", 5)
    synthetic["c3"] += 3.0  # the worst shape
    result = evaluate(real[columns[:12]], synthetic[columns[:12]], metrics=["fidelity"])
    path = result.save_html(tmp_path / "wide.html")
    plotted = {name for name in _images(path) if name.startswith("plot-column-")}
    assert len(plotted) == 5 and "plot-column-c3" in plotted
    text = path.read_text(encoding="utf-8")
    assert "Showing 5 of 12 columns" in text and "Showing 5 of 12 continuous columns" in text


def _png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def test_nan_padded_sequences_of_several_lengths_are_evaluated_like_a_panel():
    rng = np.random.default_rng(0)

    def ragged(n: int, width: int) -> np.ndarray:
        array = rng.normal(size=(n, width, 2)).cumsum(axis=1)
        lengths = rng.integers(6, width + 1, n)
        array[np.arange(width)[None, :] >= lengths[:, None]] = np.nan
        return array

    real, synthetic = ragged(40, 12), ragged(40, 10)
    result = evaluate(
        real,
        synthetic,
        holdout=ragged(10, 11),
        metrics=["fidelity", "privacy", "temporal"],
        discriminative_steps=20,
        predictive_steps=20,
        n_threads=1,
    )
    assert result.errors == {}
    assert result.temporal is not None and result.temporal.window >= 2
    # Padding is not data: no missing values are counted.
    assert np.isnan(result.fidelity.missing_values)
    assert len(result.real) == int((~np.isnan(real).all(axis=2)).sum())


def test_identifier_columns_do_not_hide_copied_rows():
    def table(n: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        return pd.DataFrame(
            {
                "age": rng.integers(18, 90, n),
                "c": rng.choice(list("abc"), n),
                "x": rng.normal(size=n),
            }
        )

    real, holdout = table(600, 1), table(200, 2)
    synthetic = pd.concat([table(570, 3), real.sample(30, random_state=0)], ignore_index=True)
    # Fresh IDs, as samples number identifiers: every copied row has a new one.
    real.insert(0, "customer", [f"C{i}" for i in range(len(real))])
    holdout.insert(0, "customer", [f"H{i}" for i in range(len(holdout))])
    synthetic.insert(0, "customer", [str(i) for i in range(len(synthetic))])
    result = evaluate(real, synthetic, holdout=holdout, metrics=["privacy"])
    assert result.privacy.to_dict()["exact_copy_rate"] == pytest.approx(0.05)
    assert any("leave out the identifier columns ['customer']" in note for note in result.notes)
    # Fidelity leaves the text IDs out too (as categories every fresh one is unseen),
    # but keeps a number distinct on every row: it still has a distribution.
    real["serial"] = synthetic["serial"] = np.arange(600)
    scored = evaluate(real, synthetic, metrics=["fidelity"]).fidelity
    alone = evaluate(
        real.drop(columns="customer"), synthetic.drop(columns="customer"), metrics=["fidelity"]
    )
    assert scored.overall == pytest.approx(alone.fidelity.overall)
    assert set(scored.per_column["column"]) == {"age", "c", "x", "serial"}


def test_categories_written_as_text_are_read_as_the_real_values():
    rng = np.random.default_rng(0)

    def table(seed: int) -> pd.DataFrame:
        r = np.random.default_rng(seed)
        x = r.normal(size=300)
        return pd.DataFrame(
            {"x": x, "flag": r.random(300) < 0.3, "grade": r.integers(1, 4, 300), "y": x > 0}
        )

    train, holdout = table(0), table(1)
    # As another tool writes a CSV: booleans in lower case, integer codes as text.
    text = train.assign(
        flag=np.where(train["flag"], "true", "false"), grade=train["grade"].astype(str)
    )
    text.loc[rng.choice(300, 5, replace=False), "grade"] = "4"  # a code the real data lacks
    kwargs = {"holdout": holdout, "target": "y", "discrete_columns": ["grade"], "n_threads": 1}
    as_is, written = evaluate(train, train, **kwargs), evaluate(train, text, **kwargs)
    shapes = written.fidelity.per_column.set_index("column")["score"]
    assert shapes["flag"] == 1.0 and shapes["grade"] == pytest.approx(1 - 5 / 300)
    assert written.privacy.exact_copies == 295 and as_is.privacy.exact_copies == 300
    assert not written.utility.notes  # no feature left out for want of values


def test_numbers_are_not_read_as_datetimes():
    real = pd.DataFrame({"d": pd.date_range("2024", periods=60), "x": np.arange(60.0)})
    with pytest.raises(InvalidDataError, match="'d' holds datetimes in the real data but plain"):
        evaluate(real, real.assign(d=np.arange(60)), metrics=["fidelity"])
    # A panel's index as step numbers (DenseVAE windows) only orders the steps.
    rng = np.random.default_rng(0)
    panel = pd.DataFrame(
        {
            "k": np.repeat(np.arange(20), 8),
            "t": np.tile(pd.date_range("2024", periods=8), 20),
            "v": rng.normal(size=160),
        }
    )
    steps = panel.assign(t=np.tile(np.arange(8), 20))
    result = evaluate(panel, steps, sequence_key="k", sequence_index="t", metrics=["fidelity"])
    assert result.fidelity.overall == pytest.approx(1.0)
    assert any("holds step numbers where the real one holds times" in n for n in result.notes)
    # ... also beside integer times (hours since 1970), which were scored against them
    hours = panel.assign(t=np.tile(np.arange(8), 20) + 444_444)
    result = evaluate(hours, steps, sequence_key="k", sequence_index="t", metrics=["fidelity"])
    assert result.fidelity.overall == pytest.approx(1.0)
    assert any("holds step numbers" in note for note in result.notes)
    same = evaluate(steps, steps, sequence_key="k", sequence_index="t", metrics=["fidelity"])
    assert not any("holds step numbers" in note for note in same.notes)


def test_a_target_of_many_small_classes_is_scored_without_a_holdout():
    """30 classes of 2 rows in 60 (R's Pastes): the stratified 80/20 split could not fit
    them in 12 test rows and the section failed; scikit-learn also warned "could
    represent a regression problem" in its own words."""
    rng = np.random.default_rng(0)
    for classes in (30, 15):
        labels = np.repeat([f"s{i}" for i in range(classes)], 2)
        real = pd.DataFrame({"sample": labels, "x": rng.normal(size=2 * classes)})
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = evaluate(
                real, real.sample(frac=1.0, random_state=1), target="sample", metrics=["utility"]
            )
        assert result.errors == {} and result.utility is not None
    assert any("15 classes for 24 real rows" in note for note in result.utility.notes)


def test_sequences_of_other_lengths_are_evaluated_as_sequences():
    """Arrays of another T were refused unless one was NaN-padded (naming a holdout never
    given), and a list of sequences raised numpy's 'inhomogeneous shape'."""
    rng = np.random.default_rng(0)
    real = rng.normal(size=(30, 8, 2))
    longer = rng.normal(size=(30, 10, 2))
    options = {"metrics": ["temporal", "fidelity"], "discriminative_steps": 5, "n_threads": 1}
    result = evaluate(real, longer, **options, predictive_steps=5)
    assert np.isfinite(result.temporal.discriminative)
    sequences = [rng.normal(size=(int(length), 2)) for length in rng.integers(4, 9, 30)]
    padded = evaluate(sequences, longer, **options, predictive_steps=5)
    assert np.isfinite(padded.temporal.discriminative)
    assert padded.fidelity.per_column["column"].tolist() == ["x0", "x1"]
    as_objects = np.empty(len(sequences), dtype=object)
    as_objects[:] = sequences
    again = evaluate(as_objects, longer, **options, predictive_steps=5)
    assert again.fidelity.overall == padded.fidelity.overall
    with pytest.raises(InvalidDataError, match=r"differ in their channels d .*real \(8, 2\), "):
        evaluate(real, rng.normal(size=(30, 8, 3)), metrics=["fidelity"])


def test_long_column_labels_stay_apart_in_the_plots():
    from tssynth.metrics.report import _short_label

    names = [f"a_very_long_column_name_about_measurement_{i:03d}_mean" for i in range(3)]
    labels = [_short_label(name, 16) for name in names]
    assert len(set(labels)) == 3 and all(len(label) == 16 for label in labels)
    assert _short_label("age", 16) == "age"


def test_dollar_signs_in_names_and_categories_are_drawn_as_text(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    real = pd.DataFrame(
        {
            "mass_$g_x_y$": rng.normal(size=200),  # TeX would fail: a double subscript
            "price": rng.choice(["$5-$10", "$10-$20", "<$5"], 200),
        }
    )
    result = evaluate(real, real.sample(200, replace=True, random_state=1), metrics=["fidelity"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # no downcasting warning per category
        path = result.save_html(tmp_path / "report.html")
    assert "mass_$g_x_y$" in path.read_text(encoding="utf-8")


def test_scores_of_columns_that_print_alike_are_all_kept():
    from tssynth.metrics import fidelity_report

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({1: rng.normal(size=100), "1": rng.normal(size=100), "c": ["a", "b"] * 50})
    data = fidelity_report(frame, frame.sample(frac=1.0, random_state=0)).to_dict()
    assert len(data["columns"]) == 3 and len(data["pairs"]) == 3
    assert json.loads(json.dumps(data))["columns"]["'1'"] == data["columns"]["'1'"]
