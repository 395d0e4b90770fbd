"""Held-out metrics of the heads, as plain floats for a checkpoint's JSON.

NaN marks a metric that is undefined on the data (Spearman of a constant), so a
tiny or degenerate split reads as "unknown" rather than as a number or a crash.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F


def accuracy(logits: torch.Tensor, target: torch.Tensor) -> float:
    return float((logits.argmax(-1) == target).float().mean())


def mae(pred: torch.Tensor, target: torch.Tensor) -> float:
    return float((pred.double() - target.double()).abs().mean())


def spearman(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Spearman rank correlation; NaN when either side is constant or has fewer than 2 values."""
    from scipy.stats import spearmanr  # here: scipy.stats takes a second to import and only training needs it

    a, b = pred.double().cpu().numpy(), target.double().cpu().numpy()
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:  # scipy would warn and return NaN
        return math.nan
    return float(spearmanr(a, b).statistic)


def mean_cosine(pred: torch.Tensor, target: torch.Tensor) -> float:
    return float(F.cosine_similarity(pred.double(), target.double(), dim=-1).mean())
