"""The Sines simulator of the TimeGAN benchmark."""

from __future__ import annotations

import numpy as np

from tssynth._validation import check_int, check_random_state


def make_sines(
    n_samples: int = 10_000,
    seq_len: int = 24,
    n_features: int = 5,
    *,
    random_state: int | None = None,
) -> np.ndarray:
    """Multivariate sine windows, as in the TimeGAN benchmark (Yoon et al., 2019).

    Every feature of every window is ``(sin(f * t + p) + 1) / 2`` for
    ``t = 0 .. seq_len - 1``, with its own frequency ``f`` and phase ``p`` drawn
    from U(0, 0.1); the ``+ 1) / 2`` rescales the sine into [0, 1].

    Parameters
    ----------
    n_samples : int, default=10000
        Number of windows.
    seq_len : int, default=24
        Steps per window.
    n_features : int, default=5
    random_state : int or None
        Seed of the frequencies and phases.

    Returns
    -------
    ndarray of shape (n_samples, seq_len, n_features), float64, values in [0, 1]
    """
    check_int("n_samples", n_samples)
    check_int("seq_len", seq_len)
    check_int("n_features", n_features)
    rng = np.random.default_rng(check_random_state(random_state))
    frequency = rng.uniform(0.0, 0.1, size=(n_samples, 1, n_features))
    phase = rng.uniform(0.0, 0.1, size=(n_samples, 1, n_features))
    t = np.arange(seq_len, dtype=np.float64)[None, :, None]
    return (np.sin(frequency * t + phase) + 1.0) / 2.0
