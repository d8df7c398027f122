"""The dense time-series VAE tutorial: random series -> fit -> reconstruct -> t-SNE of the latents.

Run from the repository root::

    .venv/bin/python examples/timeseries_dense_vae.py              # writes timeseries_tsne.png
    .venv/bin/python examples/timeseries_dense_vae.py --out /tmp/tsne.png --epochs 200

Three families of random series (noisy sines of two frequencies and random walks)
are learned by one :class:`tssynth.DenseVAESynthesizer`. The script prints the
reconstruction error, draws new windows, and saves a t-SNE map of the latent
means of real and synthetic windows coloured by family (real) or as one colour
(synthetic): synthetic windows should fall on the real clusters.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from sklearn.manifold import TSNE

from tssynth import DenseVAESynthesizer


def random_series(n: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(n, length)`` series of three kinds, and their kind (0, 1, 2)."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 3, n)
    t = np.arange(length)[None, :]
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    slow = np.sin(2 * np.pi * t / length + phase)
    fast = np.sin(6 * np.pi * t / length + phase)
    walk = np.cumsum(rng.normal(0, 0.25, (n, length)), axis=1)
    series = np.where(kind[:, None] == 0, slow, np.where(kind[:, None] == 1, fast, walk))
    return series + rng.normal(0, 0.05, (n, length)), kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--length", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--out", default="timeseries_tsne.png")
    args = parser.parse_args()
    torch.set_num_threads(1)

    X, kind = random_series(args.n, args.length, seed=0)
    synthesizer = DenseVAESynthesizer(epochs=args.epochs, random_state=0, device="cpu")
    synthesizer.fit(X)  # (n, T) array: one channel

    latents = synthesizer.transform(X)
    reconstruction = synthesizer.inverse_transform(latents)
    print(
        f"mean absolute reconstruction error: {np.abs(reconstruction - X).mean():.4f} "
        f"(series standard deviation {X.std():.3f})"
    )
    shown = min(1000, args.n)  # real and synthetic windows in the plot, each
    synthetic = synthesizer.sample(shown)
    print(f"sampled {synthetic.shape[0]} windows of shape {synthetic.shape[1:]}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    both = np.concatenate([latents[:shown], synthesizer.transform(synthetic)])
    embedded = TSNE(n_components=2, random_state=0, init="pca").fit_transform(both)
    fig, ax = plt.subplots(figsize=(6, 5))
    names = ["slow sine", "fast sine", "random walk"]
    for k in range(3):
        mask = kind[:shown] == k
        ax.scatter(*embedded[:shown][mask].T, s=6, alpha=0.6, label=f"real: {names[k]}")
    ax.scatter(*embedded[shown:].T, s=6, alpha=0.4, c="black", marker="x", label="synthetic")
    ax.set_title("t-SNE of DenseVAE latent means")
    ax.legend(markerscale=3, fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
