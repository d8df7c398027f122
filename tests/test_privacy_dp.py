"""Differentially private training (issue 6): DP-SGD, the private data layer, accounting."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import tssynth
from tssynth import DenseVAESynthesizer, DVAESynthesizer, TVAESynthesizer
from tssynth.data.private import (
    DataBudget,
    private_gaussian_moments,
    private_quantiles,
    private_range,
    release_frequent,
)
from tssynth.exceptions import InvalidDataError, InvalidParameterError, PrivacyWarning


def _table(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.lognormal(10, 0.5, n),
            "city": rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2]),
        }
    )
    frame.loc[0, "city"] = "secret-village"  # a category held by one person
    frame.loc[1, "income"] = 1e9  # one extreme value
    return frame


# ----------------------------------------------------------------- mechanisms


def test_stability_histogram_releases_frequent_values_and_hides_singletons():
    values = np.array(["common"] * 5000 + ["rare"], dtype=object)
    released_rare = 0
    for seed in range(400):
        budget = DataBudget(epsilon=1.0, delta=1e-3, rng=np.random.default_rng(seed))
        budget.reserve(1)
        released, _ = release_frequent(values, None, budget, "test")
        assert "common" in released.tolist()
        released_rare += "rare" in released.tolist()
    # A value held by one record is released with probability at most delta.
    assert released_rare / 400 <= 0.01


def test_private_quantiles_are_accurate_with_enough_data():
    rng = np.random.default_rng(0)
    values = rng.normal(50.0, 10.0, 20_000)
    budget = DataBudget(epsilon=2.0, delta=1e-6, rng=np.random.default_rng(1))
    budget.reserve(3)
    low, median, high = private_quantiles(values, None, np.array([0.1, 0.5, 0.9]), budget, "q")
    truth = np.quantile(values, [0.1, 0.5, 0.9])
    np.testing.assert_allclose([low, median, high], truth, atol=0.5)
    assert budget.epsilon_spent == pytest.approx(2.0)


def test_private_range_ignores_a_single_outlier():
    rng = np.random.default_rng(0)
    values = np.append(rng.uniform(0.0, 100.0, 10_000), 1e12)
    budget = DataBudget(epsilon=0.5, delta=1e-6, rng=np.random.default_rng(2))
    budget.reserve(3)
    low, high = private_range(values, None, budget, "x")
    assert 0.0 <= low < 10.0
    assert 90.0 < high < 200.0


def test_private_range_warns_when_the_data_cannot_be_told_from_noise():
    values = np.random.default_rng(0).normal(10.0, 1.0, 30)
    budget = DataBudget(epsilon=0.3, delta=1e-6, rng=np.random.default_rng(2))
    budget.reserve(3)
    with pytest.warns(PrivacyWarning, match=r"bounds of 'size'.*metadata=\{'bounds'"):
        private_range(values, None, budget, "bounds of 'size'")
    budget = DataBudget(epsilon=0.3, delta=1e-6, rng=np.random.default_rng(2))
    budget.reserve(3)
    many = np.random.default_rng(0).normal(10.0, 1.0, 5_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyWarning)
        low, high = private_range(many, None, budget, "bounds of 'size'")
    assert low < 8.0 and 12.0 < high < 30.0


def test_private_gaussian_moments_recover_a_correlated_gaussian():
    rng = np.random.default_rng(0)
    covariance = np.array([[2.0, 1.2, 0.0], [1.2, 1.5, -0.4], [0.0, -0.4, 0.5]])
    values = rng.multivariate_normal([5.0, -3.0, 1.0], covariance, size=20_000)
    budget = DataBudget(epsilon=1.0, delta=1e-6, rng=np.random.default_rng(1))
    budget.reserve(4)
    mean, released = private_gaussian_moments(values, budget, noise_multiplier=8.0, what="z")
    assert [what for what, _ in budget.spent] == ["norm of z"] * 2 + ["centred norm of z"] * 2
    np.testing.assert_allclose(mean, [5.0, -3.0, 1.0], atol=0.05)
    # Clipping at the 0.95 quantile of the norms shrinks the spread a little.
    np.testing.assert_allclose(released, covariance, atol=0.15)
    assert np.linalg.eigvalsh(released).min() > 0


def test_training_noise_leaves_room_for_the_releases_after_training():
    from opacus.accountants import RDPAccountant

    from tssynth.nn.private import RDP_ORDERS, PrivacyConfig, _calibrate_noise

    config = PrivacyConfig(epsilon=2.0, delta=1e-5, max_grad_norm=1.0, releases=(8.0, 8.0))
    releases = [(8.0, 1.0, 1), (8.0, 1.0, 1)]
    alone = _calibrate_noise(PrivacyConfig(2.0, 1e-5, 1.0), 0.02, 1500, [])
    joint = _calibrate_noise(config, 0.02, 1500, releases)
    accountant = RDPAccountant()
    accountant.history = [*releases, (joint, 0.02, 1500)]
    spent = accountant.get_epsilon(delta=1e-5, alphas=RDP_ORDERS)
    assert 1.9 < spent <= 2.0
    assert joint > alone


# ----------------------------------------------------------------- DP-SGD


def _per_record_gradients(module, per_record_loss):
    params = [p for p in module.parameters() if p.requires_grad]
    rows = []
    for value in per_record_loss:
        grads = torch.autograd.grad(value, params, retain_graph=True)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(rows)


def _opacus_gradients(module):
    return torch.cat(
        [p.grad_sample.reshape(len(p.grad_sample), -1) for p in module.parameters()], dim=1
    )


def test_per_sample_gradients_of_tvae_are_exact_including_the_learned_sigma():
    from opacus import GradSampleModule

    from tssynth.nn.private import require_opacus
    from tssynth.nn.tvae import TVAE

    require_opacus()
    torch.manual_seed(0)
    module = TVAE([(0, 1, "gaussian"), (1, 4, "softmax")], 3, (8,), (8,), 2.0)
    wrapped = GradSampleModule(module, loss_reduction="mean")
    x = torch.cat([torch.rand(6, 1) * 2 - 1, torch.eye(3)[torch.tensor([0, 1, 2, 0, 1, 2])]], 1)
    nll, kl = module.negative_elbo(x, torch.Generator().manual_seed(0))
    per_record = 2.0 * nll + kl
    wrapped.disable_hooks()  # the reference gradients must not feed opacus's hooks
    expected = _per_record_gradients(module, per_record)
    wrapped.enable_hooks()
    per_record.mean().backward(retain_graph=True)
    torch.testing.assert_close(_opacus_gradients(module), expected, rtol=1e-4, atol=1e-5)
    assert module.decoder.sigma.grad_sample.shape == (6, 4)
    wrapped.to_standard_module()


def test_per_sample_gradients_of_dvae_with_dpgru_are_exact():
    from opacus import GradSampleModule

    from tssynth.nn.dvae import DVAE

    torch.manual_seed(0)
    module = DVAE([(0, 2, "gaussian")], 0, 3, 5, (6,), (6,), private=True)
    module.train()
    wrapped = GradSampleModule(module, loss_reduction="mean")
    x = torch.rand(4, 5, 2) * 2 - 1
    mask = (torch.arange(5)[None, :] < torch.tensor([5, 3, 4, 2])[:, None]).float()
    nll, kl, _ = module.terms(x, mask, None, torch.Generator().manual_seed(0))
    steps = mask.sum(1)
    per_record = module.loss_factor * nll.sum(1) / steps + kl.sum(1) / steps
    wrapped.disable_hooks()  # the reference gradients must not feed opacus's hooks
    expected = _per_record_gradients(module, per_record)
    wrapped.enable_hooks()
    per_record.mean().backward(retain_graph=True)
    torch.testing.assert_close(_opacus_gradients(module), expected, rtol=1e-4, atol=1e-5)
    wrapped.to_standard_module()


def test_dp_tvae_spends_at_most_epsilon_and_keeps_rare_values_private(tmp_path):
    data = _table()
    synthesizer = TVAESynthesizer(
        epochs=2, batch_size=200, epsilon=3.0, random_state=0, compress_dims=(32,)
    )
    synthesizer.fit(data)
    assert 2.5 < synthesizer.epsilon_ <= 3.0
    assert synthesizer.delta_ == pytest.approx(1 / len(data))
    transformer = synthesizer.transformer_
    assert "secret-village" not in transformer._categories[0]
    assert set(transformer._categories[0]) == {"north", "south", "east"}
    low, high = transformer._cont_arrays["min"][1], transformer._cont_arrays["max"][1]
    assert high < 1e7  # the one extreme income does not set the bound
    sample = synthesizer.sample(500)
    assert sample["income"].max() <= high and sample["income"].min() >= low
    assert "secret-village" not in set(sample["city"])
    # The latent sampling distribution is a private release, not N(0, I).
    assert len(synthesizer.privacy_["latent_release"]["radii"]) == 4
    assert torch.count_nonzero(synthesizer.module_.latent_loc) > 0
    # The spent budget travels with the generator file.
    reloaded = tssynth.load(synthesizer.save(tmp_path / "dp.tssynth"))
    assert reloaded.epsilon_ == synthesizer.epsilon_
    assert reloaded.delta_ == synthesizer.delta_
    pd.testing.assert_frame_equal(reloaded.sample(50), synthesizer.sample(50))
    # No exact hash of the records: one who knows every other record would read the last.
    from tssynth.serialization import read_generator

    payload = read_generator(tmp_path / "dp.tssynth")[1]
    assert payload["fingerprint"] is None
    assert all(values == [] for values in payload["loss_history"].values())
    assert len(synthesizer.loss_history_) == 2  # the data owner's object keeps them


def test_dp_releases_no_decimal_places_and_spends_no_negative_epsilon():
    """The data's Decimal places showed one record's 12.34567 in every sample; a tiny
    epsilon was reported spent as -3.9e-05, which evaluate then refused."""
    import decimal

    rng = np.random.default_rng(0)
    amounts = [decimal.Decimal(f"{v:.2f}") for v in rng.uniform(0, 100, 299)]
    places = []
    for last in ("12.34", "12.34567"):
        frame = pd.DataFrame({"amount": [*amounts, decimal.Decimal(last)]})
        private = TVAESynthesizer(epsilon=1.0, epochs=1, random_state=0)
        private.fit(frame, metadata={"bounds": {"amount": [0, 100]}})
        places.append({v.as_tuple().exponent for v in private.sample(100)["amount"]})
    assert places[0] == places[1] == {-6}
    data = _table(300)
    tiny = TVAESynthesizer(epsilon=1e-6, epochs=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyWarning)
        tiny.fit(data)
    assert 0.0 <= tiny.epsilon_ <= 1e-6


def test_dp_fit_is_reproducible_with_a_seed():
    data = _table(600)
    kwargs = {"epochs": 1, "batch_size": 100, "epsilon": 5.0, "random_state": 3}
    first = TVAESynthesizer(**kwargs).fit(data).sample(20)
    second = TVAESynthesizer(**kwargs).fit(data).sample(20)
    pd.testing.assert_frame_equal(first, second)


def test_public_schema_leaves_the_whole_budget_to_training():
    data = _table(800)
    metadata = {
        "categories": {"city": ["north", "south", "east", "secret-village"]},
        "bounds": {"age": [0, 120], "income": [0, 1e6]},
    }
    synthesizer = TVAESynthesizer(epochs=1, batch_size=100, epsilon=2.0, random_state=0)
    synthesizer.fit(data, metadata=metadata)
    # Only the frequent-values histograms of the two continuous columns remain private.
    assert [what for what, _ in synthesizer.privacy_["data_layer"]] == [
        "frequent values of 'age'",
        "frequent values of 'income'",
    ]
    assert synthesizer.transformer_._categories[0] == sorted(metadata["categories"]["city"])
    sample = synthesizer.sample(300)
    assert sample["income"].between(0, 1e6).all()
    assert synthesizer.epsilon_ <= 2.0


def test_non_dp_fit_reports_no_budget():
    synthesizer = TVAESynthesizer(epochs=1, random_state=0).fit(_table(300))
    assert synthesizer.epsilon_ is None and synthesizer.delta_ is None


def test_dp_dense_windows_and_dvae_panels():
    rng = np.random.default_rng(0)
    windows = np.sin(np.linspace(0, 6, 12))[None, :, None] + rng.normal(0, 0.1, (400, 12, 2))
    dense = DenseVAESynthesizer(epochs=1, batch_size=100, epsilon=4.0, random_state=0)
    dense.fit(windows)
    assert dense.epsilon_ <= 4.0
    assert np.all(dense.data_min_ < -0.5) and np.all(dense.data_max_ > 0.5)
    assert dense.sample(5).shape == (5, 12, 2)
    # residual noise and calibration read the data without noise: not fitted under DP
    assert dense.module_.noise_dim == 0
    assert dense.module_.calibration.target.tolist() == [[-1.0, 1.0]] * 2

    lengths = rng.integers(4, 8, 200)
    panel = pd.DataFrame(
        {
            "id": np.repeat(np.arange(200), lengths),
            "t": np.concatenate([np.arange(n) for n in lengths]),
            "x": rng.normal(size=lengths.sum()),
            "kind": np.repeat(rng.choice(["a", "b"], 200), lengths),
        }
    )
    dvae = DVAESynthesizer(
        sequence_key="id",
        sequence_index="t",
        context_columns=["kind"],
        epochs=1,
        batch_size=50,
        epsilon=4.0,
        random_state=0,
    ).fit(panel, metadata={"categories": {"kind": ["a", "b"]}})
    assert dvae.epsilon_ <= 4.0
    assert dvae.module_.residual.noise_dim == 0
    assert dvae.module_.calibration.target.tolist() == [[-1.0, 1.0]]
    with pytest.raises(InvalidParameterError, match="pass context="):
        dvae.sample(3)
    out = dvae.sample(3, context=pd.DataFrame({"kind": ["a", "b", "a"]}))
    assert out["id"].nunique() == 3
    assert out.groupby("id").size().between(2, 20).all()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"epsilon": 0}, "epsilon"),
        ({"epsilon": -1.0}, "epsilon"),
        ({"epsilon": float("inf")}, "epsilon must be a finite number"),
        ({"delta": 1e-5}, "needs epsilon"),
        ({"epsilon": 1.0, "delta": 1.5}, "delta must be in"),
        ({"epsilon": 1.0, "max_grad_norm": 0}, "max_grad_norm"),
    ],
)
def test_bad_privacy_parameters_are_named(params, message):
    with pytest.raises(InvalidParameterError, match=message):
        TVAESynthesizer(epochs=1, **params).fit(_table(100))


def test_missing_opacus_gives_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "opacus", None)
    with pytest.raises(InvalidParameterError, match=r"tssynth\[privacy\]"):
        TVAESynthesizer(epochs=1, epsilon=1.0).fit(_table(100))


def test_bad_public_schema_is_named():
    with pytest.raises(InvalidParameterError, match="low < high"):
        TVAESynthesizer(epochs=1).fit(_table(100), metadata={"bounds": {"age": [5, 1]}})
    with pytest.raises(InvalidParameterError, match="not in the data"):
        TVAESynthesizer(epochs=1).fit(_table(100), metadata={"categories": {"town": ["a"]}})


def _tvae_case():
    from tssynth.nn.tvae import TVAE

    module = TVAE([(0, 1, "gaussian"), (1, 4, "softmax")], 3, (8,), (8,), 2.0)
    x = torch.cat([torch.rand(6, 1) * 2 - 1, torch.eye(3)[torch.tensor([0, 1, 2, 0, 1, 2])]], 1)
    return module, [x]


def _dvae_case():
    from tssynth.nn.dvae import DVAE

    module = DVAE([(0, 2, "gaussian")], 0, 3, 5, (6,), (6,), private=True)
    x = torch.rand(4, 5, 2) * 2 - 1
    mask = (torch.arange(5)[None, :] < torch.tensor([5, 3, 4, 2])[:, None]).float()
    return module, [x, mask]


@pytest.mark.parametrize("case", [_tvae_case, _dvae_case])
def test_training_step_sums_exactly_clipped_per_record_gradients(case):
    from tssynth.nn.private import PrivacyConfig, make_private

    torch.manual_seed(0)
    module, batch = case()
    module.train()
    clip = 0.5
    terms = module.per_record_loss(batch, 1.0, torch.Generator().manual_seed(0))
    per_record = _per_record_gradients(module, terms.total)
    scale = (clip / (per_record.norm(dim=1) + 1e-6)).clamp(max=1.0)
    expected = (scale[:, None] * per_record).sum(0)
    assert (scale < 1).any()  # the test exercises clipping

    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    private = make_private(
        module, optimizer, PrivacyConfig(1.0, 1e-5, clip), 100, 10, 1, torch.Generator()
    )
    terms = module.per_record_loss(batch, 1.0, torch.Generator().manual_seed(0))
    private.optimizer.zero_grad()
    private.backward(terms.total)
    private.optimizer.noise_multiplier = 0.0  # look at the clipped sum without the noise
    assert private.optimizer.pre_step()
    # The step averages over the expected batch size (batch_size 10 here).
    got = torch.cat([p.grad.reshape(-1) for p in module.parameters()]) * 10
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    private.finish()


def test_dp_dvae_echoes_given_context_that_was_not_released():
    rng = np.random.default_rng(1)
    lengths = rng.integers(3, 6, 120)
    kind = rng.choice(["a", "b"], 120)
    kind[0] = "rare"  # held by one sequence: never released
    panel = pd.DataFrame(
        {
            "id": np.repeat(np.arange(120), lengths),
            "t": np.concatenate([np.arange(n) for n in lengths]),
            "x": rng.normal(size=lengths.sum()),
            "kind": np.repeat(kind, lengths),
            "size": np.repeat(rng.normal(10.0, 1.0, 120), lengths),
        }
    )
    dvae = DVAESynthesizer(
        sequence_key="id",
        sequence_index="t",
        context_columns=["kind", "size"],
        epochs=1,
        batch_size=40,
        epsilon=3.0,
        random_state=0,
    ).fit(panel)
    given = pd.DataFrame({"kind": ["a", "rare", "b"], "size": [10.5, 1000.0, 7.777]})
    # Encoded and decoded, the given context would not survive the private data layer.
    context = dvae.panel_transformer_.context
    decoded = context.inverse_transform(context.transform(given))
    assert not decoded["kind"].eq("rare").any()  # the unreleased category is lost
    out = dvae.sample(3, sequence_length=2, context=given)
    echoed = out.drop_duplicates("id")[["kind", "size"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(echoed, given, check_exact=True)
    prefix = panel[panel["id"] < 2]
    expected = prefix.groupby("id")[["kind", "size"]].first()
    got = dvae.forecast(prefix, steps=2).groupby("id")[["kind", "size"]].first()
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


@pytest.mark.parametrize("bounds", [None, "whole float range", "upper half"])
def test_dp_fit_of_values_near_the_largest_float_stays_finite(bounds):
    big = np.finfo(np.float64).max
    public = {None: None, "whole float range": [-big, big], "upper half": [big / 2, big]}[bounds]
    frame = _table(300).assign(huge=np.random.default_rng(1).choice([-big, 0.0, 1e307, big], 300))
    metadata = None if public is None else {"bounds": {"huge": public}}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow anywhere
        synthesizer = TVAESynthesizer(epochs=1, batch_size=100, epsilon=3.0, random_state=0)
        synthesizer.fit(frame, metadata=metadata)
        out = synthesizer.sample(50)["huge"]
    continuous = synthesizer.transformer_.to_state()["continuous"]
    for key in ("loc", "scale", "min", "max"):
        assert np.isfinite(continuous[key]).all(), key
    assert (np.asarray(continuous["scale"]) > 0).all()
    assert np.isfinite(synthesizer.loss_history_["loss"]).all()
    assert np.isfinite(out).all()
    if public is not None:
        assert out.between(*public).all()


TINY_DP = {
    "embedding_dim": 4,
    "compress_dims": (8,),
    "decompress_dims": (8,),
    "epochs": 1,
    "batch_size": 100,
    "random_state": 0,
}


def test_a_small_epsilon_trains_with_latents_from_the_prior():
    # The latent release alone costs about 0.5: it left DP-SGD nothing below about 0.64,
    # and fit refused to train.
    frame = _table(1000)
    with pytest.warns(PrivacyWarning, match="too small to release the latent distribution"):
        model = TVAESynthesizer(epsilon=0.3, **TINY_DP).fit(frame)
    assert model.epsilon_ <= 0.3 and model.privacy_["latent_release"] is None
    assert model.sample(10).shape == (10, frame.shape[1])
    assert TVAESynthesizer(epsilon=3.0, **TINY_DP).fit(frame).privacy_["latent_release"]


def test_a_categorical_column_with_no_released_category_is_named():
    rng = np.random.default_rng(0)
    # 30 rows per category, far below what clears the noise at this budget (about 130).
    frame = pd.DataFrame({"a": rng.normal(size=300), "b": rng.choice(list("abcdefghij"), 300)})
    with pytest.warns(PrivacyWarning, match="Column 'b': no category was frequent enough"):
        model = TVAESynthesizer(epsilon=3.0, **TINY_DP).fit(frame)
    assert model.sample(20)["b"].isna().all()


def test_dense_takes_public_bounds_and_warns_about_overlapping_windows():
    windows = np.random.default_rng(0).normal(size=(60, 12, 2))
    model = DenseVAESynthesizer(epsilon=3.0, **TINY_DP)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyWarning)  # channel 1 has no public bounds
        model.fit(windows, metadata={"bounds": {0: [-4, 4]}})
    assert model.data_min_[0] == -4 and model.data_max_[0] == 4
    assert np.abs(model.sample(50)[..., 0]).max() <= 4
    with pytest.raises(InvalidParameterError, match="not channels of X"):
        DenseVAESynthesizer(**TINY_DP).fit(windows, metadata={"bounds": {"v": [0, 1]}})
    long = pd.DataFrame({"t": np.arange(300), "v": np.sin(np.arange(300) / 5)})
    overlapping = DenseVAESynthesizer(epsilon=3.0, window=10, sequence_index="t", **TINY_DP)
    with pytest.warns(PrivacyWarning, match="up to 10 windows"):
        overlapping.fit(long, metadata={"bounds": {"v": [-1, 1]}})


def test_dvae_step_statistics_bound_records_by_a_released_length(monkeypatch):
    """Every step histogram's threshold counted the raw longest sequence: one extra
    sequence of 400 steps moved it (categories released in 21 of 24 fits without it, 0
    of 24 with it). The bound is now the longest released length, and a longer
    sequence adds only that many steps to the statistics."""
    import tssynth.data.transformer as transformer_module

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "key": np.repeat(np.arange(300), 8),
            "t": np.tile(np.arange(8), 300),
            "c": rng.choice(["p", "q"], 2_400),
            "x": rng.normal(size=2_400),
        }
    )
    extra = pd.DataFrame({"key": 999, "t": np.arange(400), "c": "p", "x": 0.0})
    frame = pd.concat([frame, extra], ignore_index=True)
    bounds, steps = [], []
    original = transformer_module.release_frequent

    def recorded(values, weights, budget, what, per_record=None):
        if per_record is None:
            bounds.append(budget.max_values_per_record)
            steps.append(float(np.sum(weights)) if weights is not None else len(values))
        return original(values, weights, budget, what, per_record)

    monkeypatch.setattr(transformer_module, "release_frequent", recorded)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyWarning)
        model = DVAESynthesizer(
            sequence_key="key", sequence_index="t", epsilon=8.5, delta=1e-3, **TINY_DP
        ).fit(frame)
    assert set(model.panel_transformer_.lengths) == {8}  # the 400 steps are not released
    assert bounds and set(bounds) == {8}
    np.testing.assert_allclose(steps, 301.0)  # each sequence weighs one in all


def test_private_fits_of_categories_only():
    """No Gaussian column: the decoder's sigma took no gradient, and opacus stopped on it
    ('Parameter' object has no attribute '_norm_sample'; DVAE: 'Per sample gradient is
    not initialized')."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"a": rng.choice(["x", "y"], 500), "b": rng.choice(["p", "q"], 500)})
    panel = pd.DataFrame(
        {
            "key": np.repeat(np.arange(200), 6),
            "t": np.tile(np.arange(6), 200),
            "c": rng.choice(["p", "q"], 1_200),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyWarning)
        tvae = TVAESynthesizer(epsilon=3.0, **TINY_DP).fit(table)
        dvae = DVAESynthesizer(sequence_key="key", sequence_index="t", epsilon=50.0, **TINY_DP).fit(
            panel
        )
    assert set(tvae.sample(200)["a"]) <= {"x", "y"} and tvae.epsilon_ <= 3.0
    assert set(dvae.sample(5)["c"]) <= {"p", "q"} and dvae.epsilon_ <= 50.0


def test_a_private_integer_index_steps_by_whole_units():
    """A noisy released step of 0.58 put consecutive steps on one integer time."""
    rng = np.random.default_rng(0)
    panel = pd.DataFrame(
        {"key": np.repeat(np.arange(200), 5), "t": np.tile(np.arange(5), 200)}
    ).assign(x=rng.normal(size=1_000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyWarning)
        model = DVAESynthesizer(
            sequence_key="key", sequence_index="t", epsilon=3.0, hidden_dim=8, **TINY_DP
        ).fit(panel)
    assert model.panel_transformer_.step >= 1.0
    assert model.panel_transformer_.step == round(model.panel_transformer_.step)
    assert not model.sample(5).duplicated(["key", "t"]).any()


def test_a_delta_above_one_over_the_records_is_warned_about():
    table = pd.DataFrame({"v": np.random.default_rng(0).normal(size=200)})
    with pytest.warns(PrivacyWarning, match=r"delta=0\.01 is above 1 / the 200 records"):
        TVAESynthesizer(epsilon=3.0, delta=0.01, **TINY_DP).fit(table)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        TVAESynthesizer(epsilon=3.0, delta=0.005, **TINY_DP).fit(table)
    assert not any("is above 1 / the" in str(w.message) for w in caught)


def test_a_private_panel_with_nothing_released_says_why():
    """It blamed the data ('constant or entirely missing'); declared categories fit."""
    rng = np.random.default_rng(0)
    panel = pd.DataFrame(
        {"key": np.repeat(np.arange(60), 6), "t": np.tile(np.arange(6), 60)}
    ).assign(c=rng.choice(["p", "q"], 360))
    model = DVAESynthesizer(sequence_key="key", sequence_index="t", epsilon=1.0, **TINY_DP)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyWarning)
        with pytest.raises(InvalidDataError, match=r"frequent enough to release at epsilon=1\.0"):
            model.fit(panel)
        model.fit(panel, metadata={"categories": {"c": ["p", "q"]}})
    assert set(model.sample(3)["c"]) <= {"p", "q"}


def test_generator_filepath_less_private_than_asked_is_refused(tmp_path):
    """A file trained without DP was loaded for fit(epsilon=1) with a plain UserWarning,
    and the model released as it was."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"a": rng.choice(["x", "y"], 500), "v": rng.normal(size=500)})
    params = {**TINY_DP, "generator_filepath": tmp_path / "plain.tssynth"}
    TVAESynthesizer(**params).fit(table)
    with pytest.raises(InvalidParameterError, match="trained without differential privacy"):
        TVAESynthesizer(epsilon=1.0, **params).fit(table)
    private = {**params, "generator_filepath": tmp_path / "private.tssynth"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyWarning)
        TVAESynthesizer(epsilon=2.0, **private).fit(table)
        with pytest.raises(
            InvalidParameterError, match=r"spending epsilon=2\.0|spending epsilon=1\.9"
        ):
            TVAESynthesizer(epsilon=1.0, **private).fit(table)
        # its delta was 1 / 500 records: a smaller one asked for is refused too
        with pytest.raises(InvalidParameterError, match=r"delta=1e-09 asked for"):
            TVAESynthesizer(epsilon=2.0, delta=1e-9, **private).fit(table)
        with pytest.warns(UserWarning, match=r"other values of \['epsilon'\]"):
            loaded = TVAESynthesizer(epsilon=4.0, **private).fit(table)  # more private: kept
    # the parameter stays as asked (scikit-learn); what was spent is the fitted epsilon_
    assert loaded.epsilon == 4.0 and loaded.epsilon_ <= 2.0


def test_dvae_lengths_released_as_noise_ask_for_a_length(monkeypatch):
    # With too few sequences for the budget the private length quantiles can be NaN: they
    # were cast to -9.2e18, and sample() returned empty (3, 0, 2) arrays without a word.
    import tssynth.data.panel as panel_module

    def noise(values, weights, levels, budget, what):
        for _ in range(1 + len(levels)):
            budget.charge(what)
        return np.full(len(levels), np.nan), (-1.0, 1.0)

    monkeypatch.setattr(panel_module, "private_spread", noise)
    monkeypatch.setattr(
        panel_module, "release_frequent", lambda *args, **kwargs: (np.zeros(0), np.zeros(0))
    )
    windows = np.random.default_rng(0).normal(size=(60, 8, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyWarning)
        model = DVAESynthesizer(epsilon=3.0, **{**TINY_DP, "batch_size": 500}).fit(windows)
    assert model.panel_transformer_.lengths.size == 0
    with pytest.raises(InvalidParameterError, match="pass sequence_length"):
        model.sample(3)
    assert model.sample(3, sequence_length=4).shape == (3, 4, 2)


@pytest.mark.parametrize("scale", [1e-3, 1e-2, 1.0, 1e6])
def test_private_bounds_follow_the_data_at_every_scale(scale):
    # Under 0.5 every value fell in one fixed bin [0, 0.52): a column in [0, 0.01] got
    # bounds around [0.04, 0.25] and every sample lay outside the data.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"rate": rng.uniform(0, scale, 3000), "g": rng.normal(50, 10, 3000)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyWarning)
        model = TVAESynthesizer(epsilon=3.0, **{**TINY_DP, "batch_size": 500}).fit(frame)
    rate = model.sample(2000)["rate"]
    assert rate.min() >= 0 and rate.max() <= 1.1 * scale
    assert rate.quantile(0.9) > 0.2 * scale  # not squeezed into a corner either
