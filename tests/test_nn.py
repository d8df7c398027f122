"""The model layer: the span loss, the KL terms, the output activation and drawing rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from tssynth.nn import SpanLayout, gaussian_kl, span_nll, standard_normal_kl
from tssynth.nn.modules import Decoder
from tssynth.nn.ragged import Ragged
from tssynth.nn.span_sampler import SpanSampler, Workspace
from tssynth.nn.tvae import TVAE, LossTerms
from tssynth.training import _accumulate, _by_length, _grouping_pays, _pieces

SPANS = [(0, 1, "gaussian"), (1, 4, "softmax"), (4, 5, "gaussian"), (5, 7, "softmax")]


def _target(n: int, generator: torch.Generator) -> torch.Tensor:
    target = torch.zeros(n, 7)
    target[:, 0] = torch.rand(n, generator=generator) * 2 - 1
    target[:, 4] = torch.rand(n, generator=generator) * 2 - 1
    target[torch.arange(n), 1 + torch.randint(0, 3, (n,), generator=generator)] = 1
    target[torch.arange(n), 5 + torch.randint(0, 2, (n,), generator=generator)] = 1
    return target


def test_span_nll_equals_a_per_span_reference():
    generator = torch.Generator().manual_seed(0)
    layout = SpanLayout(SPANS)
    output = torch.randn(32, 7, generator=generator) * 3
    sigma = torch.rand(7, generator=generator) + 0.05
    target = _target(32, generator)
    expected = torch.zeros(32)
    for start, stop, kind in SPANS:
        if kind == "gaussian":
            dist = Normal(torch.tanh(output[:, start]), sigma[start])
            expected -= dist.log_prob(target[:, start])
        else:
            labels = target[:, start:stop].argmax(dim=1)
            expected += torch.nn.functional.cross_entropy(
                output[:, start:stop], labels, reduction="none"
            )
    torch.testing.assert_close(span_nll(output, sigma, target, layout), expected)


def test_span_nll_leaves_stand_ins_out():
    """Entries standing in for a missing value score nothing, whatever they hold, and an
    emptied span is not taken for an unseen category."""
    generator = torch.Generator().manual_seed(1)
    layout = SpanLayout(SPANS)
    output = torch.randn(8, 7, generator=generator)
    sigma = torch.full((7,), 0.05)
    target = _target(8, generator)
    stand_in = torch.zeros(8, 7, dtype=torch.bool)
    stand_in[:4, 0:4] = True  # the first Gaussian column and its mode span, in 4 rows
    full = span_nll(output, sigma, target, layout, unseen=True)
    left_out = span_nll(output, sigma, target, layout, unseen=True, stand_in=stand_in)
    other = target.clone()
    other[:4, 0] = -target[:4, 0] + 0.5  # another stand-in value
    other[:4, 1:4] = 0.0
    other[:4, 1] = 1.0
    again = span_nll(output, sigma, other, layout, unseen=True, stand_in=stand_in)
    torch.testing.assert_close(left_out, again)
    torch.testing.assert_close(left_out[4:], full[4:])
    kept = SpanLayout([(0, 1, "gaussian"), (1, 3, "softmax")])  # the columns 4 to 6 alone
    torch.testing.assert_close(
        left_out[:4], span_nll(output[:4, 4:], sigma[4:], target[:4, 4:], kept, unseen=True)
    )


def test_span_nll_leaves_the_scalar_of_a_point_mass_mode_out():
    """Mode 1 of the first Gaussian column and mode 1 of the second are point masses:
    rows in one score its mode, not its (constant) scalar, whatever the output there;
    other rows score both. Settled rows hold 0 there, as encoding puts it."""
    generator = torch.Generator().manual_seed(2)
    plain, masses = SpanLayout(SPANS), SpanLayout(SPANS, point_masses=[(2, 0), (6, 4)])
    output = torch.randn(32, 7, generator=generator)
    sigma = torch.full((7,), 0.05)
    target = _target(32, generator)
    full = span_nll(output, sigma, target, plain)
    left_out = span_nll(output, sigma, target, masses)
    expected = full.clone()
    for scalar, mode in ((0, 2), (4, 6)):
        in_mass = target[:, mode] == 1
        assert in_mass.any() and (~in_mass).any()
        moved = output.clone()
        moved[:, scalar] += 1.0
        again = span_nll(moved, sigma, target, masses)
        torch.testing.assert_close(again[in_mass], left_out[in_mass])
        assert (again[~in_mass] != left_out[~in_mass]).all()
        gaussian = -Normal(torch.tanh(output[:, scalar]), 0.05).log_prob(target[:, scalar])
        expected -= gaussian * in_mass
    torch.testing.assert_close(left_out, expected, rtol=1e-4, atol=1e-3)  # float32 sums
    settled = masses.settle_point_masses(target + 0.3)
    assert (settled[target[:, 2] == 1, 0] == 0).all() and (settled[target[:, 6] == 1, 4] == 0).all()
    assert (settled[target[:, 2] == 0, 0] != 0).all()


def _many_spans(n_spans: int) -> list[tuple[int, int, str]]:
    """A gaussian column, then ``n_spans`` softmax spans of widths 2, 3, 4, 2, 3, 4, ..."""
    spans, start = [(0, 1, "gaussian")], 1
    for k in range(n_spans):
        spans.append((start, start + 2 + k % 3, "softmax"))
        start += 2 + k % 3
    return spans


@pytest.mark.parametrize("n_spans", [3, 80])  # sums by matmul (few spans), by index_add (many)
def test_span_nll_and_its_gradient_match_log_softmax_for_wide_logit_ranges(n_spans):
    spans = _many_spans(n_spans)
    layout = SpanLayout(spans)
    dim = spans[-1][1]
    generator = torch.Generator().manual_seed(n_spans)
    output = torch.randn(16, dim, generator=generator) * 5
    output[:4] *= 30  # spreads over 100 inside a span, exp() would overflow unshifted
    output[4:8, spans[1][0] : spans[1][1]] -= 120.0  # one span far below the others
    output.requires_grad_(True)
    target = torch.zeros(16, dim)
    target[:, 0] = torch.rand(16, generator=generator) * 2 - 1
    expected = -Normal(torch.tanh(output[:, 0]), 0.3).log_prob(target[:, 0])
    for start, stop, _ in spans[1:]:
        labels = torch.randint(0, stop - start, (16,), generator=generator)
        target[torch.arange(16), start + labels] = 1
        expected = (
            expected - torch.log_softmax(output[:, start:stop], dim=1)[torch.arange(16), labels]
        )
    value = span_nll(output, torch.full((dim,), 0.3), target, layout)
    torch.testing.assert_close(value, expected)
    (grad,) = torch.autograd.grad(value.sum(), output)
    (expected_grad,) = torch.autograd.grad(expected.sum(), output)
    torch.testing.assert_close(grad, expected_grad)


def test_span_nll_is_stable_for_extreme_logits():
    layout = SpanLayout(SPANS)
    output = torch.full((2, 7), 200.0)
    output[:, 5] = -200.0
    target = _target(2, torch.Generator().manual_seed(1))
    value = span_nll(output, torch.full((7,), 0.5), target, layout)
    assert torch.isfinite(value).all()


def test_an_all_zero_softmax_target_adds_nothing_and_is_bounded_below():
    # A category left out of a private release encodes as an all-zero span: lowering
    # every logit of that span must not lower the loss (it once ran off to -inf).
    layout = SpanLayout(SPANS)
    target = _target(4, torch.Generator().manual_seed(2))
    target[:, 5:7] = 0.0
    output = torch.randn(4, 7, generator=torch.Generator().manual_seed(3))
    sigma = torch.full((7,), 0.5)
    shifted = output.clone()
    shifted[:, 5:7] -= 1000.0
    torch.testing.assert_close(
        span_nll(output, sigma, target, layout), span_nll(shifted, sigma, target, layout)
    )
    output.requires_grad_(True)
    span_nll(output, sigma, target, layout).sum().backward()
    assert torch.all(output.grad[:, 5:7] == 0)


def test_kl_terms_match_torch_distributions():
    generator = torch.Generator().manual_seed(0)
    mu_q, lv_q, mu_p, lv_p = (torch.randn(10, 4, generator=generator) for _ in range(4))
    q = Normal(mu_q, torch.exp(0.5 * lv_q))
    p = Normal(mu_p, torch.exp(0.5 * lv_p))
    torch.testing.assert_close(gaussian_kl(mu_q, lv_q, mu_p, lv_p), kl_divergence(q, p).sum(-1))
    standard = Normal(torch.zeros(10, 4), torch.ones(10, 4))
    torch.testing.assert_close(standard_normal_kl(mu_q, lv_q), kl_divergence(q, standard).sum(-1))


def test_activate_gives_probabilities_and_bounded_scalars():
    layout = SpanLayout(SPANS)
    output = torch.randn(16, 7) * 10
    activated = layout.activate(output)
    torch.testing.assert_close(activated[:, 1:4].sum(1), torch.ones(16))
    torch.testing.assert_close(activated[:, 5:7].sum(1), torch.ones(16))
    assert activated[:, [0, 4]].abs().max() <= 1
    torch.testing.assert_close(activated[:, 0], torch.tanh(output[:, 0]))
    torch.testing.assert_close(activated[:, 1:4], torch.softmax(output[:, 1:4], dim=1))
    # Differentiable too: the gradient of one softmax column reaches only its own span.
    output.requires_grad_(True)
    layout.activate(output)[:, 2].sum().backward()
    assert torch.all(output.grad[:, [0, 4, 5, 6]] == 0) and output.grad[:, 1:4].abs().sum() > 0


def test_decoder_sigma_is_clamped():
    decoder = Decoder(4, (8,), 3)
    with torch.no_grad():
        decoder.sigma.copy_(torch.tensor([1e-5, 0.5, 9.0]))
    decoder.clamp_sigma()
    torch.testing.assert_close(decoder.sigma.data, torch.tensor([0.01, 0.5, 1.0]))
    # forward repeats sigma for every row (the per-row view DP-SGD needs).
    rows = decoder(torch.zeros(2, 4))[1]
    assert rows.shape == (2, 3)
    torch.testing.assert_close(rows.detach(), decoder.sigma.data.expand(2, 3))


def test_latent_mixture_draws_each_component_at_its_weight():
    module = TVAE([(0, 2, "gaussian")], 2, (4,), (4,), 1.0)
    means = np.array([[-5.0, 0.0], [5.0, 0.0], [0.0, 8.0]])
    module.set_latent_mixture([0.2, 0.5, 0.3], means, np.stack([np.eye(2) * 0.01] * 3))
    generator = torch.Generator().manual_seed(0)
    noise, selector = (
        torch.randn(20_000, 2, generator=generator),
        torch.randn(20_000, generator=generator),
    )
    z = module.sample_latent(noise, selector).numpy()
    nearest = np.argmin(((z[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_allclose(np.bincount(nearest) / len(z), [0.2, 0.5, 0.3], atol=0.015)
    with pytest.raises(ValueError, match="selector"):
        module.sample_latent(noise)


def test_one_gaussian_latent_state_of_older_files_loads_as_one_component():
    module = TVAE([(0, 3, "gaussian")], 2, (4,), (4,), 1.0)
    module.set_latent_distribution(np.array([1.0, -1.0]), np.array([[2.0, 0.3], [0.3, 1.0]]))
    state = module.state_dict()
    state["latent_loc"], state["latent_tril"] = state["latent_loc"][0], state["latent_tril"][0]
    del state["latent_weights"]  # the layout before latent mixtures
    restored = TVAE([(0, 3, "gaussian")], 2, (4,), (4,), 1.0)
    restored.load_state_dict(state)
    noise = torch.randn(5, 2)
    torch.testing.assert_close(restored.sample_latent(noise), module.sample_latent(noise))


class _FixedCodes(TVAE):
    """A TVAE whose posterior means are given: 2 clustered dimensions, 3 collapsed."""

    def __init__(self, codes: np.ndarray, variance: np.ndarray) -> None:
        super().__init__([(0, 1, "gaussian")], codes.shape[1], (4,), (4,), 1.0)
        self.codes, self.variance = codes, variance

    def posterior_moments(self, x, batch_size=4096):
        return torch.as_tensor(self.codes), torch.as_tensor(self.variance)


def test_latent_mixture_fits_active_dimensions_and_keeps_collapsed_ones_marginal():
    from tssynth.base import _fit_latent_mixture

    rng = np.random.default_rng(0)
    centres = rng.choice([-3.0, 3.0], size=(2000, 1)) * np.array([[1.0, -1.0]])
    active = centres + 0.1 * rng.standard_normal((2000, 2))
    collapsed = 0.05 * rng.standard_normal((2000, 3)) + np.array([0.2, 0.0, -0.1])
    codes = np.hstack([active, collapsed])
    variance = np.array([0.01, 0.01, 1.0, 0.9, 1.1])
    module = _FixedCodes(codes, variance)
    _fit_latent_mixture(module, torch.zeros(2000, 1), components=2, seed=0)
    loc = module.latent_loc.numpy()
    covariance = (module.latent_tril @ module.latent_tril.transpose(1, 2)).numpy()
    # the clustered dimensions get one component per cluster
    assert sorted(loc[:, 0].round(1).tolist()) == pytest.approx([-3.0, 3.0], abs=0.05)
    np.testing.assert_allclose(module.latent_weights.numpy(), [0.5, 0.5], atol=0.05)
    # collapsed dimensions: the same marginal in every component, independent of the rest
    np.testing.assert_allclose(loc[:, 2:], np.broadcast_to(codes[:, 2:].mean(0), (2, 3)), atol=1e-6)
    expected = codes[:, 2:].var(0) + variance[2:]
    for k in range(2):
        np.testing.assert_allclose(np.diag(covariance[k])[2:], expected, rtol=1e-3)
        assert np.abs(covariance[k][2:, :2]).max() < 1e-5
        assert np.abs(covariance[k][2:, 2:] - np.diag(np.diag(covariance[k])[2:])).max() < 1e-5


def test_latent_mixture_that_cannot_be_fitted_falls_back_to_one_gaussian(monkeypatch):
    from sklearn.mixture import GaussianMixture

    from tssynth.base import _fit_latent_mixture

    def collapse(self, X, y=None):
        raise ValueError("Fitting the mixture model failed: ill-defined empirical covariance")

    monkeypatch.setattr(GaussianMixture, "fit", collapse)
    rng = np.random.default_rng(0)
    codes = rng.standard_normal((500, 3)) * np.array([1.0, 2.0, 0.5]) + 1.0
    module = _FixedCodes(codes, np.full(3, 0.1))
    _fit_latent_mixture(module, torch.zeros(500, 1), components=4, seed=0)
    assert module.latent_components == 1
    covariance = (module.latent_tril[0] @ module.latent_tril[0].T).numpy()
    np.testing.assert_allclose(module.latent_loc[0].numpy(), codes.mean(0), atol=1e-5)
    np.testing.assert_allclose(np.diag(covariance), codes.var(0, ddof=1) + 0.1, rtol=1e-4)


# ------------------------------------------------------------ marginal calibration


def test_grouped_quantiles_match_torch_quantile_per_group():
    from tssynth.nn.residual import grouped_quantiles

    generator = torch.Generator().manual_seed(0)
    values = torch.randn(500, 3, generator=generator)
    groups = torch.randint(0, 2, (500, 3), generator=generator) + 2 * torch.arange(3)
    levels = torch.linspace(0, 1, 11)
    quantiles, counts = grouped_quantiles(values, groups, 7, levels)
    for group in range(6):
        chosen = values[groups == group]
        assert counts[group] == len(chosen)
        assert torch.allclose(quantiles[group], torch.quantile(chosen, levels), atol=1e-6)
    assert counts[6] == 0 and torch.equal(quantiles[6], levels * 2 - 1)  # empty: identity


def _ks(a: torch.Tensor, b: torch.Tensor) -> float:
    from tssynth.metrics.fidelity import _ks_complement

    return 1.0 - _ks_complement(a.ravel().numpy(), b.ravel().numpy())


def test_calibration_maps_each_group_to_its_own_training_distribution():
    from tssynth.nn.residual import MarginalCalibration

    generator = torch.Generator().manual_seed(1)
    n = 20_000
    # mode 0 of the training values is narrow and skewed, mode 1 is uniform;
    # the model draws the same Gaussian in both, with the right mode shares
    groups = (torch.rand(n, 1, generator=generator) < 0.3).long()
    skewed = torch.rand(n, 1, generator=generator) ** 3 * 0.5 - 0.25
    training = torch.where(groups == 0, skewed, torch.rand(n, 1, generator=generator) * 2 - 1)
    sampled = (torch.randn(n, 1, generator=generator) * 0.3).clamp(-1, 1)
    drawn_groups = (torch.rand(n, 1, generator=generator) < 0.3).long()
    pooled, by_mode = MarginalCalibration(1), MarginalCalibration(1)
    pooled.fit(sampled, training)
    by_mode.fit(sampled, training, drawn_groups, groups, n_groups=2)
    assert by_mode.tables.tolist() == [[0, 1, 2]]
    for g in (0, 1):
        want = training[groups == g]
        assert _ks(by_mode(sampled, drawn_groups)[drawn_groups == g], want) < 0.03
        assert _ks(pooled(sampled, drawn_groups)[drawn_groups == g], want) > 0.1
    # both restore the pooled marginal; without groups the pooled map is used
    assert _ks(by_mode(sampled, drawn_groups).ravel(), training.ravel()) < 0.03
    assert torch.equal(by_mode(sampled), pooled(sampled))


def test_calibration_groups_with_few_values_share_the_pooled_map():
    from tssynth.nn.residual import MarginalCalibration

    generator = torch.Generator().manual_seed(2)
    values = torch.rand(1000, 2, generator=generator) * 2 - 1
    groups = torch.zeros(1000, 2, dtype=torch.long)
    groups[:50, 0] = 1  # 50 values: too few for a map of their own
    groups[:, 1] = -1  # a column without modes
    calibration = MarginalCalibration(2)
    calibration.fit(values, values**3, groups, groups, n_groups=2)
    assert calibration.tables.tolist() == [[0, 2, 0], [1, 1, 1]]
    pooled = MarginalCalibration(2)
    pooled.fit(values, values**3)
    rare = groups == 1
    assert torch.allclose(calibration(values, groups)[rare], pooled(values)[rare])
    # the map is the monotone one from values to their cubes
    assert torch.allclose(calibration(values, groups)[:, 1], values[:, 1] ** 3, atol=0.01)


# ------------------------------------------------------------ training loop


class _SpikyModule(torch.nn.Module):
    """Loss (w - 1)^2, except one step whose gradient is a million times too large."""

    def __init__(self, spike_step: int) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.spike_step, self.calls = spike_step, 0

    def loss(self, batch, kl_weight, generator):
        from tssynth.nn import LossTerms

        self.calls += 1
        total = 1e6 * self.w if self.calls == self.spike_step else (self.w - 1) ** 2
        return LossTerms(total, total.detach(), torch.zeros(()))

    def after_step(self) -> None:
        pass


@pytest.mark.parametrize("spike_factor", [5.0, 0.0])
def test_training_recovers_from_one_gradient_spike_only_with_the_guard(spike_factor):
    from tssynth.training import TrainingConfig, train

    module = _SpikyModule(spike_step=200)  # converged by then, 800 steps follow
    config = TrainingConfig(epochs=1, batch_size=1, learning_rate=0.01, spike_factor=spike_factor)
    train(module, [np.zeros((1000, 1), np.float32)], config, torch.device("cpu"), seed=0)
    error = abs(float(module.w.detach()) - 1.0)
    if spike_factor:
        assert error < 1e-3
    else:  # Adam's second moment keeps the spike: later steps barely move
        assert error > 0.05


class _BatchRecorder(torch.nn.Module):
    """Loss w^2; records the size of every batch it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))
        self.sizes: list[int] = []

    def loss(self, batch, kl_weight, generator):
        from tssynth.nn import LossTerms

        self.sizes.append(len(batch[0]))
        total = self.w**2
        return LossTerms(total, total.detach(), torch.zeros(()))

    def after_step(self) -> None:
        pass


@pytest.mark.parametrize(
    ("n", "batch_size", "expected"),
    [
        (150, 500, [38] * 3 + [36]),  # four batches, not one of 150
        (72, 64, [18] * 4),  # not 64 and 8
        (40, 500, [16, 16, 8]),  # at least 16 records
        (40, 8, [8] * 5),  # a smaller batch_size is kept
        (10_000, 500, [500] * 20),  # four batches or more: batch_size as given
        (1_500, 500, [375] * 4),
    ],
)
def test_small_data_trains_in_four_batches_an_epoch_of_at_least_16_records(n, batch_size, expected):
    from tssynth.training import TrainingConfig, train

    module = _BatchRecorder()
    config = TrainingConfig(epochs=2, batch_size=batch_size, learning_rate=0.01)
    train(module, [np.zeros((n, 1), np.float32)], config, torch.device("cpu"), seed=0)
    assert module.sizes == expected * 2


def test_batches_by_length_hold_every_sequence_once_and_similar_lengths_together():
    rng = np.random.default_rng(0)
    lengths = np.clip(rng.lognormal(3, 1, 1000).astype(int), 2, 2000)
    order = _by_length(rng.permutation(1000), lengths, 10, np.random.default_rng(1))
    assert sorted(order.tolist()) == list(range(1000))
    batches = order.reshape(100, 10)
    padded = lengths[batches].max(1).sum() * 10  # steps the batches run, padding included
    shuffled = lengths[rng.permutation(1000).reshape(100, 10)].max(1).sum() * 10
    assert padded < 0.5 * shuffled and padded < 1.5 * lengths.sum()
    again = _by_length(rng.permutation(1000), lengths, 10, np.random.default_rng(1))
    assert not np.array_equal(order, again)  # still shuffled from epoch to epoch


def test_grouping_by_length_only_where_padding_would_multiply_the_work():
    rng = np.random.default_rng(0)
    assert _grouping_pays(np.clip(rng.lognormal(3, 1, 300).astype(int), 2, 1000), 64)
    assert _grouping_pays(np.array([20] * 299 + [2000]), 64)
    assert not _grouping_pays(rng.integers(4, 25, 135), 16)  # a small panel keeps shuffled batches
    assert not _grouping_pays(np.full(100, 7), 10)


# ------------------------------------------------------- drawing from the decoder

SAMPLED_SPANS = [
    (0, 1, "gaussian"),
    (1, 4, "softmax"),
    (4, 5, "softmax"),  # one category
    (5, 6, "gaussian"),
    (6, 8, "softmax"),
    (8, 13, "softmax"),
    (13, 55, "softmax"),
]


def _softmax_spans(spans):
    return [(start, stop) for start, stop, kind in spans if kind == "softmax"]


def _draw_all(sampler, logits, uniforms):
    """SpanSampler.draw over all rows, the flagged ones redone in float64."""
    choices = torch.empty(uniforms.shape, dtype=torch.long)
    unsure = sampler.draw(logits, uniforms, choices, Workspace(torch.device("cpu")))
    if len(unsure):
        choices[unsure] = sampler.draw_exact(logits[unsure], uniforms[unsure])
    return choices, unsure


def _sampler_inputs(spans, n, scale, generator):
    sampler = SpanSampler(spans)
    weight = torch.randn(spans[-1][1], 8, generator=generator)
    bias = torch.randn(spans[-1][1], generator=generator)
    hidden = torch.randn(n, 8, generator=generator) * scale
    head_weight, head_bias = sampler.head(weight, bias)
    uniforms = torch.rand(n, sampler.n_spans, generator=generator, dtype=torch.float64)
    return sampler, hidden @ weight.T + bias, hidden @ head_weight.T + head_bias, uniforms


# More spans than MATMUL_SEGMENTS: sums over spans by index_add instead of a matmul.
MANY_SPANS = [(5 * i // 2, 5 * (i + 1) // 2, "softmax") for i in range(70)]  # widths 2, 3


@pytest.mark.parametrize("spans", [SAMPLED_SPANS, MANY_SPANS], ids=["few", "many"])
def test_span_sampler_agrees_with_its_float64_draw_on_every_row(spans):
    generator = torch.Generator().manual_seed(0)
    n = 100_000 if spans is SAMPLED_SPANS else 10_000
    sampler, full, logits, uniforms = _sampler_inputs(spans, n, 4.0, generator)
    # Half the rows draw within float32 rounding of a category boundary, where float32
    # running sums alone would often pick the neighbour.
    for span, (start, stop) in enumerate(_softmax_spans(spans)):
        cdf = torch.softmax(full[: n // 2, start:stop].double(), dim=1).cumsum(1)
        pick = torch.randint(0, stop - start, (n // 2, 1), generator=generator)
        jitter = 1 + (torch.rand(n // 2, generator=generator, dtype=torch.float64) - 0.5) * 1e-6
        uniforms[: n // 2, span] = (cdf.gather(1, pick)[:, 0] * jitter).clamp(max=0.999)
    logits[:50] *= 40  # beyond exp's float32 range: these rows overflow
    choices, unsure = _draw_all(sampler, logits, uniforms)
    assert len(unsure) >= 50 and (unsure >= n // 2).sum() < n // 50  # rare off the boundaries
    torch.testing.assert_close(choices, sampler.draw_exact(logits, uniforms), rtol=0, atol=0)


def test_span_sampler_draws_the_inverse_cdf_of_the_softmax():
    generator = torch.Generator().manual_seed(1)
    sampler, full, logits, uniforms = _sampler_inputs(SAMPLED_SPANS, 50_000, 4.0, generator)
    choices, _ = _draw_all(sampler, logits, uniforms)
    for span, (start, stop) in enumerate(_softmax_spans(SAMPLED_SPANS)):
        cdf = torch.softmax(full[:, start:stop].double(), dim=1).cumsum(1)
        u = uniforms[:, span, None]
        expected = torch.minimum((cdf <= u).sum(1), torch.tensor(stop - start - 1))
        differ = (choices[:, span] != expected).nonzero().flatten()
        # Only where u meets a category boundary to float32 precision of the weights.
        assert len(differ) <= 5
        for row in differ.tolist():
            assert (cdf[row] - u[row]).abs().min() < 1e-5


def test_span_sampler_frequencies_match_the_probabilities():
    spans = [(0, 4, "softmax"), (4, 5, "softmax"), (5, 8, "softmax"), (8, 10, "gaussian")]
    probabilities = [
        torch.tensor([0.5, 0.3, 0.199, 0.001]),
        torch.tensor([1.0]),
        torch.tensor([1 - 2e-4, 2e-4, 0.0]),  # a tiny probability and an impossible one
    ]
    n = 400_000
    sampler = SpanSampler(spans)
    row = torch.cat([p.log().clamp(min=-1e4) for p in probabilities] + [torch.zeros(2)])
    _, head_bias = sampler.head(torch.zeros(10, 1), row)
    logits = head_bias.expand(n, -1).clone()
    generator = torch.Generator().manual_seed(2)
    uniforms = torch.rand(n, sampler.n_spans, generator=generator, dtype=torch.float64)
    choices, _ = _draw_all(sampler, logits, uniforms)
    for span, p in enumerate(probabilities):
        counts = torch.bincount(choices[:, span], minlength=len(p)).double()
        assert counts[p == 0].sum() == 0
        expected = n * p.double()
        # Within 5 binomial standard deviations, for every category.
        assert ((counts - expected).abs() <= 5 * (expected * (1 - p)).sqrt() + 1e-9).all()


@pytest.mark.parametrize("components", [1, 3])
def test_draw_equals_decoding_latent_draws_in_law(components):
    torch.manual_seed(0)
    module = TVAE(SAMPLED_SPANS, 4, (16,), (16, 16), 1.0)
    means = torch.tensor([[-2.0, 0.0, 0.0, 1.0], [2.0, 1.0, 0.0, 0.0], [0.0, -2.0, 2.0, 0.0]])
    covariance = torch.eye(4) * 0.3 + 0.1
    weights = torch.tensor([0.2, 0.5, 0.3])[:components]
    module.set_latent_mixture(weights, means[:components], covariance.expand(components, 4, 4))
    assert module.latent_components == components
    n = 60_000
    draws = module.draw(n, torch.Generator().manual_seed(3), chunk=5_000)
    with torch.no_grad():
        decoded, sigma = module.decode(module.draw_latents(n, torch.Generator().manual_seed(4)))
    gaussian = module.layout.gaussian_dims
    torch.testing.assert_close(draws.sigmas, sigma[gaussian])
    reference = decoded[:, gaussian]
    for quantile in (0.1, 0.5, 0.9):
        torch.testing.assert_close(
            draws.means.quantile(quantile, dim=0),
            reference.quantile(quantile, dim=0),
            atol=0.02,
            rtol=0,
        )
    for span, (start, stop) in enumerate(_softmax_spans(SAMPLED_SPANS)):
        frequencies = torch.bincount(draws.choices[:, span], minlength=stop - start) / n
        torch.testing.assert_close(frequencies, decoded[:, start:stop].mean(0), atol=0.01, rtol=0)
    # Rows stay in random order: the first and last tenth of every chunk look alike.
    by_chunk = draws.means.reshape(n // 5_000, 5_000, -1)
    torch.testing.assert_close(
        by_chunk[:, :500].mean((0, 1)), by_chunk[:, -500:].mean((0, 1)), atol=0.03, rtol=0
    )


@pytest.mark.parametrize("decompress_dims", [(), (8,)])
def test_draw_is_reproducible_for_any_decoder_depth(decompress_dims):
    module = TVAE(SAMPLED_SPANS, 3, (8,), decompress_dims, 1.0)
    first, second = (
        module.draw(1_000, torch.Generator().manual_seed(5), chunk=300) for _ in range(2)
    )
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert first.means.shape == (1_000, 2) and first.choices.shape == (1_000, 5)
    assert (first.means.abs() <= 1).all() and (first.choices[:, 1] == 0).all()
    widths = torch.tensor([stop - start for start, stop in _softmax_spans(SAMPLED_SPANS)])
    assert ((first.choices >= 0) & (first.choices < widths)).all()


def test_a_span_of_thousands_of_categories_is_drawn_exactly_chunk_by_chunk(monkeypatch):
    # With 3,000 near-even categories float32 cannot settle any draw: every row is redone
    # in float64. Those rows were kept, logits and all, until the end (100,000 rows of a
    # 5,000-category model took 20 GB); they are now redone once a chunk's worth is pending.
    spans = [(0, 1, "gaussian"), (1, 3_001, "softmax")]
    module = TVAE(spans, 3, (8,), (8,), 1.0)
    exact_rows = []
    draw_exact = module.sampler.draw_exact

    def counted(logits, uniforms):
        exact_rows.append(len(logits))
        return draw_exact(logits, uniforms)

    monkeypatch.setattr(module.sampler, "draw_exact", counted)
    draws = module.draw(1_000, torch.Generator().manual_seed(0), chunk=100)
    assert sum(exact_rows) > 900 and max(exact_rows) < 200  # nearly all; two chunks at most
    assert ((draws.choices >= 0) & (draws.choices < 3_000)).all()
    assert len(torch.unique(draws.choices)) > 600  # spread over the categories


def test_ragged_sequences_index_like_their_padded_tensor():
    generator = torch.Generator().manual_seed(0)
    lengths = torch.tensor([3, 1, 6, 2, 4])
    padded = torch.randn(5, 6, 2, generator=generator)
    padded[torch.arange(6)[None, :] >= lengths[:, None]] = 0.0
    steps = padded[torch.arange(6)[None, :] < lengths[:, None]]
    ragged = Ragged(steps, lengths)
    assert len(ragged) == 5 and ragged.shape == (5, 6, 2) and ragged.longest() == 6
    rows = torch.tensor([3, 0, 3, 1])
    # A selection is as long as its longest sequence, zeros after every end.
    assert torch.equal(ragged.index_select(0, rows), padded[rows, :3])
    assert torch.equal(ragged.index_select(0, torch.tensor([2])), padded[[2]])
    # Subsets (repeats allowed) keep each sequence whole.
    subset = ragged[rows]
    assert subset.lengths.tolist() == [2, 3, 2, 1]
    assert torch.equal(subset.index_select(0, torch.arange(4)), padded[rows, :3])
    # scatter writes a padded chunk back into the back-to-back layout.
    out = torch.full_like(steps, float("nan"))
    for chunk in (torch.tensor([4, 1]), torch.tensor([0, 2, 3])):
        ragged.scatter(chunk, padded[chunk][:, : int(lengths[chunk].max())], out)
    assert torch.equal(out, steps)
    mask = Ragged.mask(lengths)
    assert torch.equal(mask.index_select(0, rows), (torch.arange(3) < lengths[rows, None]).float())
    assert ragged.index_select(0, torch.tensor([], dtype=torch.long)).shape == (0, 0, 2)
    with pytest.raises(ValueError, match="sum to 16, but there are 15 steps"):
        Ragged(steps[:-1], lengths)


class _MeanOverRecords(torch.nn.Module):
    """A loss that is a mean over records (sequences), as every tssynth loss is."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.linspace(-1.0, 1.0, 2))

    def loss(self, batch, kl_weight, generator):
        x, mask = batch
        total = (((x @ self.w) ** 2) * mask).sum(1).mean()
        return LossTerms(total, total, total * 0)


def test_long_batches_run_in_pieces_of_bounded_padding_with_the_same_gradient():
    lengths = np.array([3, 40, 2, 5, 2, 4, 30])
    generator = torch.Generator().manual_seed(0)
    steps = torch.randn(int(lengths.sum()), 2, generator=generator)
    tensors = [Ragged(steps, torch.from_numpy(lengths)), Ragged.mask(torch.from_numpy(lengths))]
    index = torch.arange(7)
    cpu = torch.device("cpu")
    pieces = [piece.numpy() for piece in _pieces(index.numpy(), lengths, 48, cpu)]
    # Longest first; each piece pads at most 48 steps unless it is one sequence.
    assert [sorted(lengths[p].tolist(), reverse=True) for p in pieces] == [
        [40],
        [30],
        [5, 4, 3, 2, 2],
    ]
    assert sorted(np.concatenate(pieces).tolist()) == list(range(7))
    assert all(len(p) == 1 or len(p) * lengths[p].max() <= 48 for p in pieces)
    whole = _pieces(index.numpy(), lengths, 7 * 40, cpu)  # fits: the batch as it is
    assert len(whole) == 1 and torch.equal(whole[0], index)
    module = _MeanOverRecords()
    whole = _accumulate(module, tensors, [index], 1.0, generator)
    expected = module.w.grad.clone()
    module.w.grad = None
    parts = _accumulate(module, tensors, [torch.from_numpy(p) for p in pieces], 1.0, generator)
    torch.testing.assert_close(module.w.grad, expected)
    torch.testing.assert_close(parts.total, whole.total.detach())


def test_private_batches_in_pieces_clip_and_step_as_one_batch():
    opacus = pytest.importorskip("opacus")
    from types import SimpleNamespace

    from opacus.optimizers import DPOptimizer

    from tssynth.training import _accumulate_private

    lengths = np.array([3, 40, 2, 5, 2, 4, 30])
    steps = torch.randn(int(lengths.sum()), 2, generator=torch.Generator().manual_seed(0))
    tensors = [Ragged(steps, torch.from_numpy(lengths)), Ragged.mask(torch.from_numpy(lengths))]
    index = torch.arange(7)

    class PerRecord(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = opacus.GradSampleModule(torch.nn.Linear(2, 1, bias=False))

        def per_record_loss(self, batch, kl_weight, generator):
            x, mask = batch
            per_record = ((self.linear(x)[..., 0] ** 2) * mask).sum(1)
            return LossTerms(per_record, per_record, per_record * 0)

    def step(pieces):
        torch.manual_seed(0)  # the same initial weights
        module = PerRecord()
        optimizer = DPOptimizer(
            torch.optim.SGD(module.parameters(), lr=1.0),
            noise_multiplier=0.0,
            max_grad_norm=0.5,  # below most per-record norms: clipping is active
            expected_batch_size=7,
        )
        private = SimpleNamespace(backward=lambda loss: loss.mean().backward())
        optimizer.zero_grad(set_to_none=True)
        terms = _accumulate_private(private, optimizer, module, tensors, pieces, 1.0, None)
        optimizer.step()
        return module.linear._module.weight.detach().clone(), terms.total

    whole, whole_loss = step([index])
    parts, parts_loss = step(_pieces(index.numpy(), lengths, 48, torch.device("cpu")))
    torch.testing.assert_close(parts, whole)
    torch.testing.assert_close(parts_loss, whole_loss)
