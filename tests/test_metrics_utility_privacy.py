"""Utility (TSTR vs TRTR) and privacy (DCR, closer-to-train share, copies, NNDR)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from tssynth import InvalidDataError, InvalidParameterError
from tssynth.metrics import (
    RowEncoder,
    exact_copies,
    fidelity_report,
    membership_inference,
    nearest_neighbours,
    nndr,
    privacy_report,
    privacy_verdict,
    share_closer_to_train,
    utility_report,
)


def _table(n: int, seed: int, noise: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.choice(["u", "v", "w"], size=n)
    signal = x + (z == "u")
    label = np.where(signal + 0.3 * rng.normal(size=n) > 0.5, "yes", "no")
    if noise:  # useless synthetic data: the label no longer depends on the features
        label = rng.permutation(label)
    return pd.DataFrame(
        {
            "x": x,
            "z": z.astype(object),
            "amount": 3 * x + rng.normal(size=n),
            "label": label.astype(object),
        }
    )


def test_classification_utility_separates_good_from_useless_synthetic_data():
    train, test = _table(1500, 0), _table(800, 1)
    good = utility_report(train, _table(1500, 2), test, "label", n_threads=1)
    bad = utility_report(train, _table(1500, 3, noise=True), test, "label", n_threads=1)
    assert good.task == "classification" and good.primary_metric == "roc_auc"
    assert good.real["roc_auc"] > 0.9 and good.overall > 0.95
    assert bad.synthetic["roc_auc"] < 0.65 and bad.overall < 0.75
    assert set(good.real) == {"roc_auc", "accuracy"}


def test_regression_utility_and_missing_targets_are_counted():
    train, test = _table(1000, 0), _table(500, 1)
    synth = _table(1000, 2)
    synth.loc[:9, "amount"] = np.nan
    report = utility_report(train, synth, test, "amount", n_threads=1)
    assert report.task == "regression" and set(report.real) == {"r2", "mae"}
    assert report.real["r2"] > 0.8 and report.overall > 0.9
    assert report.n_synthetic == 990 and any("10 synthetic rows" in n for n in report.notes)


def test_whole_number_classes_score_alike_as_ints_floats_and_text():
    # A 0/1 column with a missing value reads from CSV as 0.0/1.0: compared as text,
    # "1.0" was not "1", and the same labels scored chance (ROC AUC 0.5, accuracy 0).
    train, test = _table(1000, 0), _table(500, 1)
    train, test = (t.assign(label=(t["label"] == "yes").astype(int)) for t in (train, test))
    kwargs = {"task": "classification", "n_threads": 1}
    ints = utility_report(train, train, test, "label", **kwargs)
    floats = utility_report(
        train, train.assign(label=train["label"] * 1.0), test, "label", **kwargs
    )
    texts = test.assign(label=test["label"].astype(float).astype(str))  # "0.0" and "1.0"
    held = utility_report(train, train, texts, "label", **kwargs)
    assert ints.synthetic["roc_auc"] > 0.9
    for report in (floats, held):
        assert report.synthetic == pytest.approx(ints.synthetic)
        assert report.real == pytest.approx(ints.real)


def test_multiclass_utility_with_a_class_missing_from_synthetic():
    train, test = _table(1000, 0), _table(500, 1)
    synth = _table(1000, 2)
    synth = synth[synth["z"] != "w"]
    report = utility_report(train, synth, test, "z", n_threads=1)
    assert 0.0 <= report.synthetic["roc_auc"] <= 1.0 and not np.isnan(report.overall)


def test_a_test_set_of_one_class_gives_nan_auc_with_a_note():
    train, synth = _table(400, 0), _table(400, 1)
    test = _table(400, 2)
    report = utility_report(train, synth, test[test["label"] == "yes"], "label", n_threads=1)
    assert np.isnan(report.real["roc_auc"]) and np.isnan(report.overall)
    assert any("test rows hold 1 of the real rows' classes" in note for note in report.notes)


def test_utility_errors_name_the_problem():
    train = _table(100, 0)
    with pytest.raises(InvalidParameterError, match="target 'nope'"):
        utility_report(train, train, train, "nope")
    with pytest.raises(InvalidParameterError, match="task"):
        utility_report(train, train, train, "label", task="ranking")
    single = train.assign(label="yes")
    with pytest.raises(InvalidDataError, match="single class"):
        utility_report(train, single, train, "label", n_threads=1)
    # two synthetic classes, one of them unknown to the real rows: the message says so
    invented = single.assign(label=np.where(np.arange(len(single)) % 2, "yes", "maybe"))
    with pytest.raises(InvalidDataError, match="single class of 'label' once the 50 rows"):
        utility_report(train, invented, train, "label", n_threads=1)


def test_nearest_neighbours_are_exact():
    rng = np.random.default_rng(0)
    query, reference = rng.normal(size=(200, 7)), rng.normal(size=(3000, 7))
    brute = np.sort(np.linalg.norm(query[:, None] - reference[None], axis=2), axis=1)[:, :2]
    np.testing.assert_allclose(nearest_neighbours(query, reference, k=2), brute, atol=1e-5)
    assert nearest_neighbours(reference[:5], reference, k=1).max() == 0.0  # copies: exactly 0


def test_wide_categories_compared_by_code_give_the_one_hot_distances():
    rng = np.random.default_rng(0)

    def table(n: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "id": rng.integers(0, 500, n).astype(str),  # wider than 64: codes
                "kind": rng.choice(["a", "b", None], n),  # narrow: one-hot
                "v": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
            }
        )

    train, synthetic = table(3000), table(400)
    synthetic.iloc[:20] = train.iloc[:20].to_numpy()  # copies: distance exactly 0
    encoder = RowEncoder.fit(train, (synthetic,))
    compact = encoder.encode(synthetic)
    assert compact.codes.shape == (400, 1) and compact.dense.shape[1] < 10
    one_hot = encoder.transform(synthetic)
    assert one_hot.shape[1] > 500
    expected = nearest_neighbours(one_hot, encoder.transform(train), k=2)
    np.testing.assert_allclose(
        nearest_neighbours(compact, encoder.encode(train), k=2), expected, atol=1e-6
    )
    assert (expected[:20, 0] == 0).all()


def test_encoder_distance_is_one_per_category_and_per_range():
    train = pd.DataFrame({"v": [0.0, 10.0], "c": ["a", "b"]})
    enc = RowEncoder.fit(train)
    a, b = enc.transform(pd.DataFrame({"v": [0.0, 10.0], "c": ["a", "a"]}))
    assert np.linalg.norm(a - b) == pytest.approx(1.0)  # whole range
    a, b = enc.transform(pd.DataFrame({"v": [5.0, 5.0], "c": ["a", "b"]}))
    assert np.linalg.norm(a - b) == pytest.approx(1.0)  # one category


def test_small_helpers():
    assert share_closer_to_train(
        np.array([0.0, 1.0, 2.0, 2.0]), np.array([1.0, 0.0, 2.0, 3.0])
    ) == pytest.approx((1 + 0 + 0.5 + 1) / 4)
    np.testing.assert_allclose(
        nndr(np.array([0.0, 1.0, 0.0]), np.array([2.0, 4.0, 0.0])), [0.0, 0.25, 1.0]
    )
    q = np.array([[1.0, 0.0], [1.0, -0.0], [2.0, 2.0]])
    assert exact_copies(q, np.array([[1.0, 0.0]])).tolist() == [True, True, False]


def test_privacy_flags_copied_training_rows():
    train, holdout = _table(1000, 0), _table(1000, 1)
    fresh = privacy_report(train, _table(1000, 2), holdout)
    copied = privacy_report(train, train.sample(1000, replace=True, random_state=0), holdout)
    assert 0.4 < fresh.share_closer_to_train < 0.6 and fresh.overall > 0.8
    assert fresh.exact_copies == 0
    assert copied.share_closer_to_train > 0.95 and copied.overall < 0.1
    assert copied.exact_copy_rate == 1.0 and copied.dcr_synthetic["median"] == 0.0
    assert copied.nndr_synthetic["median"] == 0.0
    assert fresh.dcr_synthetic["median"] == pytest.approx(fresh.dcr_holdout["median"], rel=0.3)


def test_a_holdout_that_holds_training_rows_is_warned_about():
    # The training file passed again as the holdout: a verbatim copy passed the verdict.
    train = _table(600, 0)
    copied = privacy_report(train, train, holdout=train, random_state=0)
    assert copied.split_copy_rate == 0.0 and copied.holdout_copy_rate == 1.0
    verdict = privacy_verdict(copied)
    assert verdict.status == "warn"
    assert any("holdout holds training rows" in reason for reason in verdict.reasons)
    # Few categories: real rows repeat by chance, in the holdout as between the halves.
    rng = np.random.default_rng(0)
    coarse = pd.DataFrame({"a": rng.choice(list("pq"), 1200), "b": rng.choice(list("xyz"), 1200)})
    honest = privacy_report(coarse[:800], coarse[:800].sample(400, random_state=1), coarse[800:])
    assert honest.holdout_copy_rate == 1.0 and honest.split_copy_rate == 1.0
    verdict = privacy_verdict(honest)
    assert not any("holdout holds" in text for text in verdict.reasons + verdict.notes)


def test_closer_share_reads_copies_alike_whatever_the_holdout_size():
    # 80/20 as a user splits: before, the training rows were subsampled to the
    # holdout's size, and a verbatim copy of them read 0.63 (a coin flip for the
    # copies of rows the subsample left out).
    train, holdout = _table(2000, 0), _table(500, 1)
    copied = privacy_report(train, train.copy(), holdout)
    assert copied.share_closer_to_train == 1.0 and copied.overall == 0.0
    assert copied.closer_to_train_by_chance == pytest.approx(0.8)
    fresh = privacy_report(train, _table(2000, 2), holdout)
    assert 0.45 < fresh.share_closer_to_train < 0.55 and fresh.overall > 0.9
    assert 0.75 < fresh.closer_to_train_observed < 0.85  # chance: 2000 of 2500 real rows
    # A quarter copied, the rest fresh: 0.5 + 0.25 / 2 on the equal-size scale.
    mixed = pd.concat([train.sample(500, random_state=0), _table(1500, 3)])
    share = privacy_report(train, mixed, holdout).share_closer_to_train
    assert 0.58 < share < 0.67
    text = privacy_verdict(privacy_report(train, mixed, holdout)).reasons[0]
    assert "against 80.0 % by chance (2,000 training and 500 holdout rows)" in text


def test_closer_share_maps_chance_to_one_half():
    to_train, to_holdout = np.array([0.0, 1.0, 1.0, 1.0]), np.array([1.0, 0.0, 0.0, 1.0])
    # observed: 1 + 0 + 0 + 0.8 (a tie counts chance) of 4 = 0.45 < 0.8
    assert share_closer_to_train(to_train, to_holdout, chance=0.8) == pytest.approx(
        0.5 * 0.45 / 0.8
    )
    assert share_closer_to_train(np.zeros(3), np.ones(3), chance=0.9) == 1.0
    assert share_closer_to_train(np.ones(5), np.ones(5), chance=0.7) == pytest.approx(0.5)
    for chance in (0.0, 1.0):
        with pytest.raises(InvalidParameterError, match="chance must be"):
            share_closer_to_train(np.ones(5), np.ones(5), chance=chance)


def test_privacy_without_holdout_and_with_missing_values():
    train = _table(300, 0)
    train.loc[:20, "x"] = np.nan
    train.loc[5:30, "z"] = None
    report = privacy_report(train, train.copy())
    assert report.exact_copy_rate == 1.0  # missing values compare equal to missing values
    assert np.isnan(report.overall) and np.isnan(report.share_closer_to_train)
    assert report.notes and "holdout" in report.notes[0]


def test_privacy_is_vectorised():
    # 50,000 rows in under 30 s is measured in benchmarks/fidelity_vs_sdmetrics.py
    # --privacy-speed; here a fifth of it must stay well inside a proportional budget.
    rng = np.random.default_rng(0)

    def table(n: int) -> pd.DataFrame:
        numbers = {f"x{i}": rng.normal(size=n) for i in range(6)}
        return pd.DataFrame(
            numbers | {f"c{i}": rng.choice(list("abcdefghij"), n) for i in range(8)}
        )

    train, synth, holdout = table(10_000), table(10_000), table(2_000)
    start = time.perf_counter()
    report = privacy_report(train, synth, holdout, max_rows=2_000)
    assert time.perf_counter() - start < 10
    assert report.n_query == 2_000 and 0.4 < report.share_closer_to_train < 0.6


def _copies_table(n: int, seed: int) -> pd.DataFrame:
    """Few distinct rows (so copies occur), a high-cardinality column and missing values."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x": rng.integers(0, 3, n) / 3,
            "id": np.char.add("id", rng.integers(0, n // 4, n).astype(str)).astype(object),
            "c": rng.choice(np.array(["a", "b", None], dtype=object), n),
            "day": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 3, n), "D"),
        }
    )
    frame.loc[rng.random(n) < 0.2, "x"] = np.nan
    return frame


def test_copies_are_equal_values_and_one_training_row_has_no_distance_ratio():
    """Keys were float32 encodings: amounts 37 cents apart over a range of millions,
    and times a second apart over decades, counted as copies. With one training row
    the ratio d1 / inf read 0, the value of a copy."""
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"income": rng.uniform(0, 1e7, 200).round(2)})
    assert privacy_report(train, train + 0.37).exact_copies == 0
    assert privacy_report(train, train.iloc[:50]).exact_copies == 50
    stamps = pd.to_timedelta(rng.integers(0, 10**9, 200), unit="s")
    times = pd.DataFrame({"t": pd.Timestamp("2000-01-01") + stamps})
    assert privacy_report(times, times + pd.Timedelta(seconds=1)).exact_copies == 0
    one = pd.DataFrame({"x": [0.0], "c": ["a"]})
    far = pd.DataFrame({"x": [5.0, 9.0], "c": ["b", "b"]})
    report = privacy_report(one, far, pd.DataFrame({"x": [1.0], "c": ["a"]}))
    assert np.isnan(report.nndr_synthetic["mean"]) and np.isnan(report.nndr_holdout["mean"])


def test_a_continuous_target_is_refused_as_classes_by_name():
    rng = np.random.default_rng(0)
    frames = []
    for n in (400, 400, 200):
        x = rng.normal(size=n)
        frames.append(pd.DataFrame({"x": x, "price": 2 * x + rng.normal(size=n)}))
    with pytest.raises(InvalidParameterError, match=r"continuous target 'price'.*regression"):
        utility_report(*frames, target="price", task="classification")


def test_test_classes_the_real_rows_lack_are_noted():
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"x": rng.normal(size=200), "y": rng.choice(["a", "b"], 200)})
    test = pd.DataFrame({"x": rng.normal(size=50), "y": ["a", "b"] * 20 + ["c"] * 10})
    report = utility_report(real, real, test, target="y")
    assert any("10 test rows have a target class absent" in note for note in report.notes)


def test_exact_copies_by_hashing_equal_a_naive_reference(monkeypatch):
    import tssynth.metrics.privacy as privacy

    train, synthetic = _copies_table(2000, 0), _copies_table(2000, 1)
    synthetic.iloc[:50] = train.iloc[100:150].to_numpy()  # planted copies
    synthetic.loc[50, :] = train.loc[200, :]
    synthetic.loc[50, "x"] = 0.5  # a near copy: one value differs
    encoder = RowEncoder.fit(train, (synthetic,))
    query, reference = encoder.transform(synthetic), encoder.transform(train)
    training_rows = {row.tobytes() for row in reference}  # the encodings hold no -0.0 or NaN
    naive = np.array([row.tobytes() in training_rows for row in query])
    assert naive[:50].all() and not naive[50] and 50 < naive.sum() < len(naive)
    keys = encoder.keys(synthetic)
    assert keys.shape == (2000, 4)  # one value per column, however many categories
    np.testing.assert_array_equal(exact_copies(query, reference), naive)
    np.testing.assert_array_equal(exact_copies(keys, encoder.keys(train)), naive)
    assert privacy_report(train, synthetic, max_rows=200).exact_copies == naive.sum()
    # Every row hashing alike: collisions are confirmed value by value, never counted.
    monkeypatch.setattr(privacy, "_row_hashes", lambda m: np.zeros(len(m), dtype=np.uint64))
    np.testing.assert_array_equal(exact_copies(keys, encoder.keys(train)), naive)
    assert exact_copies(np.array([[np.nan, -0.0]]), np.array([[np.nan, 0.0]])).tolist() == [True]


def test_exact_copies_memory_does_not_grow_with_the_encoding_width():
    import tracemalloc

    rng = np.random.default_rng(0)
    reference = (rng.random((2000, 5000)) < 0.001).astype(np.float32)  # 40 MB, one-hot like
    query = reference[::-1].copy()
    tracemalloc.start()
    try:
        found = exact_copies(query, reference)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found.all()
    assert peak < 40 * 2**20  # blocks of 2**20 values: not a float64 copy of both (160 MB)


def test_many_classes_keep_the_most_frequent_for_the_default_model():
    rng = np.random.default_rng(0)

    def table(n: int) -> pd.DataFrame:
        x = rng.normal(size=n)
        frequent = np.where(x > 0, "pos", "neg")
        rare = np.array([f"r{i}" for i in rng.integers(0, 40, n)])
        label = np.where(rng.random(n) < 0.8, frequent, rare)  # 42 classes
        return pd.DataFrame({"x": x, "label": label.astype(object)})

    real, synthetic, test = table(1500), table(1500), table(1500)
    report = utility_report(real, synthetic, test, "label", n_threads=1)
    assert any("42 classes" in note and "'(other)'" in note for note in report.notes)
    assert report.real["accuracy"] > 0.7  # pos/neg, 80 % of the rows, still told apart
    # A classifier of the user's choice sees every class, with no note.
    from sklearn.linear_model import LogisticRegression

    chosen = utility_report(
        real, synthetic, test, "label", estimator=LogisticRegression(max_iter=200), n_threads=1
    )
    assert not any("classes" in note for note in chosen.notes)


def test_features_without_values_are_left_out_with_a_note():
    # An identifier: fresh synthetic values are all unseen, so its codes are all NaN.
    real = _table(600, 0).assign(customer=[f"r{i}" for i in range(600)], empty=np.nan)
    synthetic = _table(600, 1).assign(customer=[f"s{i}" for i in range(600)], empty=np.nan)
    report = utility_report(real, synthetic, real.iloc[:200], target="label")
    assert report.overall > 0.5
    assert any("synthetic rows left out: ['customer', 'empty']" in note for note in report.notes)


def test_every_metric_names_missing_columns_and_infinite_values():
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"x": rng.normal(size=100), "c": ["a", "b"] * 50, "y": [0, 1] * 50})
    lacking = real.drop(columns="x")
    infinite = real.assign(x=np.where(real["x"] > 1, np.inf, real["x"]))
    for report in (privacy_report, membership_inference):
        with pytest.raises(
            InvalidDataError, match=r"synthetic data lacks the train columns \['x'\]"
        ):
            report(real, lacking, real)
        with pytest.raises(InvalidDataError, match=r"synthetic data has infinite values.*'x'"):
            report(real, infinite, real)
    with pytest.raises(InvalidDataError, match=r"synthetic data has infinite values.*'x'"):
        fidelity_report(real, infinite)
    with pytest.raises(InvalidDataError, match=r"test data has infinite values.*'x'"):
        utility_report(real, real, infinite, target="y")
    # A required table left out is named, not a TypeError from deep inside.
    with pytest.raises(InvalidDataError, match="synthetic must be a DataFrame, got NoneType"):
        fidelity_report(real, None)
    with pytest.raises(InvalidDataError, match="holdout must be a DataFrame, got NoneType"):
        membership_inference(real, real, None)
    with pytest.raises(InvalidDataError, match="train must be a DataFrame, got NoneType"):
        privacy_report(None, real)
    # A target missing from one table is a parameter error that names the table.
    with pytest.raises(InvalidParameterError, match="target 'y' is not a column of the synthetic"):
        utility_report(real, real.drop(columns="y"), real, target="y")


def test_utility_says_why_it_is_nan_when_the_real_model_beats_no_baseline():
    def noise(seed: int, n: int = 500) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        return pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n)})

    report = utility_report(noise(1), noise(2), noise(3), "y", n_threads=1)
    assert report.real["r2"] <= 0 and np.isnan(report.overall)
    assert any("no better than predicting the mean" in note for note in report.notes)
