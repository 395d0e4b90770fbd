"""Shared pieces of the toy model's training scripts: determinism, schedules, batches, EMA, logs.

One CPU thread on purpose: on a 2-core machine shared with other jobs, two
OpenMP threads measured 3-10x slower per step than one (each barrier waits for
a descheduled thread), and a fixed single thread also makes float reductions
the same on any core count.
"""
from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

THREADS = 1


def set_determinism(seed: int, threads: int = THREADS) -> None:
    """Seed torch, pin the thread count and refuse non-deterministic kernels."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def lr_at(step: int, total: int, peak: float, warmup: int, final_frac: float = 0.05) -> float:
    """Linear warm-up to `peak`, then cosine decay to `final_frac * peak` at `total`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (final_frac + (1 - final_frac) * 0.5 * (1 + math.cos(math.pi * p)))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr


def batch_indices(n: int, batch: int, steps: int, seed: int) -> np.ndarray:
    """(steps, batch) indices into n items: shuffled epochs, concatenated, cut into batches."""
    rng = np.random.default_rng(seed)
    need = steps * batch
    order = np.concatenate([rng.permutation(n) for _ in range(-(-need // n))])
    return order[:need].reshape(steps, batch)


@dataclass
class EMA:
    """Exponential moving average of a module's parameters, with the usual warm-up
    (decay (1 + k) / (10 + k) until it reaches `decay`), so early averages are not
    dominated by the random initialisation."""

    module: torch.nn.Module
    decay: float
    shadow: list[torch.Tensor] = field(init=False)
    updates: int = 0

    def __post_init__(self):
        self.shadow = [p.detach().clone() for p in self.module.parameters()]

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for s, p in zip(self.shadow, self.module.parameters()):
            s.lerp_(p.detach(), 1 - d)

    @torch.no_grad()
    def copy_to(self, module: torch.nn.Module) -> None:
        for s, p in zip(self.shadow, module.parameters()):
            p.copy_(s)


@dataclass
class Log:
    """Rows of training metrics, written as one CSV (units in the column names)."""

    rows: list[dict] = field(default_factory=list)
    t0: float = field(default_factory=time.perf_counter)

    def add(self, **row) -> None:
        self.rows.append({**row, "elapsed_s": round(time.perf_counter() - self.t0, 2)})

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(self.rows[0]))
            w.writeheader()
            w.writerows(self.rows)
        return path


def images_to_tensor(images_uint8: np.ndarray) -> torch.Tensor:
    """(N, 3, H, W) uint8 -> float32 tensor in [-1, 1] (the diffusion convention)."""
    if images_uint8.dtype != np.uint8:
        raise TypeError(f"images dtype {images_uint8.dtype}: expected uint8")
    return torch.from_numpy(images_uint8.astype(np.float32) / 127.5 - 1)
