"""Columns that a categorical column determines exactly are derived from it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tssynth import TVAESynthesizer, load
from tssynth.data import DataTransformer, infer_schema
from tssynth.data.dependencies import find_dependencies
from tssynth.data.private import DataBudget
from tssynth.data.transformer import private_units
from tssynth.exceptions import InvalidDataError, InvalidParameterError

CODES = ["HS", "BSc", "MSc", "PhD", "Assoc", "Prof", "Some", "None"]
YEARS = dict(zip(CODES, [12, 16, 18, 21, 14, 19, 13, 8], strict=True))
LEVEL = dict(
    zip(CODES, ["school", "uni", "uni", "uni", "school", "uni", "school", "school"], strict=True)
)


def make_frame(n: int = 800, seed: int = 0) -> pd.DataFrame:
    """education determines years (a numeric code), label (one to one) and level (coarser)."""
    rng = np.random.default_rng(seed)
    education = rng.choice(CODES, size=n, p=[0.3, 0.2, 0.1, 0.05, 0.1, 0.05, 0.1, 0.1])
    return pd.DataFrame(
        {
            "years": pd.Series(education).map(YEARS).astype(np.int64),  # the code comes first
            "age": rng.integers(18, 90, n),
            "education": education.astype(object),
            "level": pd.Categorical(pd.Series(education).map(LEVEL), categories=["school", "uni"]),
            "colour": rng.choice(["red", "green", "blue"], size=n).astype(object),
            "label": pd.array([f"{c} degree" for c in education], dtype="string"),
            "row": np.arange(n).astype(str).astype(object),  # unique: determines every column
        }
    )


def mismatches(frame: pd.DataFrame) -> float:
    """Share of rows whose years, level or label disagree with their education."""
    education = frame["education"]
    wrong = (
        (frame["years"] != education.map(YEARS))
        | (frame["level"].astype(object) != education.map(LEVEL))
        | (frame["label"].astype(object) != education + " degree")
    )
    return float(wrong.mean())


def test_the_categorical_column_is_kept_and_what_it_determines_is_found():
    frame = make_frame()
    schema = infer_schema(frame)
    found = find_dependencies(frame, schema)
    names = {schema[k].name: schema[v].name for k, v in found.items()}
    # A unique column determines everything but has one row per value: never a determinant.
    assert names == {"years": "education", "level": "education", "label": "education"}


def test_a_chain_derives_everything_from_the_finest_kept_column():
    rng = np.random.default_rng(1)
    city = rng.integers(0, 20, 2_000)
    frame = pd.DataFrame(
        {
            "region": (city // 10).astype(str).astype(object),
            "state": (city // 4).astype(str).astype(object),
            "city": city.astype(str).astype(object),
        }
    )
    schema = infer_schema(frame)
    found = find_dependencies(frame, schema)
    assert found == {0: 2, 1: 2}  # from city; state is derived, so never a determinant


def test_too_few_rows_per_value_or_a_broken_pair_is_no_dependency():
    frame = make_frame(n=70)  # 8 educations need 80 rows
    assert find_dependencies(frame, infer_schema(frame)) == {}
    frame = make_frame()
    frame.loc[5, "years"] = 99  # one row breaks the rule
    schema = infer_schema(frame)
    assert 0 not in find_dependencies(frame, schema)


def test_a_column_of_declared_categories_is_neither_determinant_nor_derived():
    frame = make_frame()
    schema = infer_schema(frame, metadata={"categories": {"education": CODES}})
    assert find_dependencies(frame, schema) == {0: 5, 3: 5}  # the one-to-one label instead


def test_derived_columns_round_trip_exactly_with_missing_values_and_dtypes():
    frame = make_frame(seed=3)
    gone = frame.index[::9]
    frame["education"] = frame["education"].where(~frame.index.isin(gone), None)
    frame["years"] = frame["years"].astype("Int64").mask(frame.index.isin(gone))  # missing too
    frame["level"] = frame["level"].mask(frame.index.isin(gone))
    frame["label"] = frame["label"].mask(frame.index.isin(gone), "unknown")  # a value for missing
    frame = frame.drop(columns="row")
    schema = infer_schema(frame)
    transformer = DataTransformer(random_state=0, derive_dependencies=True).fit(frame, schema)
    assert sorted(transformer._derived) == [0, 3, 5]
    plain = DataTransformer(random_state=0).fit(frame, schema)
    assert transformer.output_dim < plain.output_dim  # they take no space in the model array
    back = transformer.inverse_transform(transformer.transform(frame))
    for name in ("years", "education", "level", "label"):
        pd.testing.assert_series_equal(back[name], frame[name])
    restored = DataTransformer.from_state(transformer.to_state())
    pd.testing.assert_frame_equal(restored.inverse_transform(transformer.transform(frame)), back)


def test_times_that_a_column_determines_are_derived_unless_floats_blur_them():
    """A launch date, a warranty span and a pyarrow day per product are derived (they
    were modelled: 760 of 1,000 rows broke the launch date); equal time columns are
    derived rather than anchored to each other; nanoseconds float64 cannot hold are not."""
    pytest.importorskip("pyarrow")
    frame = make_frame(seed=4).drop(columns="row")
    days = {c: f"{1990 + 3 * i}-0{1 + i % 9}-15" for i, c in enumerate(CODES)}
    launch = pd.to_datetime(frame["education"].map(days)).astype("datetime64[s]")
    frame = frame.assign(
        launch=launch.mask(frame["education"] == "None"),  # missing is a value too
        zoned=launch.dt.tz_localize("Europe/Paris"),
        warranty=pd.to_timedelta(frame["years"] * 30, unit="D"),
        day=launch.dt.date.astype("date32[pyarrow]"),
        blurred=(launch + pd.Timedelta(123_456_789, "ns")).astype("datetime64[ns]"),
    )
    schema = infer_schema(frame)
    transformer = DataTransformer(random_state=0, derive_dependencies=True).fit(frame, schema)
    names = {schema[p].name for p in transformer._derived}
    assert {"launch", "zoned", "warranty", "day"} <= names and "blurred" not in names
    back = transformer.inverse_transform(transformer.transform(frame))
    for name in ("launch", "zoned", "warranty", "day"):
        pd.testing.assert_series_equal(back[name], frame[name])
    out = TVAESynthesizer(epochs=1, random_state=0).fit(frame).sample(400)
    pd.testing.assert_series_equal(out.dtypes, frame.dtypes)
    expected = out["education"].map(days)
    assert (out["zoned"].dt.strftime("%Y-%m-%d") == expected).all()
    assert out["launch"].isna().equals(out["education"] == "None")


def test_a_derived_time_still_anchors_the_times_after_it():
    """A launch date derived from its product anchors the sale after it: sampled sales
    stay after their launch (with the anchor excluded, 40 % of them came before)."""
    rng = np.random.default_rng(0)
    products = np.array([f"p{i}" for i in range(20)])
    days = dict(zip(products, rng.integers(0, 1_000, 20), strict=True))
    product = rng.choice(products, 1_500)
    launch = pd.Timestamp("2020-01-01") + pd.to_timedelta([days[p] for p in product], "D")
    frame = pd.DataFrame({"product": product, "launch": launch})
    frame["sale"] = frame["launch"] + pd.to_timedelta(rng.integers(1, 60, 1_500), "D")
    model = TVAESynthesizer(epochs=3, random_state=0).fit(frame)
    transformer = model.transformer_
    assert list(transformer._derived) == [1] and transformer._anchors == {2: 1}
    out = model.sample(2_000)
    assert (out["sale"] > out["launch"]).all()
    assert (
        out["launch"]
        == out["product"].map(days).pipe(pd.to_timedelta, unit="D").add(pd.Timestamp("2020-01-01"))
    ).all()


def test_no_dependency_is_derived_under_differential_privacy():
    frame = make_frame()
    budget = DataBudget(epsilon=5.0, delta=1e-5, rng=np.random.default_rng(0))
    schema = infer_schema(frame.drop(columns="row"))
    budget.reserve(private_units(schema))
    transformer = DataTransformer(derive_dependencies=True).fit(frame, schema, budget)
    assert transformer._derived == {} and transformer._implied == []


def test_older_transformer_state_without_derived_columns_loads():
    frame = make_frame().drop(columns="row")
    transformer = DataTransformer(random_state=0).fit(frame, infer_schema(frame))
    state = transformer.to_state()
    del state["derived"], state["implied"], state["params"]["derive_dependencies"]  # format 3
    back = DataTransformer.from_state(state).inverse_transform(transformer.transform(frame))
    pd.testing.assert_frame_equal(back, transformer.inverse_transform(transformer.transform(frame)))


@pytest.fixture(scope="module")
def fitted():
    frame = make_frame().drop(columns="row")
    settings = dict(epochs=3, batch_size=200, embedding_dim=8, compress_dims=(32,), random_state=0)
    derived = TVAESynthesizer(**settings, decompress_dims=(32,)).fit(frame)
    modelled = TVAESynthesizer(**settings, decompress_dims=(32,), derive_dependencies=False)
    return frame, derived, modelled.fit(frame)


def test_samples_keep_every_pair_that_training_data_kept(fitted, tmp_path):
    frame, derived, modelled = fitted
    samples = derived.sample(2_000)
    assert mismatches(samples) == 0.0
    assert mismatches(modelled.sample(2_000)) > 0.05  # drawn apart, they disagree
    assert samples.dtypes.equals(frame.dtypes)
    assert set(samples["years"]) <= set(frame["years"])
    derived.save(tmp_path / "g.tssynth")
    assert mismatches(load(tmp_path / "g.tssynth").sample(500)) == 0.0


def test_derive_dependencies_must_be_a_bool():
    with pytest.raises(InvalidParameterError, match="derive_dependencies"):
        TVAESynthesizer(derive_dependencies="yes").fit(make_frame())


def test_an_id_behind_a_placeholder_is_no_determinant():
    rng = np.random.default_rng(2)
    customer = np.where(rng.random(2_000) < 0.94, "GUEST", "").astype(object)
    members = np.flatnonzero(customer == "")
    customer[members] = [f"member{i}" for i in range(len(members))]  # one row each
    points = np.where(customer == "GUEST", 0, rng.integers(1, 10_000, 2_000))
    frame = pd.DataFrame({"customer": customer, "points": points})
    assert frame["customer"].nunique() <= len(frame) // 10  # the mean rule alone lets it by
    assert find_dependencies(frame, infer_schema(frame)) == {}


def test_infinite_values_in_a_dependant_are_refused_as_when_modelled():
    frame = make_frame().drop(columns="row")
    frame["rate"] = np.where(frame["education"] == "PhD", np.inf, 1.5)
    with pytest.raises(InvalidDataError, match="'rate' contains infinite values"):
        TVAESynthesizer(epochs=1).fit(frame)


def test_the_determinant_is_found_among_many_columns():
    rng = np.random.default_rng(3)
    flags = pd.DataFrame(rng.random((3_000, 300)) < 0.5).add_prefix("flag")
    frame = make_frame(3_000).drop(columns="row").join(flags)
    schema = infer_schema(frame)
    found = find_dependencies(frame, schema)
    assert {schema[k].name: schema[v].name for k, v in found.items()} == {
        "years": "education",
        "level": "education",
        "label": "education",
    }


def make_admissions(n: int = 3_000, seed: int = 0) -> pd.DataFrame:
    """Childbirth always comes with sex F; other diagnoses with either sex."""
    rng = np.random.default_rng(seed)
    diagnosis = rng.choice(["childbirth", "fracture", "flu", "stroke", "rare"], n)
    diagnosis[rng.random(n) < 0.3] = "flu"
    sex = np.where(diagnosis == "childbirth", "F", rng.choice(["F", "M"], n))
    rare = np.flatnonzero(diagnosis == "rare")
    diagnosis[rare[5:]] = "stroke"  # five rare rows, all of one answer by chance
    answer = np.where(rng.random(n) < 0.98, "no", "yes").astype(object)
    answer[diagnosis == "rare"] = "no"
    answer[diagnosis == "fracture"] = "no"  # ~400 pure rows of a 98 % value: chance
    return pd.DataFrame({"diagnosis": diagnosis, "sex": sex, "answer": answer})


def test_a_value_that_forces_another_is_found_and_chance_purity_is_not():
    frame = make_admissions()
    schema = infer_schema(frame)
    transformer = DataTransformer(random_state=0, derive_dependencies=True).fit(frame, schema)
    [(determinant, dependant, forced)] = transformer._implied
    assert (determinant, dependant) == (0, 1)
    categories = transformer._categories
    assert {categories[0][i]: categories[1][c] for i, c in enumerate(forced) if c >= 0} == {
        "childbirth": "F"
    }
    assert DataTransformer(random_state=0).fit(frame, schema)._implied == []


def test_broken_rules_are_mended_and_the_dependant_keeps_its_frequencies():
    frame = make_admissions()
    transformer = DataTransformer(random_state=0, derive_dependencies=True)
    transformer.fit(frame, infer_schema(frame))
    broken = frame.copy()
    births = np.flatnonzero(broken["diagnosis"] == "childbirth")
    broken.loc[births[:100], "sex"] = "M"  # 100 men in childbirth
    model_array = transformer.transform(broken)
    mended = transformer.inverse_transform(model_array, random_state=np.random.default_rng(0))
    assert not ((mended["diagnosis"] == "childbirth") & (mended["sex"] == "M")).any()
    assert (mended["sex"] == "F").sum() == (broken["sex"] == "F").sum()  # 100 others gave F up
    assert (mended["diagnosis"] == broken["diagnosis"]).all()
    forced_only = transformer.inverse_transform(model_array)  # no generator: forced, no more
    assert (forced_only["sex"] != broken["sex"]).sum() == 100
    restored = DataTransformer.from_state(transformer.to_state())
    pd.testing.assert_frame_equal(restored.inverse_transform(model_array), forced_only)


def test_samples_keep_value_rules():
    frame = make_admissions()
    model = TVAESynthesizer(epochs=2, embedding_dim=8, compress_dims=(16,), decompress_dims=(16,))
    samples = model.set_params(random_state=0).fit(frame).sample(3_000)
    assert not ((samples["diagnosis"] == "childbirth") & (samples["sex"] == "M")).any()
    apart = model.set_params(derive_dependencies=False).fit(frame).sample(3_000)
    assert ((apart["diagnosis"] == "childbirth") & (apart["sex"] == "M")).mean() > 0.01


def test_a_skip_pattern_keeps_one_way_rules_and_every_one_holds():
    rng = np.random.default_rng(4)
    n = 2_000
    skipped = rng.random(n) < 0.3  # "n/a" to any question means "n/a" to all
    frame = pd.DataFrame(
        {
            f"q{j}": np.where(skipped, "n/a", rng.choice(["a", "b", "c"], n)).astype(object)
            for j in range(4)
        }
    )
    transformer = DataTransformer(random_state=0, derive_dependencies=True)
    transformer.fit(frame, infer_schema(frame))
    rules = [(a, b) for a, b, _ in transformer._implied]
    assert rules == [(0, 1), (0, 2), (0, 3)]  # each pair implies the other: one way kept
    broken = frame.copy()
    broken.loc[np.flatnonzero(skipped)[:150], ["q1", "q3"]] = "b"  # skipped q0, answered q1, q3
    broken.loc[np.flatnonzero(~skipped)[:200], ["q1", "q3"]] = "n/a"  # and the other way
    array = transformer.transform(broken)
    mended = transformer.inverse_transform(array, random_state=np.random.default_rng(0))
    skipped_q0 = mended["q0"] == "n/a"
    assert (mended.loc[skipped_q0, ["q1", "q2", "q3"]] == "n/a").all().all()
    for name in ("q1", "q3"):  # 150 of the 200 rows under no rule gave "n/a" up
        assert (mended[name] == "n/a").sum() == (broken[name] == "n/a").sum()
        assert ((mended[name] == "n/a") & ~skipped_q0).sum() == 50


def test_two_rules_onto_one_column_are_both_kept_where_a_row_draws_both():
    rng = np.random.default_rng(5)
    n = 3_000
    diagnosis = rng.choice(["birth", "flu", "fracture"], n)
    procedure = np.where(
        diagnosis == "birth",
        rng.choice(["none", "caesarean"], n),
        rng.choice(["none", "prostatectomy"], n),
    )
    sex = np.where(diagnosis == "birth", "F", rng.choice(["F", "M"], n))
    sex = np.where(procedure == "prostatectomy", "M", sex)
    frame = pd.DataFrame({"diagnosis": diagnosis, "procedure": procedure, "sex": sex})
    transformer = DataTransformer(random_state=0, derive_dependencies=True)
    transformer.fit(frame, infer_schema(frame))
    assert sorted((a, b) for a, b, _ in transformer._implied) == [(0, 2), (1, 2)]
    both = frame.copy()
    births = np.flatnonzero(diagnosis == "birth")[:100]
    both.loc[births, "procedure"] = "prostatectomy"  # never together in training
    array = transformer.transform(both)
    for random_state in (np.random.default_rng(0), None):
        out = transformer.inverse_transform(array, random_state=random_state)
        assert not ((out["diagnosis"] == "birth") & (out["sex"] != "F")).any()
        assert not ((out["procedure"] == "prostatectomy") & (out["sex"] != "M")).any()
        assert (out.loc[births, "procedure"] == "none").all()  # the one value forcing nothing
