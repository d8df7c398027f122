"""Small real datasets bundled with tssynth, and simulators, so examples need no download.

- ``adult.csv.gz``: UCI Adult census (training split), CC BY 4.0 (:func:`load_adult`).
- ``energy_hourly.csv.gz``: hourly means of UCI Appliances energy prediction, CC BY 4.0,
  used by ``examples/panel_generation.py``.
- :func:`make_sines` and :func:`make_mass_spring`: the simulators of the Sines benchmark
  and of the mass-spring tutorial.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from tssynth.datasets.mass_spring import make_mass_spring
from tssynth.datasets.sines import make_sines

__all__ = ["load_adult", "make_mass_spring", "make_sines"]


def load_adult(raw: bool = False) -> pd.DataFrame:
    """The UCI Adult census table (training split, 32,561 rows × 15 columns).

    Source: UCI Machine Learning Repository, CC BY 4.0. Six integer columns
    (age, fnlwgt, education-num, capital-gain, capital-loss, hours-per-week) and
    nine text columns; the target is ``income`` (``"<=50K"`` or ``">50K"``).

    Parameters
    ----------
    raw : bool, default=False
        When False, text values are stripped of the leading space of the original
        file and its missing-value marker ``"?"`` becomes a real missing value
        (so workclass, occupation and native-country have missing values). When
        True, the file is returned exactly as distributed (``" ?"`` text).

    Returns
    -------
    DataFrame
    """
    source = resources.files(__name__).joinpath("adult.csv.gz")
    with resources.as_file(source) as path:
        if raw:
            return pd.read_csv(path)
        return pd.read_csv(path, skipinitialspace=True, na_values=["?"])
