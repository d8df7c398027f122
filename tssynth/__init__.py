"""tssynth: variational autoencoders that learn real data and sample realistic synthetic data."""

from __future__ import annotations

from pathlib import Path

from tssynth._version import __version__
from tssynth.base import BaseSynthesizer
from tssynth.exceptions import (
    DataWarning,
    GeneratorFileError,
    InvalidDataError,
    InvalidParameterError,
    PrivacyWarning,
    TrainingError,
    TssynthError,
)
from tssynth.synthesizers import DenseVAESynthesizer, DVAESynthesizer, TVAESynthesizer


def load(path: str | Path) -> BaseSynthesizer:
    """Load any tssynth generator file, whatever synthesizer wrote it.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    The fitted synthesizer.
    """
    return BaseSynthesizer.load(path)


__all__ = [
    "DVAESynthesizer",
    "DataWarning",
    "DenseVAESynthesizer",
    "GeneratorFileError",
    "InvalidDataError",
    "InvalidParameterError",
    "PrivacyWarning",
    "TVAESynthesizer",
    "TrainingError",
    "TssynthError",
    "__version__",
    "load",
]
