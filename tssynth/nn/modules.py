"""Encoder and decoder networks shared by the tssynth models."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

SIGMA_MIN = 0.01
SIGMA_MAX = 1.0


def mlp(input_dim: int, hidden_dims: Sequence[int]) -> tuple[nn.Sequential, int]:
    """Stack of Linear + ReLU layers; returns the stack and its output width."""
    layers: list[nn.Module] = []
    width = input_dim
    for hidden in hidden_dims:
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    return nn.Sequential(*layers), width


class Encoder(nn.Module):
    """Map data rows to the mean and log-variance of a diagonal Gaussian posterior.

    Parameters
    ----------
    data_dim : int
    compress_dims : sequence of int
        Widths of the hidden layers.
    embedding_dim : int
        Size of the latent space.
    """

    def __init__(self, data_dim: int, compress_dims: Sequence[int], embedding_dim: int) -> None:
        super().__init__()
        self.body, width = mlp(data_dim, compress_dims)
        self.mu = nn.Linear(width, embedding_dim)
        self.logvar = nn.Linear(width, embedding_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.body(x)
        return self.mu(hidden), self.logvar(hidden)


class Decoder(nn.Module):
    """Map latent codes to raw data-space output and a learned per-column sigma.

    Parameters
    ----------
    embedding_dim : int
    decompress_dims : sequence of int
        Widths of the hidden layers.
    data_dim : int

    Notes
    -----
    ``sigma`` is one learned parameter per output column, kept in
    [``SIGMA_MIN``, ``SIGMA_MAX``] by :meth:`clamp_sigma` after each optimiser step.
    """

    def __init__(self, embedding_dim: int, decompress_dims: Sequence[int], data_dim: int) -> None:
        super().__init__()
        body, width = mlp(embedding_dim, decompress_dims)
        self.body = nn.Sequential(*body, nn.Linear(width, data_dim))
        self.sigma = nn.Parameter(torch.full((data_dim,), 0.1))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.body(z), self.sigma

    @torch.no_grad()
    def clamp_sigma(self) -> None:
        self.sigma.clamp_(SIGMA_MIN, SIGMA_MAX)
