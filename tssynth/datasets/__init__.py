"""Small real datasets bundled with tssynth, so examples and tests need no download."""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["load_adult"]


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
