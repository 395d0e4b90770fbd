"""Simulated human ratings, as in Simulacra Aesthetic Captions.

SAC asked people to rate each generated image once on a 1-10 scale. Here a
"person" sees the ground truth through Gaussian disagreement and rounds:
rating = clip(round(truth + N(0, noise_sd)), 1, 10). A guidance head trained
on these ratings therefore learns the truth only up to that noise, as a real
head learns taste only up to raters' disagreement, and the benchmark can
still judge it against the noise-free truth.
"""
from __future__ import annotations

import numpy as np

RATING_NOISE_SD = 0.75  # rating points: most ratings land on the rounded truth or a neighbour


def rate(truth_scores: np.ndarray, rng: np.random.Generator, noise_sd: float = RATING_NOISE_SD) -> np.ndarray:
    """One integer rating in 1..10 per image (int64, shape of truth_scores)."""
    truth_scores = np.asarray(truth_scores, dtype=np.float64)
    if noise_sd < 0:
        raise ValueError(f"noise_sd={noise_sd}: expected >= 0")
    if not np.all(np.isfinite(truth_scores)):
        raise ValueError("truth_scores contain NaN or inf: expected finite scores in [1, 10]")
    noisy = truth_scores + rng.normal(0.0, noise_sd, size=truth_scores.shape)
    return np.clip(np.rint(noisy), 1, 10).astype(np.int64)
