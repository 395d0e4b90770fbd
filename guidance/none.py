"""`none`: classifier-free guidance only; the unguided reference every ratio is taken against."""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from .protocol import Conditioning, StepIn, StepOut
from .unet_call import unet_cfg



@dataclass(eq=False)
class NoGuidance:
    unet: object
    name: str = "none"

    def __call__(self, step: StepIn) -> StepOut:
        return StepOut(*unet_cfg(self.unet, step))

    def score(self, x0: Tensor, cond: Conditioning) -> None:
        return None


def build(models, scorer=None, name: str = "none") -> NoGuidance:
    return NoGuidance(models.unet, name=name)
