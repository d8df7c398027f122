"""DVAESynthesizer and the DVAE module: masks, formats, forecasting, scoring, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from tests.test_panel import make_panel
from tssynth.exceptions import DataWarning, InvalidDataError, InvalidParameterError
from tssynth.metrics.fidelity import _ks_complement
from tssynth.nn.dvae import DVAE, reverse_within
from tssynth.nn.residual import MarginalCalibration
from tssynth.synthesizers.dvae import DVAESynthesizer

SMALL = {
    "embedding_dim": 4,
    "hidden_dim": 16,
    "compress_dims": (16,),
    "decompress_dims": (16,),
    "batch_size": 16,
    "device": "cpu",
}
SPANS = [(0, 1, "gaussian"), (1, 4, "softmax"), (4, 5, "gaussian"), (5, 7, "softmax")]


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return make_panel(n=24, seed=3)


@pytest.fixture(scope="module")
def fitted(panel: pd.DataFrame) -> DVAESynthesizer:
    return DVAESynthesizer(
        sequence_key="unit",
        sequence_index="day",
        context_columns=["device"],
        epochs=3,
        random_state=0,
        **SMALL,
    ).fit(panel)


def _steps(batch: int, T: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(batch, T, 7)
    x[..., 0] = torch.rand(batch, T, generator=g) * 2 - 1
    x[..., 4] = torch.rand(batch, T, generator=g) * 2 - 1
    x[..., 1:4] = torch.nn.functional.one_hot(torch.randint(3, (batch, T), generator=g), 3)
    x[..., 5:7] = torch.nn.functional.one_hot(torch.randint(2, (batch, T), generator=g), 2)
    return x


# ------------------------------------------------------------------ module


def test_reverse_within_keeps_padding_in_place():
    x = torch.arange(10.0).view(2, 5, 1)
    out = reverse_within(x, torch.tensor([3, 5]))[..., 0]
    assert out.tolist() == [[2.0, 1.0, 0.0, 3.0, 4.0], [9.0, 8.0, 7.0, 6.0, 5.0]]


def test_padding_never_changes_the_loss_terms():
    torch.manual_seed(0)
    module = DVAE(SPANS, 2, 3, 8, (8,), (8,)).eval()
    x, context = _steps(3, 6), torch.randn(3, 2)
    mask = torch.ones(3, 6)
    mask[0, 4:] = 0
    nll, kl, _ = module.terms(x, mask, context, None, sample=False)
    garbage = x.clone()
    garbage[0, 4:] = 5.0
    longer = torch.cat([garbage, torch.full((3, 3, 7), -3.0)], dim=1)
    longer_mask = torch.cat([mask, torch.zeros(3, 3)], dim=1)
    nll2, kl2, _ = module.terms(longer, longer_mask, context, None, sample=False)
    assert torch.allclose(nll, nll2[:, :6], atol=1e-5)
    assert torch.allclose(kl, kl2[:, :6], atol=1e-5)
    assert (nll2[:, 6:] == 0).all() and (nll[0, 4:] == 0).all()


def test_the_training_loss_draws_the_same_noise_with_or_without_trailing_padding():
    torch.manual_seed(0)
    module = DVAE(SPANS, 0, 3, 8, (8,), (8,))
    x, mask = _steps(4, 6), torch.ones(4, 6)
    mask[:2, 3:] = 0
    padded = [torch.cat([x, torch.zeros(4, 30, 7)], 1), torch.cat([mask, torch.zeros(4, 30)], 1)]
    losses = [
        module.loss(batch, 1.0, torch.Generator().manual_seed(1)).total
        for batch in ([x, mask], padded)
    ]
    assert losses[0] == losses[1]  # the batch is cut to its longest sequence before any draw


def test_results_of_a_sequence_do_not_depend_on_the_longest_one_beside_it(fitted, panel):
    unit = panel["unit"].iloc[0]
    alone = panel[panel["unit"] == unit]
    longest = panel.groupby("unit")["day"].size().idxmax()
    mixed = panel[panel["unit"].isin([unit, longest])]
    assert len(alone) < len(mixed[mixed["unit"] == longest])
    z_alone, z_mixed = fitted.transform(alone)[0], fitted.transform(mixed)[0]
    np.testing.assert_allclose(z_mixed[: len(alone)], z_alone[: len(alone)], atol=1e-5)
    assert np.isnan(z_mixed[len(alone) :]).all()


def test_draws_are_one_hot_and_bounded_where_the_recurrence_reads_them():
    module = DVAE(SPANS, 0, 3, 8, (8,), (8,))
    module.decoder.sigma.data.fill_(0.5)  # wide noise: many draws past [-1, 1]
    out = module.draw(torch.randn(50, 7) * 5, module.decoder.sigma, torch.Generator())
    assert out[:, 1:4].sum(1).eq(1).all() and out[:, 5:7].sum(1).eq(1).all()
    assert out[:, [0, 4]].abs().gt(1).any()  # as drawn, for the calibration
    state = module.initial_state(20, torch.device("cpu"))
    clipped = module.generate(6, state, None, torch.Generator().manual_seed(0))
    raw = module.generate(6, state, None, torch.Generator().manual_seed(0), clip=False)
    assert clipped[..., [0, 4]].abs().le(1).all()
    # The same draws: clipping changes only what goes past the range.
    torch.testing.assert_close(raw.clamp(-1, 1), clipped)


def test_scheduled_sampling_rises_over_the_first_half():
    module = DVAE(SPANS, 0, 3, 8, (8,), (8,), scheduled_sampling=0.4)
    shares = []
    for epoch in range(10):
        module.start_epoch(epoch, 10)
        shares.append(module.sampled_share)
    assert shares[0] == 0.0 and shares[-1] == pytest.approx(0.4)
    assert np.all(np.diff(shares) >= 0)


# ------------------------------------------------------------------ frames


def test_sample_follows_the_fitted_format(fitted, panel):
    out = fitted.sample(7)
    assert list(out.columns) == list(panel.columns)
    assert out.dtypes.tolist() == panel.dtypes.tolist()
    lengths = out.groupby("unit").size()
    assert len(lengths) == 7
    assert set(lengths) <= set(panel.groupby("unit").size())
    assert (out.groupby("unit")["day"].diff().dropna() == pd.Timedelta("1D")).all()
    assert set(out["state"]) <= {"on", "off"}
    assert (out.groupby("unit")["device"].nunique() == 1).all()

    fixed = fitted.sample(3, sequence_length=11, context=pd.DataFrame({"device": ["big"] * 3}))
    assert fixed.groupby("unit").size().tolist() == [11, 11, 11]
    assert (fixed["device"] == "big").all()
    assert len(fitted.sample(0)) == 0


def test_forecast_frame_continues_every_prefix(fitted, panel):
    prefix = panel[panel["unit"].isin(["u01", "u05"])]
    out = fitted.forecast(prefix, steps=4, n_samples=3)
    assert list(out.columns[:2]) == ["unit", "sample"]
    assert len(out) == 2 * 3 * 4
    last = prefix.groupby("unit")["day"].max()
    first = out.groupby("unit")["day"].min()
    assert (first - last == pd.Timedelta("1D")).all()
    assert (out.groupby(["unit", "sample"]).size() == 4).all()
    devices = prefix.groupby("unit")["device"].first()
    assert (out.groupby("unit")["device"].first() == devices).all()


def test_transform_reconstruct_and_score_shapes(fitted, panel):
    n, T = panel["unit"].nunique(), panel.groupby("unit").size().max()
    z = fitted.transform(panel)
    assert z.shape == (n, T, 4)
    lengths = panel.groupby("unit").size().sort_index().to_numpy()
    assert (np.isnan(z[:, :, 0]).sum(1) == T - lengths).all()
    back = fitted.reconstruct(panel)
    assert back.shape == panel.shape
    scores = fitted.score_samples(panel)
    assert scores.shape == (n,) and np.isfinite(scores).all()
    assert np.array_equal(scores, fitted.score_samples(panel.sample(frac=1, random_state=2)))
    # A sequence's score is its own: scored alone it is the same as in the panel.
    units = np.sort(panel["unit"].unique())
    for i in (0, len(units) - 1):
        alone = fitted.score_samples(panel[panel["unit"] == units[i]])
        np.testing.assert_allclose(alone, scores[i : i + 1], rtol=1e-5)


def test_scores_keep_falling_for_readings_far_past_the_training_range(fitted, panel):
    # Encoded at training's limit (about 4 sd out in a mode), spikes of 5, 1e3 and 1e8
    # all scored the same.
    unit = panel[panel["unit"] == "u00"].copy()
    scores = []
    for spike in (None, 50.0, 1e3, 1e8, -1e8):
        spiked = unit.copy()
        if spike is not None:
            spiked.iloc[2, spiked.columns.get_loc("value")] = spike
        scores.append(fitted.score_samples(spiked)[0])
    assert np.isfinite(scores).all()
    assert scores[0] > scores[1] > scores[2] > scores[3] and scores[4] < scores[2]


def test_scores_leave_missing_values_and_the_first_gap_out():
    """A missing value, and the gap before a sequence's first step (irregular times),
    cost what their missing indicator costs, not the likelihood of a made-up value: the
    column mean, between the doses' levels, used to cost some 100 nats a value."""
    rng = np.random.default_rng(0)
    units, length = 60, 12
    frame = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(units), length),
            "t": np.cumsum(rng.choice([1, 2, 4], units * length)),
            "hr": 80 + rng.normal(0, 4, units * length),
            "dose": rng.choice([1.0, 2.0, 4.0], units * length),
        }
    )
    frame.loc[rng.random(len(frame)) < 0.1, "dose"] = np.nan
    model = DVAESynthesizer(
        sequence_key="unit", sequence_index="t", epochs=15, batch_size=16, random_state=0
    ).fit(frame)
    test = frame[frame["unit"] < 20].copy()
    first_steps = test.groupby("unit").head(1)
    assert model.score_samples(first_steps).min() > -25
    observed = test.dropna(subset=["dose"]).groupby("unit").head(6)
    gappy = observed.copy()
    gappy.loc[gappy.groupby("unit").cumcount() == 3, "dose"] = np.nan
    cost = model.score_samples(observed) - model.score_samples(gappy)
    assert np.abs(cost).max() < 15


def test_transform_refuses_padding_that_would_not_fit_in_memory(waves_model, monkeypatch):
    """One long sequence among short ones pads every trajectory to its length (6 GiB for
    one of 20,000 steps among 5,000 of 10): named before any work, not a MemoryError."""
    import tssynth.data.memory as memory_module

    X = [np.zeros((200, 2))] + [np.zeros((4, 2))] * 99
    needed = 4 * 100 * 200 * waves_model.embedding_dim
    monkeypatch.setattr(memory_module, "_physical_memory", lambda: needed)  # twice half
    with pytest.raises(InvalidDataError, match=r"100 sequences to its longest, 200 steps"):
        waves_model.transform(X)
    assert waves_model.transform(X[1:]).shape == (99, 4, waves_model.embedding_dim)


def test_sample_memory_check_counts_what_generation_holds(waves_model, monkeypatch):
    """Generation peaks at 7.8 times the float32 steps it draws: the check counts 8
    times (it counted once, and let through samples that took 2.5 times the memory)."""
    import tssynth.data.memory as memory_module

    width = waves_model.panel_transformer_.steps.output_dim
    per_sequence = 8 * 4 * 8 * width  # sequences of 8 steps
    monkeypatch.setattr(memory_module, "_physical_memory", lambda: 2 * 50 * per_sequence)
    assert waves_model.sample(50, sequence_length=8).shape[:2] == (50, 8)
    with pytest.raises(InvalidParameterError, match="51 sequences of up to 8 steps"):
        waves_model.sample(51, sequence_length=8)


def test_sequences_too_long_to_train_in_memory_are_named_before_training(monkeypatch):
    """A sequence is trained whole, at about 60 KB a step: one of 200,000 steps died in a
    raw std::bad_alloc after half a minute. The error suggests a piece length that fits."""
    import tssynth.data.memory as memory_module

    per_step = 40_000 + 140 * SMALL["hidden_dim"] + 11_000  # a sequence trained alone
    monkeypatch.setattr(memory_module, "_physical_memory", lambda: 2 * per_step * 150)
    X = [np.zeros((200, 2)), np.ones((20, 2))]
    model = DVAESynthesizer(epochs=1, **SMALL)
    with pytest.raises(InvalidDataError, match=r"longest has 200 steps.*at most about 150 steps"):
        model.fit(X)
    assert not hasattr(model, "module_")


def test_early_stopping_holds_out_sequences(panel):
    model = DVAESynthesizer(
        sequence_key="unit",
        sequence_index="day",
        context_columns=["device"],
        epochs=300,
        early_stopping=True,
        n_iter_no_change=2,
        random_state=0,
        **SMALL,
    ).fit(panel)
    history = model.loss_history_
    assert len(history) < 300 and history["val_loss"].notna().all()
    assert len(history) == int(history["val_loss"].idxmin()) + 1 + 2
    assert len(model.sample(3)) > 0


def test_same_seed_same_samples_and_save_load(fitted, panel, tmp_path):
    first, again = clone(fitted).fit(panel), clone(fitted).fit(panel)
    pd.testing.assert_frame_equal(first.sample(5), again.sample(5))
    path = fitted.save(tmp_path / "dvae.tssynth")
    loaded = DVAESynthesizer.load(path)
    pd.testing.assert_frame_equal(fitted.sample(4), loaded.sample(4))


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda s, p: s.forecast(p, steps=0), InvalidParameterError, "steps"),
        (lambda s, p: s.forecast(p, steps=-2), InvalidParameterError, "steps"),
        (lambda s, p: s.forecast(p.assign(extra=1), steps=2), InvalidDataError, "extra"),
        (lambda s, p: s.forecast(p.drop(columns="unit"), 2), InvalidDataError, "sequence_key"),
        (lambda s, p: s.score_samples(p.drop(columns="device")), InvalidDataError, "device"),
        (lambda s, p: s.sample(2, sequence_length=0), InvalidParameterError, "sequence_length"),
    ],
)
def test_bad_calls_give_clear_errors(fitted, panel, call, error, message):
    with pytest.raises(error, match=message):
        call(fitted, panel)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="day"), "sequence_index"),
        (lambda f: pd.concat([f, f.iloc[[3]]]), "duplicate"),
        (lambda f: pd.concat([f, f.iloc[[0]].assign(unit="lonely")]), "lonely"),
    ],
)
def test_fit_rejects_bad_panels(panel, change, message):
    synthesizer = DVAESynthesizer(sequence_key="unit", sequence_index="day", epochs=1, **SMALL)
    with pytest.raises(InvalidDataError, match=message):
        synthesizer.fit(change(panel))


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (pd.date_range("2020", periods=5, freq="D").values, np.arange(5)),  # datetime -> int
        (  # whole seconds -> finer nanosecond data
            pd.date_range("2020", periods=5, freq="D").values.astype("datetime64[s]"),
            pd.date_range("2020", periods=5, freq="250ms").values,
        ),
    ],
    ids=["datetime-then-int", "seconds-then-ns"],
)
def test_refit_reads_the_new_index_dtype_like_a_fresh_estimator(first, second):
    def frame(times: np.ndarray) -> pd.DataFrame:
        x = np.random.default_rng(0).normal(size=6 * len(times))
        return pd.DataFrame(
            {"k": np.repeat(np.arange(6), len(times)), "t": np.tile(times, 6), "x": x}
        )

    params = {"sequence_key": "k", "sequence_index": "t", "epochs": 1, "random_state": 0}
    refitted = DVAESynthesizer(**params, **SMALL).fit(frame(first)).fit(frame(second))
    fresh = DVAESynthesizer(**params, **SMALL).fit(frame(second))
    pd.testing.assert_frame_equal(refitted.sample(2), fresh.sample(2))


def test_parameters_are_checked_and_unfitted_use_fails(panel):
    with pytest.raises(InvalidParameterError, match="scheduled_sampling"):
        DVAESynthesizer(sequence_key="unit", scheduled_sampling=2.0).fit(panel)
    with pytest.raises(InvalidParameterError, match="hidden_dim"):
        DVAESynthesizer(sequence_key="unit", hidden_dim=0).fit(panel)
    with pytest.raises(InvalidParameterError, match="residual_noise must be True or False"):
        DVAESynthesizer(sequence_key="unit", residual_noise="yes").fit(panel)
    with pytest.raises(NotFittedError):
        DVAESynthesizer().sample(3)


@pytest.mark.parametrize(
    ("features", "params", "widths"),
    [
        (5, {}, (64, (64,), (64,))),
        (20, {}, (128, (128,), (128,))),
        (20, {"hidden_dim": 24}, (24, (24,), (24,))),
        (20, {"compress_dims": (8, 8)}, (128, (8, 8), (128,))),
    ],
)
def test_widths_left_to_fit_follow_the_step_features(tmp_path, features, params, widths):
    X = np.random.default_rng(0).normal(size=(8, 5, features))
    model = DVAESynthesizer(epochs=1, max_modes=1, random_state=0, **params).fit(X)
    assert model.get_params()["decompress_dims"] is None  # the parameter is kept as given
    hidden, compress, decompress = widths
    module = model.module_
    assert module.hidden_dim == hidden and module.forward_rnn.hidden_size == hidden
    assert module.inference_g.out_features == compress[0]
    assert len(module.prior_body) == 2 * len(compress)  # Linear + ReLU per width
    assert module.decoder.body[0].out_features == decompress[0]
    model.save(tmp_path / "g.tssynth")
    loaded = DVAESynthesizer.load(tmp_path / "g.tssynth")
    assert loaded.module_.forward_rnn.hidden_size == hidden
    np.testing.assert_array_equal(loaded.sample(3, 4), model.sample(3, 4))


# ------------------------------------------------------------------ arrays and learning


def _waves(n: int, T: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(T)
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    wave = np.sin(0.6 * t + phase)
    return np.stack([wave, np.cos(0.6 * t + phase)], axis=2) + 0.05 * rng.normal(size=(n, T, 2))


@pytest.fixture(scope="module")
def waves_model() -> DVAESynthesizer:
    X = _waves(96, 16, 0)
    X[::3, 12:] = np.nan  # a third of the sequences are 12 steps long
    params = {**SMALL, "hidden_dim": 24, "embedding_dim": 3}
    return DVAESynthesizer(epochs=25, max_modes=1, random_state=0, **params).fit(X)


def test_array_round_trip_formats(waves_model):
    X = _waves(5, 16, 1)
    assert waves_model.reconstruct(X).shape == X.shape
    padded = X.copy()
    padded[:, 12:] = np.nan  # every sequence ends early: the result keeps X's 16 steps
    back = waves_model.reconstruct(padded)
    assert back.shape == X.shape and np.isnan(back[:, 12:]).all()
    assert waves_model.transform(X).shape == (5, 16, 3)
    assert waves_model.forecast(X[:, :8], steps=6, n_samples=4).shape == (5, 4, 6, 2)
    samples = waves_model.sample(30)
    lengths = (~np.isnan(samples).all(axis=2)).sum(1)
    assert set(lengths) <= {12, 16} and len(set(lengths)) == 2


def test_learns_the_dynamics(waves_model):
    X = _waves(40, 16, 2)
    # Reconstruction tracks the data far better than its mean.
    error = np.mean((waves_model.reconstruct(X) - X) ** 2)
    assert error < 0.25 * X.var()
    # A continuation of a prefix beats repeating its last value.
    forecast = waves_model.forecast(X[:, :10], steps=6, n_samples=8).mean(1)
    future = X[:, 10:]
    naive = np.mean((future - X[:, 9:10]) ** 2)
    assert np.mean((forecast - future) ** 2) < 0.5 * naive
    # Generated sequences keep the learned rotation: consecutive steps turn by about 0.6 rad.
    samples = waves_model.sample(50, sequence_length=16)
    angle = np.unwrap(np.arctan2(samples[..., 0], samples[..., 1]), axis=1)
    assert abs(np.median(np.diff(angle, axis=1)) - 0.6) < 0.15
    # Sequences whose time order is scrambled are scored as anomalous.
    scrambled = X[:, np.random.default_rng(0).permutation(16)]
    assert np.median(waves_model.score_samples(scrambled)) < np.median(waves_model.score_samples(X))


# ------------------------------------------------------------------ sampling model


def _noise_panel(n: int = 300, T: int = 12, seed: int = 0) -> np.ndarray:
    """A smooth wave, uniform white noise recorded twice, and 70 %-zero bursts."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    noise = rng.uniform(0, 50, (n, T))
    bursts = np.where(rng.random((n, T)) < 0.3, rng.uniform(10, 100, (n, T)), 0.0)
    return np.stack([np.sin(0.5 * np.arange(T) + phase), noise, noise, bursts], axis=2)


@pytest.fixture(scope="module")
def noise_models() -> dict[str, DVAESynthesizer]:
    X = _noise_panel()
    params = {**SMALL, "epochs": 20, "max_modes": 1, "random_state": 0}
    return {
        "sigma": DVAESynthesizer(residual_noise=False, marginal_calibration=False, **params).fit(X),
        "default": DVAESynthesizer(**params).fit(X),
    }


def test_residual_noise_keeps_copied_columns_equal(noise_models):
    def copies_correlation(model):
        out = model.sample(1000)
        return np.corrcoef(out[:, :, 1].ravel(), out[:, :, 2].ravel())[0, 1]

    assert noise_models["sigma"].module_.residual.noise_dim == 0
    assert noise_models["default"].module_.residual.noise_dim > 0
    # independent learned-sigma noise per column decorrelates the copies
    assert copies_correlation(noise_models["sigma"]) < 0.92
    assert copies_correlation(noise_models["default"]) > 0.98


def test_marginal_calibration_restores_every_column_distribution(noise_models):
    X = _noise_panel()
    low = X[:, :, 3].min()
    zeros = np.mean(X[:, :, 3] == low)  # 70 % of the bursts sit at their minimum
    uncalibrated = noise_models["sigma"].sample(2000)
    calibrated = noise_models["default"].sample(2000)
    # The zeros are a point mass beside the one Gaussian mode: exact with or without
    # the calibration, which is what restores the spread of the smooth wave.
    for drawn in (uncalibrated, calibrated):
        assert np.mean(drawn[:, :, 3] == low) == pytest.approx(zeros, abs=0.03)
    assert _ks(X[:, :, 0], uncalibrated[:, :, 0]) > 0.1
    for c in range(4):  # every marginal close to the training one (Kolmogorov-Smirnov)
        grid = np.quantile(X[:, :, c], np.linspace(0, 1, 101))
        real_cdf = np.searchsorted(np.sort(X[:, :, c].ravel()), grid, "right") / X[:, :, c].size
        fake = np.sort(calibrated[:, :, c].ravel())
        assert np.abs(real_cdf - np.searchsorted(fake, grid, "right") / fake.size).max() < 0.05, c


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    return 1.0 - _ks_complement(np.ravel(a), np.ravel(b))


def test_calibration_maps_values_within_their_mixture_mode(tmp_path):
    rng = np.random.default_rng(0)
    n, T = 200, 12
    # a level near 10 or a skewed one above 30 per sequence, with jumps between them
    state = rng.random((n, 1)) < 0.4
    level = np.where(state, rng.normal(10, 0.5, (n, T)), rng.gamma(2.0, 1.0, (n, T)) + 30)
    jump = np.where(state, 31.0, 10.0) + rng.normal(0, 0.3, (n, T))
    wave = np.sin(0.7 * np.arange(T) + rng.uniform(0, 6, (n, 1)))
    X = np.stack([np.where(rng.random((n, T)) < 0.1, jump, level), wave], axis=2)
    params = {**SMALL, "batch_size": 32, "epochs": 20, "max_modes": 5, "random_state": 0}
    model = DVAESynthesizer(**params).fit(X)
    module = model.module_
    assert ((module.mode_index >= 0).sum(1) > 1).all()  # both columns have modes
    assert module.calibration.tables.shape[1] > 1  # modes with maps of their own
    model.save(tmp_path / "modes.tssynth")
    loaded = DVAESynthesizer.load(tmp_path / "modes.tssynth").module_.calibration
    for name in ("tables", "source", "target"):
        assert torch.equal(getattr(loaded, name), getattr(module.calibration, name))
    by_mode = model.sample(2000)
    pooled = MarginalCalibration(2)
    pooled.set(module.calibration.source[:2], module.calibration.target[:2])
    module.calibration = pooled  # what the calibration did before it knew the modes
    pooled_ks = [_ks(model.sample(2000)[..., c], X[..., c]) for c in range(2)]
    for c in range(2):
        assert _ks(by_mode[..., c], X[..., c]) < min(0.035, pooled_ks[c]), c


def test_forecasts_draw_the_residual_noise_and_old_files_load_without_it(noise_models):
    model = noise_models["default"]
    module = model.module_
    # forecasts of two copied columns stay copies too
    paths = model.forecast(_noise_panel(20, 12, seed=1)[:, :6], steps=4, n_samples=10)
    assert np.corrcoef(paths[..., 1].ravel(), paths[..., 2].ravel())[0, 1] > 0.98
    # a generator file written before the sampling model: sigma noise, no calibration
    state = {
        k: v
        for k, v in module.state_dict().items()
        if not k.startswith(("residual.", "calibration."))
    }
    old = DVAE(model.panel_transformer_.steps.spans, 0, 4, 16, (16,), (16,))
    old.load_state_dict(state)
    assert old.residual.noise_dim == 0
    values = torch.rand(3, 5, old.data_dim) * 2 - 1
    assert torch.equal(old.calibrate(values), values)


# ------------------------------------------------------------------ given context

CONTEXT = ["device", "weight", "rank"]


def test_given_context_comes_back_exactly_as_given(panel):
    codes = pd.factorize(panel["unit"])[0]
    frame = panel.assign(
        weight=np.linspace(1.0, 2.0, 24)[codes],  # continuous context
        rank=(np.arange(24) % 4)[codes],  # integer context
    )
    syn = DVAESynthesizer(
        sequence_key="unit",
        sequence_index="day",
        context_columns=CONTEXT,
        epochs=1,
        random_state=0,
        **SMALL,
    ).fit(frame)
    # An unseen category, values beyond the fitted range, an int32 column.
    given = pd.DataFrame(
        {
            "device": ["tiny", "big", "small"],
            "weight": [1.23456789, 50.0, -3.0],
            "rank": np.array([7, 0, -1], dtype=np.int32),
        },
        index=[10, 11, 12],
    )
    out = syn.sample(3, sequence_length=2, context=given)
    assert (out.groupby("unit")[CONTEXT].nunique() == 1).all().all()
    echoed = out.drop_duplicates("unit")[CONTEXT].reset_index(drop=True)
    pd.testing.assert_frame_equal(echoed, given.reset_index(drop=True), check_exact=True)
    # Not of the fitted kind (object): the fitted dtype, as it holds the values exactly.
    as_objects = given.astype({"rank": object})
    assert syn.sample(3, context=as_objects)["rank"].dtype == frame["rank"].dtype

    prefix = frame[frame["unit"].isin(["u01", "u02"])].copy()
    prefix.loc[prefix["unit"] == "u01", "device"] = "tiny"
    prefix.loc[prefix["unit"] == "u02", ["weight", "rank"]] = [99.5, 12]
    expected = prefix.groupby("unit")[CONTEXT].first()
    with pytest.warns(DataWarning, match="'device' are categories unseen in fit \\('tiny'\\)"):
        results = (syn.forecast(prefix, steps=2, n_samples=2), syn.reconstruct(prefix))
    for result in results:
        assert (result.groupby("unit")[CONTEXT].nunique() == 1).all().all()
        got = result.groupby("unit")[CONTEXT].first()
        pd.testing.assert_frame_equal(got, expected, check_exact=True)


def _irregular_visits(n: int, seed: int) -> pd.DataFrame:
    """Visits at irregular gaps of 1, 2, 7 or 30 days (half of them 1 day)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(8, 25, n)
    gaps = rng.choice([1, 1, 1, 2, 7, 30], lengths.sum())
    gaps[np.concatenate([[0], np.cumsum(lengths)[:-1]])] = 0
    offsets = np.concatenate([np.cumsum(g) for g in np.split(gaps, np.cumsum(lengths)[:-1])])
    starts = np.repeat(rng.integers(0, 365, n), lengths)
    return pd.DataFrame(
        {
            "patient": np.repeat([f"p{i}" for i in range(n)], lengths),
            "day": pd.Timestamp("2020-01-01") + pd.to_timedelta(starts + offsets, unit="D"),
            "hr": rng.normal(70, 10, lengths.sum()),
        }
    )


def test_irregular_time_gaps_are_learned_and_regular_ones_keep_one_step(panel):
    visits = _irregular_visits(120, seed=0)
    model = DVAESynthesizer(
        sequence_key="patient", sequence_index="day", epochs=15, random_state=0, **SMALL
    ).fit(visits)
    real = visits.groupby("patient")["day"].diff().dropna().dt.days
    sampled = model.sample(200)
    gaps = sampled.groupby("patient")["day"].diff().dropna().dt.days
    assert gaps.isin([1, 2, 7, 30]).mean() > 0.95  # the real gaps, exactly
    assert gaps.nunique() >= 3
    assert abs((gaps == 1).mean() - (real == 1).mean()) < 0.15
    assert (sampled["day"] == sampled["day"].dt.normalize()).all()  # still at midnight
    # forecasts continue after each prefix's last visit by drawn gaps
    prefix = visits[visits["patient"].isin(["p0", "p1"])]
    forecast = model.forecast(prefix, steps=6, n_samples=3)
    last = prefix.groupby("patient")["day"].max()
    first = forecast.groupby(["patient", "sample"])["day"].min()
    assert (first.to_numpy() > last.reindex(first.index.get_level_values(0)).to_numpy()).all()
    steps = forecast.groupby(["patient", "sample"])["day"].diff().dropna().dt.days
    assert (steps > 0).all() and steps.isin([1, 2, 7, 30]).mean() > 0.9
    # reconstruct keeps the given times
    rebuilt = model.reconstruct(prefix)
    np.testing.assert_array_equal(rebuilt["day"].to_numpy(), prefix["day"].to_numpy())
    # a regular index keeps its one learned step (no gap feature)
    regular = DVAESynthesizer(sequence_key="unit", sequence_index="day", epochs=1, **SMALL)
    assert regular.fit(panel).panel_transformer_.gap_column is None


def test_length_chunks_hold_every_sequence_once_within_a_doubling_of_length():
    from tssynth.nn.dvae import length_chunks

    rng = np.random.default_rng(0)
    lengths = torch.as_tensor(np.concatenate([np.full(299, 20), [2000], rng.integers(2, 900, 500)]))
    chunks = length_chunks(lengths, size=128)
    rows = torch.cat([r for r, _ in chunks])
    assert sorted(rows.tolist()) == list(range(len(lengths)))
    for r, steps in chunks:
        assert len(r) <= 128 and steps == int(lengths[r].max())
        assert lengths[r].max() < 2 * lengths[r].min()
    padded = sum(len(r) * steps for r, steps in chunks)
    assert padded < 2 * int(lengths.sum())  # against 800 x 2,000 in one padded block


def test_a_static_feature_column_is_pointed_to_context_columns():
    import warnings

    from tssynth.exceptions import DataWarning

    panel = make_panel(n=12, seed=1)
    with pytest.warns(DataWarning, match=r"\['device'\].*context_columns=\['device'\]"):
        DVAESynthesizer(sequence_key="unit", sequence_index="day", epochs=1, **SMALL).fit(panel)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        DVAESynthesizer(
            sequence_key="unit", sequence_index="day", context_columns=["device"], epochs=1, **SMALL
        ).fit(panel)


def _panel_of_lengths(lengths: list[int]) -> pd.DataFrame:
    """One numeric feature over sequences of the given lengths."""
    return pd.DataFrame(
        {
            "unit": np.repeat(np.arange(len(lengths)), lengths),
            "step": np.concatenate([np.arange(n) for n in lengths]),
            "value": np.random.default_rng(0).normal(size=sum(lengths)),
        }
    )


def test_a_long_sequence_does_not_pad_its_batch(monkeypatch: pytest.MonkeyPatch):
    """Training runs a batch in pieces of bounded padding; every step is still seen."""
    import tssynth.training as training

    lengths = [60] + [3] * 40
    frame = _panel_of_lengths(lengths)
    monkeypatch.setattr(training, "_piece_budget", lambda lengths, batch_size: 64)
    shapes = []
    loss = DVAE.loss

    def recording(self, batch, *args):
        shapes.append((batch[0].shape[:2], int(batch[1].sum())))
        return loss(self, batch, *args)

    monkeypatch.setattr(DVAE, "loss", recording)
    params = {**SMALL, "batch_size": 64}
    DVAESynthesizer(sequence_key="unit", sequence_index="step", epochs=1, **params).fit(frame)
    assert all(n == 1 or n * t <= 64 for (n, t), _ in shapes)
    assert sum(observed for _, observed in shapes) == sum(lengths)
    assert ((1, 60), 60) in [(tuple(shape), seen) for shape, seen in shapes]


def test_private_training_runs_long_batches_in_pieces(monkeypatch: pytest.MonkeyPatch):
    pytest.importorskip("opacus")
    import tssynth.training as training

    lengths = [40] * 6 + [3] * 60  # a Poisson batch of about 32 draws some long ones
    frame = _panel_of_lengths(lengths)
    monkeypatch.setattr(training, "_piece_budget", lambda lengths, batch_size: 48)
    shapes = []
    per_record_loss = DVAE.per_record_loss

    def recording(self, batch, *args):
        shapes.append(tuple(batch[0].shape[:2]))
        return per_record_loss(self, batch, *args)

    monkeypatch.setattr(DVAE, "per_record_loss", recording)
    params = {**SMALL, "batch_size": 32}
    model = DVAESynthesizer(
        sequence_key="unit", sequence_index="step", epochs=2, epsilon=5.0, random_state=0, **params
    ).fit(frame)
    assert all(n == 1 or n * t <= 48 for n, t in shapes)
    assert (1, 40) in shapes  # a long sequence ran alone
    assert 0 < model.epsilon_ <= 5.0
    assert model.sample(3, sequence_length=4)["unit"].nunique() == 3


def _lab_panel(units: int = 160, seed: int = 0) -> pd.DataFrame:
    """Half of the patients never have a lactate; the others miss one reading in 20."""
    rng = np.random.default_rng(seed)
    frames = []
    for unit in range(units):
        length = int(rng.integers(6, 16))
        measured = unit % 2 == 0
        lactate = 1.5 + np.cumsum(rng.normal(0, 0.1, length))
        lactate[(rng.random(length) < 0.05) | (not measured)] = np.nan
        frames.append(
            pd.DataFrame(
                {
                    "pid": f"p{unit:03d}",
                    "t": np.arange(length),
                    "hr": 80 + np.cumsum(rng.normal(0, 2, length)),
                    "lactate": lactate,
                    "ward": "icu" if unit % 4 < 2 else "step-down",
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _lacking_share(frame: pd.DataFrame) -> tuple[float, float]:
    """Shares of entities with no lactate at all, and with some but not all missing."""
    missing = frame["lactate"].isna().groupby(frame["pid"])
    every, some = missing.all(), missing.any()
    return float(every.mean()), float((some & ~every).mean())


def test_a_column_some_entities_lack_entirely_stays_absent_for_whole_entities(tmp_path):
    """Per-step missing flags alone gave nearly every sampled patient a few lactates
    (a share of 0.14 lacking it, 0.79 mixed, against 0.5 and about 0.25 in training)."""
    panel = _lab_panel()
    params = {**SMALL, "hidden_dim": 24, "epochs": 40, "random_state": 0}
    with pytest.warns(DataWarning, match="one value per sequence"):  # ward, a step feature
        model = DVAESynthesizer(sequence_key="pid", sequence_index="t", **params).fit(panel)
    assert model.panel_transformer_.absent_columns == ["lactate"]  # not hr, never missing
    real_lacking, real_mixed = _lacking_share(panel)
    lacking, mixed = _lacking_share(model.sample(400))
    assert abs(lacking - real_lacking) < 0.1 and mixed < real_mixed + 0.15
    # with context columns, given contexts take the flags of the entity they are matched to
    with_ward = DVAESynthesizer(
        sequence_key="pid", sequence_index="t", context_columns=["ward"], **params
    ).fit(panel)
    assert (
        with_ward.panel_transformer_.context_dim
        == with_ward.panel_transformer_.user_context_dim + 1
    )
    given = pd.DataFrame({"ward": ["icu"] * 200 + ["step-down"] * 200})
    drawn = with_ward.sample(400, context=given)
    assert abs(_lacking_share(drawn)[0] - real_lacking) < 0.1
    assert drawn.groupby("pid")["ward"].first().value_counts().to_dict() == {
        "icu": 200,
        "step-down": 200,
    }
    # every path that encodes data carries the flags
    z = model.transform(panel)
    assert model.inverse_transform(z).shape[1] == panel.shape[1]
    assert np.isfinite(model.score_samples(panel)).all()
    paths = model.forecast(panel[panel["pid"] < "p020"], steps=4, n_samples=5)
    lacks = paths["pid"].isin([f"p{unit:03d}" for unit in range(1, 20, 2)])
    assert paths.loc[lacks, "lactate"].isna().all()  # as the prefix: it was drawn per step
    assert paths.loc[~lacks, "lactate"].notna().mean() > 0.5
    # one step without lactate may just be early: a few paths (by Bayes, about 1 in 20
    # here) go on as if the patient had it
    firsts = panel[panel["pid"].isin(paths.loc[lacks, "pid"])].groupby("pid").head(1)
    short = model.forecast(firsts, steps=4, n_samples=40)
    with_values = short.groupby(["pid", "sample"])["lactate"].apply(lambda v: v.notna().any())
    assert 0 < with_values.mean() < 0.2
    loaded = DVAESynthesizer.load(model.save(tmp_path / "labs.tssynth"))
    assert loaded.panel_transformer_.absent_columns == ["lactate"]
    pd.testing.assert_frame_equal(loaded.sample(20), model.sample(20))


def test_a_file_from_before_absence_flags_samples_as_it_did(tmp_path):
    from tssynth.serialization import read_generator, write_generator

    panel = _lab_panel(40).dropna().drop(columns="ward")  # no column lacking for entities
    model = DVAESynthesizer(sequence_key="pid", sequence_index="t", epochs=2, **SMALL)
    path = model.fit(panel).save(tmp_path / "old.tssynth")
    _, payload = read_generator(path)
    del payload["data"]["panel_transformer"]["absent_columns"]
    del payload["fingerprint"]
    write_generator(path, "DVAESynthesizer", payload)
    old = DVAESynthesizer.load(path)
    assert old.panel_transformer_.absent_columns == []
    pd.testing.assert_frame_equal(old.sample(10), model.sample(10))  # saved right after fit


def test_a_zero_inflated_feature_keeps_its_gap_and_its_constant_scalar():
    """An amount 0 in 70 % of steps, else 1,000 to 2,000: the DVAE's draws (decoded
    without the table's noise) put values between 0 and 1,000, and the scalar of a
    drawn 0, left out of the loss, was fed back to the recurrence as untrained noise."""
    rng = np.random.default_rng(0)
    units, steps = 60, 12
    amount = np.where(rng.random(units * steps) < 0.7, 0.0, rng.uniform(1000, 2000, units * steps))
    panel = pd.DataFrame(
        {
            "id": np.repeat(np.arange(units), steps),
            "t": np.tile(np.arange(steps), units),
            "amount": amount,
            "x": rng.normal(size=units * steps),
        }
    )
    model = DVAESynthesizer(
        sequence_key="id", sequence_index="t", epochs=3, marginal_calibration=False, **SMALL
    ).fit(panel)
    sampled = model.sample(200)["amount"]
    forecast = model.forecast(panel[panel["t"] < 4], steps=8, n_samples=3)["amount"]
    for drawn in (sampled, forecast):
        assert (drawn > 0).any() and drawn[drawn > 0].min() >= 1000
    module = model.module_
    state = module.initial_state(50, torch.device("cpu"))
    fed = module.generate(6, state, None, torch.Generator().manual_seed(0), clip=True)
    taken = module.layout.point_mass_rows(fed)
    assert taken.any()
    assert (fed[..., module.layout.gaussian_dims][taken] == 0).all()


def _growth_panel(units: int, noise_sd: float, unit_sd: float = 0.0) -> pd.DataFrame:
    """Weights growing by 8 a step over 12 steps, from 20 (plus a level per unit)."""
    rng = np.random.default_rng(0)
    steps = np.tile(np.arange(12), units)
    level = np.repeat(rng.normal(0, unit_sd, units), 12) if unit_sd else 0.0
    weight = 20 + 8 * steps + level + rng.normal(0, noise_sd, units * 12)
    return pd.DataFrame({"k": np.repeat(np.arange(units), 12), "t": steps, "w": weight})


def test_forecasts_past_the_training_range_are_not_piled_on_its_bound():
    # Growth curves forecast beyond their last step head for values above the training
    # maximum: a draw past it is reflected back inside, not clipped onto it (clipped,
    # a quarter of the last steps' values were the maximum itself).
    panel = _growth_panel(40, noise_sd=1.5)
    model = DVAESynthesizer(
        sequence_key="k", sequence_index="t", epochs=30, batch_size=8, random_state=0
    ).fit(panel)
    paths = model.forecast(panel[panel["t"] >= 6], steps=6, n_samples=5)
    top = panel["w"].max()
    assert paths["w"].max() <= top
    assert (paths["w"] == top).mean() < 0.01
    assert (paths["w"] > panel["w"].quantile(0.9)).mean() > 0.3  # they do reach the top


def test_growth_curves_keep_rising_with_the_default_single_mode():
    # Weights that grow by about 8 a step through their whole range: one Gaussian per
    # feature (the default) keeps sampled sequences rising step after step; with ten
    # modes (the default before 0.5.0) every step draws its mode anew, and the curves
    # rose at 63 % of steps.
    panel = _growth_panel(60, noise_sd=1.0, unit_sd=3.0)
    model = DVAESynthesizer(
        sequence_key="k", sequence_index="t", epochs=30, batch_size=8, random_state=0
    ).fit(panel)
    sample = model.sample(100)
    assert (sample.groupby("k")["w"].diff().dropna() > 0).mean() > 0.9


def test_an_untrained_dvae_draws_missing_values_at_their_share():
    rng = np.random.default_rng(0)
    x = rng.normal(size=2000)
    x[rng.random(2000) < 0.02] = np.nan
    panel = pd.DataFrame(
        {"k": np.repeat(np.arange(200), 10), "t": np.tile(np.arange(10), 200), "x": x}
    )
    model = DVAESynthesizer(sequence_key="k", sequence_index="t", epochs=1, random_state=0)
    sample = model.fit(panel).sample(300)
    assert sample["x"].isna().mean() < 0.04  # 0.40 before: even odds at the start


def test_inverse_transform_times_start_on_the_grid_and_never_repeat():
    # Twelve entities starting at 0..11: the mean start 5.5 sat half-way between two
    # times, and rounding put consecutive steps on one time (6, 6, 8, 8, ...).
    rng = np.random.default_rng(0)
    key, step = np.repeat(np.arange(12), 6), np.tile(np.arange(6), 12)
    for times in (step + key, pd.Timestamp("2020-01-01") + pd.to_timedelta(step + key, "D")):
        panel = pd.DataFrame({"key": key, "t": times, "x": rng.normal(size=72)})
        model = DVAESynthesizer(
            sequence_key="key", sequence_index="t", **{**SMALL, "epochs": 2}
        ).fit(panel)
        out = model.inverse_transform(model.transform(panel[panel["key"] < 2]))
        for _, sequence in out.groupby("key"):
            np.testing.assert_array_equal(
                sequence["t"].to_numpy()[1:], sequence["t"].to_numpy()[:-1] + (times[1] - times[0])
            )
            assert sequence["t"].iloc[0] in set(times[step == 0])
