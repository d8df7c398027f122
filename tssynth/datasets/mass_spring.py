"""A simulated coupled mass-spring system observed by noisy sensors (the DVAE tutorial's data)."""

from __future__ import annotations

import numpy as np
from scipy.linalg import expm

from tssynth._validation import check_float, check_int, check_random_state

_SENSOR_SEED = 20_211  # the sensor layout is fixed, so every draw is read by the same sensors


def make_mass_spring(
    n_units: int = 100,
    length: int = 200,
    n_sensors: int = 14,
    n_masses: int = 3,
    noise: float = 0.1,
    dt: float = 0.2,
    random_state: int | None = None,
) -> np.ndarray:
    """Simulate units of a damped chain of masses and springs read by noisy sensors.

    Each unit is a chain of ``n_masses`` unit masses between two walls, joined by
    springs whose stiffness varies by ±20 % from unit to unit (so each unit
    oscillates at its own frequencies), with light damping and small random
    forcing. Its positions and velocities are read by ``n_sensors`` sensors, each
    a fixed linear mix of the state (the same mix for every call), with
    independent Gaussian sensor noise of ``noise`` times the sensor's signal
    standard deviation (over the units drawn).

    Parameters
    ----------
    n_units : int, default=100
    length : int, default=200
        Time steps per unit.
    n_sensors : int, default=14
    n_masses : int, default=3
    noise : float, default=0.1
        Sensor noise relative to each sensor's signal standard deviation.
    dt : float, default=0.2
        Sampling interval (the slowest mode has a period of about 40 steps).
    random_state : int or None

    Returns
    -------
    ndarray of shape (n_units, length, n_sensors), float64
    """
    n_units = check_int("n_units", n_units)
    length = check_int("length", length)
    n_sensors = check_int("n_sensors", n_sensors)
    n_masses = check_int("n_masses", n_masses)
    noise = check_float("noise", noise, 0.0)
    dt = check_float("dt", dt, 0.0, inclusive=False)
    rng = np.random.default_rng(check_random_state(random_state))
    m = n_masses
    laplacian = 2 * np.eye(m) - np.eye(m, k=1) - np.eye(m, k=-1)
    stiffness = rng.uniform(0.8, 1.2, n_units)
    # One discrete transition per unit: x_{t+1} = A x_t + forcing (state: positions, velocities).
    generator = np.zeros((n_units, 2 * m, 2 * m))
    generator[:, :m, m:] = np.eye(m)
    generator[:, m:, :m] = -stiffness[:, None, None] * laplacian
    generator[:, m:, m:] = -0.02 * np.eye(m)
    transition = np.stack([expm(g * dt) for g in generator])  # (n_units, 2m, 2m)
    state = rng.normal(size=(n_units, 2 * m))
    forcing = 0.01 * rng.normal(size=(length, n_units, 2 * m))
    forcing[:, :, :m] = 0.0
    states = np.empty((length, n_units, 2 * m))
    for t in range(length):  # the simulation steps through time; units and states are vectorised
        states[t] = state
        state = np.einsum("uij,uj->ui", transition, state) + forcing[t]
    mixing = np.random.default_rng(_SENSOR_SEED).normal(size=(2 * m, n_sensors))
    signal = states.transpose(1, 0, 2) @ mixing  # (n_units, length, n_sensors)
    scale = signal.std(axis=(0, 1)) if n_units * length > 1 else np.ones(n_sensors)
    return signal + noise * scale * rng.normal(size=signal.shape)
