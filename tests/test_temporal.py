"""Temporal metrics (TimeGAN protocol) and the Sines simulator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tssynth.datasets import make_sines
from tssynth.exceptions import InvalidDataError, InvalidParameterError
from tssynth.metrics.temporal import discriminative_score, predictive_score

FAST = {"steps": 150, "batch_size": 64}


def _lagged(seed: int) -> np.ndarray:
    """Sines whose last feature at step t + 1 is the first feature at step t (predictable)."""
    X = make_sines(400, 12, 6, random_state=seed)
    X[:, 1:, -1] = X[:, :-1, 0]
    return X


@pytest.fixture(scope="module")
def sines() -> tuple[np.ndarray, np.ndarray]:
    return _lagged(0), _lagged(1)


def test_make_sines_follows_the_protocol():
    X = make_sines(500, 24, 5, random_state=3)
    assert X.shape == (500, 24, 5)
    assert X.min() >= 0.0 and X.max() <= 1.0
    np.testing.assert_array_equal(X, make_sines(500, 24, 5, random_state=3))
    # (sin(f t + p) + 1) / 2 with f, p in [0, 0.1]: starts at (sin p + 1) / 2 and rises
    assert (X[:, 0] >= 0.5).all() and (X[:, 0] <= (np.sin(0.1) + 1) / 2).all()
    assert (np.diff(X[:, :15], axis=1) >= 0).all()  # f t + p < pi / 2 while t < 15
    with pytest.raises(InvalidParameterError, match="seq_len"):
        make_sines(10, 0)


def test_discriminative_score_separates_same_from_different(sines):
    real, same = sines
    noise = np.random.default_rng(0).uniform(0.0, 1.0, real.shape)
    low = discriminative_score(real, same, **FAST)
    high = discriminative_score(real, noise, **FAST)
    assert 0.0 <= low < 0.15
    assert high > 0.4


def test_discriminative_score_is_low_for_like_data_in_unequal_counts():
    # Pooled accuracy rewarded leaning to the larger set: up to 0.40 for identical data.
    rng = np.random.default_rng(0)
    real, synthetic = rng.random((60, 8, 2)), rng.random((600, 8, 2))
    scores = [discriminative_score(real, synthetic, steps=300, random_state=s) for s in range(3)]
    assert max(scores) < 0.15
    noise = rng.normal(3.0, 1.0, (600, 8, 2))
    assert discriminative_score(real, noise, steps=300) > 0.4


def test_predictive_score_is_best_when_trained_on_like_data(sines):
    real, same = sines
    flipped = same.copy()
    flipped[:, :, -1] = 1.0 - flipped[:, :, -1]  # the last feature's relation is reversed
    good = predictive_score(real, same, **FAST)
    bad = predictive_score(real, flipped, **FAST)
    assert good < 0.1 and bad > 0.2


def test_scores_are_seeded_and_leave_global_random_state_alone(sines):
    real, same = sines
    torch.manual_seed(5)
    np.random.seed(5)  # noqa: NPY002
    first = discriminative_score(real, same, random_state=3, **FAST)
    after = torch.rand(1).item(), np.random.rand()  # noqa: NPY002
    torch.manual_seed(5)
    np.random.seed(5)  # noqa: NPY002
    assert (torch.rand(1).item(), np.random.rand()) == after  # noqa: NPY002
    assert discriminative_score(real, same, random_state=3, **FAST) == first
    assert predictive_score(real, same, random_state=3, **FAST) == predictive_score(
        real, same, random_state=3, **FAST
    )


def test_data_outside_unit_range_is_rescaled_by_the_real_range(sines):
    real, same = sines
    low, high = real.min(axis=(0, 1)), real.max(axis=(0, 1))
    expected = predictive_score((real - low) / (high - low), (same - low) / (high - low), **FAST)
    assert predictive_score(real * 10 - 3, same * 10 - 3, **FAST) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("real", "synthetic", "match"),
    [
        (np.zeros((10, 5)), np.zeros((10, 5, 2)), r"real must have shape \(n, T, d\)"),
        (np.zeros((10, 5, 2)), np.zeros((10, 5, 3)), "differ in"),
        (np.zeros((10, 5, 2)), np.full((10, 5, 2), np.nan), "synthetic has NaN"),
        (np.zeros((1, 5, 2)), np.zeros((10, 5, 2)), "at least 2 windows"),
    ],
)
def test_bad_shapes_are_named(real, synthetic, match):
    with pytest.raises(InvalidDataError, match=match):
        discriminative_score(real, synthetic, steps=1)
    with pytest.raises(InvalidDataError, match=match):
        predictive_score(real, synthetic, steps=1)


def test_predictive_score_needs_two_features():
    with pytest.raises(InvalidDataError, match="at least 2 features"):
        predictive_score(np.zeros((10, 5, 1)), np.zeros((10, 5, 1)), steps=1)
    with pytest.raises(InvalidParameterError, match="steps"):
        predictive_score(np.zeros((10, 5, 2)), np.zeros((10, 5, 2)), steps=0)
