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

from dataclasses import dataclass, field

import torch
from torch import Tensor

from . import unet_split
from .protocol import Conditioning, StepIn, StepOut
from .unet_call import unet_cfg



@dataclass(eq=False)
class MidUGuidance:
    unet: object
    scorer: object  # mid-block features -> score (B,)
    name: str = "midu"
    overlap: bool = False  # CUDA: run the up path on a side stream, concurrent with the backward
    _side: object = field(default=None, init=False, repr=False)  # the side stream, made on first use

    def __post_init__(self):
        unet_split.check_supported(self.unet)

    def ran_as(self) -> str:
        """The path that runs on the UNet's device: without CUDA streams the overlap has nothing to overlap on."""
        device = self.unet.device
        if self.overlap and device.type != "cuda":
            return f"midu (no CUDA streams on {device.type}: the plain path ran)"
        return self.name

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
            joined = unet_split.cat([dm_uncond, unet_split.detach(dm_cond)])
            if self.overlap and x.is_cuda:
                out, grad = self._up_beside_backward(joined, score, x)
            else:
                (grad,) = torch.autograd.grad(score.sum(), x)  # frees the graph before the up path allocates
                with torch.no_grad():
                    out = unet_split.up(self.unet, joined)
        out_uncond, out_cond = out.chunk(2)
        return StepOut(out_uncond, out_cond, grad, score.detach())

    def _up_beside_backward(self, joined: unet_split.DownMid, score: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """The up path and the backward need each other's inputs only: run them on two streams.

        Backward ops run on the streams of their forward ops (the current one),
        so the up path goes to the side stream. At small batch neither fills an
        H100, so the GPU can run them concurrently. Costs memory: the graph lives
        while the up path allocates.
        """
        main = torch.cuda.current_stream()
        if self._side is None or self._side.device != x.device:
            self._side = torch.cuda.Stream(device=x.device)
        side = self._side
        side.wait_stream(main)
        with torch.cuda.stream(side), torch.no_grad():
            for tensor in (joined.h, joined.emb, joined.context, *joined.res):
                tensor.record_stream(side)  # made on main, read on side: keep the allocator from reusing them early
            out = unet_split.up(self.unet, joined)
        (grad,) = torch.autograd.grad(score.sum(), x)
        main.wait_stream(side)
        out.record_stream(main)
        return out, grad

    @torch.no_grad()
    def score(self, x0: Tensor, cond: Conditioning) -> Tensor:
        """Head on the mid-block features of the finished latents at t = 0 with the prompt."""
        t = torch.zeros((), dtype=torch.long, device=x0.device)
        return self.scorer(unet_split.down_mid(self.unet, x0, t, cond.cond, cond.added_cond).h)


def build(models, scorer, name: str = "midu", overlap: bool = False) -> MidUGuidance:
    return MidUGuidance(models.unet, scorer, name=name, overlap=overlap)
