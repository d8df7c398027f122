"""The tabular VAE module: an MLP encoder and decoder over one model-array row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from tssynth.nn.layout import SpanLayout
from tssynth.nn.loss import span_nll, standard_normal_kl
from tssynth.nn.modules import Decoder, Encoder
from tssynth.nn.span_sampler import SpanSampler, Workspace


class LossTerms(NamedTuple):
    """Batch-mean loss terms: ``total`` is what the optimiser minimises."""

    total: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


class Draws(NamedTuple):
    """Rows drawn from a TVAE, before the data layer decodes them.

    Attributes
    ----------
    means : Tensor of shape (n, n_gaussian)
        Decoder means (tanh applied) of the Gaussian columns, in layout order.
    sigmas : Tensor of shape (n_gaussian,)
        Decoder standard deviations of those columns.
    choices : Tensor of shape (n, n_softmax_spans), int32
        Index drawn in every softmax span, in layout order.
    """

    means: torch.Tensor
    sigmas: torch.Tensor
    choices: torch.Tensor


def _linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, out: torch.Tensor
) -> torch.Tensor:
    """``x @ weight.T + bias`` written to ``out``."""
    # addmm(out=) first copies the broadcast bias into out, several times slower.
    return torch.mm(x, weight.T, out=out).add_(bias)


class _SamplingPlan(NamedTuple):
    """The decoder's layers prepared for :meth:`TVAE.draw`.

    ``first``: per mixture component, the first linear layer composed with the
    latent map, weights (K, hidden, embedding_dim) and biases (K, hidden), or None
    when the decoder has no hidden layer; ``middle``: the layers up to the last one,
    linear layers as (weight, bias); ``last``: the last layer as (weight, bias), its
    softmax rows rearranged by :meth:`~tssynth.nn.span_sampler.SpanSampler.head`, then
    its Gaussian rows.
    """

    first: tuple[torch.Tensor, torch.Tensor] | None
    middle: list[Any]
    last: tuple[torch.Tensor, torch.Tensor]


class TVAE(nn.Module):
    """Variational autoencoder over rows laid out as ``spans``.

    Parameters
    ----------
    spans : sequence of (start, stop, kind)
        Layout of the model array.
    embedding_dim : int
    compress_dims, decompress_dims : sequence of int
    loss_factor : float
        Weight of the reconstruction term against the KL term.
    point_masses : sequence of (mode column, Gaussian column), optional
        See :class:`~tssynth.nn.layout.SpanLayout`.
    """

    def __init__(
        self,
        spans: Sequence[tuple[int, int, str]],
        embedding_dim: int,
        compress_dims: Sequence[int],
        decompress_dims: Sequence[int],
        loss_factor: float,
        point_masses: Sequence[tuple[int, int]] = (),
    ) -> None:
        super().__init__()
        self.layout = SpanLayout(spans, point_masses)
        self.sampler = SpanSampler(spans)  # for draw(): buffers only, none saved
        self.encoder = Encoder(self.layout.data_dim, compress_dims, embedding_dim)
        gaussian = bool(self.layout.gaussian_dims.numel())
        self.decoder = Decoder(embedding_dim, decompress_dims, self.layout.data_dim, gaussian)
        self.embedding_dim = embedding_dim
        self.loss_factor = loss_factor
        # Sampling distribution of the latents, a Gaussian mixture of K components
        # (weights (K,), means (K, D), Cholesky factors (K, D, D)): N(0, I) until fitted.
        self.register_buffer("latent_weights", torch.ones(1))
        self.register_buffer("latent_loc", torch.zeros(1, embedding_dim))
        self.register_buffer("latent_tril", torch.eye(embedding_dim)[None])

    def negative_elbo(
        self,
        x: torch.Tensor,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
        unseen: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstruction NLL and KL per row, with one reparameterised draw.

        ``noise`` of shape (embedding_dim,), when given, is that draw's standard
        normal noise for every row (so a row's value does not depend on the
        others); else the noise is drawn per row from ``generator``. ``unseen``: see
        :func:`~tssynth.nn.loss.span_nll`.
        """
        mu, logvar = self.encoder(x)
        eps = (
            torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            if noise is None
            else noise.to(mu).expand_as(mu)
        )
        output, sigma = self.decoder(mu + eps * torch.exp(0.5 * logvar))
        nll = span_nll(output, sigma, x, self.layout, unseen=unseen)
        return nll, standard_normal_kl(mu, logvar)

    def per_record_loss(
        self,
        batch: Sequence[torch.Tensor],
        kl_weight: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> LossTerms:
        """Loss terms of every row of one batch ``(x,)``, each of shape (n,)."""
        reconstruction, kl = self.negative_elbo(batch[0], generator)
        return LossTerms(self.loss_factor * reconstruction + kl_weight * kl, reconstruction, kl)

    def loss(
        self,
        batch: Sequence[torch.Tensor],
        kl_weight: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> LossTerms:
        """Training loss of one batch ``(x,)``: the mean of :meth:`per_record_loss`."""
        return LossTerms(*(t.mean() for t in self.per_record_loss(batch, kl_weight, generator)))

    def after_step(self) -> None:
        """Keep the learned sigma in its allowed range."""
        self.decoder.clamp_sigma()

    @torch.no_grad()
    def fit_latent_distribution(self, x: torch.Tensor, batch_size: int = 4096) -> None:
        """Fit the sampling distribution of the latents to the aggregated posterior.

        With the reconstruction weighted above the KL term (``loss_factor`` > 1) the
        aggregated posterior q(z) = mean_i q(z | x_i) drifts from the N(0, I) prior,
        and decoding prior draws shrinks or widens the data. Sampling from a
        Gaussian with the mean and covariance of q(z) (ex-post density estimation,
        Ghosh et al. 2020) matches what the decoder was trained on.

        Parameters
        ----------
        x : Tensor of shape (n, data_dim)
            The training rows.
        batch_size : int
            Rows encoded at once.
        """
        # Streaming first and second moments: memory stays O(embedding_dim^2).
        dim = self.embedding_dim
        kwargs = {"dtype": torch.float64, "device": self.latent_loc.device}
        total, outer, variance = torch.zeros(dim, **kwargs), torch.zeros(dim, dim, **kwargs), 0.0
        for start in range(0, len(x), batch_size):
            mu, logvar = self.encoder(x[start : start + batch_size])
            mu = mu.double()
            total += mu.sum(0)
            outer += mu.T @ mu
            variance = variance + logvar.double().exp().sum(0)
        n = len(x)
        if n < 2:
            return
        mean = total / n
        covariance = (outer - n * torch.outer(mean, mean)) / (n - 1) + torch.diag(variance / n)
        self.set_latent_distribution(mean, covariance)

    @torch.no_grad()
    def set_latent_distribution(self, mean: Any, covariance: Any) -> None:
        """Sample latents from ``N(mean, covariance)`` (kept as is when not positive definite)."""
        mean, covariance = torch.as_tensor(mean), torch.as_tensor(covariance)
        self.set_latent_mixture(torch.ones(1), mean[None], covariance[None])

    @torch.no_grad()
    def set_latent_mixture(self, weights: Any, means: Any, covariances: Any) -> None:
        """Sample latents from a Gaussian mixture (kept as is when a covariance is not PD).

        Parameters
        ----------
        weights : array-like of shape (K,)
        means : array-like of shape (K, embedding_dim)
        covariances : array-like of shape (K, embedding_dim, embedding_dim)
        """
        kwargs = {"dtype": torch.float64, "device": self.latent_loc.device}
        weights, means, covariances = (
            torch.as_tensor(a, **kwargs) for a in (weights, means, covariances)
        )
        eye = torch.eye(self.embedding_dim, **kwargs)
        trils, info = torch.linalg.cholesky_ex(covariances + 1e-6 * eye)
        if bool((info != 0).any()):
            return
        self.latent_weights = (weights / weights.sum()).to(self.latent_weights.dtype)
        self.latent_loc = means.to(self.latent_tril.dtype)
        self.latent_tril = trils.to(self.latent_tril.dtype).contiguous()

    @property
    def latent_components(self) -> int:
        """Number of Gaussian components of the latent sampling distribution."""
        return len(self.latent_weights)

    @torch.no_grad()
    def posterior_moments(
        self, x: torch.Tensor, batch_size: int = 4096
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior means (n, D) in the dtype of ``x``, and the mean posterior variance (D,)."""
        # Filled in place: a list of chunks and their concatenation would hold the means twice.
        means = torch.empty((len(x), self.embedding_dim), dtype=x.dtype, device=x.device)
        variance = torch.zeros(self.embedding_dim, dtype=torch.float64, device=x.device)
        for start in range(0, len(x), batch_size):
            mu, logvar = self.encoder(x[start : start + batch_size])
            means[start : start + len(mu)] = mu
            variance += logvar.double().exp().sum(0)
        return means, variance / max(len(x), 1)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        # Files written before the mixture hold one Gaussian: loc (D,), tril (D, D).
        loc = state_dict.get(prefix + "latent_loc")
        if loc is not None and loc.dim() == 1:
            state_dict[prefix + "latent_loc"] = loc[None]
            state_dict[prefix + "latent_tril"] = state_dict[prefix + "latent_tril"][None]
        state_dict.setdefault(prefix + "latent_weights", torch.ones(1))
        for name in ("latent_weights", "latent_loc", "latent_tril"):  # K comes from the file
            stored = state_dict.get(prefix + name)
            if stored is not None:
                setattr(self, name, getattr(self, name).new_empty(stored.shape))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def posterior_draws(
        self, x: torch.Tensor, generator: torch.Generator | None = None, batch_size: int = 4096
    ) -> torch.Tensor:
        """One reparameterised draw of z from q(z | x) for every row of ``x``."""
        draws = []
        for start in range(0, len(x), batch_size):
            mu, logvar = self.encoder(x[start : start + batch_size])
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            draws.append(mu + eps * torch.exp(0.5 * logvar))
        return torch.cat(draws) if draws else x.new_zeros((0, self.embedding_dim))

    def sample_latent(
        self, noise: torch.Tensor, selector: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Map standard normal noise to latents of the sampling distribution.

        Parameters
        ----------
        noise : Tensor of shape (n, embedding_dim)
            Standard normal draws.
        selector : Tensor of shape (n,), optional
            Standard normal draws that pick each row's mixture component; needed
            when the distribution has more than one component.
        """
        if self.latent_components == 1:
            return self.latent_loc[0] + noise @ self.latent_tril[0].T
        if selector is None:
            raise ValueError("A mixture of latent Gaussians needs a component selector.")
        component = self._component(selector)
        latents = torch.empty_like(noise)
        for k in range(self.latent_components):  # a few components, each one matmul
            rows = component == k
            latents[rows] = self.latent_loc[k] + noise[rows] @ self.latent_tril[k].T
        return latents

    def draw_latents(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` draws of the latent sampling distribution, from ``generator``."""
        kwargs = {"generator": generator, "device": self.latent_loc.device}
        noise = torch.randn((n, self.embedding_dim), **kwargs)
        selector = torch.randn(n, **kwargs) if self.latent_components > 1 else None
        return self.sample_latent(noise, selector)

    @torch.no_grad()
    def draw(self, n: int, generator: torch.Generator, chunk: int = 2048) -> Draws:
        """``n`` rows of the generative model: latents, decoder, one category per span.

        Equal in law to ``decode(draw_latents(n))`` followed by an inverse-CDF draw
        in every softmax span, but faster: the latent map ``loc + tril @ noise`` is
        folded into the decoder's first layer, the last layer is rearranged for
        :class:`~tssynth.nn.span_sampler.SpanSampler`, and scratch tensors are reused over
        chunks of ``chunk`` rows.

        Parameters
        ----------
        n : int
        generator : torch.Generator
            Source of every draw (latents, mixture components, categories).
        chunk : int
            Rows handled at once.

        Returns
        -------
        Draws
        """
        sampler, gaussian = self.sampler, self.layout.gaussian_dims
        device, dtype = self.latent_loc.device, self.latent_loc.dtype
        # Column-major results (one row per column): the data layer reads them by column.
        means = torch.empty((len(gaussian), n), dtype=dtype, device=device).T
        choices = torch.empty((sampler.n_spans, n), dtype=torch.int32, device=device).T
        plan = self._sampling_plan()
        work = Workspace(device, dtype)
        redo, pending = [], 0
        for start in range(0, n, chunk):
            rows = min(chunk, n - start)
            hidden = self._sampling_hidden(rows, generator, plan, work)
            output = _linear(hidden, *plan.last, out=work.take("output", rows, len(plan.last[1])))
            means[start : start + rows] = output[:, sampler.n_columns :]
            if not sampler.n_spans:
                continue
            uniforms = work.take("uniforms", rows, sampler.n_spans, torch.float64)
            torch.rand((rows, sampler.n_spans), generator=generator, out=uniforms)
            logits = output[:, : sampler.n_columns]
            unsure = sampler.draw(logits, uniforms, choices[start : start + rows], work)
            if len(unsure):
                redo.append((unsure + start, logits[unsure], uniforms[unsure]))
                pending += len(unsure)
            # The draws float32 could not settle (a few per chunk; every row when spans
            # have thousands of categories), redone in float64 once a chunk's worth is
            # pending, so that their logits never hold more than about two chunks.
            if redo and (pending >= chunk or start + rows == n):
                where, logits, uniforms = (torch.cat(parts) for parts in zip(*redo, strict=True))
                choices[where] = sampler.draw_exact(logits, uniforms).to(choices.dtype)
                redo, pending = [], 0
        sigmas = self.decoder.sigma.detach().index_select(0, gaussian)
        return Draws(means.tanh_(), sigmas, choices)

    def _sampling_plan(self) -> _SamplingPlan:
        """The decoder's layers as :meth:`draw` runs them (see :class:`_SamplingPlan`)."""
        body = list(self.decoder.body)
        weight, bias = body[-1].weight.detach(), body[-1].bias.detach()
        gaussian = self.layout.gaussian_dims
        head_weight, head_bias = self.sampler.head(weight, bias)
        last = (
            torch.cat([head_weight, weight.index_select(0, gaussian)]),
            torch.cat([head_bias, bias.index_select(0, gaussian)]),
        )
        if len(body) == 1:  # no hidden layer: the head reads the latents themselves
            return _SamplingPlan(None, [], last)
        first = body[0]
        # Composed in float64 and rounded once, as z = loc + tril @ noise was.
        double = first.weight.detach().double()
        composed = (
            (double @ self.latent_tril.double()).to(weight.dtype),
            (self.latent_loc.double() @ double.T + first.bias.detach().double()).to(bias.dtype),
        )
        middle = [
            (layer.weight.detach(), layer.bias.detach()) if isinstance(layer, nn.Linear) else layer
            for layer in body[1:-1]
        ]
        return _SamplingPlan(composed, middle, last)

    def _sampling_hidden(
        self, n: int, generator: torch.Generator, plan: _SamplingPlan, work: Workspace
    ) -> torch.Tensor:
        """Input of the decoder's last layer for ``n`` draws of the latent distribution."""
        device = self.latent_loc.device
        noise = work.take("noise", n, self.embedding_dim)
        torch.randn((n, self.embedding_dim), generator=generator, out=noise)
        many = self.latent_components > 1
        selector = torch.randn(n, generator=generator, device=device) if many else None
        if plan.first is None:
            return self.sample_latent(noise, selector)
        weights, biases = plan.first
        hidden = work.take("first", n, biases.shape[1])
        if not many:
            _linear(noise, weights[0], biases[0], out=hidden)
        else:
            component = self._component(selector)
            # Rows grouped by component, one matmul each. The noise rows are i.i.d. and
            # independent of the components, so taking them in group order and putting
            # the results back in row order leaves every row's law unchanged.
            grouped = work.take("grouped", n, biases.shape[1])
            position = 0
            for k, count in enumerate(torch.bincount(component, minlength=len(biases)).tolist()):
                rows = slice(position, position + count)
                _linear(noise[rows], weights[k], biases[k], out=grouped[rows])
                position += count
            hidden.index_copy_(0, torch.argsort(component, stable=True), grouped)
        for index, layer in enumerate(plan.middle):
            if isinstance(layer, nn.ReLU):
                hidden = hidden.relu_()
            elif isinstance(layer, tuple):
                weight, bias = layer
                out = work.take(f"hidden{index}", n, len(bias))
                hidden = _linear(hidden, weight, bias, out=out)
            else:
                hidden = layer(hidden)
        return hidden

    def _component(self, selector: torch.Tensor) -> torch.Tensor:
        """Mixture component of every row from standard normal ``selector`` draws."""
        edges = torch.cumsum(self.latent_weights, 0)[:-1]
        return torch.searchsorted(edges, torch.special.ndtr(selector).contiguous())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior means."""
        return self.encoder(x)[0]

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data-space output (tanh / softmax applied) and the decoder sigma."""
        output, _ = self.decoder(z)
        return self.layout.activate(output), self.decoder.sigma.detach()
