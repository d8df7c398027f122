"""DenseVAESynthesizer: what it learns, formats in kind, seeds, files and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

import tssynth
from tssynth import DenseVAESynthesizer, InvalidDataError, InvalidParameterError
from tssynth.datasets import make_sines

SMALL = {
    "embedding_dim": 8,
    "compress_dims": (64,),
    "decompress_dims": (64,),
    "batch_size": 64,
    "device": "cpu",
}


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    """600 windows of 12 steps x 2 channels: sines on different scales."""
    X = make_sines(600, 12, 2, random_state=0)
    X[:, :, 1] = X[:, :, 1] * 100.0 - 50.0
    return X


@pytest.fixture(scope="module")
def fitted(windows) -> DenseVAESynthesizer:
    return DenseVAESynthesizer(epochs=60, random_state=0, **SMALL).fit(windows)


def test_samples_match_the_windows_and_stay_in_the_training_range(fitted, windows):
    out = fitted.sample(2000)
    assert out.shape == (2000, 12, 2) and out.dtype == np.float64
    low, high = windows.min(axis=(0, 1)), windows.max(axis=(0, 1))
    assert (out >= low).all() and (out <= high).all()
    scale = high - low
    # per-step means and spreads of each channel, in units of the channel's range
    assert (np.abs(out.mean(0) - windows.mean(0)) / scale).max() < 0.05
    assert (np.abs(out.std(0) - windows.std(0)) / scale).max() < 0.05
    # sines are smooth: step-to-step changes as small as the real ones
    real_steps = np.abs(np.diff(windows, axis=1)).mean((0, 1)) / scale
    fake_steps = np.abs(np.diff(out, axis=1)).mean((0, 1)) / scale
    assert (fake_steps < 2 * real_steps + 0.005).all()


def test_transform_and_inverse_transform_reconstruct(fitted, windows):
    Z = fitted.transform(windows[:100])
    assert Z.shape == (100, 8) and Z.dtype == np.float32
    back = fitted.inverse_transform(Z)
    scale = windows.max(axis=(0, 1)) - windows.min(axis=(0, 1))
    error = np.abs(back - windows[:100]).mean((0, 1)) / scale
    spread = windows.std(0).mean(0) / scale
    assert (error < 0.5 * spread).all()


def test_score_samples_ranks_anomalous_windows_lowest(fitted, windows):
    normal = make_sines(100, 12, 2, random_state=5)
    normal[:, :, 1] = normal[:, :, 1] * 100.0 - 50.0
    anomalous = normal.copy()
    anomalous[:, 6, 0] = windows[:, :, 0].min()  # a drop in the middle of each window
    scores = fitted.score_samples(np.concatenate([normal, anomalous]))
    assert scores.shape == (200,)
    np.testing.assert_array_equal(scores, fitted.score_samples(np.concatenate([normal, anomalous])))
    # A window's score is its own: alone, in another batch or order it is the same.
    order = np.random.default_rng(0).permutation(200)
    both = np.concatenate([normal, anomalous])
    np.testing.assert_allclose(fitted.score_samples(both[order]), scores[order], rtol=1e-5)
    np.testing.assert_allclose(fitted.score_samples(anomalous[3:4]), scores[103:104], rtol=1e-5)
    assert roc_auc_score(np.r_[np.zeros(100), np.ones(100)], -scores) > 0.95


def test_score_samples_stay_finite_and_ordered_for_huge_spikes(fitted):
    normal = make_sines(4, 12, 2, random_state=5)
    normal[:, :, 1] = normal[:, :, 1] * 100.0 - 50.0
    spiked = np.repeat(normal[:1], 4, axis=0)
    spiked[:, 6, 0] = [10.0, 1e4, 1e8, -1e8]  # 1e4 gave an infinite variance, then NaN
    scores = fitted.score_samples(np.concatenate([normal, spiked]))
    assert np.isfinite(scores).all()
    assert scores[4] > scores[5] > scores[6] and scores[7] < scores[5]
    assert scores[4:].max() < scores[:4].min()


def test_same_seed_same_samples_and_consecutive_samples_differ(windows):
    first = DenseVAESynthesizer(epochs=2, random_state=3, **SMALL).fit(windows)
    second = DenseVAESynthesizer(epochs=2, random_state=3, **SMALL).fit(windows)
    np.testing.assert_array_equal(first.sample(50), second.sample(50))
    assert not np.array_equal(first.sample(50), first.sample(50))
    other = DenseVAESynthesizer(epochs=2, random_state=4, **SMALL).fit(windows)
    assert not np.array_equal(
        other.sample(10),
        DenseVAESynthesizer(epochs=2, random_state=3, **SMALL).fit(windows).sample(10),
    )


def test_sample_any_n_and_two_dimensional_input():
    X = make_sines(100, 8, 1, random_state=0)[:, :, 0]
    syn = DenseVAESynthesizer(epochs=1, random_state=0, **SMALL).fit(X)
    assert syn.sample(0).shape == (0, 8)
    assert syn.sample(9000).shape == (9000, 8)
    # scikit-learn's n_features_in_ is X.shape[1], as for the same windows as a wide frame
    assert syn.n_features_in_ == 8
    assert DenseVAESynthesizer(epochs=1, **SMALL).fit(pd.DataFrame(X)).n_features_in_ == 8


def test_a_file_from_before_reads_n_features_in_of_an_array_as_its_steps(tmp_path):
    from tssynth.serialization import read_generator, write_generator

    X = make_sines(30, 8, 1, random_state=0)[:, :, 0]
    path = DenseVAESynthesizer(epochs=1, **SMALL).fit(X).save(tmp_path / "old.tssynth")
    _, payload = read_generator(path)
    payload["data"]["n_features_in_"] = 1  # what 0.4.1 stored for (n, T) arrays
    write_generator(path, "DenseVAESynthesizer", payload)
    assert DenseVAESynthesizer.load(path).n_features_in_ == 8


def test_an_object_array_of_numbers_fits_as_floats():
    """``to_numpy()`` of nullable Float64 columns is an object array: it was refused as
    ragged or non-numeric."""
    X = make_sines(60, 6, 2, random_state=0)
    as_objects = X.astype(object)
    as_objects[0, 0, 0] = 1  # an int among floats
    X[0, 0, 0] = 1.0
    a = DenseVAESynthesizer(epochs=1, random_state=0, **SMALL).fit(X)
    b = DenseVAESynthesizer(epochs=1, random_state=0, **SMALL).fit(as_objects)
    np.testing.assert_array_equal(a.sample(5), b.sample(5))
    text = np.array([["1.5", "2"], ["3", "4"]], dtype=object)
    with pytest.raises(InvalidDataError, match=r"non-numbers .*string values"):
        DenseVAESynthesizer(**SMALL).fit(text)
    gaps = X.astype(object)
    gaps[2, 3, 1] = pd.NA
    with pytest.raises(InvalidDataError, match="window 2, step 3, channel 1"):
        DenseVAESynthesizer(**SMALL).fit(gaps)


def test_multiindex_columns_come_back_as_they_were():
    X = make_sines(40, 4, 1, random_state=0)[:, :, 0]
    wide = pd.DataFrame(X, columns=pd.MultiIndex.from_product([["x", "y"], [0, 1]]))
    out = DenseVAESynthesizer(epochs=1, random_state=0, **SMALL).fit(wide).sample(3)
    assert out.columns.equals(wide.columns)


def test_wide_frame_comes_back_with_its_columns():
    X = make_sines(100, 6, 1, random_state=0)[:, :, 0]
    wide = pd.DataFrame(X, columns=[f"h{i}" for i in range(6)])
    syn = DenseVAESynthesizer(epochs=1, random_state=0, **SMALL).fit(wide)
    out = syn.sample(5)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list(wide.columns)
    assert syn.transform(wide).shape == (100, 8)


def test_long_panel_is_windowed_and_sampled_as_long_windows():
    rng = np.random.default_rng(0)
    n_entities, length = 4, 30
    frame = pd.DataFrame(
        {
            "sensor": np.repeat(["s1", "s2", "s3", "s4"], length),
            "time": np.tile(pd.date_range("2024-01-01", periods=length, freq="h"), n_entities),
            "temp": rng.normal(20, 2, n_entities * length),
            "load": rng.normal(5, 1, n_entities * length),
        }
    ).sample(frac=1.0, random_state=0)
    syn = DenseVAESynthesizer(
        epochs=1, window=10, stride=5, sequence_key="sensor", sequence_index="time", **SMALL
    ).fit(frame)
    assert (syn.window_length_, syn.n_channels_) == (10, 2)
    latents = syn.transform(frame)
    assert latents.shape == (4 * 5, 8)  # (30 - 10) // 5 + 1 windows per sensor
    # With pandas output the rows are windows, not X's rows (a raw pandas error before).
    indexed = clone(syn).set_output(transform="pandas").fit(frame).transform(frame)
    labels = syn.window_labels(frame)
    assert indexed.index.names == list(labels.columns)
    assert indexed.index.to_frame(index=False).equals(labels)
    np.testing.assert_array_equal(syn.set_output(transform="pandas").transform(frame), latents)
    syn.set_output(transform="default")
    # as many windows as rows (window=1): labelled by window all the same, not by X's rows
    single = DenseVAESynthesizer(
        epochs=1, window=1, sequence_key="sensor", sequence_index="time", **SMALL
    ).fit(frame)
    indexed = single.set_output(transform="pandas").transform(frame)
    assert indexed.index.to_frame(index=False).equals(single.window_labels(frame))
    out = syn.sample(3)
    assert list(out.columns) == ["sensor", "time", "temp", "load"]
    assert out["sensor"].tolist() == np.repeat([0, 1, 2], 10).tolist()
    assert out["time"].tolist() == list(range(10)) * 3


def test_save_and_load_continue_the_same_samples(fitted, tmp_path, windows):
    path = fitted.save(tmp_path / "windows.tssynth")
    loaded = tssynth.load(path)
    assert isinstance(loaded, DenseVAESynthesizer)
    np.testing.assert_array_equal(loaded.transform(windows[:5]), fitted.transform(windows[:5]))
    np.testing.assert_array_equal(
        DenseVAESynthesizer.load(path).sample(20), DenseVAESynthesizer.load(path).sample(20)
    )
    reused = DenseVAESynthesizer(epochs=60, random_state=0, generator_filepath=str(path), **SMALL)
    reused.fit(windows)
    np.testing.assert_array_equal(reused.transform(windows[:5]), fitted.transform(windows[:5]))
    with pytest.raises(InvalidDataError, match=r"<steps> is \['window', 12\] in the file but"):
        DenseVAESynthesizer(generator_filepath=str(path), **SMALL).fit(windows[:, :6])


def test_transform_rejects_another_window_shape(fitted, windows):
    with pytest.raises(InvalidDataError, match="12 steps x 2 channels"):
        fitted.transform(windows[:, :10])
    with pytest.raises(InvalidDataError, match="12 steps x 2 channels"):
        fitted.score_samples(windows[:, :, :1])
    with pytest.raises(InvalidDataError, match="latents of shape"):
        fitted.inverse_transform(np.zeros((3, 5)))


def test_fit_rejects_bad_windows_before_training():
    X = make_sines(20, 6, 2, random_state=0)
    X[3, 2, 1] = np.nan
    with pytest.raises(InvalidDataError, match="window 3, step 2, channel 1"):
        DenseVAESynthesizer(**SMALL).fit(X)
    with pytest.raises(InvalidDataError, match="window=50 is longer"):
        DenseVAESynthesizer(window=50, **SMALL).fit(pd.Series(np.arange(30.0)))
    with pytest.raises(InvalidParameterError, match="window"):
        DenseVAESynthesizer(window=0, **SMALL).fit(pd.Series(np.arange(30.0)))
    with pytest.raises(InvalidParameterError, match="residual_noise must be True or False"):
        DenseVAESynthesizer(residual_noise="yes", **SMALL).fit(X)
    with pytest.raises(InvalidDataError, match="no channels"):  # trained, then raised
        DenseVAESynthesizer(**SMALL).fit(np.zeros((5, 5, 0)))


def test_windows_of_one_series_larger_than_memory_are_refused_before_any_copy(monkeypatch):
    """Every-step windows of one long series are a view until scaled: they used to fail in
    the copy with a raw MemoryError (18.5 GiB for window=5000 on 1M steps)."""
    import tssynth.data.memory as memory_module

    series = pd.Series(np.random.default_rng(0).normal(size=2_000).cumsum())
    needed = 4 * (2_000 - 100 + 1) * 100  # float32 windows of 100 steps, every step
    monkeypatch.setattr(memory_module, "_physical_memory", lambda: needed)  # half of it
    model = DenseVAESynthesizer(window=100, stride=1, epochs=1)
    with pytest.raises(InvalidDataError, match=r"1,901 windows of 100 steps .*larger stride"):
        model.fit(series)
    assert not hasattr(model, "module_")
    model.set_params(stride=4).fit(series)  # a quarter of the windows: allowed
    # windows of several series are gathered (copied): refused before that too
    panel = pd.DataFrame({"k": np.repeat([0, 1], 1_000), "t": np.tile(np.arange(1_000), 2)})
    panel["v"] = series.to_numpy()
    gathered = []
    monkeypatch.setattr(
        "tssynth.data.sequences.cut_windows", lambda *args: gathered.append(1) or None
    )
    with pytest.raises(InvalidDataError, match=r"1,802 windows of 100 steps"):
        model.set_params(stride=1, sequence_key="k", sequence_index="t").fit(panel)
    assert gathered == []


def test_a_list_mixing_flat_and_one_channel_windows_is_one_channel():
    """(T,) among (T, 1) windows: one channel, as the DVAE reads them (was refused)."""
    X = [np.arange(5.0), np.arange(5.0)[:, None], np.ones(5)] * 10
    out = DenseVAESynthesizer(**{**SMALL, "epochs": 1}).fit(X).sample(2)
    assert out.shape == (2, 5, 1)
    with pytest.raises(InvalidDataError, match="windows of different shapes"):
        DenseVAESynthesizer(**{**SMALL, "epochs": 1}).fit([np.zeros(5), np.zeros((5, 2))])


def test_early_stopping_holds_out_windows(windows):
    model = DenseVAESynthesizer(
        **{**SMALL, "epochs": 300}, early_stopping=True, n_iter_no_change=2
    ).fit(windows)
    history = model.loss_history_
    assert len(history) < 300
    assert len(history) == int(history["val_loss"].idxmin()) + 1 + 2


def test_scikit_learn_contract(windows):
    syn = DenseVAESynthesizer(window=5, **SMALL)
    assert clone(syn).get_params() == syn.get_params()
    with pytest.raises(NotFittedError):
        syn.sample(3)
    with pytest.raises(NotFittedError):
        syn.transform(windows)


def test_a_latent_mixture_keeps_clustered_windows_apart():
    # Flat windows at level 0.1 or 0.9: one latent Gaussian spans the gap between the
    # two clusters of codes and decodes windows in between; ten components do not.
    rng = np.random.default_rng(0)
    levels = rng.choice([0.1, 0.9], size=400)
    windows = levels[:, None, None] + 0.01 * rng.standard_normal((400, 8, 1))
    in_gap = {}
    for components in (1, 10):
        synthesizer = DenseVAESynthesizer(
            embedding_dim=4,
            compress_dims=(32,),
            decompress_dims=(32,),
            epochs=150,
            batch_size=50,
            latent_components=components,
            residual_noise=False,  # the latent distribution alone
            marginal_calibration=False,
            random_state=0,
            device="cpu",
        ).fit(windows)
        assert synthesizer.module_.latent_components == components
        sample = synthesizer.sample(2000)
        in_gap[components] = np.mean(np.abs(sample.mean(axis=(1, 2)) - 0.5) < 0.3)
    assert in_gap[1] > 0.2
    assert in_gap[10] < 0.02


def _noise_panel(n: int = 600, steps: int = 12) -> np.ndarray:
    """Channel 0 a smooth sine, 1 white uniform noise, 2 a copy of 1, 3 mostly zero."""
    rng = np.random.default_rng(0)
    t = np.arange(steps)
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    noise = rng.uniform(0, 50, (n, steps))
    bursts = np.where(rng.random((n, steps)) < 0.3, rng.uniform(10, 100, (n, steps)), 0.0)
    return np.stack([np.sin(0.5 * t + phase), noise, noise, bursts], axis=2)


@pytest.fixture(scope="module")
def noise_windows() -> np.ndarray:
    return _noise_panel()


def _fit_noise(windows: np.ndarray, **params) -> DenseVAESynthesizer:
    return DenseVAESynthesizer(epochs=40, random_state=0, **{**SMALL, **params}).fit(windows)


def test_residual_noise_keeps_white_noise_white_and_copies_equal(noise_windows):
    means_only = _fit_noise(noise_windows, residual_noise=False, marginal_calibration=False)
    noisy = _fit_noise(noise_windows, marginal_calibration=False)
    real_spread = noise_windows[:, :, 1].std(axis=1).mean()
    flat = means_only.sample(2000)
    assert flat[:, :, 1].std(axis=1).mean() < 0.75 * real_spread  # the means are damped
    out = noisy.sample(2000)
    assert out[:, :, 1].std(axis=1).mean() == pytest.approx(real_spread, rel=0.15)
    later, earlier = out[:, 1:, 1].ravel(), out[:, :-1, 1].ravel()
    assert abs(np.corrcoef(later, earlier)[0, 1]) < 0.1  # no memory from step to step
    # independent noise per channel would take the copies' correlation to about 0.6
    assert np.corrcoef(out[:, :, 1].ravel(), out[:, :, 2].ravel())[0, 1] > 0.95
    # the smooth channel stays smooth
    real_steps = np.abs(np.diff(noise_windows[:, :, 0], axis=1)).mean()
    assert np.abs(np.diff(out[:, :, 0], axis=1)).mean() < 1.5 * real_steps


def test_marginal_calibration_restores_each_channel_distribution(noise_windows):
    uncalibrated = _fit_noise(noise_windows, marginal_calibration=False).sample(3000)
    calibrated = _fit_noise(noise_windows).sample(3000)
    real = noise_windows[:, :, 3].ravel()
    zeros = np.mean(real == 0.0)  # 70 % of the bursts channel sits exactly at its minimum
    assert abs(np.mean(uncalibrated[:, :, 3] == 0.0) - zeros) > 0.2
    assert np.mean(calibrated[:, :, 3] == 0.0) == pytest.approx(zeros, abs=0.05)
    for c in range(4):  # every marginal close to the training one (Kolmogorov-Smirnov)
        grid = np.quantile(noise_windows[:, :, c], np.linspace(0, 1, 101))
        real_cdf = np.searchsorted(np.sort(noise_windows[:, :, c].ravel()), grid, "right")
        fake_cdf = np.searchsorted(np.sort(calibrated[:, :, c].ravel()), grid, "right")
        ks = np.abs(real_cdf / noise_windows[:, :, c].size - fake_cdf / calibrated[:, :, c].size)
        assert ks.max() < 0.05, c


def test_residual_noise_has_the_residual_covariance_in_both_forms(noise_windows, monkeypatch):
    import torch

    from tssynth.nn import residual as residual_module

    synthesizer = _fit_noise(noise_windows, marginal_calibration=False)
    module = synthesizer.module_
    x = torch.as_tensor(
        synthesizer._scale(
            noise_windows,
            {"data_min_": synthesizer.data_min_, "data_max_": synthesizer.data_max_},
        )
    )
    target = np.cov(module.residuals(x).numpy(), rowvar=False)
    generator = torch.Generator().manual_seed(0)
    for full_width in (residual_module._FULL_COVARIANCE_WIDTH, 8):  # 48 values: full, low rank
        monkeypatch.setattr(residual_module, "_FULL_COVARIANCE_WIDTH", full_width)
        module.fit_residual_noise(x, generator)
        draws = module.residual_noise(torch.randn(20000, module.noise_dim, generator=generator))
        noise_cov = np.cov(draws.double().numpy(), rowvar=False)
        assert np.abs(noise_cov - target).max() < 0.05 * np.abs(target).max()
        assert np.allclose(np.diag(noise_cov), np.diag(target), rtol=0.05)


def test_calibration_is_the_identity_until_fitted_and_splits_ties():
    import torch

    from tssynth.nn.dense import DenseVAE

    module = DenseVAE(4, 1, 2, (8,), (8,), 1.0)
    values = torch.linspace(-1, 1, 9).reshape(1, 9, 1)
    assert torch.allclose(module.calibrate(values), values)
    # a point mass at -1 holding the first half of the sampled levels
    source = torch.tensor([[-1.0, -1.0, -1.0, 0.0, 1.0]])
    target = torch.tensor([[-1.0, -0.5, 0.0, 0.5, 1.0]])
    module.calibration.set(source, target)
    out = module.calibrate(torch.tensor([-1.0, 0.5, 1.0, 2.0]).reshape(1, 4, 1)).ravel()
    assert out.tolist() == [-0.5, 0.75, 1.0, 1.0]


def test_generator_files_without_residual_noise_load_as_means(fitted, tmp_path):
    import torch

    state = {
        k: v
        for k, v in fitted.module_.state_dict().items()
        if not k.startswith(("residual.", "calibration."))
    }
    clone_module = type(fitted.module_)(12, 2, 8, (64,), (64,), 10.0)
    clone_module.load_state_dict(state)
    assert clone_module.noise_dim == 0
    z = torch.randn(50, 8)
    with torch.no_grad():
        means = clone_module.decode_windows(z)
        drawn = clone_module.decode_windows(z, torch.zeros(50, 0))
    assert torch.allclose(means, drawn, atol=1e-6)


def test_generator_files_with_the_first_buffer_names_load_the_same_sampling_model(fitted):
    import torch

    from tssynth.nn.dense import _LEGACY_BUFFERS

    renamed = {new: old for old, new in _LEGACY_BUFFERS.items()}
    state = {renamed.get(k, k): v for k, v in fitted.module_.state_dict().items()}
    assert "residual_factor" in state and "residual.factor" not in state
    clone_module = type(fitted.module_)(12, 2, 8, (64,), (64,), 10.0)
    clone_module.load_state_dict(state)
    assert clone_module.noise_dim == fitted.module_.noise_dim > 0
    z, noise = torch.randn(50, 8), torch.randn(50, clone_module.noise_dim)
    with torch.no_grad():
        expected = fitted.module_.decode_windows(z, noise)
        assert torch.equal(clone_module.decode_windows(z, noise), expected)


def test_skewed_channels_keep_their_quantiles_without_a_pile_up():
    """Draws are calibrated before they are clipped: clipped draws would tie at -1, and
    the calibration would send the whole tie to one value (75 % of all samples here)."""
    windows = np.random.default_rng(0).lognormal(0, 2, (300, 8))
    small = {"embedding_dim": 8, "compress_dims": (32,), "decompress_dims": (32,)}
    sample = DenseVAESynthesizer(epochs=10, random_state=0, **small).fit(windows).sample(1000)
    _, counts = np.unique(sample, return_counts=True)
    assert counts.max() / sample.size < 0.01
    levels = [0.1, 0.5, 0.9]
    np.testing.assert_allclose(np.quantile(sample, levels), np.quantile(windows, levels), rtol=0.1)


def test_long_results_move_their_id_columns_aside_from_value_columns():
    rng = np.random.default_rng(0)
    small = {"epochs": 1, "embedding_dim": 4, "compress_dims": (8,), "decompress_dims": (8,)}
    frame = pd.DataFrame({"window": rng.normal(size=40), "step": rng.normal(size=40)})
    sample = DenseVAESynthesizer(window=4, **small).fit(frame).sample(3)
    assert list(sample.columns) == ["_window_", "_step_", "window", "step"]
    assert sample["_window_"].tolist() == [0] * 4 + [1] * 4 + [2] * 4
    indexed = pd.DataFrame({"window": np.arange(40), "x": rng.normal(size=40)})
    model = DenseVAESynthesizer(window=4, sequence_index="window", **small).fit(indexed)
    assert list(model.sample(2).columns) == ["_window_", "window", "x"]


def test_window_labels_tie_scores_to_their_entity_and_time():
    rng = np.random.default_rng(0)
    parts = [
        pd.DataFrame(
            {
                "sensor": name,
                "t": np.arange(100) + 1000,
                "v": np.sin(np.arange(100) / 5 + i) + rng.normal(0, 0.1, 100),
            }
        )
        for i, name in enumerate(["s1", "s2", "s10"])
    ]
    frame = pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=0)  # any row order
    model = DenseVAESynthesizer(
        window=10, stride=10, sequence_key="sensor", sequence_index="t", epochs=20, random_state=0
    ).fit(frame)
    bad = frame.copy()
    bad.loc[(bad["sensor"] == "s2") & (bad["t"] < 1010), "v"] = 25.0
    labels = model.window_labels(bad)
    assert len(labels) == len(model.score_samples(bad)) == 30
    worst = labels.iloc[int(np.argmin(model.score_samples(bad)))]
    assert (worst["sensor"], worst["t"], worst["step"]) == ("s2", 1000, 0)
    assert labels["t"].tolist()[:3] == [1000, 1010, 1020]
    windows = np.zeros((4, 10, 1))
    assert model.window_labels(windows)["window"].tolist() == [0, 1, 2, 3]


def test_wide_frames_get_one_label_per_row_and_huge_samples_are_refused():
    """A wide frame was labelled as one long series (one row); sample(10**10) drew until
    memory ran out."""
    wide = pd.DataFrame(make_sines(50, 8, 1, random_state=0)[:, :, 0])
    model = DenseVAESynthesizer(epochs=1, random_state=0, **SMALL).fit(wide)
    labels = model.window_labels(wide)
    assert labels["window"].tolist() == list(range(50))
    assert len(labels.assign(elbo=model.score_samples(wide))) == 50
    with pytest.raises(InvalidParameterError, match="draw fewer windows per call"):
        model.sample(10**12)


def test_frequent_values_and_the_range_ends_come_back_exactly(tmp_path):
    """Through float32 a mostly-zero channel's zeros came back as 1.47e-06 and a
    saturated sensor's cap of 3.3 as 3.2999999999999994."""
    rng = np.random.default_rng(0)
    zeros = np.where(rng.random((300, 8)) < 0.8, 0.0, rng.normal(0, 2, (300, 8)))
    capped = np.minimum(rng.normal(2.0, 3.0, (300, 8)), 3.3)
    windows = np.stack([zeros, capped], axis=-1)
    model = DenseVAESynthesizer(epochs=5, random_state=0, **SMALL).fit(windows)
    out = model.sample(500)
    assert (out[..., 0] == 0.0).mean() > 0.5
    assert (out[..., 1] == 3.3).mean() > 0.2 and out[..., 1].max() == 3.3
    assert model.frequent_values_[0] == [0.0] and model.frequent_values_[1] == [3.3]
    again = tssynth.load(model.save(tmp_path / "d.tssynth"))
    np.testing.assert_array_equal(again.sample(50), model.sample(50))


def test_nullable_float_columns_keep_their_dtype():
    frame = pd.DataFrame(make_sines(60, 6, 1, random_state=0)[:, :, 0]).astype("Float32")
    model = DenseVAESynthesizer(epochs=1, random_state=0, **SMALL).fit(frame)
    assert (model.sample(5).dtypes == "Float32").all()
    assert (model.inverse_transform(model.transform(frame)).dtypes == "Float32").all()
