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

import torch

from tssynth.nn.layout import GAUSSIAN
from tssynth.nn.residual import MarginalCalibration, ResidualNoise
from tssynth.nn.tvae import TVAE

_CALIBRATION_VALUES = 500_000  # values per channel the calibration reads, at most
_CALIBRATION_MIN_DRAWS = 2_000  # model windows it draws, at least
_CALIBRATION_MEMORY = 16_000_000  # values it holds at once (wide windows)
_LEGACY_BUFFERS = {  # names in generator files written before the shared modules
    "residual_loc": "residual.loc",
    "residual_factor": "residual.factor",
    "residual_scale": "residual.scale",
    "quantile_source": "calibration.source",
    "quantile_target": "calibration.target",
}


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
        self.residual = ResidualNoise(window * n_channels)
        self.calibration = MarginalCalibration(n_channels)

    def decode_windows(self, z: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Windows of shape ``(n, T, d)`` in the scaled space [-1, 1].

        Without ``noise``: the decoder means (tanh applied). With standard normal
        ``noise`` of shape ``(n, noise_dim)``: a draw of the sampling model, the
        means plus residual noise, calibrated per channel, then clipped to [-1, 1].
        """
        if noise is None:
            return self.decode(z)[0].reshape(len(z), self.window, self.n_channels)
        return self.calibrate(self._noisy_windows(z, noise)).clamp(-1.0, 1.0)

    def _noisy_windows(self, z: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Decoder means plus residual noise, ``(n, T, d)``, not yet clipped.

        The calibration reads these: clipping first would pile draws up at -1 and 1,
        and the calibration sends such a pile (a tie across many of its quantiles) to
        one value in the middle of the training quantiles it spans.
        """
        output = self.decode(z)[0] + self.residual_noise(noise)
        return output.reshape(len(z), self.window, self.n_channels)

    @property
    def noise_dim(self) -> int:
        """Standard normal draws per window that :meth:`decode_windows` needs."""
        return self.residual.noise_dim

    def residual_noise(self, noise: torch.Tensor) -> torch.Tensor:
        """Map standard normal ``(n, noise_dim)`` draws to residual noise ``(n, T * d)``."""
        return self.residual(noise)

    def calibrate(self, windows: torch.Tensor) -> torch.Tensor:
        """Map every channel of ``(n, T, d)`` windows through the marginal calibration."""
        return self.calibration(windows.reshape(-1, self.n_channels)).reshape(windows.shape)

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

        The noise covers all ``T * d`` values of a window (see
        :class:`~tssynth.nn.residual.ResidualNoise`), so a channel that is white
        noise stays white and channels that move together keep doing so.

        Parameters
        ----------
        x : Tensor of shape (n, T * d)
            Scaled training windows.
        generator : torch.Generator
            Orders the windows (wide windows read only the first few thousand).
        batch_size : int
        """
        order = torch.randperm(len(x), generator=generator, device=x.device)
        self.residual.fit(self.residuals(x[rows]) for rows in order.split(batch_size))

    @torch.no_grad()
    def fit_calibration(self, x: torch.Tensor, generator: torch.Generator) -> None:
        """Fit the per-channel marginal calibration from model draws to training values.

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
        self.calibration.reset()
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
                self._noisy_windows(part, torch.randn(len(part), self.noise_dim, **kwargs))
                for part in z.split(4096)
            ]
        )
        if n > per_draw:
            x = x[torch.randperm(n, **kwargs)[:per_draw]]
        self.calibration.fit(sampled.reshape(-1, self.n_channels), x.reshape(-1, self.n_channels))

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        for old, new in _LEGACY_BUFFERS.items():
            if prefix + old in state_dict:
                state_dict[prefix + new] = state_dict.pop(prefix + old)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def elbo(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Per-row evidence lower bound, averaged over posterior draws.

        Parameters
        ----------
        x : Tensor of shape (n, T * d)
        noise : Tensor of shape (n_draws, embedding_dim)
            Standard normal noise of each draw, shared by every row: a row's
            score depends on that row alone, not on its batch or position.

        Returns
        -------
        Tensor of shape (n,)
        """
        total = x.new_zeros(len(x))
        for draw in noise:
            reconstruction, kl = self.negative_elbo(x, noise=draw, unseen=True)
            total -= reconstruction + kl
        return total / len(noise)
