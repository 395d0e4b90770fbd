"""`latent`: a head on the noisy latents themselves; the UNet runs with no graph at all.

The cheapest gradient there is (only the head is differentiated), and the
lower bound on what any learned guidance can cost.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .protocol import Conditioning, StepIn, StepOut
from .unet_call import unet_cfg



@dataclass(eq=False)
class LatentGuidance:
    unet: object
    scorer: object  # latents (B, C, h, w) -> score (B,)
    name: str = "latent"

    def __call__(self, step: StepIn) -> StepOut:
        out_uncond, out_cond = unet_cfg(self.unet, step)
        if not step.want_grad:
            return StepOut(out_uncond, out_cond)
        with torch.enable_grad():
            x = step.x.detach().requires_grad_(True)
            score = self.scorer(x)
            (grad,) = torch.autograd.grad(score.sum(), x)
        return StepOut(out_uncond, out_cond, grad, score.detach())

    @torch.no_grad()
    def score(self, x0: Tensor, cond: Conditioning) -> Tensor:
        return self.scorer(x0)


def build(models, scorer, name: str = "latent") -> LatentGuidance:
    return LatentGuidance(models.unet, scorer, name=name)
