"""DP-SGD for tssynth modules through opacus (the optional ``privacy`` extra).

Opacus computes per-sample gradients with hooks on the layers it knows
(``nn.Linear`` here, also when one layer runs once per time step). Two parts of
our models are not such layers:

- the learned decoder sigma, a bare parameter: it lives in
  :class:`~tssynth.nn.modules.LearnedScale`, whose output is the sigma repeated
  for every row, so the per-sample gradient of sigma is exactly the gradient of
  the loss with respect to that row's copy (summed over time steps); the grad
  sampler below registers this with opacus;
- ``nn.GRU`` (DVAE): opacus's own :class:`opacus.layers.DPGRU`, built from
  per-step linear cells that opacus hooks, replaces it when a DVAE is trained
  privately (see :mod:`tssynth.nn.dvae`).

Batches are Poisson-sampled (each record joins a step's batch independently with
probability ``batch_size / n``), as the RDP accountant of the subsampled
Gaussian mechanism assumes. Clipping is opacus's ghost clipping: a first
backward pass gives every record's gradient norm (for linear layers without
materialising per-sample gradients; the learned sigma through its grad sampler),
a second pass back-propagates the per-record losses scaled by
``min(1, max_grad_norm / norm)``, which sums the clipped gradients; opacus's
optimiser then adds Gaussian noise and averages over the expected batch size.
This costs about two backward passes instead of a (batch, parameters) tensor.
Ghost clipping cannot handle a layer that runs several times in one forward pass
(the DVAE's per-step cells, flagged by ``reuses_layers = True`` on the module);
such modules get opacus's standard per-sample gradients, summed over the calls,
clipped and noised by ``DPOptimizer``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from tssynth.exceptions import InvalidParameterError
from tssynth.nn.modules import LearnedScale

INSTALL_HINT = "pip install 'tssynth[privacy]' (or: pip install opacus)"
# Rényi orders of the accountant: opacus's defaults extended upwards, so that
# few-step (small data, large batch) runs get a tight bound too.
RDP_ORDERS = (
    [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)) + [2.0**k for k in range(6, 12)]
)


def require_opacus() -> Any:
    """Import opacus or raise a clear error naming the extra to install."""
    try:
        import opacus
    except ImportError as exc:
        raise InvalidParameterError(
            f"epsilon is set, so training is differentially private, which needs opacus: "
            f"{INSTALL_HINT}."
        ) from exc
    _register_grad_samplers()
    return opacus


_REGISTERED = False


def _register_grad_samplers() -> None:
    global _REGISTERED
    if _REGISTERED:
        return
    from opacus.grad_sample import register_grad_sampler

    @register_grad_sampler(LearnedScale)
    def _learned_scale_grad_sample(
        layer: LearnedScale, activations: Any, backprops: torch.Tensor
    ) -> dict[torch.nn.Parameter, torch.Tensor]:
        # output[i, ..., d] = sigma[d]: d loss_i / d sigma = sum over the row's copies.
        n = backprops.shape[0]
        return {layer.sigma: backprops.reshape(n, -1, backprops.shape[-1]).sum(dim=1)}

    _REGISTERED = True


@dataclass(frozen=True)
class PrivacyConfig:
    """DP-SGD settings of the training loop.

    Attributes
    ----------
    epsilon : float
        Budget of the gradient steps (the data layer's share already taken off).
    delta : float
    max_grad_norm : float
        Per-sample gradient clipping norm.
    releases : tuple of float, default=()
        Noise multipliers of Gaussian mechanisms on the whole data set (sensitivity
        1 after scaling) that the caller runs after training; the accountant counts
        them with the training steps, and the training noise is calibrated so that
        everything together stays within ``epsilon``.
    """

    epsilon: float
    delta: float
    max_grad_norm: float
    releases: tuple[float, ...] = ()


@dataclass
class PrivateTraining:
    """A module and optimiser made private, with its accountant.

    Build it with :func:`make_private`; call :meth:`batch` for each step's
    Poisson-sampled indices, :meth:`finish` at the end.
    """

    wrapped: Any
    optimizer: Any
    accountant: Any
    noise_multiplier: float
    sample_rate: float
    steps_per_epoch: int
    delta: float
    n: int
    ghost: bool

    def backward(self, per_record_loss: torch.Tensor) -> None:
        """Back-propagate so that the optimiser step sums the clipped per-record gradients."""
        if not self.ghost:
            per_record_loss.mean().backward()  # DPOptimizer clips the per-sample gradients
            return
        from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping

        DPTensorFastGradientClipping(
            self.wrapped, self.optimizer, per_record_loss, loss_reduction="mean"
        ).backward()

    def batch(self, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        """Indices of one Poisson-sampled batch (may be empty)."""
        chosen = torch.rand(self.n, generator=generator, device=device) < self.sample_rate
        return chosen.nonzero().squeeze(1)

    def record_step(self) -> None:
        self.accountant.step(noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate)

    @property
    def epsilon(self) -> float:
        """Epsilon spent so far (RDP accountant)."""
        if not self.accountant.history:
            return 0.0
        return _epsilon(self.accountant, self.delta)

    def finish(self) -> torch.nn.Module:
        """Remove opacus's hooks and per-sample buffers; return the plain module."""
        return self.wrapped.to_standard_module()


def releases_epsilon(noise_multipliers: tuple[float, ...], delta: float) -> float:
    """Epsilon of full-batch Gaussian releases alone.

    Parameters
    ----------
    noise_multipliers : tuple of float
        One per release (noise standard deviation over the L2 sensitivity).
    delta : float

    Returns
    -------
    float
        Their epsilon by opacus's RDP accountant at ``delta``.
    """
    require_opacus()
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()
    accountant.history = [(float(sigma), 1.0, 1) for sigma in noise_multipliers]
    return _epsilon(accountant, delta)


def _epsilon(accountant: Any, delta: float) -> float:
    """The accountant's epsilon at ``delta``, at least 0: its conversion from RDP goes
    below zero for very large noise (-3.9e-05 at epsilon=1e-6), which no budget is."""
    return max(0.0, float(accountant.get_epsilon(delta=delta, alphas=RDP_ORDERS)))


def _calibrate_noise(
    config: PrivacyConfig, sample_rate: float, steps: int, releases: list[tuple[float, float, int]]
) -> float:
    """Smallest training noise multiplier keeping steps and releases within ``config.epsilon``."""
    from opacus.accountants import RDPAccountant

    def spent(sigma: float) -> float:
        accountant = RDPAccountant()
        accountant.history = [*releases, (sigma, sample_rate, steps)]
        return _epsilon(accountant, config.delta)

    low, high = 0.0, 1.0
    while spent(high) > config.epsilon:
        low, high = high, 2.0 * high
        if high > 1e4:
            raise InvalidParameterError(
                f"epsilon={config.epsilon:.3g} (after the data layer's share) is too small for "
                "training; raise epsilon."
            )
    while high - low > 0.01 * high:  # the same 1 % tolerance as opacus's search
        middle = (low + high) / 2.0
        low, high = (low, middle) if spent(middle) <= config.epsilon else (middle, high)
    return high


def make_private(
    module: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    config: PrivacyConfig,
    n: int,
    batch_size: int,
    epochs: int,
    generator: torch.Generator,
) -> PrivateTraining:
    """Wrap ``module`` for per-sample gradients and ``optimizer`` for clipping and noise.

    The noise multiplier is the smallest that keeps the RDP accountant's epsilon
    at most ``config.epsilon`` after ``epochs`` epochs of ``n / batch_size``
    Poisson-sampled steps and ``config.releases``.
    """
    require_opacus()
    from opacus import GradSampleModule
    from opacus.accountants import RDPAccountant
    from opacus.grad_sample import GradSampleModuleFastGradientClipping
    from opacus.optimizers import DPOptimizer, DPOptimizerFastGradientClipping

    sample_rate = min(1.0, batch_size / n)
    steps_per_epoch = max(1, round(1.0 / sample_rate))
    releases = [(float(sigma), 1.0, 1) for sigma in config.releases]
    noise_multiplier = _calibrate_noise(config, sample_rate, epochs * steps_per_epoch, releases)
    accountant = RDPAccountant()
    accountant.history = list(releases)  # run after training, counted from the start
    ghost = not getattr(module, "reuses_layers", False)
    if ghost:
        wrapped = GradSampleModuleFastGradientClipping(
            module,
            loss_reduction="mean",
            max_grad_norm=config.max_grad_norm,
            use_ghost_clipping=True,
        )
    else:
        wrapped = GradSampleModule(module, loss_reduction="mean")
    optimizer_class = DPOptimizerFastGradientClipping if ghost else DPOptimizer
    dp_optimizer = optimizer_class(
        optimizer,
        noise_multiplier=noise_multiplier,
        max_grad_norm=config.max_grad_norm,
        expected_batch_size=max(1, round(sample_rate * n)),
        loss_reduction="mean",
        generator=generator,
    )
    return PrivateTraining(
        wrapped=wrapped,
        optimizer=dp_optimizer,
        accountant=accountant,
        noise_multiplier=float(noise_multiplier),
        sample_rate=sample_rate,
        steps_per_epoch=steps_per_epoch,
        delta=config.delta,
        n=n,
        ghost=ghost,
    )
