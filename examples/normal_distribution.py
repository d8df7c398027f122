"""Learn N(100, 10) from 100 values, sample 15,000 and compare mean and std with the truth.

Run: ``python examples/normal_distribution.py``; it prints the relative errors, which are
within 2 % of the true mean and standard deviation.
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
    synthesizer = TVAESynthesizer(
        epochs=300, batch_size=50, embedding_dim=8, random_state=seed, device="cpu"
    )
    synthesizer.fit(pd.DataFrame({"x": values}))
    sample = synthesizer.sample(15_000)["x"]
    result = {
        "mean": float(sample.mean()),
        "std": float(sample.std()),
        "mean_error": abs(sample.mean() - TRUE_MEAN) / TRUE_MEAN,
        "std_error": abs(sample.std() - TRUE_STD) / TRUE_STD,
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
    main()
