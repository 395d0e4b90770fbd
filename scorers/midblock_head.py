"""The seed's mid-U head: a small conv net on UNet mid-block activations.

Mid-U guidance (J. Whitaker, 2023) scores the UNet's own mid-block features
(SD 2.1-base at 512 px: 1280 x 8 x 8), so the guidance gradient skips the up
blocks, the VAE decoder and CLIP. The layout follows the seed exactly:

    conv 3x3 C->256, ReLU, maxpool 2, conv 3x3 256->128, ReLU,
    adaptive-avg-pool 2x2, flatten, linear 512->64, ReLU, linear 64->K

The adaptive pool makes it work on any map of at least 2x2 (tiny test UNets
give 2x2 or 4x4; maxpool then gives 1x1 and the pool repeats it to 2x2).
"""

import torch
from torch import nn

from scorers.kaiming import init_kaiming
from scorers.shapes import check_feature_shape, check_features

POOLED_SIZE = 2  # the seed's adaptive-avg-pool output (2x2 x 128 channels = 512 features)
MIN_FEATURE_SIZE = 2  # maxpool 2 needs at least a 2x2 map


class MidBlockHead(nn.Module):
    """Logits over rating classes from mid-block features (B, C, H, W), H, W >= 2."""

    def __init__(self, in_channels: int = 1280, num_classes: int = 10):
        super().__init__()
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, 256, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(256, 128, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(POOLED_SIZE),
            nn.Flatten(),
            nn.Linear(128 * POOLED_SIZE**2, 64),
            nn.ReLU(),
            nn.Linear(64, num_classes),
        )
        init_kaiming(self)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        check_features(h, self.in_channels, MIN_FEATURE_SIZE)
        return self.layers(h)


def build_midblock_head(feature_shape: tuple[int, int, int], num_classes: int = 10) -> MidBlockHead:
    """A freshly initialised head for mid-block features of shape (C, H, W)."""
    c, _, _ = check_feature_shape(feature_shape, MIN_FEATURE_SIZE)
    return MidBlockHead(c, num_classes)
