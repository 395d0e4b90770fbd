"""A head on the noisy latents themselves: the cheapest guidance gradient.

Reading x_t directly means the gradient never enters the UNet, so this is the
floor of what guidance can cost. Three convs (the last two stride 2) widen the
4 latent channels, an adaptive pool makes any latent size >= 8x8 work, and the
same 512->64->K classifier and expected-rating readout as the mid-U head follow.
"""

import torch
from torch import nn

from scorers.kaiming import init_kaiming
from scorers.midblock_head import POOLED_SIZE
from scorers.shapes import check_feature_shape, check_features

MIN_LATENT_SIZE = 8  # two stride-2 convs leave a 2x2 map for the pool


class LatentHead(nn.Module):
    """Logits over rating classes from latents (B, C, H, W), H, W >= 8."""

    def __init__(self, in_channels: int = 4, num_classes: int = 10):
        super().__init__()
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, 64, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(64, 128, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(128, 128, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(POOLED_SIZE),
            nn.Flatten(),
            nn.Linear(128 * POOLED_SIZE**2, 64),
            nn.ReLU(),
            nn.Linear(64, num_classes),
        )
        init_kaiming(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_features(x, self.in_channels, MIN_LATENT_SIZE)
        return self.layers(x)


def build_latent_head(feature_shape: tuple[int, int, int], num_classes: int = 10) -> LatentHead:
    """A freshly initialised head for latents of shape (C, H, W)."""
    c, _, _ = check_feature_shape(feature_shape, MIN_LATENT_SIZE)
    return LatentHead(c, num_classes)
