"""`midu-hook`: the seed's naive mid-U form, kept as the reference.

A full stock UNet forward over both CFG halves with grad, a forward hook on
`mid_block` catching the features. The autograd graph therefore spans the up
blocks too (their activations are saved though no gradient ever reaches them):
this is the memory the `midu` backend saves.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .midu import MidUGuidance
from .protocol import StepIn, StepOut
from .unet_call import unet_cfg, unet_half


@dataclass(eq=False)
class MidUHookGuidance(MidUGuidance):
    name: str = "midu-hook"

    def __call__(self, step: StepIn) -> StepOut:
        if not step.want_grad:
            return StepOut(*unet_cfg(self.unet, step))
        caught = []
        handle = self.unet.mid_block.register_forward_hook(lambda module, args, output: caught.append(output))
        try:
            with torch.enable_grad():
                x = step.x.detach().requires_grad_(True)
                context, added = step.cond.both()
                out = unet_half(self.unet, torch.cat([x, x]), step.t, context, added)
                h_cond = caught[0].chunk(2)[1]
                score = self.scorer(h_cond)
                (grad,) = torch.autograd.grad(score.sum(), x)
        finally:
            handle.remove()
        out_uncond, out_cond = out.detach().chunk(2)
        return StepOut(out_uncond, out_cond, grad, score.detach())


def build(models, scorer, name: str = "midu-hook") -> MidUHookGuidance:
    return MidUHookGuidance(models.unet, scorer, name=name)
