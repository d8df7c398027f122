"""Encoder and decoder networks shared by the tssynth models."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

SIGMA_MIN = 0.01
SIGMA_MAX = 1.0
# Under DP-SGD, clipping caps the large restoring gradient of the few badly
# reconstructed rows, and sigma would sink to SIGMA_MIN (Adult: NLL x10).
PRIVATE_SIGMA_MIN = 0.1
# Far outside any trained posterior: bounds exp(logvar) for wild inputs (a window with a
# spike of 1e4 gave an infinite variance, then NaN scores).
_ENCODER_LOGVAR = (-30.0, 20.0)


def mlp(input_dim: int, hidden_dims: Sequence[int]) -> tuple[nn.Sequential, int]:
    """Stack of Linear + ReLU layers; returns the stack and its output width."""
    layers: list[nn.Module] = []
    width = input_dim
    for hidden in hidden_dims:
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    return nn.Sequential(*layers), width


class LearnedScale(nn.Module):
    """A learned per-column standard deviation, repeated for every row of the input.

    Returning one copy per row (a broadcast view, no copy in memory) rather than
    the bare parameter gives differentially private training a per-sample
    gradient of sigma (see :mod:`tssynth.nn.private`).

    Parameters
    ----------
    dim : int
        Number of columns.
    initial : float, default=0.1
    """

    def __init__(self, dim: int, initial: float = 0.1) -> None:
        super().__init__()
        self.sigma = nn.Parameter(torch.full((dim,), initial))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sigma.expand(*x.shape[:-1], self.sigma.numel())


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
        return self.mu(hidden), self.logvar(hidden).clamp(*_ENCODER_LOGVAR)


class Decoder(nn.Module):
    """Map latent codes to raw data-space output and a learned per-column sigma.

    Parameters
    ----------
    embedding_dim : int
    decompress_dims : sequence of int
        Widths of the hidden layers.
    data_dim : int
    learns_sigma : bool, default=True
        False when no output column is Gaussian: sigma is then never read, and
        stays out of training (differentially private training needs a per-sample
        gradient of every trained parameter).

    Notes
    -----
    ``sigma`` is one learned parameter per output column (a
    :class:`LearnedScale`), kept in [``sigma_min``, ``SIGMA_MAX``] by
    :meth:`clamp_sigma` after each optimiser step (``sigma_min`` is
    ``SIGMA_MIN``, or ``PRIVATE_SIGMA_MIN`` for differentially private training).
    ``forward`` returns it repeated for every row; :attr:`sigma` is the
    ``(data_dim,)`` vector.
    """

    def __init__(
        self,
        embedding_dim: int,
        decompress_dims: Sequence[int],
        data_dim: int,
        learns_sigma: bool = True,
    ) -> None:
        super().__init__()
        body, width = mlp(embedding_dim, decompress_dims)
        self.body = nn.Sequential(*body, nn.Linear(width, data_dim))
        self.scale = LearnedScale(data_dim)
        self.scale.sigma.requires_grad_(learns_sigma)
        self.sigma_min = SIGMA_MIN

    @property
    def sigma(self) -> nn.Parameter:
        """The learned standard deviations, shape ``(data_dim,)``."""
        return self.scale.sigma

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Detached: sigma does not depend on z, and opacus's backward hook on the
        # scale fires only when no input of it requires a gradient.
        return self.body(z), self.scale(z.detach())

    @torch.no_grad()
    def start_at(self, dims: torch.Tensor, logits: torch.Tensor) -> None:
        """Set the output bias of columns ``dims`` to ``logits``.

        Given the log training shares of softmax columns (missing-value indicators,
        categories the data never takes), an untrained decoder draws them at their
        training rates, not at even odds.
        """
        bias = self.body[-1].bias
        bias.index_copy_(0, dims.to(bias.device), logits.to(bias.device, bias.dtype))

    @torch.no_grad()
    def clamp_sigma(self) -> None:
        self.sigma.clamp_(self.sigma_min, SIGMA_MAX)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        # Generator files written before LearnedScale stored "<prefix>sigma".
        if prefix + "sigma" in state_dict:
            state_dict[prefix + "scale.sigma"] = state_dict.pop(prefix + "sigma")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
