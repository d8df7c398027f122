"""DVAESynthesizer against the Dynamical VAE tutorial's model on the mass-spring windows.

The baseline is the tutorial's SRNN rebuilt from its description (not its code):
the same generative and inference structure as ours (forward recurrence over
x_{1:t-1}, backward recurrence over [h_t, x_t], q(z_t | z_{t-1}, g_t),
p(z_t | z_{t-1}, h_t), p(x_t | h_t, z_t)), but its training loop steps through
time in Python for every batch: a GRUCell forward pass, a GRUCell backward pass,
then the latent recurrence, prior and decoder, step by step. Its loss is the
tutorial's: squared error of standardised sensors plus the KL, with the same KL
warm-up. Both models get the same sizes, batches, epochs, learning rate and data.

Measured: seconds per training epoch (median over epochs) and the reconstruction
MSE (posterior-mean latents) on 100 unseen test units cut into windows of 40,
on standardised sensors.

Run from the repository root (one thread; compare on the same machine)::

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/dvae_vs_tutorial.py --epochs 20
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from torch import nn

from tssynth.datasets.mass_spring import make_mass_spring
from tssynth.synthesizers.dvae import DVAESynthesizer

WINDOW = 40


class TutorialSRNN(nn.Module):
    """The tutorial's SRNN, stepping through time in Python in every part."""

    def __init__(self, x_dim: int, z_dim: int, h_dim: int, dense: int) -> None:
        super().__init__()
        self.z_dim, self.h_dim = z_dim, h_dim
        self.forward_cell = nn.GRUCell(x_dim, h_dim)
        self.backward_cell = nn.GRUCell(h_dim + x_dim, h_dim)
        self.inference = nn.Sequential(nn.Linear(z_dim + h_dim, dense), nn.ReLU())
        self.inference_head = nn.Linear(dense, 2 * z_dim)
        self.prior = nn.Sequential(nn.Linear(z_dim + h_dim, dense), nn.ReLU())
        self.prior_head = nn.Linear(dense, 2 * z_dim)
        self.decoder = nn.Sequential(
            nn.Linear(h_dim + z_dim, dense), nn.ReLU(), nn.Linear(dense, x_dim)
        )

    def forward(self, x: torch.Tensor, sample: bool = True):
        batch, steps, _ = x.shape
        h_t = x.new_zeros(batch, self.h_dim)
        x_prev = torch.zeros_like(x[:, 0])
        hs = []
        for t in range(steps):
            h_t = self.forward_cell(x_prev, h_t)
            hs.append(h_t)
            x_prev = x[:, t]
        g_t = x.new_zeros(batch, self.h_dim)
        gs = [None] * steps
        for t in reversed(range(steps)):
            g_t = self.backward_cell(torch.cat([hs[t], x[:, t]], 1), g_t)
            gs[t] = g_t
        z_t = x.new_zeros(batch, self.z_dim)
        recon, kl = [], x.new_zeros(batch)
        for t in range(steps):
            mu_q, logvar_q = self.inference_head(self.inference(torch.cat([z_t, gs[t]], 1))).chunk(
                2, 1
            )
            mu_p, logvar_p = self.prior_head(self.prior(torch.cat([z_t, hs[t]], 1))).chunk(2, 1)
            z_t = mu_q + torch.exp(0.5 * logvar_q) * torch.randn_like(mu_q) if sample else mu_q
            recon.append(self.decoder(torch.cat([hs[t], z_t], 1)))
            kl = kl + 0.5 * (
                logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1
            ).sum(1)
        return torch.stack(recon, 1), kl


def windows(units: np.ndarray, stride: int) -> np.ndarray:
    starts = np.arange(0, units.shape[1] - WINDOW + 1, stride)
    steps = starts[:, None] + np.arange(WINDOW)[None, :]
    return units[:, steps].reshape(-1, WINDOW, units.shape[2])


def run_tutorial(train: np.ndarray, test: np.ndarray, args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    model = TutorialSRNN(train.shape[2], args.z_dim, args.hidden_dim, args.dense)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    x_all = torch.as_tensor(train, dtype=torch.float32)
    rng = np.random.default_rng(0)
    times = []
    for epoch in range(args.epochs):
        beta = min(1.0, (epoch + 1) / args.warmup)
        start = time.perf_counter()
        for index in np.array_split(rng.permutation(len(x_all)), len(x_all) // args.batch):
            x = x_all[index]
            recon, kl = model(x)
            loss = ((recon - x) ** 2).sum((1, 2)).mean() / WINDOW + beta * kl.mean() / WINDOW
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
        print(f"tutorial epoch {epoch + 1}: {times[-1]:.1f} s, loss {loss.item():.4f}", flush=True)
    with torch.no_grad():
        recon, _ = model(torch.as_tensor(test, dtype=torch.float32), sample=False)
    return {
        "s_per_epoch": float(np.median(times)),
        "reconstruction_mse": float(np.mean((recon.numpy() - test) ** 2)),
    }


def run_tssynth(train: np.ndarray, test: np.ndarray, args: argparse.Namespace) -> dict:
    model = DVAESynthesizer(
        embedding_dim=args.z_dim,
        hidden_dim=args.hidden_dim,
        compress_dims=(args.dense,),
        decompress_dims=(args.dense,),
        batch_size=len(train) // (len(train) // args.batch),
        epochs=args.epochs,
        learning_rate=args.lr,
        kl_warmup_epochs=args.warmup,
        scheduled_sampling=args.scheduled_sampling,
        max_modes=1,
        random_state=0,
        device="cpu",
    )
    start = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - start
    return {
        "s_per_epoch": fit_s / args.epochs,  # includes data preparation: an upper bound
        "reconstruction_mse": float(np.mean((model.reconstruct(test) - test) ** 2)),
    }


def _tutorial_loss(model: TutorialSRNN, x: torch.Tensor) -> torch.Tensor:
    recon, kl = model(x)
    return ((recon - x) ** 2).sum((1, 2)).mean() / WINDOW + kl.mean() / WINDOW


def _dvae_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model.loss((x, torch.ones(x.shape[:2])))[0]


def step_timing(args: argparse.Namespace, batches: tuple[int, ...] = (64, 256)) -> dict:
    """Median milliseconds of one training step (forward, backward, Adam) per model.

    Every model gets the same random batch; steps are interleaved so that machine
    load hits all of them alike.
    """
    from tssynth.nn.dvae import DVAE

    spans = [(i, i + 1, "gaussian") for i in range(14)]
    sizes = (args.z_dim, args.hidden_dim, (args.dense,), (args.dense,))
    results = {}
    for batch in batches:
        x = torch.randn(batch, WINDOW, 14).clamp(-1, 1)
        models = {}
        for share in (0.0, args.scheduled_sampling):
            module = DVAE(spans, 0, *sizes)
            module.sampled_share = share
            models[f"ours, scheduled sampling {share}"] = (module, _dvae_loss)
        models["tutorial"] = (TutorialSRNN(14, *sizes[:2], args.dense), _tutorial_loss)
        times: dict[str, list[float]] = {name: [] for name in models}
        optimizers = {
            name: torch.optim.Adam(module.parameters(), lr=args.lr)
            for name, (module, _) in models.items()
        }
        for repeat in range(10):
            for name, (module, loss_of) in models.items():
                start = time.perf_counter()
                optimizers[name].zero_grad()
                loss_of(module, x).backward()
                optimizers[name].step()
                if repeat >= 2:  # the first steps warm up allocators
                    times[name].append(1e3 * (time.perf_counter() - start))
        results[batch] = {name: float(np.median(t)) for name, t in times.items()}
        print(f"batch {batch}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in results[batch].items()))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--z-dim", type=int, default=16)
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--dense", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--scheduled-sampling", type=float, default=0.3)
    parser.add_argument("--models", nargs="+", default=["tssynth", "tutorial"])
    parser.add_argument("--json", help="append the results as one JSON line to this file")
    parser.add_argument(
        "--step-timing", action="store_true", help="only time single training steps"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.step_timing:
        print(json.dumps(step_timing(args)))
        return
    train_units = make_mass_spring(100, 200, random_state=0)
    test_units = make_mass_spring(100, 200, random_state=1)
    mean, std = train_units.mean(axis=(0, 1)), train_units.std(axis=(0, 1))
    train = windows((train_units - mean) / std, stride=10)
    test = windows((test_units - mean) / std, stride=WINDOW)
    results = {"epochs": args.epochs, "train_windows": len(train), "test_windows": len(test)}
    runners = {"tssynth": run_tssynth, "tutorial": run_tutorial}
    for name in args.models:
        results[name] = runners[name](train, test, args)
        print(name, results[name], flush=True)
    if "tssynth" in results and "tutorial" in results:
        results["speedup"] = results["tutorial"]["s_per_epoch"] / results["tssynth"]["s_per_epoch"]
    print(json.dumps(results))
    if args.json:
        with open(args.json, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
