"""The window VAE module: the tabular VAE over whole flattened windows.

A window of ``T`` steps and ``d`` channels is one row of ``T * d`` Gaussian
columns (time-major: step 0's channels, then step 1's, ...). The encoder,
decoder, learned sigma, span loss, KL term and latent sampling distribution are
those of :class:`tssynth.nn.tvae.TVAE`; this module only adds the window shape.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tssynth.nn.layout import GAUSSIAN
from tssynth.nn.tvae import TVAE


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

    def decode_windows(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder means (tanh applied) as windows of shape ``(n, T, d)``."""
        output, _ = self.decode(z)
        return output.reshape(len(z), self.window, self.n_channels)

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
