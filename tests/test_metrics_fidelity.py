"""Fidelity scores: column shapes, pair trends and missing values."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from tssynth import InvalidDataError
from tssynth.metrics import fidelity_report


def _frame(n: int, seed: int, shift: float = 0.0, flip: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = (-x if flip else x) + 0.3 * rng.normal(size=n)
    return pd.DataFrame(
        {
            "x": x + shift,
            "y": y,
            "c": np.where(x > 0, "hi", "lo").astype(object),
            "day": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 100, n), "D"),
        }
    )


def test_same_distribution_scores_near_one_and_differences_lower_it():
    real = _frame(3000, 0)
    same = fidelity_report(real, _frame(3000, 1))
    assert same.column_shapes > 0.97
    # Pairs with a continuous and a categorical column bin each table on its own
    # range, as SDMetrics does, so two samples of one Gaussian, whose extremes
    # differ, do not share bin edges: x-c scores 0.66 and overall is 0.91 (the
    # QualityReport gives the same numbers).
    assert same.overall > 0.9
    shifted = fidelity_report(real, _frame(3000, 1, shift=1.0))
    x_score = shifted.per_column.set_index("column").loc["x", "score"]
    assert x_score < 0.7  # KS complement of N(0,1) vs N(1,1) is about 0.62
    flipped = fidelity_report(real, _frame(3000, 1, flip=True))
    pair = flipped.per_pair.set_index(["column_1", "column_2"]).loc[("x", "y")]
    assert pair["metric"] == "CorrelationSimilarity"
    assert pair["score"] < 0.2  # corr +0.96 against -0.96
    assert flipped.column_pair_trends < same.column_pair_trends


def test_metrics_per_kind_and_datetime_is_continuous():
    report = fidelity_report(_frame(500, 0), _frame(500, 1))
    metrics = report.per_column.set_index("column")["metric"].to_dict()
    assert metrics == {
        "x": "KSComplement",
        "y": "KSComplement",
        "c": "TVComplement",
        "day": "KSComplement",
    }
    pair_metrics = report.per_pair.set_index(["column_1", "column_2"])["metric"]
    assert pair_metrics[("x", "c")] == "ContingencySimilarity"
    assert pair_metrics[("x", "day")] == "CorrelationSimilarity"


def test_tv_complement_matches_hand_computation():
    real = pd.DataFrame({"c": ["a"] * 50 + ["b"] * 50})
    synth = pd.DataFrame({"c": ["a"] * 80 + ["b"] * 20})
    report = fidelity_report(real, synth)
    assert report.per_column["score"].iloc[0] == pytest.approx(1 - 0.5 * (0.3 + 0.3))


def test_pairs_of_wide_columns_score_from_their_observed_cells():
    from scipy.stats.contingency import association

    rng = np.random.default_rng(0)
    n = 4000
    ids = rng.permutation(10**6)[:n].astype(str)  # an identifier: one category per row
    zips = rng.integers(0, 1500, n)
    region = (zips // 100).astype(str)  # determined by the zip code
    real = pd.DataFrame({"id": ids, "zip": zips.astype(str), "region": region})
    synthetic = real.sample(frac=1.0, random_state=1).assign(id=ids[::-1])
    report = fidelity_report(real, synthetic).per_pair.set_index(["column_1", "column_2"])
    # The same rows in another order: every pair not holding the ids matches exactly.
    assert report.loc[("zip", "region"), "score"] == pytest.approx(1.0)
    # The ids are paired with other zips: no joint (id, zip) cell is shared.
    assert report.loc[("id", "zip"), "score"] == pytest.approx(0.0, abs=0.01)
    expected = association(pd.crosstab(real["zip"], real["region"]).to_numpy(), method="cramer")
    assert report.loc[("zip", "region"), "real_association"] == pytest.approx(expected)


def test_missing_values_are_reported_not_dropped():
    real = pd.DataFrame({"v": [1.0, 2.0, np.nan, 4.0] * 50, "c": ["a", None, "b", "a"] * 50})
    synth = pd.DataFrame({"v": [1.0, 2.0, 3.0, 4.0] * 50, "c": ["a", "b", "b", "a"] * 50})
    report = fidelity_report(real, synth)
    per = report.per_column.set_index("column")
    assert per.loc["v", "real_missing"] == pytest.approx(0.25)
    assert per.loc["v", "synthetic_missing"] == 0
    assert report.missing_values == pytest.approx(0.75)
    assert per.loc["c", "score"] == pytest.approx(0.75)  # missing is a category of its own
    no_missing = fidelity_report(synth, synth)
    assert np.isnan(no_missing.missing_values)


def test_synthetic_read_back_from_csv_keeps_working(tmp_path):
    real = _frame(200, 0)
    path = tmp_path / "s.csv"
    _frame(200, 1).to_csv(path, index=False)
    report = fidelity_report(real, pd.read_csv(path))  # 'day' comes back as text
    assert report.per_column.set_index("column").loc["day", "score"] > 0.8


def test_clear_errors():
    real = _frame(50, 0)
    with pytest.raises(InvalidDataError, match="lacks the real columns"):
        fidelity_report(real, real.drop(columns="x"))
    bad = real.assign(x="text")
    with pytest.raises(InvalidDataError, match="'x'"):
        fidelity_report(real, bad)
    with pytest.raises(InvalidDataError, match="DataFrame"):
        fidelity_report(real, real.to_numpy())


def test_only_pairs_related_in_the_real_data_count_unless_thresholds_are_zero():
    rng = np.random.default_rng(0)
    n = 2000
    x = rng.normal(size=n)
    real = pd.DataFrame({"x": x, "y": x + 0.1 * rng.normal(size=n), "noise": rng.normal(size=n)})
    synth = real.assign(y=rng.normal(size=n))  # breaks the one real relationship
    report = fidelity_report(real, synth)
    per = report.per_pair.set_index(["column_1", "column_2"])
    assert per["contributes"].to_dict() == {
        ("x", "y"): True,
        ("x", "noise"): False,
        ("y", "noise"): False,
    }
    assert report.column_pair_trends == pytest.approx(per.loc[("x", "y"), "score"])
    assert report.column_pair_trends < 0.6 < report.column_pair_trends_all
    everything = fidelity_report(real, synth, correlation_threshold=0, association_threshold=0)
    assert everything.column_pair_trends == pytest.approx(report.column_pair_trends_all)


def test_continuous_columns_are_binned_on_each_tables_own_range_as_in_sdmetrics():
    # Real x takes 0..10; edges 0, 1, ..., 10 put each value in a bin of its own
    # (10, the maximum, in an 11th bin). The synthetic x never reaches the real
    # minimum 0, so its edges are 1, 1.9, ..., 10: 1..9 keep codes 1..9 while the
    # real 1..9 have codes 2..10, and the TVD of the (x bin, c) tables is 2/11.
    # Binned on the real range instead, the score would be 10/11.
    x = np.repeat(np.arange(11), 10)
    real = pd.DataFrame({"x": x, "c": np.where(x < 5, "lo", "hi").astype(object)})
    synth = real[real["x"] > 0]
    report = fidelity_report(real, synth)
    pair = report.per_pair.set_index(["column_1", "column_2"]).loc[("x", "c")]
    assert pair["metric"] == "ContingencySimilarity"
    assert pair["real_association"] == pytest.approx(1.0)
    assert pair["score"] == pytest.approx(9 / 11)
    assert report.column_pair_trends == pytest.approx(9 / 11)
    # A shifted and rescaled synthetic column keeps its bins, so its pair trend;
    # the shift shows in the column shape instead.
    moved = fidelity_report(real, real.assign(x=3 * real["x"] + 100.0))
    assert moved.column_pair_trends == pytest.approx(1.0)
    assert moved.per_column.set_index("column").loc["x", "score"] == pytest.approx(0.0)
    # Missing values are a bin of their own, not the maximum's: half the rows at
    # the maximum are missing in the real table, none in the synthetic one.
    gaps = real.assign(x=real["x"].where(real["x"] < 10).astype(float))
    gaps.loc[gaps.index[-5:], "x"] = 10.0
    filled = gaps.assign(x=gaps["x"].fillna(10.0))
    holes = fidelity_report(gaps, filled).per_pair.set_index(["column_1", "column_2"])
    assert holes.loc[("x", "c"), "score"] == pytest.approx(1 - 0.5 * (5 + 5) / 110)


def test_correlation_matrix_equals_the_per_pair_values(monkeypatch):
    from itertools import combinations

    import tssynth.metrics.fidelity as fidelity

    rng = np.random.default_rng(0)
    n = 500
    base = rng.normal(size=n)
    columns = [rng.normal(size=n) * (i + 1) + base * (i % 3) for i in range(8)]
    columns[1][:20] = np.nan  # missing values: pairwise complete rows
    columns[2][::3] = np.nan
    columns[3] = np.full(n, 7.0)  # constant
    columns[4] = np.full(n, 0.1)  # constant, though np.std rounds above 0
    columns[5] = np.full(n, np.nan)  # never observed
    columns[6] = 1.6e18 + rng.integers(0, 10**9, n).astype(float)  # nanosecond timestamps
    columns[7] = 2 * columns[0] + 1  # perfectly correlated
    matrix = fidelity._correlations(columns)
    for i, j in combinations(range(len(columns)), 2):
        expected = fidelity._correlation(columns[i], columns[j])
        if np.isnan(expected):
            assert np.isnan(matrix[i, j]) and np.isnan(matrix[j, i]), (i, j)
        else:
            assert matrix[i, j] == pytest.approx(expected, abs=1e-12), (i, j)
            assert matrix[j, i] == matrix[i, j]

    # In a report no pair is computed one by one, missing values or not.
    calls = []

    def counted(x, y):
        calls.append(1)
        return correlation(x, y)

    correlation = fidelity._correlation
    monkeypatch.setattr(fidelity, "_correlation", counted)
    names = [f"v{i}" for i in range(12)]
    real = pd.DataFrame(rng.normal(size=(300, 12)) @ rng.normal(size=(12, 12)), columns=names)
    synthetic = pd.DataFrame(rng.normal(size=(300, 12)), columns=names)
    report = fidelity_report(real, synthetic)
    assert not calls
    for row in report.per_pair.itertuples(index=False):
        for frame, value in ((real, row.real), (synthetic, row.synthetic)):
            expected = correlation(frame[row.column_1].to_numpy(), frame[row.column_2].to_numpy())
            assert value == pytest.approx(expected, abs=1e-12)
    real.loc[:5, "v0"] = np.nan
    report = fidelity_report(real, synthetic)
    assert not calls
    for row in report.per_pair.itertuples(index=False):
        expected = correlation(real[row.column_1].to_numpy(), real[row.column_2].to_numpy())
        assert row.real == pytest.approx(expected, abs=1e-12)


def test_a_constant_column_has_no_correlation_even_when_its_std_rounds_above_zero():
    from tssynth.metrics.fidelity import _correlation, _correlations

    rng = np.random.default_rng(0)
    constant = np.full(1000, 0.1)  # np.std(constant) is about 1e-17, not 0
    other = rng.normal(size=1000)
    assert np.std(constant) > 0
    assert np.isnan(_correlation(constant, other))
    matrix = _correlations([constant, other, other + rng.normal(size=1000)])
    assert np.isnan(matrix[0, 1]) and np.isnan(matrix[0, 2]) and not np.isnan(matrix[1, 2])


def test_scores_of_disjoint_tables_are_zero_not_below():
    real = pd.DataFrame({"c": list("ab") * 50, "d": list("xyz") * 33 + ["x"]})
    synth = pd.DataFrame({"c": ["q"] * 100, "d": ["w"] * 100})
    report = fidelity_report(real, synth)
    assert report.column_shapes == 0.0 and report.column_pair_trends == 0.0


def test_finer_synthetic_times_are_compared_on_the_real_unit():
    rng = np.random.default_rng(0)
    seconds = pd.to_timedelta(rng.integers(0, 86_400 * 365, 300), unit="s")
    real = pd.DataFrame({"ts": (pd.Timestamp("2023-01-01") + seconds).astype("datetime64[s]")})
    jitter = pd.to_timedelta(rng.integers(0, 10**8, 300), unit="ns")  # under 0.1 s
    synthetic = pd.DataFrame({"ts": real["ts"].astype("datetime64[ns]") + jitter})
    assert fidelity_report(real, synthetic).column_shapes == pytest.approx(1.0)


def test_correlations_with_missing_values_match_the_pairwise_definition():
    from tssynth.metrics.fidelity import _correlation, _correlations

    rng = np.random.default_rng(0)
    n, k = 400, 10
    values = rng.normal(size=(n, 1)) + rng.normal(size=(n, k)) * rng.uniform(0.1, 3, k)
    values[:, 3] += 1e6  # far from zero
    values[rng.random((n, k)) < 0.1] = np.nan
    values[:, 4] = np.where(rng.random(n) < 0.1, np.nan, 0.1)  # constant where observed
    values[:200, 5] = np.nan
    values[200:, 6] = 2.5  # constant on the rows where column 5 is observed
    values[:, 7] = np.nan
    values[0, 7] = 1.0  # a single value
    columns = [values[:, i].copy() for i in range(k)]
    expected = np.array(
        [
            [np.nan if i == j else _correlation(columns[i], columns[j]) for j in range(k)]
            for i in range(k)
        ]
    )
    got = _correlations(columns)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert np.isnan(got[5, 6]) and not np.isnan(got[5, 0])


@pytest.mark.parametrize("scale", [1e-160, 1e160, 1e300])
def test_scores_do_not_change_with_the_scale_of_the_columns(scale):
    rng = np.random.default_rng(0)
    y = rng.normal(size=300)
    real = pd.DataFrame({"y": y, "z": y + rng.normal(size=300) * 0.3, "w": rng.normal(size=300)})
    synthetic = real.sample(frac=1.0, random_state=1).reset_index(drop=True)
    synthetic.iloc[::7, 2] = np.nan  # one pair from the pairwise-complete path
    expected = fidelity_report(real, synthetic)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow in the products
        scaled = fidelity_report(real * scale, synthetic * scale)
    assert scaled.column_pair_trends == pytest.approx(expected.column_pair_trends, abs=1e-9)
    assert scaled.overall == pytest.approx(expected.overall, abs=1e-9)


def test_dependencies_count_the_rows_that_break_a_real_pairing(tmp_path):
    rng = np.random.default_rng(0)
    codes = rng.choice(["a", "b", "c", None], 400)
    names = {"a": "alpha", "b": "beta", "c": "gamma", None: "unknown"}
    real = pd.DataFrame(
        {"code": codes, "name": [names[c] for c in codes], "x": rng.normal(size=400)}
    )
    assert fidelity_report(real, real.iloc[::-1]).dependencies == 1.0
    broken = real.copy()
    broken.loc[:99, "name"] = broken.loc[:99, "name"].map({"alpha": "beta"}).fillna("alpha")
    kept = (broken["name"] == real["name"]).mean()
    report = fidelity_report(real, broken)
    assert report.dependencies == pytest.approx(kept) and kept < 0.9
    assert report.to_dict()["dependency_pairs"] == {"code -> name": pytest.approx(kept)}
    unseen = real.assign(code=real["code"].fillna("d"))  # a code the real data never had
    assert fidelity_report(real, unseen).dependencies == pytest.approx(real["code"].notna().mean())
    # A one-to-one pair is one dependency, of the second on the first; no pair: NaN.
    assert list(report.per_dependency[["determinant", "dependant"]].iloc[0]) == ["code", "name"]
    assert np.isnan(fidelity_report(real[["code", "x"]], real[["code", "x"]]).dependencies)
