"""The one sampler every backend shares.

A plain loop over a diffusers scheduler's timesteps: the backend runs the
model (both CFG halves, and its gradient when asked), the loop combines the
halves with classifier-free guidance, applies the guidance gradient and steps
the scheduler. No backend or scheduler branches: schedulers differ only
through `scale_model_input` (see `prediction.py`), backends only through
the `Backend` call. A guided step may be redone (`recurrence`) or make several
gradient updates before it steps (`iterations`); both default to the plain
step, which they then are exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from torch import Tensor

from .config import GuidanceConfig
from .grad_checks import checked
from .prediction import alpha_bar_at, from_eps, input_scale, renoise, to_eps
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
    calls: int = 0  # backend calls (UNet runs of both CFG halves) this step made: recurrence x iterations when guided
    updates: int = 0  # gradient updates applied this step
    reused: bool = False  # the last guided step's update applied again (reuse_grad), no backend gradient taken


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
    generator: torch.Generator | list[torch.Generator] | None = None,
) -> SampleResult:
    """Run the reverse process from `x` (already scaled by `init_noise_sigma`).

    `scheduler` must have had `set_timesteps` called. `step_kwargs` go to
    `scheduler.step` (e.g. DDIM's eta and generator). `generator` (one, or one per
    sample) draws the noise that takes a redone step back to its timestep.
    """
    check_recurrence(scheduler, guidance.recurrence)
    alphas_cumprod = scheduler.alphas_cumprod
    timesteps = scheduler.timesteps
    n = len(timesteps)
    steps: list[StepStats] = []
    last: list[Tensor] = []  # the last update applied (reuse_grad), on the UNet input's scale
    for i, t in enumerate(timesteps):
        want_grad = guidance.active(i, n)
        alpha_bar = alpha_bar_at(alphas_cumprod, t)
        stats = StepStats(i=i, t=float(t), guided=False)
        if last and guidance.reuses(i, n):
            x = x + (last[0] / input_scale(scheduler, t)).to(x.dtype)
            stats.reused = True
        state = dict(vars(scheduler))  # a single-step scheduler's step only reassigns attributes (Euler's step index)
        for r in range(guidance.recurrence):
            out, x = model_output(backend, scheduler, x, t, alpha_bar, cond, guidance, cfg_scale, want_grad, stats, last)
            x_prev = scheduler.step(out, t, x, **(step_kwargs or {}), return_dict=False)[0]
            if not stats.guided or r + 1 == guidance.recurrence:
                break
            # where the step landed: the schedule's next timestep (DDIM steps by num_train_timesteps // steps, which is
            # that spacing under the "leading" spacing of SD's configs; others may differ by a timestep), or past the last
            t_prev = timesteps[i + 1] if i + 1 < n else t
            alpha_bar_prev = alpha_bar_at(alphas_cumprod, t_prev) if i + 1 < n else final_alpha_bar(scheduler)
            x_vp = x_prev * input_scale(scheduler, t_prev)  # the scheduler now stands at the next step
            vars(scheduler).clear()
            vars(scheduler).update(state)
            noise = randn_like(x_vp, generator)
            x = (renoise(x_vp, alpha_bar, alpha_bar_prev, noise) / input_scale(scheduler, t)).to(x.dtype)
        x = x_prev
        steps.append(stats)
        if on_step is not None:
            on_step(stats)
    return SampleResult(x0=x, steps=steps)


def model_output(backend: Backend, scheduler, x: Tensor, t, alpha_bar: float, cond: Conditioning, guidance: GuidanceConfig,
                 cfg_scale: float, want_grad: bool, stats: StepStats, last: list | None = None) -> tuple[Tensor, Tensor]:
    """The CFG output to step with and the sample it steps from, after the step's gradient updates; `last` (a list)
    is left holding the last update applied, for reuse_grad."""
    prediction_type = scheduler.config.prediction_type
    for _ in range(guidance.iterations if want_grad else 1):
        x_in = scheduler.scale_model_input(x, t)
        step = backend(StepIn(x=x_in, t=t, alpha_bar=alpha_bar, prediction_type=prediction_type, cond=cond, want_grad=want_grad))
        stats.calls += 1
        out = cfg_combine(step.out_uncond, step.out_cond, cfg_scale)
        if not (want_grad and step.grad is not None):  # `none` returns no gradient
            return out, x
        stats.guided = True
        grad, nonfinite_idx, saturated_idx, grad_rms = checked(step, x_in)
        record(stats, nonfinite_idx, saturated_idx, grad_rms, step.score)
        g = normalise(grad, guidance.grad_norm) * guidance.scale
        if guidance.target == "eps":
            eps = to_eps(out, x_in, alpha_bar, prediction_type)
            out = from_eps(eps - math.sqrt(1 - alpha_bar) * g.to(eps.dtype), x_in, alpha_bar, prediction_type)
        else:
            # a step of s*g on the UNet input is a step of s*g/c on the scheduler's sample
            x = x + (g / input_scale(scheduler, t)).to(x.dtype)
            if last is not None and guidance.reuse_grad:
                last[:] = [g]
        stats.updates += 1
    return out, x


def record(stats: StepStats, nonfinite_idx, saturated_idx, grad_rms, score: Tensor | None) -> None:
    """Skipped samples over all of the step's calls; the score and gradient RMS of its first call (the sample as it arrived)."""
    stats.nonfinite_idx = tuple(sorted(set(stats.nonfinite_idx) | set(nonfinite_idx)))
    stats.saturated_idx = tuple(sorted(set(stats.saturated_idx) | set(saturated_idx)))
    stats.nonfinite, stats.saturated = len(stats.nonfinite_idx), len(stats.saturated_idx)
    if stats.updates == 0:
        stats.grad_rms = grad_rms
        if score is not None:
            stats.score_mean = float(score.float().mean())


def check_recurrence(scheduler, recurrence: int) -> None:
    """A multistep scheduler keeps earlier steps' model outputs, which a step redone from fresh noise would corrupt."""
    if recurrence > 1 and hasattr(scheduler, "model_outputs"):
        raise ValueError(f"recurrence={recurrence} redoes steps, which corrupts {type(scheduler).__name__}'s record of "
                         "earlier model outputs: use a single-step scheduler (ddim, euler)")


def final_alpha_bar(scheduler) -> float:
    """alpha_bar the last step lands on: DDIM's `final_alpha_cumprod`, else 1 (Euler ends at sigma 0)."""
    return float(getattr(scheduler, "final_alpha_cumprod", 1.0))


def randn_like(x: Tensor, generator) -> Tensor:
    from diffusers.utils.torch_utils import randn_tensor

    return randn_tensor(x.shape, generator=generator, device=x.device, dtype=torch.float32)
