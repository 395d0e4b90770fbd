"""Classic CLIP guidance: the decoded image's CLIP embedding pulled towards a text's.

The objective of CLIP-guided diffusion (Crowson; the CLIP-guided Stable
Diffusion recipe): for L2-normalised embeddings u (image) and v (text), the
spherical distance

    d(u, v) = 2 * arcsin(|u - v| / 2) ** 2  = theta ** 2 / 2,   theta the angle between u and v,

and the score a guided sampler pushes up is -d, in [-pi**2 / 2, 0]. With
cutouts, the image is scored by `cutouts` random squares (side
`min + u**cut_power * (max - min)`, u uniform, between CLIP's input size and
the image's shorter side), each average-pooled to the tower's input size, and
-d is their mean: the recipe's augmentation against adversarial pixel noise.
Each guided call draws new cutouts from the scorer's own seeded generator, so a
run is reproducible and the caller's random state untouched. Cutouts apply
where the score is differentiated (its input requires grad); a score read
without a gradient (a judge's, a run's final score) is the whole image's, so it
depends neither on random draws nor on the order of calls (a resumed sweep
judges as an uninterrupted one).

    objective = ClipText("a red star on a blue background", cutouts=4)
    scorer = clip_text_scorer(load_clip_model("ViT-L-14", "clip.bin"), "ViT-L-14", objective)
"""

import math
from dataclasses import dataclass

import open_clip
import torch
import torch.nn.functional as F
from torch import nn

from scorers.clip_preprocess import image_size
from scorers.objectives import ClipImageEmbedder, clip_text_target


@dataclass(frozen=True)
class ClipText:
    text: str  # the target caption
    cutouts: int = 0  # random square cutouts per image and call; 0: the whole image, resized as CLIP's eval transform does
    cut_power: float = 1.0  # > 1 favours small cutouts, < 1 large ones

    def check(self) -> None:
        if not self.text.strip():
            raise ValueError(f"--clip-text {self.text!r}: expected a caption to guide towards")
        if not isinstance(self.cutouts, int) or self.cutouts < 0:
            raise ValueError(f"--cutouts {self.cutouts}: expected an integer >= 0")
        if not (math.isfinite(self.cut_power) and self.cut_power > 0):
            raise ValueError(f"--cut-power {self.cut_power}: expected a finite number > 0")


def spherical_distance(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Half the squared angle between unit vectors along the last dim: 2 arcsin(|u - v| / 2)^2."""
    return (u - v).norm(dim=-1).div(2).arcsin().pow(2).mul(2)


def cutout_boxes(height: int, width: int, size: int, n: int, power: float, generator: torch.Generator) -> list[tuple[int, int, int]]:
    """(top, left, side) of `n` random squares, sides between min(size, shorter side) and the shorter side."""
    hi = min(height, width)
    lo = min(hi, size)
    boxes = []
    for _ in range(n):
        side = int(torch.rand((), generator=generator) ** power * (hi - lo) + lo)
        top = int(torch.randint(0, height - side + 1, (), generator=generator))
        left = int(torch.randint(0, width - side + 1, (), generator=generator))
        boxes.append((top, left, side))
    return boxes


class ClipTextScorer(nn.Module):
    """-spherical distance (B,) between the CLIP embedding of images in [-1, 1] (B, 3, H, W) and a target text embedding."""

    def __init__(self, visual: nn.Module, preprocess_cfg, target: torch.Tensor, cutouts: int = 0, cut_power: float = 1.0,
                 seed: int = 0):
        super().__init__()
        self.embed = ClipImageEmbedder(visual, preprocess_cfg)
        self.visual = visual  # the tower, where `finish` and the cost tables look for it
        self.register_buffer("target", F.normalize(target.float().reshape(-1), dim=-1), persistent=False)
        self.cutouts, self.cut_power = cutouts, cut_power
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if not (self.cutouts and images.requires_grad):  # cutouts augment a gradient; a score read without one is the image's
            z = self.embed(images)
            return -spherical_distance(z, self.target.to(z.dtype))
        x = images.to(torch.promote_types(images.dtype, torch.float32)).clamp(-1, 1)  # the saved image's pixels, then cut
        size = image_size(self.embed.preprocess_cfg)
        boxes = cutout_boxes(x.shape[-2], x.shape[-1], min(size), self.cutouts, self.cut_power, self.generator)
        cuts = torch.cat([F.adaptive_avg_pool2d(x[..., t:t + s, l:l + s], size) for t, l, s in boxes])
        z = self.embed(cuts).view(self.cutouts, len(images), -1)
        return -spherical_distance(z, self.target.to(z.dtype)).mean(0)


def clip_text_scorer(model: nn.Module, arch: str, objective: ClipText, seed: int = 0) -> ClipTextScorer:
    """The scorer of `objective` from a full open_clip model (its text tower embeds the caption once; the image tower stays)."""
    target = clip_text_target(model, arch, [objective.text])
    scorer = ClipTextScorer(model.visual, open_clip.get_model_preprocess_cfg(model), target, objective.cutouts, objective.cut_power, seed)
    return scorer.eval().requires_grad_(False)
