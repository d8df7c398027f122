"""The dynamical VAE module (SRNN-style, after Girin et al. 2021) over span-laid-out steps.

Generative model, per step ``t`` of a sequence with static context ``c``::

    h_t = GRU_fwd([x_{t-1}, c], h_{t-1})          (x_0 = 0, h_0 = 0)
    p(z_t | z_{t-1}, h_t)                          (prior, z_0 = 0)
    p(x_t | h_t, z_t)                              (decoder over the spans, learned sigma)

Inference: a backward GRU over ``[h_t, x_t]`` gives ``g_t`` (it sees the present
and the future), and ``q(z_t | z_{t-1}, g_t)``.

Training runs both GRUs over whole padded batches at once; only the small
z-recurrence of the inference network loops over time. Padding (``mask == 0``)
never enters the loss: the forward GRU is causal, the backward GRU reads every
sequence reversed within its own length, and the per-step terms are masked.

Scheduled sampling (parallel form, Duckworth et al. 2019): with a share ``p`` of
the steps, the forward GRU reads the model's own one-step-ahead draw of
``x_{t-1}`` instead of the data, so that free-running generation stays on the
data. The draws come from a first, gradient-free pass; ``p`` rises during
training via :meth:`DVAE.start_epoch`.

After training, the sampling model of the continuous columns can be refined
(:mod:`tssynth.nn.residual`): correlated residual noise across one step's
Gaussian columns replaces the independent learned-sigma noise of every draw, and
a marginal calibration maps generated values to the training marginals.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tssynth.nn.layout import SpanLayout
from tssynth.nn.loss import gaussian_kl, span_nll
from tssynth.nn.modules import Decoder, mlp
from tssynth.nn.ragged import Ragged
from tssynth.nn.residual import MarginalCalibration, ResidualNoise
from tssynth.nn.tvae import LossTerms

_LOGVAR_MIN, _LOGVAR_MAX = -12.0, 8.0
_CALIBRATION_STEPS = 500_000  # generated steps the marginal calibration reads, at most
_CALIBRATION_MIN_STEPS = 50_000  # and at least (more sequences than training when short)


class GaussianHead(nn.Module):
    """Linear map to the mean and (bounded) log-variance of a diagonal Gaussian."""

    def __init__(self, width: int, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(width, 2 * dim)

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.linear(hidden).chunk(2, dim=-1)
        return mu, logvar.clamp(_LOGVAR_MIN, _LOGVAR_MAX)


def reverse_within(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse every sequence of ``x`` (B, T, ...) within its own length; padding stays put."""
    steps = torch.arange(x.shape[1], device=x.device)[None, :]
    index = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
    shape = index.shape + (1,) * (x.dim() - 2)
    return x.gather(1, index.view(shape).expand_as(x))


def _private_gru() -> type[nn.Module]:
    from tssynth.nn.private import require_opacus

    require_opacus()
    from opacus.layers import DPGRU

    return DPGRU


def length_chunks(lengths: torch.Tensor, size: int) -> list[tuple[torch.Tensor, int]]:
    """Sequences in chunks of at most ``size`` of similar ``lengths`` (B,).

    A chunk holds lengths of one doubling band (1, 2-3, 4-7, 8-15, ...), so its
    padding at most doubles its steps: one long sequence among many short ones no
    longer pads them all.

    Returns
    -------
    list of (rows, steps)
        Row indices of each chunk (shortest sequences first) and the length of its
        longest sequence: the steps the chunk needs, padding beyond them dropped.
    """
    if len(lengths) == 0:
        return []
    order = torch.argsort(lengths, stable=True)
    band = torch.floor(torch.log2(lengths[order].double().clamp(min=1.0)))
    cuts = (torch.nonzero(band[1:] != band[:-1]).flatten() + 1).cpu()
    return [
        (rows, int(lengths[rows].max()))
        for group in torch.tensor_split(order, cuts)  # one per band: at most 64
        for rows in group.split(size)
    ]


def trim(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` (B, T, ...) and ``mask`` without the trailing steps that are padding in every row.

    Batches read from :class:`~tssynth.nn.ragged.Ragged` are already this long; a batch
    padded further gets the same random draws (they follow the shape).
    """
    steps = int(mask.sum(1).max()) if len(mask) else 0
    return x[:, :steps], mask[:, :steps]


def shift_right(x: torch.Tensor) -> torch.Tensor:
    """``x_{t-1}`` for every step: (B, T, D) with zeros at t = 0."""
    return torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)


class DVAE(nn.Module):
    """Dynamical VAE over sequences whose steps are model-array rows laid out as ``spans``.

    Parameters
    ----------
    spans : sequence of (start, stop, kind)
        Layout of one step's model array.
    context_dim : int
        Width of the static context row (0 for none).
    embedding_dim : int
        Size of ``z_t``.
    hidden_dim : int
        Size of the forward and backward GRU states.
    compress_dims : sequence of int
        Hidden widths of the inference and prior networks.
    decompress_dims : sequence of int
        Hidden widths of the decoder.
    loss_factor : float
        Weight of the reconstruction term against the KL term.
    scheduled_sampling : float
        Final share of steps whose forward-GRU input is the model's own draw.
    private : bool
        Build for differentially private training: opacus's ``DPGRU`` (per-step
        linear cells whose per-sample gradients opacus computes) instead of
        ``nn.GRU``; training then uses :meth:`per_record_loss`.
    mode_columns : sequence of sequence of int, optional
        For every Gaussian column, in layout order, the columns of the softmax
        span saying which mixture mode its value is normalised in (empty when it
        has one mode). The marginal calibration then maps values within each mode.
    point_masses : sequence of (mode column, Gaussian column), optional
        See :class:`~tssynth.nn.layout.SpanLayout`.
    """

    def __init__(
        self,
        spans: Sequence[tuple[int, int, str]],
        context_dim: int,
        embedding_dim: int,
        hidden_dim: int,
        compress_dims: Sequence[int],
        decompress_dims: Sequence[int],
        loss_factor: float = 1.0,
        scheduled_sampling: float = 0.0,
        private: bool = False,
        mode_columns: Sequence[Sequence[int]] = (),
        point_masses: Sequence[tuple[int, int]] = (),
    ) -> None:
        super().__init__()
        self.layout = SpanLayout(spans, point_masses)
        data_dim = self.layout.data_dim
        self.data_dim, self.context_dim = data_dim, context_dim
        self.embedding_dim, self.hidden_dim = embedding_dim, hidden_dim
        self.loss_factor = loss_factor
        self.scheduled_sampling = scheduled_sampling
        self.sampled_share = 0.0
        # Steps per training sequence, on average: with batches grouped by length the
        # loss divides by a batch's expected steps, so every step weighs the same.
        self.mean_length: float | None = None
        self.reuses_layers = True  # per-step cells: opacus's ghost clipping cannot take them
        gru = _private_gru() if private else nn.GRU
        self.forward_rnn = gru(data_dim + context_dim, hidden_dim, batch_first=True)
        self.backward_rnn = gru(hidden_dim + data_dim, hidden_dim, batch_first=True)
        first, rest = compress_dims[0], tuple(compress_dims[1:])
        # q(z_t | z_{t-1}, g_t): the g part is projected for all steps at once.
        self.inference_g = nn.Linear(hidden_dim, first)
        self.inference_z = nn.Linear(embedding_dim, first, bias=False)
        self.inference_body, width = mlp(first, rest)
        self.inference_head = GaussianHead(width, embedding_dim)
        # p(z_t | z_{t-1}, h_t): evaluated for all steps at once.
        body, width = mlp(embedding_dim + hidden_dim, compress_dims)
        self.prior_body = body
        self.prior_head = GaussianHead(width, embedding_dim)
        gaussian = bool(self.layout.gaussian_dims.numel())
        self.decoder = Decoder(hidden_dim + embedding_dim, decompress_dims, data_dim, gaussian)
        n_gaussian = len(self.layout.gaussian_dims)
        self.residual = ResidualNoise(n_gaussian)
        self.calibration = MarginalCalibration(n_gaussian)
        # Mode indicator columns of every Gaussian column (-1 padded): the calibration
        # maps a value within its mode.
        modes = [list(c) for c in mode_columns] or [[] for _ in range(n_gaussian)]
        width = max((len(c) for c in modes), default=0)
        padded = [c + [-1] * (width - len(c)) for c in modes]
        self.register_buffer(
            "mode_index",
            torch.tensor(padded, dtype=torch.long).reshape(n_gaussian, width),
            persistent=False,
        )

    # ------------------------------------------------------------- pieces

    def _inputs(self, x_prev: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        if context is None or self.context_dim == 0:
            return x_prev
        return torch.cat([x_prev, context[:, None, :].expand(-1, x_prev.shape[1], -1)], dim=2)

    def prior(self, z_prev: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of p(z_t | z_{t-1}, h_t), any leading shape."""
        return self.prior_head(self.prior_body(torch.cat([z_prev, h], dim=-1)))

    def infer(
        self,
        x: torch.Tensor,
        h: torch.Tensor,
        lengths: torch.Tensor,
        generator: torch.Generator | None,
        sample: bool = True,
        noise: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Posterior trajectory: z (drawn, or the means), and q's mean and log-variance.

        Parameters
        ----------
        x, h : Tensor of shape (B, T, data_dim) and (B, T, hidden_dim)
        lengths : Tensor of shape (B,)
        generator : torch.Generator or None
        sample : bool
            Draw ``z_t`` (training, ELBO) or feed the means forward (``transform``).
        noise : Tensor of shape (T, embedding_dim), optional
            The draw's standard normal noise, shared by every sequence; drawn per
            sequence from ``generator`` when None.

        Returns
        -------
        z, mu, logvar : Tensors of shape (B, T, embedding_dim)
        """
        g, _ = self.backward_rnn(reverse_within(torch.cat([h, x], dim=2), lengths))
        g_proj = self.inference_g(reverse_within(g, lengths))
        batch, steps = x.shape[:2]
        if not sample:
            noise = None
        elif noise is None:
            noise = torch.randn(
                (batch, steps, self.embedding_dim), generator=generator, device=x.device
            )
        else:
            noise = noise[:steps].to(x).expand(batch, -1, -1)
        z_t = x.new_zeros(batch, self.embedding_dim)
        zs, mus, logvars = [], [], []
        # unbind, not g_proj[:, t]: the backward of each slice would fill a tensor of the
        # whole sequence, so training would cost O(steps^2).
        noise_steps = noise.unbind(1) if noise is not None else (None,) * steps
        for g_t, noise_t in zip(g_proj.unbind(1), noise_steps, strict=True):
            hidden = self.inference_body(torch.relu(g_t + self.inference_z(z_t)))
            mu, logvar = self.inference_head(hidden)
            z_t = mu + torch.exp(0.5 * logvar) * noise_t if noise_t is not None else mu
            zs.append(z_t)
            mus.append(mu)
            logvars.append(logvar)
        return torch.stack(zs, 1), torch.stack(mus, 1), torch.stack(logvars, 1)

    def draw(self, output: torch.Tensor, sigma: torch.Tensor, generator: torch.Generator | None):
        """One draw of x from the decoder output (…, data_dim): noisy Gaussians, one-hot spans.

        The Gaussian columns get the fitted residual noise (correlated across
        columns) or, before it is fitted, independent noise of the learned sigma.
        They are not clipped to [-1, 1] here: the calibration reads them as drawn
        (see :meth:`generate`).
        """
        shape = output.shape
        flat = output.reshape(-1, shape[-1])
        result = torch.empty_like(flat)
        g = self.layout.gaussian_dims
        if self.residual.noise_dim:
            size = (len(flat), self.residual.noise_dim)
            noise = self.residual(torch.randn(size, generator=generator, device=flat.device))
        else:
            noise = torch.randn((len(flat), len(g)), generator=generator, device=flat.device)
            noise = sigma.reshape(-1, shape[-1])[:, g] * noise
        result[:, g] = torch.tanh(flat[:, g]) + noise
        if self.layout.n_segments:
            uniform = torch.rand(
                (len(flat), len(self.layout.softmax_dims)), generator=generator, device=flat.device
            )
            scores = flat[:, self.layout.softmax_dims] - torch.log(-torch.log(uniform + 1e-20))
            result[:, self.layout.softmax_dims] = self._segment_onehot(scores)
        return result.reshape(shape)

    def most_likely(self, output: torch.Tensor) -> torch.Tensor:
        """Decoder means: tanh on Gaussian columns, one-hot argmax of every softmax span."""
        shape = output.shape
        flat = output.reshape(-1, shape[-1])
        result = self.layout.activate(flat)
        if self.layout.n_segments:
            result[:, self.layout.softmax_dims] = self._segment_onehot(
                flat[:, self.layout.softmax_dims]
            )
        return result.reshape(shape)

    def _segment_onehot(self, scores: torch.Tensor) -> torch.Tensor:
        peak = self.layout.segment_max(scores)
        return (scores >= peak.index_select(1, self.layout.segment)).to(scores.dtype)

    # ------------------------------------------------------------- training

    def terms(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        context: torch.Tensor | None,
        generator: torch.Generator | None,
        x_prev: torch.Tensor | None = None,
        sample: bool = True,
        noise: torch.Tensor | None = None,
        unseen: bool = False,
        stand_in: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Masked per-step reconstruction NLL and KL (B, T), and the decoder output.

        ``noise`` (T, embedding_dim): the posterior draw's noise, shared by every
        sequence (see :meth:`infer`). ``unseen``, ``stand_in`` (B, T, data_dim): see
        :func:`~tssynth.nn.loss.span_nll`.
        """
        lengths = mask.sum(1).long()
        if x_prev is None:
            x_prev = shift_right(x)
        h, _ = self.forward_rnn(self._inputs(x_prev, context))
        z, mu_q, logvar_q = self.infer(x, h, lengths, generator, sample, noise)
        mu_p, logvar_p = self.prior(shift_right(z), h)
        output, sigma = self.decoder(torch.cat([h, z], dim=2))
        batch, steps, dim = x.shape
        nll = span_nll(
            output.reshape(-1, dim),
            sigma.reshape(-1, dim),
            x.reshape(-1, dim),
            self.layout,
            unseen=unseen,
            stand_in=None if stand_in is None else stand_in.reshape(-1, dim),
        )
        kl = gaussian_kl(mu_q, logvar_q, mu_p, logvar_p)
        return nll.view(batch, steps) * mask, kl * mask, output

    @torch.no_grad()
    def one_step_draws(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        context: torch.Tensor | None,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """Draws of x_t from p(x_t | x_{<t}): the posterior past, a prior draw of z_t."""
        lengths = mask.sum(1).long()
        h, _ = self.forward_rnn(self._inputs(shift_right(x), context))
        z, _, _ = self.infer(x, h, lengths, generator)
        mu_p, logvar_p = self.prior(shift_right(z), h)
        noise = torch.randn(mu_p.shape, generator=generator, device=x.device)
        z_prior = mu_p + torch.exp(0.5 * logvar_p) * noise
        output, sigma = self.decoder(torch.cat([h, z_prior], dim=2))
        return self.layout.settle_point_masses(self.draw(output, sigma, generator).clamp(-1.0, 1.0))

    def _step_terms(
        self, batch: Sequence[torch.Tensor], generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Masked per-step NLL and KL (B, T) with scheduled sampling, and the mask."""
        x, mask = trim(batch[0], batch[1])
        context = batch[2] if len(batch) > 2 else None
        x_prev = shift_right(x)
        if self.training and self.sampled_share > 0:
            own = shift_right(self.one_step_draws(x, mask, context, generator))
            chosen = torch.rand(mask.shape, generator=generator, device=x.device)
            x_prev = torch.where((chosen < self.sampled_share)[..., None], own, x_prev)
        nll, kl, _ = self.terms(x, mask, context, generator, x_prev)
        return nll, kl, mask

    def per_record_loss(
        self,
        batch: Sequence[torch.Tensor],
        kl_weight: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> LossTerms:
        """Loss terms of every sequence, each its mean over its own steps, shape (n,).

        Used by differentially private training: one sequence's loss (and so its
        gradient) never depends on another's length.
        """
        nll, kl, mask = self._step_terms(batch, generator)
        steps = mask.sum(1).clamp_min(1.0)
        reconstruction, kl = nll.sum(1) / steps, kl.sum(1) / steps
        return LossTerms(self.loss_factor * reconstruction + kl_weight * kl, reconstruction, kl)

    def loss(
        self,
        batch: Sequence[torch.Tensor],
        kl_weight: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> LossTerms:
        """Training loss of one batch ``(x, mask[, context])``, as means per observed step.

        With :attr:`mean_length` set, the sums divide by the steps a batch of this
        many sequences holds on average rather than by its own: batches grouped by
        length then weigh each step alike, and an epoch's mean is still per step.
        The loss is then a mean over the batch's sequences, which is what lets the
        training loop run a long batch in pieces (each weighing its share of them).
        """
        nll, kl, mask = self._step_terms(batch, generator)
        steps = (
            mask.sum().clamp_min(1.0) if self.mean_length is None else len(mask) * self.mean_length
        )
        reconstruction, kl = nll.sum() / steps, kl.sum() / steps
        return LossTerms(self.loss_factor * reconstruction + kl_weight * kl, reconstruction, kl)

    def after_step(self) -> None:
        """Keep the learned sigma in its allowed range."""
        self.decoder.clamp_sigma()

    def start_epoch(self, epoch: int, epochs: int) -> None:
        """Fade teacher forcing out: the sampled share rises linearly over the first half."""
        ramp = max(1, epochs // 2)
        self.sampled_share = self.scheduled_sampling * min(1.0, epoch / ramp)

    # ------------------------------------------------------------- inference

    @torch.no_grad()
    def elbo(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        context: torch.Tensor | None,
        noise: torch.Tensor,
        stand_in: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Evidence lower bound per sequence (summed over its steps), averaged over draws.

        ``noise`` of shape (draws, T, embedding_dim) is each draw's standard normal
        noise, shared by every sequence: a sequence's score depends on it alone.
        ``stand_in`` (B, T, data_dim): entries of ``x`` standing in for missing
        values, left out of the likelihood.
        """
        total = x.new_zeros(len(x), dtype=torch.float64)
        for draw in noise:
            nll, kl, _ = self.terms(
                x, mask, context, None, noise=draw, unseen=True, stand_in=stand_in
            )
            total -= (nll + kl).sum(1).double()
        return total / len(noise)

    def _posterior_output(
        self, x: torch.Tensor, mask: torch.Tensor, context: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior means (B, T, z) fed forward, and the decoder output at them."""
        lengths = mask.sum(1).long()
        h, _ = self.forward_rnn(self._inputs(shift_right(x), context))
        z, _, _ = self.infer(x, h, lengths, None, sample=False)
        output, _ = self.decoder(torch.cat([h, z], dim=2))
        return z, output

    @torch.no_grad()
    def posterior_means(
        self, x: torch.Tensor, mask: torch.Tensor, context: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent trajectory of posterior means (B, T, z) and the most likely reconstruction."""
        z, output = self._posterior_output(x, mask, context)
        return z, self.most_likely(output)

    # ------------------------------------------------------------- sampling model

    @torch.no_grad()
    def step_residuals(
        self, x: torch.Tensor, mask: torch.Tensor, context: torch.Tensor | None
    ) -> torch.Tensor:
        """What the decoder means miss on the Gaussian columns of every observed step.

        Returns
        -------
        Tensor of shape (observed steps, Gaussian columns)
        """
        _, output = self._posterior_output(x, mask, context)
        g = self.layout.gaussian_dims
        residuals = x[..., g] - torch.tanh(output[..., g])
        taken = self.layout.point_mass_rows(x)  # a constant scalar, never trained: no residual
        if taken is not None:
            residuals = residuals.masked_fill(taken, 0.0)
        return residuals[mask > 0]

    @torch.no_grad()
    def fit_residual_noise(
        self,
        x: Ragged,
        mask: Ragged,
        context: torch.Tensor | None,
        generator: torch.Generator,
        batch_size: int = 256,
    ) -> None:
        """Fit the draws' noise to the training steps' reconstruction residuals.

        Its covariance across one step's Gaussian columns is theirs, so a column
        that copies another stays a copy and prices that move together keep
        moving together; dependence across steps comes from the recurrence.

        Parameters
        ----------
        x, mask : Ragged
            The training steps (``data_dim`` wide) and their mask.
        context : Tensor of shape (n, context_dim) or None
        generator : torch.Generator
            Orders the sequences (wide steps read only the first few thousand).
        batch_size : int
        """
        order = torch.randperm(len(x), generator=generator, device=x.steps.device)

        def batches():
            for batch in order.split(batch_size):
                # Each random batch in pieces of similar lengths: padding at most doubles.
                for piece, _ in length_chunks(mask.lengths[batch], batch_size):
                    rows = batch[piece]
                    ctx = None if context is None else context[rows]
                    chunk = (x.index_select(0, rows), mask.index_select(0, rows))
                    yield self.step_residuals(*chunk, ctx)

        self.residual.fit(batches())

    @torch.no_grad()
    def fit_calibration(
        self,
        x: Ragged,
        mask: Ragged,
        context: torch.Tensor | None,
        generator: torch.Generator,
        batch_size: int = 1024,
    ) -> None:
        """Fit the marginal calibration from free-running draws to the training steps.

        The draws take the training sequences' lengths and contexts (cycled
        through in random order), so both sides cover the same kind of steps.

        Parameters
        ----------
        x, mask : Ragged
            The training steps (``data_dim`` wide) and their mask.
        context : Tensor of shape (n, context_dim) or None
        generator : torch.Generator
            Source of the draws.
        batch_size : int
        """
        self.calibration.reset()
        n, device = len(x), x.steps.device
        g = self.layout.gaussian_dims
        if n == 0 or len(x.steps) == 0 or len(g) == 0:
            return
        per_sequence = max(1.0, len(x.steps) / n)
        draws = int(
            min(
                max(n, _CALIBRATION_MIN_STEPS / per_sequence),
                max(1, _CALIBRATION_STEPS / per_sequence),
            )
        )
        order = torch.randperm(n, generator=generator, device=device)
        rows = order[torch.arange(draws, device=device) % n]
        sampled = []
        for chunk, length in length_chunks(mask.lengths[rows], batch_size):
            part = rows[chunk]
            ctx = None if context is None else context[part]
            state = self.initial_state(len(part), device)
            drawn = self.generate(length, state, ctx, generator, clip=False)
            sampled.append(drawn[mask.index_select(0, part) > 0])
        sampled, observed = torch.cat(sampled), x.steps
        self.calibration.fit(
            sampled[:, g],
            observed[:, g],
            self.modes(sampled),
            self.modes(observed),
            self.mode_index.shape[1],
        )

    def calibrate(self, values: torch.Tensor) -> torch.Tensor:
        """Apply the marginal calibration to the Gaussian columns of ``(…, data_dim)`` steps."""
        flat = values.reshape(-1, values.shape[-1])
        g = self.layout.gaussian_dims
        calibrated = self.calibration(flat[:, g], self.modes(flat))
        return flat.index_copy(1, g, calibrated).reshape(values.shape)

    def modes(self, steps: torch.Tensor) -> torch.Tensor:
        """Mode of every Gaussian column of ``(n, data_dim)`` steps (-1: one mode), (n, d)."""
        n, width = len(steps), self.mode_index.shape[1]
        if width == 0:
            return torch.full((n, len(self.mode_index)), -1, dtype=torch.long, device=steps.device)
        valid = self.mode_index >= 0
        indicators = steps[:, self.mode_index.clamp(min=0)].masked_fill(~valid, -torch.inf)
        return torch.where(valid.any(1), indicators.argmax(2), -1)

    def initial_state(
        self, batch: int, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The state before the first step: (GRU hidden (1, B, H), x_0, z_0), all zeros."""
        return (
            torch.zeros(1, batch, self.hidden_dim, device=device),
            torch.zeros(batch, self.data_dim, device=device),
            torch.zeros(batch, self.embedding_dim, device=device),
        )

    @torch.no_grad()
    def prefix_state(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        context: torch.Tensor | None,
        generator: torch.Generator | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The state after each prefix's last observed step, with z_L drawn from q."""
        lengths = mask.sum(1).long()
        h, _ = self.forward_rnn(self._inputs(shift_right(x), context))
        z, _, _ = self.infer(x, h, lengths, generator)
        rows = torch.arange(len(x), device=x.device)
        last = lengths - 1
        return h[rows, last][None], x[rows, last], z[rows, last]

    @torch.no_grad()
    def decode_latents(self, z: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        """Most likely steps for given latent trajectories ``(B, T, z)``: ``(B, T, data_dim)``.

        Runs forward like generation, with ``z_t`` given instead of drawn: each step's
        forward state reads the previous decoded step.
        """
        hidden, x_t, _ = self.initial_state(len(z), z.device)
        out = []
        for z_t in z.unbind(1):
            h_t, hidden = self.forward_rnn(self._inputs(x_t[:, None], context), hidden)
            output, _ = self.decoder(torch.cat([h_t[:, 0], z_t], dim=1))
            x_t = self.most_likely(output)
            out.append(x_t)
        if not out:
            return z.new_zeros(len(z), 0, self.data_dim)
        return torch.stack(out, 1)

    @torch.no_grad()
    def generate(
        self,
        steps: int,
        state: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        context: torch.Tensor | None,
        generator: torch.Generator | None,
        clip: bool = True,
    ) -> torch.Tensor:
        """Free-running draws of ``steps`` further steps from ``state``: (B, steps, data_dim).

        The recurrence reads every draw clipped to [-1, 1], as the training data are;
        with ``clip=False`` the draws come back as drawn, for the calibration, which
        maps them into the training range (clipping first would pile draws up at the
        ends, and the calibration sends such a tie to one value).
        """
        hidden, x_t, z_t = state
        out = []
        for _ in range(steps):
            h_t, hidden = self.forward_rnn(self._inputs(x_t[:, None], context), hidden)
            h_t = h_t[:, 0]
            mu, logvar = self.prior(z_t, h_t)
            noise = torch.randn(mu.shape, generator=generator, device=mu.device)
            z_t = mu + torch.exp(0.5 * logvar) * noise
            output, sigma = self.decoder(torch.cat([h_t, z_t], dim=1))
            drawn = self.draw(output, sigma, generator)
            # fed back as training fed it: point-mass scalars at their constant 0
            x_t = self.layout.settle_point_masses(drawn.clamp(-1.0, 1.0))
            out.append(x_t if clip else drawn)
        if not out:
            return hidden.new_zeros(hidden.shape[1], 0, self.data_dim)
        return torch.stack(out, 1)
