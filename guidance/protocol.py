"""The one small contract between the sampler and a guidance backend.

A backend wraps the model (k-diffusion's idea): given the UNet input of one
step it runs the UNet for both CFG halves and, when asked, the gradient of its
scorer with respect to that input. The sampler combines the halves, applies
the gradient and steps the scheduler; it never knows which backend it runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from torch import Tensor


@dataclass(frozen=True)
class Conditioning:
    """Text conditioning for both CFG halves, each of batch B."""

    uncond: Tensor  # (B, L, D) encoder hidden states of the negative prompt
    cond: Tensor  # (B, L, D) encoder hidden states of the prompt
    added_uncond: dict = field(default_factory=dict)  # SDXL added_cond_kwargs
    added_cond: dict = field(default_factory=dict)

    def both(self) -> tuple[Tensor, dict]:
        """Both halves stacked as one batch of 2B: uncond first, as diffusers does."""
        from torch import cat

        added = {k: cat([self.added_uncond[k], self.added_cond[k]]) for k in self.added_cond}
        return cat([self.uncond, self.cond]), added


@dataclass(frozen=True)
class StepIn:
    x: Tensor  # UNet input (VP latent), (B, C, h, w)
    t: Tensor  # timestep
    alpha_bar: float
    prediction_type: str
    cond: Conditioning
    want_grad: bool  # False outside the guidance window or at scale 0: no autograd at all


@dataclass(frozen=True)
class StepOut:
    out_uncond: Tensor  # model outputs, no graph attached
    out_cond: Tensor
    grad: Tensor | None = None  # d score.sum() / d x, (B, C, h, w)
    score: Tensor | None = None  # scorer value per sample, (B,)


class Backend(Protocol):
    name: str

    def __call__(self, step: StepIn) -> StepOut: ...

    def score(self, x0: Tensor, cond: Conditioning) -> Tensor | None:
        """The backend's own scorer on a finished sample (clean latents); None for `none`."""
        ...


def ran_as(backend: Backend) -> str:
    """What a backend ran as on its device: its name, unless it fell back to a plainer path there."""
    method = getattr(backend, "ran_as", None)
    return backend.name if method is None else method()
