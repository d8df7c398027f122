"""The window VAE module: the tabular VAE over whole flattened windows.

A window of ``T`` steps and ``d`` channels is one row of ``T * d`` Gaussian
columns (time-major: step 0's channels, then step 1's, ...). The encoder,
decoder, learned sigma, span loss, KL term and latent sampling distribution are
those of :class:`tssynth.nn.tvae.TVAE`; this module adds the window shape and the
sampling model of what the decoder means miss: correlated Gaussian residual noise
and a per-channel quantile calibration, both fitted after training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from tssynth.nn.layout import GAUSSIAN
from tssynth.nn.tvae import TVAE

_FULL_COVARIANCE_WIDTH = 2048  # T * d up to which the residual noise has its full covariance
_LOW_RANK = 512  # principal directions of wider residuals
_LOW_RANK_ROWS = 2048  # rows they are estimated from
_CALIBRATION_LEVELS = 1001  # quantiles per channel of the marginal calibration
_CALIBRATION_VALUES = 500_000  # values per channel it reads, at most
_CALIBRATION_MIN_DRAWS = 2_000  # model windows it draws, at least
_CALIBRATION_MEMORY = 16_000_000  # values it holds at once (wide windows; torch.quantile's cap)


class DenseVAE(TVAE):
    """Dense (MLP) variational autoencoder over ``(T, d)`` windows.

    Parameters
    ----------
    window : int
        Steps per window ``T``.
    n_channels : int
        Channels per step ``d``.
    embedding_dim : int
    compress_dims, decompress_dims : sequence of int
    loss_factor : float
        Weight of the reconstruction term against the KL term.

    Notes
    -----
    Inputs of :meth:`loss`, :meth:`encode` and :meth:`negative_elbo` are flat
    ``(n, T * d)`` tensors scaled to [-1, 1]; :meth:`decode_windows` returns
    ``(n, T, d)``.
    """

    def __init__(
        self,
        window: int,
        n_channels: int,
        embedding_dim: int,
        compress_dims: Sequence[int],
        decompress_dims: Sequence[int],
        loss_factor: float,
    ) -> None:
        spans = [(0, window * n_channels, GAUSSIAN)]
        super().__init__(spans, embedding_dim, compress_dims, decompress_dims, loss_factor)
        self.window = window
        self.n_channels = n_channels
        width = window * n_channels
        # Residual noise: loc (p,) + factor (p, r) @ e_r + scale (p,) * e_p; none until fitted.
        self.register_buffer("residual_loc", torch.zeros(width))
        self.register_buffer("residual_factor", torch.zeros(width, 0))
        self.register_buffer("residual_scale", torch.zeros(width))
        # Per-channel quantiles (d, L) of the sampled and of the training values:
        # the identity on [-1, 1] until fitted.
        identity = torch.tensor([-1.0, 1.0]).repeat(n_channels, 1)
        self.register_buffer("quantile_source", identity.clone())
        self.register_buffer("quantile_target", identity.clone())

    def decode_windows(self, z: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Windows of shape ``(n, T, d)`` in the scaled space [-1, 1].

        Without ``noise``: the decoder means (tanh applied). With standard normal
        ``noise`` of shape ``(n, noise_dim)``: a draw of the sampling model, the
        means plus residual noise, clipped to [-1, 1] and calibrated per channel.
        """
        output, _ = self.decode(z)
        if noise is not None:
            output = (output + self.residual_noise(noise)).clamp(-1.0, 1.0)
        windows = output.reshape(len(z), self.window, self.n_channels)
        return windows if noise is None else self.calibrate(windows)

    @property
    def noise_dim(self) -> int:
        """Standard normal draws per window that :meth:`decode_windows` needs."""
        rank = self.residual_factor.shape[1]
        return rank + (len(self.residual_scale) if bool(self.residual_scale.any()) else 0)

    def residual_noise(self, noise: torch.Tensor) -> torch.Tensor:
        """Map standard normal ``(n, noise_dim)`` draws to residual noise ``(n, T * d)``."""
        rank = self.residual_factor.shape[1]
        out = self.residual_loc + noise[:, :rank] @ self.residual_factor.T
        if noise.shape[1] > rank:
            out = out + noise[:, rank:] * self.residual_scale
        return out

    @torch.no_grad()
    def set_residual_noise(self, loc: Any, factor: Any, scale: Any) -> None:
        """Residual noise ``loc + factor @ e + scale * e'`` (shapes (p,), (p, r), (p,))."""
        self.residual_loc, self.residual_factor, self.residual_scale = (
            torch.as_tensor(a, dtype=self.residual_loc.dtype, device=self.residual_loc.device)
            for a in (loc, factor, scale)
        )

    @torch.no_grad()
    def set_calibration(self, source: Any, target: Any) -> None:
        """Per-channel quantiles ``(d, L)`` of sampled (source) and training (target) values."""
        self.quantile_source, self.quantile_target = (
            torch.as_tensor(a, dtype=self.quantile_source.dtype, device=self.quantile_source.device)
            for a in (source, target)
        )

    def calibrate(self, windows: torch.Tensor) -> torch.Tensor:
        """Map every channel through target-quantile o source-CDF (piecewise linear).

        A value tied with several source quantiles (a point mass, such as values
        clipped at the range's end) goes to the middle of their levels.
        """
        n, T, d = windows.shape
        values = windows.permute(2, 0, 1).reshape(d, -1).contiguous()
        source, target = self.quantile_source, self.quantile_target
        levels = source.shape[1]
        left = torch.searchsorted(source, values)
        right = torch.searchsorted(source, values, right=True)
        below = (left - 1).clamp(0, levels - 2)
        low, high = source.gather(1, below), source.gather(1, below + 1)
        step = torch.where(high > low, (values - low) / (high - low), torch.zeros_like(values))
        position = torch.where(
            right > left, (left + right - 1).to(values.dtype) / 2, below + step.clamp(0.0, 1.0)
        ).clamp(0, levels - 1)
        index = position.floor().long().clamp(max=levels - 2)
        start = target.gather(1, index)
        out = start + (position - index) * (target.gather(1, index + 1) - start)
        return out.reshape(d, n, T).permute(1, 2, 0)

    @torch.no_grad()
    def residuals(self, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """What the decoder means of the posterior means miss, ``x - decode(encode(x))``."""
        parts = [rows - self.decode(self.encode(rows))[0] for rows in x.split(batch_size)]
        return (
            torch.cat(parts).double()
            if parts
            else x.new_zeros((0, x.shape[1]), dtype=torch.float64)
        )

    @torch.no_grad()
    def fit_residual_noise(
        self, x: torch.Tensor, generator: torch.Generator, batch_size: int = 4096
    ) -> None:
        """Fit the residual noise to the training windows' reconstruction residuals.

        Up to ``_FULL_COVARIANCE_WIDTH`` values per window the noise has their full
        covariance (across steps and channels, so a channel that is white noise
        stays white and two channels that move together keep moving together);
        wider windows get the leading ``_LOW_RANK`` principal directions of a row
        subsample plus a per-value remainder.

        Parameters
        ----------
        x : Tensor of shape (n, T * d)
            Scaled training windows.
        generator : torch.Generator
            Picks the subsample of wide windows.
        batch_size : int
        """
        n, width = x.shape
        if n < 2:
            return
        if width <= _FULL_COVARIANCE_WIDTH:
            kwargs = {"dtype": torch.float64, "device": x.device}
            total, outer = torch.zeros(width, **kwargs), torch.zeros(width, width, **kwargs)
            for rows in x.split(batch_size):  # streaming moments: memory O(width^2)
                residual = self.residuals(rows)
                total += residual.sum(0)
                outer += residual.T @ residual
            loc = total / n
            covariance = (outer - n * torch.outer(loc, loc)) / (n - 1)
            eigenvalues, vectors = torch.linalg.eigh(covariance)
            keep = eigenvalues > eigenvalues[-1].clamp(min=0.0) * 1e-9
            factor = vectors[:, keep] * eigenvalues[keep].sqrt()
            self.set_residual_noise(loc, factor, torch.zeros(width))
            return
        rows = x[torch.randperm(n, generator=generator, device=x.device)[:_LOW_RANK_ROWS]]
        residual = self.residuals(rows)
        loc = residual.mean(0)
        centred = residual - loc
        # Principal directions from the (m, m) Gram matrix: cheap when m << width.
        eigenvalues, vectors = torch.linalg.eigh(centred @ centred.T)
        top = eigenvalues.flip(0)[:_LOW_RANK].clamp(min=0.0)
        factor = centred.T @ vectors.flip(1)[:, :_LOW_RANK] / (len(rows) - 1) ** 0.5
        factor = factor[:, top > top[0] * 1e-9]
        remainder = (centred.var(0) - (factor**2).sum(1)).clamp(min=0.0)
        self.set_residual_noise(loc, factor, remainder.sqrt())

    @torch.no_grad()
    def fit_calibration(self, x: torch.Tensor, generator: torch.Generator) -> None:
        """Fit the per-channel quantile map from sampled to training values.

        The decoder means plus Gaussian noise get the shape of each channel's
        distribution wrong where it is not Gaussian: white noise that is uniform,
        a reading that is zero most of the time, a spiky consumption. Mapping each
        channel's sampled values through the training quantiles at their sampled
        level restores the marginal and keeps the order, so the dependence across
        steps and channels stays the model's.

        Parameters
        ----------
        x : Tensor of shape (n, T * d)
            Scaled training windows.
        generator : torch.Generator
            Source of the model draws.
        """
        n = len(x)
        if n == 0:
            return
        identity = torch.tensor([-1.0, 1.0], device=x.device).repeat(self.n_channels, 1)
        self.set_calibration(identity, identity)
        per_draw = max(
            1,
            min(
                _CALIBRATION_VALUES // self.window,
                _CALIBRATION_MEMORY // (self.window * self.n_channels),
            ),
        )
        draws = min(max(n, _CALIBRATION_MIN_DRAWS), per_draw)
        kwargs = {"generator": generator, "device": x.device}
        z = self.draw_latents(draws, generator)
        sampled = torch.cat(
            [
                self.decode_windows(part, torch.randn(len(part), self.noise_dim, **kwargs))
                for part in z.split(4096)
            ]
        )
        if n > per_draw:
            x = x[torch.randperm(n, **kwargs)[:per_draw]]
        training = x.reshape(len(x), self.window, self.n_channels)
        levels = torch.linspace(0.0, 1.0, _CALIBRATION_LEVELS, device=x.device)
        self.set_calibration(
            _channel_quantiles(sampled, levels), _channel_quantiles(training, levels)
        )

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        # Files written before the residual noise and calibration hold neither: keep
        # the defaults (no noise, identity); otherwise take the stored shapes.
        for name in (
            "residual_loc",
            "residual_factor",
            "residual_scale",
            "quantile_source",
            "quantile_target",
        ):
            stored = state_dict.setdefault(prefix + name, getattr(self, name))
            setattr(self, name, getattr(self, name).new_empty(stored.shape))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def elbo(self, x: torch.Tensor, n_draws: int, generator: torch.Generator) -> torch.Tensor:
        """Per-row evidence lower bound, averaged over ``n_draws`` posterior draws.

        Parameters
        ----------
        x : Tensor of shape (n, T * d)
        n_draws : int
        generator : torch.Generator
            Source of the reparameterisation noise (seed it for reproducible scores).

        Returns
        -------
        Tensor of shape (n,)
        """
        total = x.new_zeros(len(x))
        for _ in range(n_draws):
            reconstruction, kl = self.negative_elbo(x, generator)
            total -= reconstruction + kl
        return total / n_draws


def _channel_quantiles(windows: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Quantiles ``(d, L)`` of every channel of ``(n, T, d)`` windows (linear interpolation)."""
    values = windows.permute(2, 0, 1).reshape(windows.shape[2], -1)  # rows: faster to sort
    return torch.quantile(values, levels, dim=1).T.contiguous()
