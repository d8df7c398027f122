"""Differentially private statistics for the data layer.

With ``epsilon`` set, a synthesizer's data layer must not read raw values either:
category sets, frequent values (point-mass modes, missing-value indicators),
value bounds and sequence lengths come from the mechanisms here, each spending a
share of a :class:`DataBudget`.

Neighbouring datasets differ by one *record* (a table row, a window, a whole
sequence). A record may hold several values of one column (the steps of a
sequence); each of its values then carries the weight ``1 / (values in the
record)``, so one record moves weighted counts and ranks by at most 1 in total
and every mechanism below has sensitivity 1.

- :func:`release_frequent` — the stability-based histogram (Korolova et al. 2009,
  Bun et al. 2016): Laplace noise on the weighted count of every value seen, and
  only values whose noisy count clears ``1 + ln(k / 2 delta) / epsilon`` are
  released, so a value held by a single record is released with probability at
  most ``delta``. Works on unbounded domains (any category, any number).
- :func:`private_quantiles` — the exponential mechanism over the intervals
  between sorted values (Smith 2011), in ``asinh`` space on a fixed domain wide
  enough for any float64 timestamp, so no public bounds are needed.
- :func:`private_range` — a noisy histogram on fixed bins finds the coarse
  domain, then two quantiles inside it, widened by a margin so that the clipped
  tails stay small; the quantile level adapts to the budget and the number of
  records.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tssynth.exceptions import PrivacyWarning, caller_stacklevel

_ASINH_LIMIT = 50.0  # asinh(±2.6e21): covers float amounts and int64 nanosecond timestamps
_COARSE_BIN = 0.5  # width of the fixed histogram bins in asinh space (a factor 1.65)
_SMALLEST = 1e-6  # below |x| = 0.5 the bins go on by the same factor down to this


def _coarse_edges() -> np.ndarray:
    """Fixed bin edges in asinh space: 0.5 wide, and by a factor 1.65 in x below 0.5.

    asinh is linear near zero, so uniform bins there would put every value under 0.5
    (rates, probabilities) in one bin, whose empty part the quantiles would then
    favour; the extra bins keep the same relative width down to ``_SMALLEST``.
    """
    outer = np.arange(_COARSE_BIN, _ASINH_LIMIT + _COARSE_BIN / 2, _COARSE_BIN)
    factor = np.exp(_COARSE_BIN)
    small = np.sinh(_COARSE_BIN) / factor ** np.arange(1, 64)
    inner = np.arcsinh(small[small >= _SMALLEST])
    positive = np.concatenate([inner[::-1], outer])
    return np.concatenate([-positive[::-1], positive])


_EDGES = _coarse_edges()


@dataclass
class DataBudget:
    """The share of a privacy budget that the data layer may spend.

    The data layer first counts the mechanisms it needs (:meth:`reserve`), then
    each mechanism takes an equal share (:attr:`per_unit`). Basic sequential
    composition: the spent epsilon and delta are the sums over mechanisms.

    Parameters
    ----------
    epsilon, delta : float
        What the data layer may spend in all.
    rng : numpy.random.Generator
        Source of the mechanisms' noise.
    max_values_per_record : int, default=1
        Most values of one column a record holds (1 for tables; the longest
        sequence for panels).
    """

    epsilon: float
    delta: float
    rng: np.random.Generator
    max_values_per_record: int = 1
    units: int = 0
    spent: list[tuple[str, float]] = field(default_factory=list)

    def reserve(self, units: int) -> None:
        """Announce ``units`` more mechanisms before any of them runs."""
        self.units += units

    @property
    def per_unit(self) -> tuple[float, float]:
        """Epsilon and delta of one mechanism."""
        units = max(self.units, 1)
        return self.epsilon / units, self.delta / units

    def charge(self, what: str) -> tuple[float, float]:
        """Record one mechanism's spend and return its (epsilon, delta)."""
        if len(self.spent) >= self.units:
            raise RuntimeError(f"{what}: more mechanisms ran than were reserved on the budget.")
        epsilon, delta = self.per_unit
        self.spent.append((what, epsilon))
        return epsilon, delta

    @property
    def epsilon_spent(self) -> float:
        """Sum of the epsilons of the mechanisms that ran."""
        return float(sum(e for _, e in self.spent))

    @property
    def delta_spent(self) -> float:
        """Sum of the deltas of the mechanisms that ran."""
        return len(self.spent) * self.per_unit[1]


def release_frequent(
    values: np.ndarray,
    weights: np.ndarray | None,
    budget: DataBudget,
    what: str,
    per_record: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Values whose noisy weighted count clears the stability threshold.

    Parameters
    ----------
    values : ndarray
        One value per observation; NaN / None count as a value of their own.
    weights : ndarray or None
        Per-observation weights (summing to at most 1 per record); None means 1.
    budget : DataBudget
    what : str
        Label of this mechanism in the budget's ledger.
    per_record : int, optional
        Most distinct values one record holds here (default: the budget's
        ``max_values_per_record``).

    Returns
    -------
    released : ndarray
        The released values (object array; missing values as NaN).
    noisy_counts : ndarray of float
        Their noisy weighted counts (all above the threshold).
    """
    epsilon, delta = budget.charge(what)
    codes, uniques = _factorize(values)
    counts = np.bincount(codes, weights=weights, minlength=len(uniques)).astype(np.float64)
    noisy = counts + budget.rng.laplace(0.0, 1.0 / epsilon, size=counts.shape)
    per_record = budget.max_values_per_record if per_record is None else per_record
    threshold = 1.0 + np.log(per_record / (2.0 * delta)) / epsilon
    keep = noisy > threshold
    return uniques[keep], noisy[keep]


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=False)
    uniques = np.asarray(uniques, dtype=object)
    missing = pd.isna(uniques)
    uniques[missing] = np.nan
    return codes.astype(np.int64), uniques


_DECLARE_BOUNDS = (
    "Declare a column's bounds as public schema (fit(..., metadata={'bounds': "
    "{column: [low, high]}})), or give more records or a larger epsilon."
)


_LATENT_ADVICE = (
    "The latent codes are then clipped to a radius chosen from noise; give more records "
    "or a larger epsilon (latent codes have no public bounds to declare)."
)


def _coarse_domain(
    points: np.ndarray,
    weights: np.ndarray,
    budget: DataBudget,
    what: str,
    advice: str = _DECLARE_BOUNDS,
) -> tuple[float, float]:
    """Span (in asinh space) of the fixed bins whose noisy weighted count is clearly not noise.

    One budget unit: Laplace noise on a histogram with fixed, data-independent
    bins (sensitivity 1); bins clearing ``ln(bins / 0.01) / epsilon`` (what pure
    noise passes with probability 1 %) bound the domain; without any, the
    fullest noisy bin does, with a :class:`~tssynth.exceptions.PrivacyWarning`.
    """
    epsilon, _ = budget.charge(what)
    edges = _EDGES
    bins = np.clip(np.searchsorted(edges, points, side="right") - 1, 0, len(edges) - 2)
    counts = np.bincount(bins, weights=weights, minlength=len(edges) - 1)
    noisy = counts + budget.rng.laplace(0.0, 1.0 / epsilon, size=counts.shape)
    threshold = np.log(len(counts) / 0.01) / epsilon
    clear = np.flatnonzero(noisy > threshold)
    if clear.size == 0:
        warnings.warn(
            f"{what}: no range of values stands out from the privacy noise (the fullest "
            f"of the fixed bins holds about {counts.max():.0f} of {counts.sum():.0f} records; "
            f"noise needs {threshold:.0f} at epsilon {epsilon:.3g} per mechanism), so the "
            f"release may lie far from the data. {advice}",
            PrivacyWarning,
            stacklevel=caller_stacklevel(),
        )
        clear = np.array([int(np.argmax(noisy))])
    return float(edges[clear[0]]), float(edges[clear[-1] + 1])


def private_quantiles(
    values: np.ndarray,
    weights: np.ndarray | None,
    quantiles: np.ndarray,
    budget: DataBudget,
    what: str,
    domain: tuple[float, float] = (-_ASINH_LIMIT, _ASINH_LIMIT),
) -> np.ndarray:
    """Quantiles of ``values`` by the exponential mechanism, one budget unit each.

    The candidates are the intervals between consecutive sorted values in
    ``asinh`` space, inside ``domain`` (by default ``±asinh(2.6e21)``; values
    outside are clipped to it); interval ``k`` is drawn with probability
    proportional to its length times ``exp(-epsilon |W_k - q W| / 2)`` (``W_k``:
    weight below it), and the quantile is drawn uniformly inside it.

    Parameters
    ----------
    values : ndarray of float
        Observed (non-missing) values.
    weights : ndarray or None
    quantiles : ndarray of float in [0, 1]
    budget : DataBudget
    what : str
    domain : (float, float)
        Public (or privately found) range in ``asinh`` space.

    Returns
    -------
    ndarray of float, the private quantiles (sorted).
    """
    order = np.argsort(values, kind="stable")
    points = np.clip(np.arcsinh(values[order]), *domain)
    w = np.ones(len(points)) if weights is None else np.asarray(weights, dtype=np.float64)[order]
    edges = np.concatenate([[domain[0]], points, [domain[1]]])
    lengths = np.diff(edges)
    below = np.concatenate([[0.0], np.cumsum(w)])  # weight below interval k
    total = below[-1]
    with np.errstate(divide="ignore"):
        log_length = np.log(lengths)
    result = []
    for q in np.asarray(quantiles, dtype=np.float64):
        epsilon, _ = budget.charge(what)
        score = log_length - 0.5 * epsilon * np.abs(below - q * total)
        gumbel = budget.rng.gumbel(size=score.shape)
        k = int(np.argmax(np.where(np.isfinite(score), score + gumbel, -np.inf)))
        result.append(np.sinh(budget.rng.uniform(edges[k], edges[k + 1])))
    return np.sort(np.asarray(result, dtype=np.float64))


def range_level(budget: DataBudget, total_weight: float) -> float:
    """Quantile level of :func:`private_range` for this budget and data size.

    Low enough to keep the tails, high enough that ``epsilon * level * n / 2``
    (the exponential mechanism's margin against the empty edge intervals of the
    coarse domain) is about 3.
    """
    epsilon, _ = budget.per_unit
    return float(np.clip(6.0 / (epsilon * max(total_weight, 1.0)), 0.001, 0.05))


def private_spread(
    values: np.ndarray,
    weights: np.ndarray | None,
    levels: np.ndarray,
    budget: DataBudget,
    what: str,
    advice: str = _DECLARE_BOUNDS,
) -> tuple[np.ndarray, tuple[float, float]]:
    """Private quantiles inside a privately found coarse domain (``1 + len(levels)`` units).

    Returns the quantiles and the coarse domain (in ``asinh`` space). ``advice`` ends the
    warning given when no range stands out from the noise.
    """
    w = np.ones(len(values)) if weights is None else np.asarray(weights, dtype=np.float64)
    domain = _coarse_domain(np.arcsinh(values), w, budget, what, advice)
    return private_quantiles(values, w, levels, budget, what, domain=domain), domain


def midpoint_and_half_range(low: Any, high: Any) -> tuple[Any, Any]:
    """Midpoint and half range of bounds (floats or arrays), without overflow near ±1.7e308."""
    return low / 2.0 + high / 2.0, high / 2.0 - low / 2.0


def private_range(
    values: np.ndarray, weights: np.ndarray | None, budget: DataBudget, what: str
) -> tuple[float, float]:
    """Private lower and upper bounds of ``values`` (three budget units).

    A noisy histogram on fixed bins finds a coarse domain (:func:`_coarse_domain`);
    inside it, the private ``level`` and ``1 - level`` quantiles
    (:func:`range_level`) are widened on each side by ``5 * level`` of their
    distance (staying in the coarse domain), so that most of the cut tails fit.
    A lower bound is not taken below zero when the lower quantile is not negative.
    """
    total = float(len(values) if weights is None else np.sum(weights))
    level = range_level(budget, total)
    (low, high), domain = private_spread(
        values, weights, np.array([level, 1.0 - level]), budget, what
    )
    share = min(0.5, 5.0 * level)
    margin = share * high - share * low  # no overflow, whatever the domain
    floor, ceiling = np.sinh(domain[0]), np.sinh(domain[1])
    widened_low = max(low - margin, floor)
    if low >= 0.0:
        widened_low = max(widened_low, 0.0)
    return float(widened_low), float(min(high + margin, ceiling))


def private_gaussian_moments(
    values: np.ndarray, budget: DataBudget, noise_multiplier: float, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the rows of ``values`` by the Gaussian mechanism.

    Two releases, one row per record: the sum of the rows clipped to norm ``R1``,
    then the sum of outer products of the rows centred on that noisy mean and
    clipped to norm ``R2``. Each has L2 sensitivity ``R`` (resp. ``R2**2``) and gets
    Gaussian noise of ``noise_multiplier`` times it; the radii are private 0.95
    quantiles of the norms (:func:`private_spread`, two budget units each). The
    two Gaussian releases are *not* charged to ``budget``: the caller accounts
    them (the synthesizers add them to the DP-SGD accountant). The covariance is
    projected onto the positive semi-definite matrices (post-processing).

    Parameters
    ----------
    values : ndarray of shape (n, d)
    budget : DataBudget
        Four units must be reserved on it.
    noise_multiplier : float
        Noise standard deviation over sensitivity, for both releases.
    what : str

    Returns
    -------
    mean : ndarray of shape (d,)
    covariance : ndarray of shape (d, d)
    """
    values = np.asarray(values, dtype=np.float64)
    n, d = values.shape
    level = np.array([0.95])

    def clipped(rows: np.ndarray, name: str) -> tuple[np.ndarray, float]:
        norms = np.linalg.norm(rows, axis=1)
        radius = float(private_spread(norms, None, level, budget, name, _LATENT_ADVICE)[0][0])
        radius = max(radius, 1e-12)
        return rows * np.minimum(1.0, radius / np.maximum(norms, 1e-300))[:, None], radius

    rows, radius = clipped(values, f"norm of {what}")
    noise = budget.rng.normal(0.0, noise_multiplier * radius, d)
    mean = (rows.sum(axis=0) + noise) / n
    rows, radius = clipped(values - mean, f"centred norm of {what}")
    noise = np.triu(budget.rng.normal(0.0, noise_multiplier * radius**2, (d, d)))
    second = rows.T @ rows + noise + np.triu(noise, 1).T
    eigenvalues, vectors = np.linalg.eigh(second / n)
    floor = 1e-3 * max(float(eigenvalues.max()), 1e-12)
    covariance = (vectors * np.maximum(eigenvalues, floor)) @ vectors.T
    return mean, covariance
