"""Shape checks shared by the heads: refuse what a head cannot read, loudly.

A head silently broadcasting or pooling a wrong-sized input would produce a
plausible number from the wrong features, so every entry point checks.
"""

from collections.abc import Sequence

import torch


def check_feature_shape(feature_shape: Sequence[int], min_size: int) -> tuple[int, int, int]:
    """`feature_shape` as a (C, H, W) tuple of ints, or ValueError if a head needing H, W >= min_size can't read it."""
    shape = tuple(int(n) for n in feature_shape)
    if len(shape) != 3 or shape[0] < 1 or min(shape[1:]) < min_size:
        raise ValueError(f"expected feature_shape (C, H, W) with C >= 1 and H, W >= {min_size}, got {tuple(feature_shape)}")
    return shape


def check_features(h: torch.Tensor, in_channels: int, min_size: int) -> None:
    """Refuse a feature batch that is not (B, in_channels, H, W) with H, W >= min_size."""
    if h.ndim != 4 or h.shape[1] != in_channels or min(h.shape[-2:]) < min_size:
        raise ValueError(f"expected features (B, {in_channels}, H, W) with H, W >= {min_size}, got {tuple(h.shape)}")
