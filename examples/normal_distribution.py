"""Learn N(100, 10) from 100 values, sample 15,000 and compare mean and std with the truth.

Run: ``python examples/normal_distribution.py [--seed 0]``. It prints the relative
errors. Measured over seeds 0-9: the mean is within 0.4 % every time; the standard
deviation is 0.8 to 4.3 % low (errors -2.4, -1.0, -0.8, -0.8, -3.9, -3.8, -3.1, -1.5,
-4.1 and -4.3 %; seed 0, the default, -2.4 %), within 2 % for 4 of the 10 seeds.
From 100 values the latent learns little: the samples are mostly the column's
two-mode mixture plus the decoder's noise, kept inside the training min/max by
folding back the noise that passes them. Until this release that noise was
clipped, which put about 3 % of the samples exactly on the maximum and gave
standard deviations 1.3 % low on average; now no value is repeated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tssynth import TVAESynthesizer

TRUE_MEAN, TRUE_STD = 100.0, 10.0


def main(seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    # 100 values whose sample mean and std are exactly the truth, so that the
    # comparison measures the synthesizer, not the sampling noise of 100 draws.
    draws = rng.normal(size=100)
    values = TRUE_MEAN + TRUE_STD * (draws - draws.mean()) / draws.std()
    # 100 rows: small batches give enough optimiser steps, a small latent suffices,
    # and loss_factor 1 (the ELBO's own weighting) keeps the decoder's noise at the
    # data's scale (TVAE's default of 2 gave std errors up to 2.8 % over seeds 0-4).
    synthesizer = TVAESynthesizer(
        epochs=300,
        batch_size=10,
        embedding_dim=8,
        loss_factor=1.0,
        random_state=seed,
        device="cpu",
    )
    synthesizer.fit(pd.DataFrame({"x": values}))
    sample = synthesizer.sample(15_000)["x"]
    result = {
        "mean": float(sample.mean()),
        "std": float(sample.std()),
        "mean_error": abs(sample.mean() - TRUE_MEAN) / TRUE_MEAN,
        "std_error": abs(sample.std() - TRUE_STD) / TRUE_STD,
        "top_value_share": float(sample.value_counts(normalize=True).iloc[0]),
    }
    print(
        f"synthetic mean {result['mean']:.2f} (truth {TRUE_MEAN}), "
        f"relative error {100 * result['mean_error']:.2f} %"
    )
    print(
        f"synthetic std  {result['std']:.2f} (truth {TRUE_STD}), "
        f"relative error {100 * result['std_error']:.2f} %"
    )
    return result


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    main(parser.parse_args().seed)
