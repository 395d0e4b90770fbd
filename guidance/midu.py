"""`midu`: mid-U guidance with the shortened gradient path.

The score is a head on the UNet's mid-block output for the conditional CFG
half, so its gradient needs an autograd graph over the down blocks and mid
block of that half only. The step is arranged accordingly:

1. unconditional half: down + mid with no graph;
2. conditional half: down + mid with grad, head, backward (the graph is freed
   here, before the up path allocates anything);
3. both halves together: up blocks with no graph, giving the noise prediction.

The result equals the stock forward exactly (tests/test_unet_split.py) and the
gradient equals the naive full-graph hook's (tests/test_backends.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from . import unet_split
from .protocol import Conditioning, StepIn, StepOut
from .unet_call import unet_cfg

SCORER = "midblock"  # reads mid-block features (C_mid, h/2^k, w/2^k)


@dataclass(eq=False)
class MidUGuidance:
    unet: object
    scorer: object  # mid-block features -> score (B,)
    name: str = "midu"

    def __post_init__(self):
        unet_split.check_supported(self.unet)

    def __call__(self, step: StepIn) -> StepOut:
        if not step.want_grad:
            return StepOut(*unet_cfg(self.unet, step))
        c = step.cond
        with torch.no_grad():
            dm_uncond = unet_split.down_mid(self.unet, step.x, step.t, c.uncond, c.added_uncond)
        with torch.enable_grad():
            x = step.x.detach().requires_grad_(True)
            dm_cond = unet_split.down_mid(self.unet, x, step.t, c.cond, c.added_cond)
            score = self.scorer(dm_cond.h)
            (grad,) = torch.autograd.grad(score.sum(), x)
        with torch.no_grad():
            out = unet_split.up(self.unet, unet_split.cat([dm_uncond, unet_split.detach(dm_cond)]))
        out_uncond, out_cond = out.chunk(2)
        return StepOut(out_uncond, out_cond, grad, score.detach())

    @torch.no_grad()
    def score(self, x0: Tensor, cond: Conditioning) -> Tensor:
        """Head on the mid-block features of the finished latents at t = 0 with the prompt."""
        t = torch.zeros((), dtype=torch.long, device=x0.device)
        return self.scorer(unet_split.down_mid(self.unet, x0, t, cond.cond, cond.added_cond).h)


def build(models, scorer) -> MidUGuidance:
    return MidUGuidance(models.unet, scorer)
