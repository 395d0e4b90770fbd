"""Stock UNet calls shared by the backends."""
from __future__ import annotations

import torch
from torch import Tensor

from .protocol import StepIn


def unet_half(unet, x: Tensor, t: Tensor, context: Tensor, added: dict) -> Tensor:
    return unet(x, t, encoder_hidden_states=context, added_cond_kwargs=added or None, return_dict=False)[0]


@torch.no_grad()
def unet_cfg(unet, step: StepIn) -> tuple[Tensor, Tensor]:
    """Both CFG halves in one batched forward with no graph, as diffusers' pipelines run it."""
    context, added = step.cond.both()
    out = unet_half(unet, torch.cat([step.x, step.x]), step.t, context, added)
    out_uncond, out_cond = out.chunk(2)
    return out_uncond, out_cond
