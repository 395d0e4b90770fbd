"""Paired statistics for uplift: guided vs the unguided sample of the same seed and prompt."""
from __future__ import annotations

import numpy as np


def bootstrap_mean_ci(d: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of `d` (seeded, so reports are reproducible)."""
    d = np.asarray(d, dtype=np.float64)
    if d.size == 0:
        raise ValueError("bootstrap of an empty sample")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def paired_uplift(guided, base, n_boot: int = 2000, seed: int = 0) -> dict:
    """Mean paired difference with its bootstrap 95% CI, and the win rate (ties count half)."""
    guided, base = np.asarray(guided, dtype=np.float64), np.asarray(base, dtype=np.float64)
    if guided.shape != base.shape:
        raise ValueError(f"paired samples differ in shape: {guided.shape} vs {base.shape}")
    d = guided - base
    lo, hi = bootstrap_mean_ci(d, n_boot=n_boot, seed=seed)
    return {
        "uplift": float(d.mean()),
        "ci_low": lo,
        "ci_high": hi,
        "win_rate": float(((d > 0) + 0.5 * (d == 0)).mean()),
        "n": int(d.size),
    }
