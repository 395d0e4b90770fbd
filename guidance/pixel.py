"""`pixel*`: the classic scorer on decoded pixels.

The x0 estimate is decoded to an image and scored by an image scorer (CLIP
image tower + aesthetic head). Two choices span the variants:

- through_unet=True (the classic path): the conditional half's UNet forward
  runs with grad and x0 depends on x through it, so the gradient goes back
  through scorer, decoder and UNet. The unconditional half runs separately
  with no graph: it needs none.
- through_unet=False ("x0 detached"): both halves run in one batched no-grad
  forward and only x0 = (x - sqrt(1-alpha_bar) eps) / sqrt(alpha_bar) is
  differentiated, so the gradient skips the UNet.

The decoder is the model's full VAE decoder or a tiny one (diffusers
AutoencoderTiny, the TAESD architecture).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .prediction import to_x0
from .protocol import Conditioning, StepIn, StepOut
from .unet_call import unet_cfg, unet_half



def decode(decoder, x0: Tensor) -> Tensor:
    """Latents -> images in [-1, 1], with the decoder's own scaling (and shift, where it has one)."""
    z = x0 / decoder.config.scaling_factor
    shift = getattr(decoder.config, "shift_factor", None)
    if shift:
        z = z + shift
    return decoder.decode(z, return_dict=False)[0]


@dataclass(eq=False)
class PixelGuidance:
    unet: object
    decoder: object  # AutoencoderKL or AutoencoderTiny
    scorer: object  # images (B, 3, H, W) in [-1, 1] -> score (B,)
    through_unet: bool
    name: str = "pixel"

    def __call__(self, step: StepIn) -> StepOut:
        if not step.want_grad:
            return StepOut(*unet_cfg(self.unet, step))
        if self.through_unet:
            c = step.cond
            with torch.no_grad():
                out_uncond = unet_half(self.unet, step.x, step.t, c.uncond, c.added_uncond)
            with torch.enable_grad():
                x = step.x.detach().requires_grad_(True)
                out_cond = unet_half(self.unet, x, step.t, c.cond, c.added_cond)
                score, grad = self._score_grad(out_cond, x, step)
            out_cond = out_cond.detach()
        else:
            out_uncond, out_cond = unet_cfg(self.unet, step)
            with torch.enable_grad():
                x = step.x.detach().requires_grad_(True)
                score, grad = self._score_grad(out_cond, x, step)
        return StepOut(out_uncond, out_cond, grad, score)

    def _score_grad(self, out_cond: Tensor, x: Tensor, step: StepIn) -> tuple[Tensor, Tensor]:
        x0 = to_x0(out_cond, x, step.alpha_bar, step.prediction_type)
        score = self.scorer(decode(self.decoder, x0))
        (grad,) = torch.autograd.grad(score.sum(), x)
        return score.detach(), grad

    @torch.no_grad()
    def score(self, x0: Tensor, cond: Conditioning) -> Tensor:
        return self.scorer(decode(self.decoder, x0))


def build(models, scorer, name: str = "pixel", through_unet: bool = True, decoder: str = "vae") -> PixelGuidance:
    decoders = {"vae": lambda: models.vae, "tiny": lambda: models.tiny_decoder()}
    if decoder not in decoders:
        raise ValueError(f"decoder={decoder!r}: expected one of {sorted(decoders)}")
    return PixelGuidance(models.unet, decoders[decoder](), scorer, through_unet, name=name)
