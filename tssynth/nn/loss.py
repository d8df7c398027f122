"""The one reconstruction loss and the KL terms shared by every tssynth model."""

from __future__ import annotations

import math

import torch

from tssynth.nn.layout import SpanLayout

_HALF_LOG_TWO_PI = 0.5 * math.log(2 * math.pi)


def span_nll(
    output: torch.Tensor,
    sigma: torch.Tensor,
    target: torch.Tensor,
    layout: SpanLayout,
    unseen: bool = False,
    stand_in: torch.Tensor | None = None,
) -> torch.Tensor:
    """Negative log-likelihood of ``target`` under the decoder output, per row.

    Gaussian columns: ``N(target; tanh(output), sigma^2)``, except in rows whose
    value is a point-mass mode (its scalar is a constant). Softmax spans:
    cross-entropy of the one-hot target against ``softmax(output)`` within the
    span (zero for an all-zero target). Everything is computed with tensor ops
    over all spans at once.

    Parameters
    ----------
    output : Tensor of shape (n, data_dim)
        Raw decoder output.
    sigma : Tensor of shape (data_dim,) or (n, data_dim)
        Standard deviations of the Gaussian columns (other entries unused).
    target : Tensor of shape (n, data_dim)
        Model-array rows (Gaussian columns in [-1, 1], one-hot softmax spans).
    layout : SpanLayout
    unseen : bool, default=False
        Score an all-zero span (a category unseen in training, when scoring new
        data) as the span's least likely category, so that an unknown value lowers
        the likelihood rather than dropping out of it. Not for training: a category
        left out of a private release should train nothing.
    stand_in : Tensor of shape (n, data_dim), bool, optional
        Entries that stand in for a missing value (see
        :meth:`~tssynth.data.transformer.DataTransformer.stand_ins`): left out of
        the likelihood, which then scores the observed values and the missing
        indicators only.

    Returns
    -------
    Tensor of shape (n,)
    """
    nll = output.new_zeros(output.shape[0])
    g = layout.gaussian_dims
    if g.numel():
        # index_select, not fancy indexing: several times faster forward and backward.
        sd = sigma.index_select(-1, g)
        err = (target.index_select(1, g) - torch.tanh(output.index_select(1, g))) / sd
        terms = 0.5 * err**2 + torch.log(sd) + _HALF_LOG_TWO_PI
        skip = layout.point_mass_rows(target)  # a constant scalar: nothing to learn
        if stand_in is not None:
            given = stand_in.index_select(1, g)
            skip = given if skip is None else skip | given
        if skip is not None:
            terms = terms.masked_fill(skip, 0.0)
        nll = nll + terms.sum(dim=1)
    if layout.n_segments:
        logits = output.index_select(1, layout.softmax_dims)
        onehot = target.index_select(1, layout.softmax_dims)
        seen = layout.segment_sum(onehot)  # 0: an unseen category (a stand-in span is set)
        if stand_in is not None:  # its spans emptied: no term
            onehot = onehot.masked_fill(stand_in.index_select(1, layout.softmax_dims), 0.0)
        # sum_j t_j (lse - l_j): a span whose target is all zero (a category left out
        # of a private release) adds nothing, instead of rewarding logits -> -inf.
        mass = seen if stand_in is None else layout.segment_sum(onehot)
        chosen = (logits * onehot).sum(dim=1)
        normaliser = layout.segment_logsumexp(logits)
        nll = nll + (normaliser * mass).sum(dim=1) - chosen
        if unseen:
            least = -layout.segment_max(-logits)
            nll = nll + ((normaliser - least) * (seen == 0)).sum(dim=1)
    return nll


def standard_normal_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL( N(mu, exp(logvar)) || N(0, I) ), summed over the last dimension."""
    return 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def gaussian_kl(
    mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor
) -> torch.Tensor:
    """KL( N(mu_q, exp(logvar_q)) || N(mu_p, exp(logvar_p)) ), summed over the last dimension."""
    return 0.5 * (
        logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1.0
    ).sum(dim=-1)
