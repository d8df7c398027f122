"""Vectorised draws from normal distributions truncated to an interval."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri


def truncated_normal(
    mean: np.ndarray,
    sd: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """One draw of ``N(mean, sd**2)`` conditioned on ``[low, high]`` per entry.

    Inverse-CDF sampling: one uniform draw per entry, no rejection loop. Intervals
    wholly above the mean are mirrored below it, where ``ndtr`` keeps its relative
    precision, so an interval 30 standard deviations out still gets a spread of
    values; one beyond float range of the CDF (about 37 standard deviations) gives
    its bound nearest the mean.

    Parameters
    ----------
    mean, sd, low, high : ndarray of one shape
        ``sd > 0`` and ``low <= high``, finite.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of the same shape, every value inside its ``[low, high]``.
    """
    a = (low - mean) / sd
    b = (high - mean) / sd
    above = a > 0
    lower_a = np.where(above, -b, a)
    lower_b = np.where(above, -a, b)
    p_a, p_b = ndtr(lower_a), ndtr(lower_b)
    with np.errstate(divide="ignore"):  # ndtri(0) is -inf: handled below
        z = ndtri(p_a + rng.random(np.shape(mean)) * (p_b - p_a))
    beyond = ~np.isfinite(z)
    if beyond.any():  # both bounds past the CDF's float range: the bound nearest the mean
        z[beyond] = lower_b[beyond]
    values = mean + sd * np.where(above, -z, z)
    return np.clip(values, low, high)
