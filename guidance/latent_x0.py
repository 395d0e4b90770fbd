"""`latent-x0`: a head on the clean-latent estimate x0, with the noise prediction held fixed.

x0 = (x - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar), eps from the conditional
half of the no-grad CFG forward (as `pixel-x0` takes it; a v-prediction model's
output is converted to eps first, guidance/prediction.py). eps is detached, so
d x0 / d x = 1 / sqrt(alpha_bar) times the identity and the gradient with
respect to the UNet input is the head's gradient at x0 over sqrt(alpha_bar):
no UNet backward and no decoder, the cost of `latent` (plus elementwise ops).
The head reads what it was trained on, clean latents, at every step; a
finished sample is scored by the head on its x0 directly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .prediction import to_eps
from .protocol import Conditioning, StepIn, StepOut
from .unet_call import unet_cfg


def x0_estimate(x: Tensor, eps: Tensor, alpha_bar: float) -> Tensor:
    """The clean latent that `x` and `eps` imply; `eps` enters as a constant (no graph through it)."""
    return (x - math.sqrt(1 - alpha_bar) * eps.detach()) / math.sqrt(alpha_bar)


@dataclass(eq=False)
class LatentX0Guidance:
    unet: object
    scorer: object  # clean latents (B, C, h, w) -> score (B,)
    name: str = "latent-x0"

    def __call__(self, step: StepIn) -> StepOut:
        out_uncond, out_cond = unet_cfg(self.unet, step)
        if not step.want_grad:
            return StepOut(out_uncond, out_cond)
        eps = to_eps(out_cond, step.x, step.alpha_bar, step.prediction_type).detach()
        with torch.enable_grad():
            x = step.x.detach().requires_grad_(True)
            score = self.scorer(x0_estimate(x, eps, step.alpha_bar))
            (grad,) = torch.autograd.grad(score.sum(), x)
        return StepOut(out_uncond, out_cond, grad, score.detach())

    @torch.no_grad()
    def score(self, x0: Tensor, cond: Conditioning) -> Tensor:
        return self.scorer(x0)


def build(models, scorer, name: str = "latent-x0") -> LatentX0Guidance:
    return LatentX0Guidance(models.unet, scorer, name=name)
