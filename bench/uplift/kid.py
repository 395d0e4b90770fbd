"""Kernel inception distance (Binkowski et al. 2018) in any fixed feature space, with subset intervals.

KID is the squared MMD between two sets under the cubic polynomial kernel
k(x, y) = (x . y / d + 1)^3, estimated without bias (the kernel's diagonal left
out of each within-set mean), so it can come out slightly below 0 when the sets
are alike. The paper's subset scheme gives its spread: `kid_subsets` draws
random subsets (without replacement) of a fixed size from both sets and
reports the full-set estimate with the 2.5-97.5 percentiles over subsets. A
subset's estimate varies more than the full set's, so the interval is wider
than a bootstrap interval of the full estimate would be (conservative).
`kid_difference` draws the same subset of pairs (prompt, seed) for two sample
sets of the same pairs, and the same reference subset, and reports the
difference of their KIDs: a paired comparison of guided against unguided.
"""
from __future__ import annotations

import numpy as np

N_SUBSETS = 200
LEVEL = 0.95


def _kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def kid(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased squared MMD of (n, d) and (m, d) feature sets, cubic polynomial kernel; n, m >= 2."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or len(x) < 2 or len(y) < 2:
        raise ValueError(f"kid needs two (n >= 2, d) feature sets of one d, got {x.shape} and {y.shape}")
    n, m = len(x), len(y)
    kxx, kyy = _kernel(x, x), _kernel(y, y)
    within_x = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within_x + within_y - 2 * _kernel(x, y).mean())


def _interval(values: list[float]) -> tuple[float, float]:
    q = (1 - LEVEL) / 2
    return float(np.quantile(values, q)), float(np.quantile(values, 1 - q))


def kid_subsets(x: np.ndarray, y: np.ndarray, n_subsets: int = N_SUBSETS, fraction: float = 0.5, seed: int = 0) -> dict:
    """{"kid", "ci_low", "ci_high", "n", "n_ref", "subset"}: the full-set KID, percentiles over random half subsets."""
    rng = np.random.default_rng(seed)
    a, b = max(2, int(len(x) * fraction)), max(2, int(len(y) * fraction))
    subs = [kid(x[rng.choice(len(x), a, replace=False)], y[rng.choice(len(y), b, replace=False)]) for _ in range(n_subsets)]
    lo, hi = _interval(subs)
    return {"kid": kid(x, y), "ci_low": lo, "ci_high": hi, "n": len(x), "n_ref": len(y), "subset": a}


def kid_difference(x1: np.ndarray, x0: np.ndarray, y: np.ndarray, n_subsets: int = N_SUBSETS, fraction: float = 0.5,
                   seed: int = 0) -> dict:
    """KID(x1, y) - KID(x0, y) for row-aligned x1, x0 (the same pairs), with percentiles over shared subsets."""
    if len(x1) != len(x0):
        raise ValueError(f"kid_difference pairs rows: {len(x1)} guided against {len(x0)} unguided")
    rng = np.random.default_rng(seed)
    a, b = max(2, int(len(x1) * fraction)), max(2, int(len(y) * fraction))
    subs = []
    for _ in range(n_subsets):
        i, j = rng.choice(len(x1), a, replace=False), rng.choice(len(y), b, replace=False)
        subs.append(kid(x1[i], y[j]) - kid(x0[i], y[j]))
    lo, hi = _interval(subs)
    return {"diff": kid(x1, y) - kid(x0, y), "ci_low": lo, "ci_high": hi}
