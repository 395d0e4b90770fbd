"""Noise-schedule arithmetic in the variance-preserving (VP) frame.

Backends see the UNet input `x` (what `scheduler.scale_model_input` returns),
which for every diffusers scheduler is the VP latent
`x = sqrt(alpha_bar) * x0 + sqrt(1 - alpha_bar) * eps`: DDIM and DPM-Solver++
hold it as is, Euler holds `x / sqrt(alpha_bar)` and scales it back. So all
guidance maths runs in one frame whatever the scheduler, with `alpha_bar`
read off the scheduler's own `alphas_cumprod`.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

PREDICTION_TYPES = ("epsilon", "v_prediction")


def alpha_bar_at(alphas_cumprod: Tensor, t: Tensor | float) -> float:
    """alpha_bar at a (possibly fractional) timestep, interpolating sigma linearly as Euler does."""
    t = float(t)
    n = alphas_cumprod.shape[0]
    if not 0 <= t <= n - 1:
        raise ValueError(f"timestep {t} outside the schedule's range [0, {n - 1}]")
    i0 = math.floor(t)
    w = t - i0
    if w == 0:
        return float(alphas_cumprod[i0])
    sigmas = ((1 - alphas_cumprod) / alphas_cumprod).sqrt()
    sigma = (1 - w) * float(sigmas[i0]) + w * float(sigmas[min(i0 + 1, n - 1)])
    return 1.0 / (1.0 + sigma * sigma)


def check_prediction_type(prediction_type: str) -> None:
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"prediction_type {prediction_type!r} is not supported; expected one of {PREDICTION_TYPES}")


def to_eps(out: Tensor, x: Tensor, alpha_bar: float, prediction_type: str) -> Tensor:
    """The noise prediction implied by a model output."""
    if prediction_type == "epsilon":
        return out
    check_prediction_type(prediction_type)
    # v = sqrt(ab) eps - sqrt(1-ab) x0  and  x = sqrt(ab) x0 + sqrt(1-ab) eps
    return math.sqrt(alpha_bar) * out + math.sqrt(1 - alpha_bar) * x


def from_eps(eps: Tensor, x: Tensor, alpha_bar: float, prediction_type: str) -> Tensor:
    """The model output (of the model's prediction type) that implies `eps` at `x`."""
    if prediction_type == "epsilon":
        return eps
    check_prediction_type(prediction_type)
    x0 = (x - math.sqrt(1 - alpha_bar) * eps) / math.sqrt(alpha_bar)
    return math.sqrt(alpha_bar) * eps - math.sqrt(1 - alpha_bar) * x0


def to_x0(out: Tensor, x: Tensor, alpha_bar: float, prediction_type: str) -> Tensor:
    """The clean-latent estimate implied by a model output."""
    eps = to_eps(out, x, alpha_bar, prediction_type)
    return (x - math.sqrt(1 - alpha_bar) * eps) / math.sqrt(alpha_bar)


def input_scale(scheduler, t: Tensor) -> float:
    """Factor c with `scale_model_input(x, t) == c * x`: 1 for DDIM/DPM, sqrt(alpha_bar) for Euler."""
    one = torch.ones(1, dtype=torch.float32)
    return float(scheduler.scale_model_input(one, t))


def renoise(x_prev: Tensor, alpha_bar: float, alpha_bar_prev: float, noise: Tensor) -> Tensor:
    """The one-step forward transition q(x_t | x_prev) of VP latents: back from the step's target to its timestep.

    x_t = sqrt(alpha_bar / alpha_bar_prev) x_prev + sqrt(1 - alpha_bar / alpha_bar_prev) noise, so a sample
    of q(x_prev | x0) becomes one of q(x_t | x0) (Universal Guidance's self-recurrence).
    """
    ratio = alpha_bar / alpha_bar_prev
    return math.sqrt(ratio) * x_prev + math.sqrt(1 - ratio) * noise.to(x_prev.dtype)
