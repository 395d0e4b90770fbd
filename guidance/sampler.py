"""The one sampler every backend shares.

A plain loop over a diffusers scheduler's timesteps: the backend runs the
model (both CFG halves, and its gradient when asked), the loop combines the
halves with classifier-free guidance, applies the guidance gradient and steps
the scheduler. No backend or scheduler branches: schedulers differ only
through `scale_model_input` (see `prediction.py`), backends only through
the `Backend` call.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from torch import Tensor

from .config import GuidanceConfig
from .grad_checks import checked
from .prediction import alpha_bar_at, from_eps, input_scale, to_eps
from .protocol import Backend, Conditioning, StepIn


@dataclass
class StepStats:
    i: int
    t: float
    guided: bool
    score_mean: float | None = None
    grad_rms: float | None = None  # RMS of the raw (un-normalised) gradient
    nonfinite: int = 0  # samples whose gradient or score had NaN/inf (their guidance skipped)
    nonfinite_idx: tuple[int, ...] = ()  # which samples of the batch those were
    saturated: int = 0  # samples whose gradient was too small to carry a direction (guidance skipped; grad_checks.py)
    saturated_idx: tuple[int, ...] = ()


@dataclass
class SampleResult:
    x0: Tensor  # final latents (unscaled, as the scheduler holds them)
    steps: list[StepStats] = field(default_factory=list)


def cfg_combine(out_uncond: Tensor, out_cond: Tensor, cfg_scale: float) -> Tensor:
    # same expression as diffusers' pipelines, so scale-0 parity is exact
    return out_uncond + cfg_scale * (out_cond - out_uncond)


def normalise(grad: Tensor, how: str) -> Tensor:
    if how == "none":
        return grad
    rms = grad.flatten(1).pow(2).mean(1).sqrt().clamp_min(1e-12)
    return grad / rms.view(-1, *[1] * (grad.dim() - 1))


def sample(
    backend: Backend,
    scheduler,
    x: Tensor,
    cond: Conditioning,
    guidance: GuidanceConfig,
    cfg_scale: float,
    step_kwargs: dict | None = None,
    on_step: Callable[[StepStats], None] | None = None,
) -> SampleResult:
    """Run the reverse process from `x` (already scaled by `init_noise_sigma`).

    `scheduler` must have had `set_timesteps` called. `step_kwargs` go to
    `scheduler.step` (e.g. DDIM's eta and generator).
    """
    prediction_type = scheduler.config.prediction_type
    alphas_cumprod = scheduler.alphas_cumprod
    timesteps = scheduler.timesteps
    n = len(timesteps)
    steps: list[StepStats] = []
    for i, t in enumerate(timesteps):
        want_grad = guidance.active(i, n)
        x_in = scheduler.scale_model_input(x, t)
        alpha_bar = alpha_bar_at(alphas_cumprod, t)
        step = backend(StepIn(x=x_in, t=t, alpha_bar=alpha_bar, prediction_type=prediction_type, cond=cond, want_grad=want_grad))
        out = cfg_combine(step.out_uncond, step.out_cond, cfg_scale)
        guided = want_grad and step.grad is not None  # `none` returns no gradient
        stats = StepStats(i=i, t=float(t), guided=guided)
        if guided:
            grad, stats.nonfinite_idx, stats.saturated_idx, stats.grad_rms = checked(step, x_in)
            stats.nonfinite, stats.saturated = len(stats.nonfinite_idx), len(stats.saturated_idx)
            if step.score is not None:
                stats.score_mean = float(step.score.float().mean())
            g = normalise(grad, guidance.grad_norm) * guidance.scale
            if guidance.target == "eps":
                eps = to_eps(out, x_in, alpha_bar, prediction_type)
                out = from_eps(eps - math.sqrt(1 - alpha_bar) * g.to(eps.dtype), x_in, alpha_bar, prediction_type)
            else:
                # a step of s*g on the UNet input is a step of s*g/c on the scheduler's sample
                x = x + (g / input_scale(scheduler, t)).to(x.dtype)
        x = scheduler.step(out, t, x, **(step_kwargs or {}), return_dict=False)[0]
        steps.append(stats)
        if on_step is not None:
            on_step(stats)
    return SampleResult(x0=x, steps=steps)
