"""The tssynth command line: fit, sample (streamed), evaluate, demo, errors without tracebacks."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from tssynth import load
from tssynth.cli import CLIError, TableWriter, main, read_data
from tssynth.datasets import load_adult
from tssynth.exceptions import DataWarning


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    adult = load_adult().sample(1500, random_state=0).reset_index(drop=True)
    adult.iloc[:1000].to_csv(root / "real.csv", index=False)
    adult.iloc[1000:].to_csv(root / "holdout.csv", index=False)
    generator = root / "adult.tssynth"
    code = main(
        [
            "fit",
            str(root / "real.csv"),
            "--model",
            "tvae",
            "--epochs",
            "2",
            "--discrete-columns",
            "education-num",
            "-o",
            str(generator),
            "-q",
        ]
    )
    assert code == 0
    return root


def test_fit_writes_a_loadable_generator_with_the_options(files):
    synthesizer = load(files / "adult.tssynth")
    assert synthesizer.epochs == 2
    assert synthesizer.sample(5).shape == (5, 15)


def test_fit_with_identifiers_numbers_them_afresh(files):
    data = pd.read_csv(files / "real.csv").assign(person=lambda d: [f"p{i}" for i in range(len(d))])
    data.to_csv(files / "people.csv", index=False)
    generator = files / "people.tssynth"
    args = ["fit", str(files / "people.csv"), "--epochs", "1", "--identifiers", "person"]
    assert main([*args, "-o", str(generator), "-q"]) == 0
    sampled = load(generator).sample(4)
    assert sampled["person"].tolist() == ["0", "1", "2", "3"]
    bad = ["fit", str(files / "people.csv"), "--identifiers", "nope", "-q"]
    assert main([*bad, "-o", str(files / "bad.tssynth")]) == 1  # a named error, no traceback
    assert not (files / "bad.tssynth").exists()


def test_warnings_are_one_line_without_source_paths(files, capsys):
    data = pd.read_csv(files / "real.csv").assign(person=lambda d: [f"p{i}" for i in range(len(d))])
    data.to_csv(files / "people_warned.csv", index=False)
    args = ["fit", str(files / "people_warned.csv"), "--epochs", "1", "-q"]
    assert main([*args, "-o", str(files / "warned.tssynth")]) == 0
    err = capsys.readouterr().err
    assert "tssynth: warning: Column 'person' has a different value" in err
    assert ".py:" not in err and "DataWarning" not in err


def sample_args(generator, out, n: int) -> list[str]:
    return ["sample", str(generator), "-n", str(n), "--chunk-size", "7", "-o", str(out), "-q"]


def test_fit_dvae_with_context_columns_keeps_them_static(files, capsys):
    rng = np.random.default_rng(0)
    lengths = rng.integers(4, 9, 30)
    panel = pd.DataFrame(
        {
            "patient": np.repeat([f"p{i}" for i in range(30)], lengths),
            "day": np.concatenate([np.arange(n) for n in lengths]),
            "hr": rng.normal(70, 5, lengths.sum()),
            "sex": np.repeat(np.where(np.arange(30) % 2, "F", "M"), lengths),
        }
    )
    panel.to_csv(files / "visits.csv", index=False)
    generator = files / "visits.tssynth"
    args = ["fit", str(files / "visits.csv"), "--model", "dvae", "--epochs", "1"]
    keys = ["--sequence-key", "patient", "--sequence-index", "day", "--context-columns", "sex"]
    assert main([*args, *keys, "-o", str(generator), "-q"]) == 0
    sampled = load(generator).sample(40)
    assert (sampled.groupby("patient")["sex"].nunique() == 1).all()
    assert set(sampled["sex"]) <= {"F", "M"}
    # Text keys ("0", "1", ...) stay numbers-as-text across chunks: "70", not "c70_0".
    out = files / "visits_sample.csv"
    assert (
        main(["sample", str(generator), "-n", "20", "--chunk-size", "7", "-o", str(out), "-q"]) == 0
    )
    assert sorted(pd.read_csv(out)["patient"].unique()) == list(range(20))
    # --context gives each sequence its context, row by row across chunks.
    given = pd.DataFrame({"sex": ["F"] * 3 + ["M"] * 17})
    given.to_csv(files / "contexts.csv", index=False)
    with_context = [*sample_args(generator, out, 20), "--context", str(files / "contexts.csv")]
    assert main([*with_context, "--force"]) == 0
    drawn = pd.read_csv(out).groupby("patient")["sex"].first()
    assert drawn.tolist() == given["sex"].tolist()
    few = [*sample_args(generator, out, 5), "--context", str(files / "contexts.csv"), "--force"]
    assert main(few) == 1
    assert "has 20 rows; it needs one per sequence, -n 5" in capsys.readouterr().err
    # A table model takes no context: a named error before any training.
    table = ["fit", str(files / "visits.csv"), "--context-columns", "sex", "-q"]
    assert main([*table, "-o", str(files / "no.tssynth")]) == 1
    assert "--context-columns is not supported by TVAESynthesizer" in capsys.readouterr().err
    # Identifiers are for tables: windows say so rather than listing metadata keys.
    numbers = pd.DataFrame({"patient": np.arange(40) // 8, "x": np.arange(40.0)})
    numbers.to_csv(files / "numbers.csv", index=False)
    windows = ["fit", str(files / "numbers.csv"), "--model", "dense", "--window", "3", "-q"]
    assert main([*windows, "--identifiers", "patient", "-o", str(files / "no.tssynth")]) == 1
    assert "(--identifiers on the command line) is for tables" in capsys.readouterr().err


def test_fit_with_epsilon_trains_privately_and_reports_the_budget(files, capsys):
    generator = files / "private.tssynth"
    args = ["fit", str(files / "real.csv"), "--epochs", "1", "--epsilon", "2", "-o", str(generator)]
    settings = ["--loss-factor", "20", "--learning-rate", "3e-3", "--embedding-dim", "16"]
    assert main([*args, *settings, "-q"]) == 0
    assert "epsilon = " in capsys.readouterr().out
    synthesizer = load(generator)
    assert synthesizer.epsilon_ <= 2.0 and synthesizer.loss_factor == 20.0
    assert synthesizer.learning_rate == 3e-3 and synthesizer.embedding_dim == 16


@pytest.mark.parametrize("suffix", ["csv", "csv.gz", "parquet"])
def test_sample_streams_chunks_into_one_file(files, suffix):
    out = files / f"synthetic.{suffix}"
    assert (
        main(
            [
                "sample",
                str(files / "adult.tssynth"),
                "-n",
                "2500",
                "--chunk-size",
                "1000",
                "-o",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    frame = pd.read_parquet(out) if suffix == "parquet" else pd.read_csv(out)
    assert frame.shape == (2500, 15)
    if suffix == "csv.gz":  # compressed by its final name (chunks go to a .partial file)
        assert out.read_bytes()[:2] == b"\x1f\x8b"
    assert frame.iloc[:1000].duplicated().sum() < 50
    # Chunks continue one random stream: the second chunk is not a repeat of the first.
    assert (
        not frame.iloc[:1000]
        .reset_index(drop=True)
        .equals(frame.iloc[1000:2000].reset_index(drop=True))
    )
    if suffix == "parquet":
        import pyarrow.parquet as pq

        assert pq.ParquetFile(out).num_row_groups == 3
    assert not list(files.glob("*.partial"))


def test_sample_refuses_to_overwrite_and_reports_bad_output(files, capsys):
    out = files / "once.csv"
    assert main(["sample", str(files / "adult.tssynth"), "-n", "3", "-o", str(out), "-q"]) == 0
    assert main(["sample", str(files / "adult.tssynth"), "-n", "3", "-o", str(out), "-q"]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["sample", str(files / "adult.tssynth"), "-n", "3", "-o", "x.xlsx"]) == 1
    assert ".xlsx" in capsys.readouterr().err


def test_evaluate_prints_scores_and_writes_report_and_json(files, capsys):
    synthetic = files / "eval_synth.csv"
    main(["sample", str(files / "adult.tssynth"), "-n", "800", "-o", str(synthetic), "-q"])
    report, scores = files / "report.html", files / "scores.json"
    code = main(
        [
            "evaluate",
            str(files / "real.csv"),
            str(synthetic),
            "--holdout",
            str(files / "holdout.csv"),
            "--target",
            "income",
            "--metrics",
            "fidelity,utility,privacy",
            "--generator",
            str(files / "adult.tssynth"),
            "--report",
            str(report),
            "--json",
            str(scores),
            "--threads",
            "1",
            "-q",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "fidelity  overall" in out and "roc_auc" in out and "privacy" in out
    data = json.loads(scores.read_text())
    assert 0 <= data["fidelity"]["overall"] <= 1 and data["utility"]["task"] == "classification"
    html = report.read_text(encoding="utf-8")
    assert 'id="plot-loss"' in html and 'id="plot-column-age"' in html


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fit", "missing.csv", "-o", "g.tssynth"], "does not exist"),
        (["fit", "{real}", "--window", "4", "-o", "{tmp}/g.tssynth"], "--window is not supported"),
        (["sample", "{real}", "-n", "3", "-o", "{tmp}/x.csv"], "not a tssynth generator"),
        (["sample", "{gen}", "-n", "-3", "-o", "{tmp}/x.csv"], "-n must be"),
        (["evaluate", "{real}", "{real}", "--target", "salary"], "target 'salary'"),
        (["evaluate", "{real}", "{tmp}/no.csv"], "does not exist"),
        (["evaluate", "{real}", "{real}", "--threads", "0"], "--threads must be"),
        (["fit", "{real}", "--epochs", "0", "-o", "{tmp}/g.tssynth"], "--epochs must be"),
        (["fit", "{tmp}", "-o", "{tmp}/g.tssynth"], "is a folder"),
    ],
)
def test_bad_input_gives_one_line_and_exit_1(files, capsys, argv, message):
    names = {"real": files / "real.csv", "gen": files / "adult.tssynth", "tmp": files}
    code = main([arg.format(**names) for arg in argv])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("tssynth: error:") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("where", ["missing-folder", "folder"])
def test_fit_checks_the_output_path_before_training(files, capsys, monkeypatch, where):
    def no_training(self, *args, **kwargs):
        raise AssertionError("fit ran before the output path was checked")

    monkeypatch.setattr("tssynth.TVAESynthesizer.fit", no_training)
    output = files / "nope" / "g.tssynth" if where == "missing-folder" else files
    code = main(["fit", str(files / "real.csv"), "--model", "tvae", "-o", str(output), "--force"])
    err = capsys.readouterr().err
    assert code == 1 and str(output) in err
    assert ("does not exist" if where == "missing-folder" else "it is a folder") in err


def test_unavailable_model_is_a_clear_error(files, capsys, monkeypatch):
    import tssynth

    monkeypatch.delattr(tssynth, "DVAESynthesizer", raising=False)
    code = main(["fit", str(files / "real.csv"), "--model", "dvae", "-o", str(files / "d.ts")])
    assert code == 1 and "not available in this version" in capsys.readouterr().err


def test_evaluate_reads_windows_from_npy(files, capsys):
    rng = np.random.default_rng(0)
    for name in ("real", "synth"):
        np.save(files / f"{name}.npy", rng.uniform(size=(40, 6, 2)))
    code = main(
        [
            "evaluate",
            str(files / "real.npy"),
            str(files / "synth.npy"),
            "--metrics",
            "fidelity,temporal",
            "--discriminative-steps",
            "20",
            "--predictive-steps",
            "20",
            "--threads",
            "1",
            "-q",
        ]
    )
    assert code == 0 and "temporal  overall" in capsys.readouterr().out


def test_window_samples_stream_into_npy_and_tables_refuse_it(files, capsys, tmp_path):
    np.save(tmp_path / "windows.npy", np.random.default_rng(0).uniform(size=(30, 5, 2)))
    generator = tmp_path / "dense.tssynth"
    fit = ["fit", str(tmp_path / "windows.npy"), "--model", "dense", "--epochs", "1"]
    assert main([*fit, "-o", str(generator), "-q"]) == 0
    out = tmp_path / "synthetic.npy"
    sample = ["sample", str(generator), "-n", "7", "--chunk-size", "3", "-o", str(out), "-q"]
    assert main(sample) == 0
    drawn = np.load(out)
    assert drawn.shape == (7, 5, 2) and ((drawn >= 0) & (drawn <= 1)).all()  # training range
    assert len(np.unique(drawn[:, 0, 0])) == 7  # seven draws, none repeated across chunks
    tables = ["sample", str(files / "adult.tssynth"), "-n", "3", "-o", str(tmp_path / "a.npy")]
    assert main([*tables, "-q"]) == 1
    assert "its samples are tables" in capsys.readouterr().err
    assert not (tmp_path / "a.npy").exists() and not list(tmp_path.glob("*.partial"))


def test_csv_separator_decimal_mark_and_encoding_are_detected(tmp_path):
    # A European spreadsheet export: ';' between fields, decimal commas, dots between
    # thousands, one column with dot decimals, Windows-1252 text, gzip.
    text = "name;amount;big;ratio\nJosé;1,5;1.234,5;0.25\nAnna;2,5;12,0;0.5\nBjörk;-3;7;\n"
    (tmp_path / "eu.csv").write_bytes(text.encode("cp1252"))
    expected = pd.DataFrame(
        {
            "name": ["José", "Anna", "Björk"],
            "amount": [1.5, 2.5, -3.0],
            "big": [1234.5, 12.0, 7.0],
            "ratio": [0.25, 0.5, np.nan],
        }
    )
    pd.testing.assert_frame_equal(read_data(tmp_path / "eu.csv"), expected, check_dtype=False)
    import gzip

    with gzip.open(tmp_path / "pipes.csv.gz", "wt") as handle:
        handle.write('a|b\n1.5|"x,y"\n2.5|z\n')
    frame = read_data(tmp_path / "pipes.csv.gz")
    assert frame.columns.tolist() == ["a", "b"] and frame["a"].tolist() == [1.5, 2.5]
    # Commas stay the default, also with ';' inside quoted text.
    (tmp_path / "plain.csv").write_text('a,b\n1.5,"x;y"\n2.5,z\n')
    assert read_data(tmp_path / "plain.csv")["b"].tolist() == ["x;y", "z"]
    # One column whose text holds ';' unquoted (as pandas writes it) reads whole.
    lines = ["Main St 1; Springfield", "Elm St 2; Shelbyville", "Oak Rd 3; Ogdenville"]
    (tmp_path / "one.csv").write_text("address\n" + "\n".join(lines) + "\n")
    frame = read_data(tmp_path / "one.csv")
    assert frame.columns.tolist() == ["address"] and frame["address"].tolist() == lines
    # Blank lines do not hide the separator.
    (tmp_path / "blank.csv").write_text("a;b\n1,5;2\n3,5;4\n\n")
    assert read_data(tmp_path / "blank.csv")["a"].tolist() == [1.5, 3.5]
    (tmp_path / "tabs.csv").write_text("a\tb\n1\t2\n\n3\t4\n")
    assert read_data(tmp_path / "tabs.csv").columns.tolist() == ["a", "b"]
    # A line with more fields than the header is an error, not a row label.
    (tmp_path / "ragged.csv").write_text("a,b\n1,2,3\n4,5,6\n")
    with pytest.raises(CLIError, match="more fields than the header"):
        read_data(tmp_path / "ragged.csv")


def test_no_command_overwrites_its_input_or_an_existing_report(files, capsys):
    real, generator = files / "real.csv", files / "adult.tssynth"
    before = real.read_bytes()
    code = main(["fit", str(real), "--epochs", "1", "-o", str(real), "--force", "-q"])
    assert code == 1 and "is the input file" in capsys.readouterr().err
    code = main(["sample", str(generator), "-n", "2", "-o", str(generator), "--force", "-q"])
    assert code == 1 and "is the input file" in capsys.readouterr().err
    evaluate = ["evaluate", str(real), str(real), "--metrics", "fidelity", "-q"]
    assert main([*evaluate, "--report", str(real), "--force"]) == 1
    assert "is the input file" in capsys.readouterr().err
    assert real.read_bytes() == before
    scores = files / "existing.json"
    scores.write_text("{}")
    assert main([*evaluate, "--json", str(scores)]) == 1
    assert "--force" in capsys.readouterr().err and scores.read_text() == "{}"
    assert main([*evaluate, "--json", str(scores), "--force"]) == 0

    # Strict JSON: scores that are not defined (no missing values, no holdout) are null.
    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    assert "fidelity" in json.loads(scores.read_text(), parse_constant=refuse)
    plain = files / "plain.csv"
    pd.DataFrame({"x": np.arange(30.0), "y": np.arange(30.0) % 7}).to_csv(plain, index=False)
    strict = files / "strict.json"
    assert main(["evaluate", str(plain), str(plain), "--json", str(strict), "-q"]) == 0
    written = json.loads(strict.read_text(), parse_constant=refuse)
    assert written["fidelity"]["missing_values"] is None  # no missing values: not defined


def test_help_everywhere_and_python_dash_m():
    for command in ([], ["fit"], ["sample"], ["evaluate"], ["demo"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--help"])
        assert exit_info.value.code == 0
    done = subprocess.run(
        [sys.executable, "-m", "tssynth.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0
    for command in ("fit", "sample", "evaluate", "demo"):
        assert command in done.stdout


def test_sample_sizes_its_chunks_to_the_memory_a_model_needs(tmp_path, monkeypatch):
    """Long sequences: the default chunk (100,000) was refused by sample's own memory
    check, whose message pointed to this command."""
    import tssynth.data.memory as memory_module

    X = np.random.default_rng(0).normal(size=(20, 12, 2))
    np.save(tmp_path / "seq.npy", X)
    fit = ["fit", str(tmp_path / "seq.npy"), "--model", "dvae", "--epochs", "1", "-q"]
    assert main([*fit, "-o", str(tmp_path / "d.tssynth")]) == 0
    model = load(tmp_path / "d.tssynth")
    per_sequence = model._sample_bytes(12, True)
    monkeypatch.setattr(memory_module, "_physical_memory", lambda: 2 * 7 * per_sequence)
    assert model._sample_chunk_limit() == 7
    out = ["-n", "30", "-o", str(tmp_path / "d.npy"), "-q"]
    assert main(["sample", str(tmp_path / "d.tssynth"), *out]) == 0
    assert np.load(tmp_path / "d.npy").shape == (30, 12, 2)


def test_sequence_samples_leave_out_padding_and_number_windows_across_chunks(tmp_path):
    rng = np.random.default_rng(0)
    ragged = rng.normal(size=(20, 12, 2))
    lengths = rng.integers(3, 13, 20)
    ragged[np.arange(12)[None, :] >= lengths[:, None]] = np.nan
    np.save(tmp_path / "ragged.npy", ragged)
    common = ["--epochs", "1", "--batch-size", "8", "-q"]
    assert (
        main(
            [
                "fit",
                str(tmp_path / "ragged.npy"),
                "--model",
                "dvae",
                "-o",
                str(tmp_path / "d.tssynth"),
                *common,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "sample",
                str(tmp_path / "d.tssynth"),
                "-n",
                "6",
                "--chunk-size",
                "4",
                "-o",
                str(tmp_path / "d.csv"),
                "-q",
            ]
        )
        == 0
    )
    sequences = pd.read_csv(tmp_path / "d.csv")
    assert not sequences[["x0", "x1"]].isna().all(axis=1).any()  # no padding rows
    assert sorted(sequences["sequence"].unique()) == list(range(6))
    assert (sequences.groupby("sequence")["step"].max() + 1).isin(lengths).all()

    long = pd.DataFrame({"t": np.arange(200), "v": np.sin(np.arange(200) / 5)})
    long.to_csv(tmp_path / "long.csv", index=False)
    assert (
        main(
            [
                "fit",
                str(tmp_path / "long.csv"),
                "--model",
                "dense",
                "--window",
                "10",
                "--sequence-index",
                "t",
                "-o",
                str(tmp_path / "w.tssynth"),
                *common,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "sample",
                str(tmp_path / "w.tssynth"),
                "-n",
                "25",
                "--chunk-size",
                "10",
                "-o",
                str(tmp_path / "w.csv"),
                "-q",
            ]
        )
        == 0
    )
    windows = pd.read_csv(tmp_path / "w.csv")
    assert windows["window"].nunique() == 25 and windows.groupby("window").size().eq(10).all()


def test_dst_offsets_in_csv_and_parquet_dates_and_decimals_are_read_as_such(tmp_path):
    berlin = pd.date_range("2024-03-30", periods=48, freq="h", tz="Europe/Berlin")
    pd.DataFrame({"t": berlin, "x": range(48)}).to_csv(tmp_path / "dst.csv", index=False)
    read = read_data(tmp_path / "dst.csv")["t"]
    assert str(read.dt.tz) == "UTC" and (read == berlin.tz_convert("UTC")).all()

    import datetime
    import decimal

    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    dates = [datetime.date(2024, 1, 1) + datetime.timedelta(days=i) for i in range(5)]
    amounts = [decimal.Decimal("1.25") * i for i in range(5)]
    table = pa.table(
        {"d": pa.array(dates, pa.date32()), "a": pa.array(amounts, pa.decimal128(10, 2))}
    )
    pq.write_table(table, tmp_path / "db.parquet")
    frame = read_data(tmp_path / "db.parquet")
    assert frame["d"].tolist() == [pd.Timestamp(d) for d in dates]
    assert frame["a"].dtype == np.float64 and frame["a"].tolist() == [1.25 * i for i in range(5)]


def test_dst_offsets_are_read_as_utc_where_pandas_warns_instead_of_raising(tmp_path, monkeypatch):
    berlin = pd.date_range("2024-03-30", periods=48, freq="h", tz="Europe/Berlin")
    pd.DataFrame({"t": berlin, "x": range(48)}).to_csv(tmp_path / "dst.csv", index=False)
    parse = pd.to_datetime

    def pandas2(values, *args, utc=False, **kwargs):  # pandas 2.x on changing offsets
        if not utc and isinstance(values, pd.Series) and values.str.contains(r"\+01:00").any():
            warnings.warn(
                "Parsing datetimes with mixed time zones ...", FutureWarning, stacklevel=2
            )
            return values.map(lambda text: pd.Timestamp(text).to_pydatetime()).astype(object)
        return parse(values, *args, utc=utc, **kwargs)

    monkeypatch.setattr(pd, "to_datetime", pandas2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        read = read_data(tmp_path / "dst.csv")["t"]
    assert str(read.dt.tz) == "UTC" and (read == berlin.tz_convert("UTC")).all()


def test_fit_passes_the_stride_of_windows(tmp_path):
    long = pd.DataFrame({"t": np.arange(120), "v": np.sin(np.arange(120) / 5)})
    long.to_csv(tmp_path / "long.csv", index=False)
    argv = ["fit", str(tmp_path / "long.csv"), "--model", "dense", "--window", "10"]
    assert main([*argv, "--stride", "10", "--epochs", "1", "-o", str(tmp_path / "g"), "-q"]) == 0
    assert load(tmp_path / "g").stride == 10


def test_utf16_and_truncated_gzip_files_are_read_or_named(tmp_path, capsys):
    import gzip

    frame = pd.DataFrame({"age": [30, 41, 52], "city": ["Zürich", "Köln", "Genève"]})
    unicode_text = tmp_path / "excel.tsv"
    unicode_text.write_bytes(frame.to_csv(sep="\t", index=False).encode("utf-16"))
    pd.testing.assert_frame_equal(read_data(unicode_text), frame, check_dtype=False)
    raw = gzip.compress(b"a,b\n" + b"1,2\n" * 20_000)
    (tmp_path / "cut.csv.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CLIError, match=r"could not read data file .*cut\.csv\.gz.*ended"):
        read_data(tmp_path / "cut.csv.gz")


def test_evaluate_refuses_one_file_for_scores_and_report(files, capsys):
    same = str(files / "out.any")
    args = ["evaluate", str(files / "real.csv"), str(files / "holdout.csv"), "-q"]
    assert main([*args, "--json", same, "--report", same]) == 1
    assert "--json and --report both name" in capsys.readouterr().err


def test_demo_refuses_an_output_it_cannot_write(tmp_path):
    with pytest.raises(SystemExit) as stop:
        main(["demo", "--epochs", "1", "--output", str(tmp_path / "x.parquet")])
    assert stop.value.code == 2 and not (tmp_path / "x.parquet").exists()


def test_dense_windows_refuse_a_text_time_column(tmp_path, capsys):
    days = pd.date_range("2023-01-01", periods=40, freq="D").strftime("%d/%m/%Y")
    frame = pd.DataFrame({"day": days, "value": np.arange(40.0)})
    frame.to_csv(tmp_path / "daily.csv", index=False)
    args = ["fit", str(tmp_path / "daily.csv"), "--model", "dense", "--window", "5"]
    code = main([*args, "--sequence-index", "day", "-o", str(tmp_path / "d.tssynth"), "-q"])
    assert code == 1
    assert "sorts alphabetically, not in time" in capsys.readouterr().err


def test_zero_padded_codes_stay_text_and_repeated_headers_are_refused(tmp_path):
    (tmp_path / "codes.csv").write_text("zip,count\n01000,3\n02110,-4\n10115,5\n")
    frame = read_data(tmp_path / "codes.csv")
    assert frame["zip"].tolist() == ["01000", "02110", "10115"]
    assert frame["count"].tolist() == [3, -4, 5]  # integers without padding stay numbers
    (tmp_path / "twice.csv").write_text("\nage,age,city\n1,2,a\n3,4,b\n")  # a blank first line
    with pytest.raises(CLIError, match="the header names 'age' more than once"):
        read_data(tmp_path / "twice.csv")
    # a spreadsheet's trailing empty columns: unnamed, not named twice
    (tmp_path / "trailing.csv").write_text("a,b,,\n1,2,,\n3,4,,\n")
    assert list(read_data(tmp_path / "trailing.csv").columns[:2]) == ["a", "b"]
    (tmp_path / "semi.csv").write_text("zip;v;f\n01000;1;1,5\n02110;2;2,5\n")
    semi = read_data(tmp_path / "semi.csv")  # decimal commas
    assert semi["zip"].tolist() == ["01000", "02110"] and semi["f"].tolist() == [1.5, 2.5]


def test_integers_with_empty_cells_and_empty_rows_are_read_as_written(tmp_path):
    """An empty cell made codes lose their zeros and counts floats (written "3.0"); lines
    of separators only were records lacking every value."""
    (tmp_path / "gaps.csv").write_text(
        "zip,count,ratio,big\n01000,3,1.0,1\n,,2.0,\n07501,-4,,5\n,,,\n,,,\n"
    )
    with pytest.warns(DataWarning, match="has 2 rows without any value"):
        frame = read_data(tmp_path / "gaps.csv")
    assert frame["zip"].tolist()[::2] == ["01000", "07501"] and pd.isna(frame["zip"][1])
    assert frame["count"].dtype == "Int64" and frame["count"].tolist() == [3, pd.NA, -4]
    assert frame["ratio"].dtype == np.float64  # written with a point: stays a float
    assert frame["big"].dtype == "Int64"
    (tmp_path / "excel.csv").write_text("n;x\n1;2,5\n2;3,5\n;\n;\n")
    with pytest.warns(DataWarning, match="2 rows without any value"):
        excel = read_data(tmp_path / "excel.csv")
    assert excel["n"].dtype == np.int64 and excel["x"].tolist() == [2.5, 3.5]


def test_na_values_keeps_text_that_pandas_reads_as_missing(tmp_path, capsys):
    (tmp_path / "regions.csv").write_text("region,v\nNA,1\nEU,2\nNA,3\n,4\nnull,5\n")
    assert read_data(tmp_path / "regions.csv")["region"].isna().sum() == 4  # pandas' markers
    kept = read_data(tmp_path / "regions.csv", na_values=[])["region"]
    assert kept.tolist()[:3] == ["NA", "EU", "NA"] and pd.isna(kept[3]) and kept[4] == "null"
    assert read_data(tmp_path / "regions.csv", na_values=["null"])["region"].isna().sum() == 2
    generator, out = tmp_path / "r.tssynth", tmp_path / "r.csv"
    fit = ["fit", str(tmp_path / "regions.csv"), "--na-values", "", "--epochs", "1", "-q"]
    assert main([*fit, "-o", str(generator)]) == 0
    assert main(["sample", str(generator), "-n", "200", "-o", str(out), "-q"]) == 0
    written = pd.read_csv(out, keep_default_na=False)["region"]
    assert set(written) <= {"NA", "EU", "null", ""} and "NA" in set(written)


def test_column_names_with_commas_and_spaces_can_be_declared(tmp_path):
    """' grade' (a header written 'id, grade') and 'Income, USD' could not be named."""
    rows = "".join(f"{i}, {i % 4}, {i * 7 % 13}.5\n" for i in range(40))
    (tmp_path / "spaced.csv").write_text("id, grade, score\n" + rows)
    for typed in (" grade", "grade"):
        out = tmp_path / f"s{len(typed)}.tssynth"
        args = ["fit", str(tmp_path / "spaced.csv"), "--discrete-columns", typed, "--epochs", "1"]
        assert main([*args, "-q", "-o", str(out)]) == 0
        kinds = {spec.name: spec.kind for spec in load(out).transformer_.columns}
        assert kinds[" grade"] == "categorical" and kinds[" score"] == "continuous"
    rows = "".join(f"{i * 37 % 11},{i % 4},{i}\n" for i in range(40))
    (tmp_path / "comma.csv").write_text('"Income, USD",grade,id\n' + rows)
    args = ["fit", str(tmp_path / "comma.csv"), "--discrete-columns", "Income, USD,grade"]
    assert main([*args, "--epochs", "1", "-q", "-o", str(tmp_path / "c.tssynth")]) == 0
    kinds = {spec.name: spec.kind for spec in load(tmp_path / "c.tssynth").transformer_.columns}
    assert kinds == {"Income, USD": "categorical", "grade": "categorical", "id": "continuous"}


def test_semicolon_files_with_a_comma_in_a_header_name_are_read_as_such(tmp_path):
    rows = "".join(f"N{i % 3};{i * 7 % 50},{i % 10}5;{i % 5}\n" for i in range(30))
    (tmp_path / "de.csv").write_text("Name;Betrag, EUR;Anzahl\n" + rows)
    frame = read_data(tmp_path / "de.csv")
    assert frame.columns.tolist() == ["Name", "Betrag, EUR", "Anzahl"]
    assert frame["Betrag, EUR"].tolist()[:2] == [0.05, 7.15]


def test_parquet_integers_and_booleans_with_nulls_keep_their_types(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "visits": pa.array([1, None, 3, 4] * 10, pa.int64()),
            "level": pa.array([1, 2, None, 4] * 10, pa.uint8()),
            "flag": pa.array([True, None, False, True] * 10, pa.bool_()),
            "full": pa.array([1, 2, 3, 4] * 10, pa.int16()),
            "x": pa.array(np.linspace(0, 1, 40)),
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    frame = read_data(tmp_path / "in.parquet")
    assert frame.dtypes.astype(str).tolist() == ["Int64", "UInt8", "boolean", "int16", "float64"]
    generator, out = tmp_path / "p.tssynth", tmp_path / "out.parquet"
    assert (
        main(["fit", str(tmp_path / "in.parquet"), "--epochs", "1", "-q", "-o", str(generator)])
        == 0
    )
    assert main(["sample", str(generator), "-n", "50", "-o", str(out), "-q"]) == 0
    types = {field.name: str(field.type) for field in pq.read_schema(out)}
    assert types == {
        "visits": "int64",
        "level": "uint8",
        "flag": "bool",
        "full": "int16",
        "x": "double",
    }


def test_numbers_with_commas_between_thousands_are_read_as_numbers(tmp_path):
    # As Excel in English writes amounts; they were categories, each sample a real amount.
    (tmp_path / "amounts.csv").write_text(
        'income,pair,name\n"36,133.00","1,5",a\n"1,000",2,b\n"-2,500.5",3,"c,d"\n17,4,e\n'
    )
    frame = read_data(tmp_path / "amounts.csv")
    assert frame["income"].tolist() == [36133.0, 1000.0, -2500.5, 17.0]
    assert frame["pair"].tolist() == ["1,5", "2", "3", "4"]  # not grouped by thousands
    assert frame["name"].tolist() == ["a", "b", "c,d", "e"]


def test_parquet_chunks_wait_for_a_value_of_every_column_to_type_it(tmp_path):
    # A mostly missing column of dates was all missing in the first chunk: typed null,
    # the chunk with dates then failed ("ArrowTypeError") half-way through the file.
    pytest.importorskip("pyarrow")
    writer = TableWriter(tmp_path / "out.parquet")
    empty = pd.Series([None] * 3, dtype=object)
    dated = pd.Series([None, datetime.date(2020, 1, 2), None], dtype=object)
    for death in (empty, empty, dated, empty):
        writer.write(pd.DataFrame({"age": [30, 40, 50], "death": death}))
    writer.close()
    back = pd.read_parquet(tmp_path / "out.parquet")
    assert len(back) == writer.rows == 12
    assert back["death"].dropna().tolist() == [datetime.date(2020, 1, 2)]
    assert back["age"].tolist() == [30, 40, 50] * 4


def test_the_index_to_csv_writes_is_left_out_and_other_unnamed_columns_kept(tmp_path):
    frame = pd.DataFrame({"x": [0.5, 1.5, 2.5, 3.5], "c": list("abab")})
    frame.to_csv(tmp_path / "indexed.csv")  # ",x,c" then "0,0.5,a" ...
    with pytest.warns(DataWarning, match=r"first column .* numbers the rows .*to_csv\(index="):
        read = read_data(tmp_path / "indexed.csv")
    pd.testing.assert_frame_equal(read, frame, check_dtype=False)
    frame.set_index(pd.Index([3, 1, 2, 0])).to_csv(tmp_path / "shuffled.csv")  # not rows 0..n-1
    frame.to_csv(tmp_path / "named.csv", index_label="row")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        assert read_data(tmp_path / "shuffled.csv").shape == (4, 3)
        assert list(read_data(tmp_path / "named.csv").columns) == ["row", "x", "c"]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM cannot be sent to a process there")
def test_a_terminated_sample_leaves_no_partial_file(files, tmp_path):
    import signal
    import time

    out = tmp_path / "big.csv"
    command = [sys.executable, "-m", "tssynth.cli", "sample", str(files / "adult.tssynth")]
    command += ["-n", "50000000", "--chunk-size", "20000", "-q", "-o", str(out)]
    process = subprocess.Popen(command)
    partial = tmp_path / "big.csv.partial"
    deadline = time.monotonic() + 60
    while not partial.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert partial.exists()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []


def test_python_dash_m_tssynth_runs_the_command_line():
    done = subprocess.run(
        [sys.executable, "-m", "tssynth", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "evaluate" in done.stdout


def test_no_derive_dependencies_models_every_column(files, capsys):
    fitted = load(files / "adult.tssynth")  # education-num derived from education by default
    education_num = fitted.transformer_.column_names.index("education-num")
    assert list(fitted.transformer_._derived) == [education_num]
    args = ["fit", str(files / "real.csv"), "--epochs", "1", "-q", "--no-derive-dependencies"]
    assert main([*args, "-o", str(files / "apart.tssynth")]) == 0
    assert load(files / "apart.tssynth").transformer_._derived == {}
    windows = ["fit", str(files / "real.csv"), "--model", "dense", "--window", "3", "-q"]
    out = ["-o", str(files / "no.tssynth"), "--no-derive-dependencies"]
    assert main([*windows, *out]) == 1
    assert "--no-derive-dependencies is not supported by DenseVAE" in capsys.readouterr().err


def test_early_stopping_flag_sets_patience_and_its_errors_name_the_flag(files, capsys):
    args = ["fit", str(files / "real.csv"), "--epochs", "200", "-q", "--early-stopping", "2"]
    assert main([*args, "-o", str(files / "early.tssynth")]) == 0
    fitted = load(files / "early.tssynth")
    assert fitted.early_stopping and fitted.n_iter_no_change == 2
    assert len(fitted.loss_history_) < 200
    args[-1] = "0"
    assert main([*args, "-o", str(files / "no.tssynth")]) == 1
    assert "--early-stopping" in capsys.readouterr().err


def test_discrete_columns_of_an_array_are_positions(files, capsys):
    rng = np.random.default_rng(0)
    array = np.column_stack([rng.integers(0, 3, 300), rng.normal(size=(300, 2))])
    np.save(files / "table.npy", array)
    args = ["fit", str(files / "table.npy"), "--epochs", "1", "-q", "--discrete-columns"]
    assert main([*args, "0", "-o", str(files / "array.tssynth")]) == 0
    assert load(files / "array.tssynth").transformer_.columns[0].kind == "categorical"
    assert main([*args, "first", "-o", str(files / "no.tssynth")]) == 1
    assert "an array's columns are positions 0 to 2" in capsys.readouterr().err


def test_chunk_offsets_keep_integer_keys_of_object_and_category_columns():
    """Integer keys in an object or categorical column were shifted as text ("10")."""
    from tssynth.cli import _offset_keys

    for keys in (pd.Series([0, 1, 2], dtype=object), pd.Series([0, 1, 2], dtype="category")):
        shifted = _offset_keys(keys, 10)
        assert str(shifted.dtype) == str(keys.dtype) and shifted.tolist() == [10, 11, 12]
    text = _offset_keys(pd.Series(["0", "1"], dtype="category"), 10)
    assert text.tolist() == ["10", "11"]
