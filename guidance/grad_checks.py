"""Which samples' guidance gradients can be used on a step: finite, and large enough to carry a direction.

A sample whose gradient cannot be used gets no guidance on that step (its
gradient is zeroed) and is counted: `nonfinite` (NaN/inf in the gradient or the
score) or `saturated` (the gradient is below what rounding alone can produce).

The saturation floor. The score is a float: it is known to about eps |s|, eps
the machine epsilon of the dtype it was computed in (never finer than float32's:
a float64 run is the reference float32 runs are checked against, so it must skip
the steps float32 cannot resolve, or the two would differ by design). A gradient
g predicts that a step of the input's own size (rms(dx) = rms(x), over the N
elements of one sample) changes the score by at most |g| |dx| = rms(g) rms(x) N.
Where even that is below eps |s|, no step the score could register follows from
g: its direction is rounding, and RMS normalisation would turn it into a full
guidance step. So a sample is saturated when

    rms(g) * rms(x) * N <= eps * |s|

This depends on the score and the input, not on the gradient's own scale, so it
never skips a gradient that is merely small: the toy world's trained heads give
raw RMS 1e-3..1e-1 at scores 5..10 (fp32 floor there about 5e-9); a softmax
readout pinned at its top class gives 1e-13 and less.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .protocol import StepOut


def saturation_floor(score: Tensor, x: Tensor, dtype: torch.dtype) -> Tensor:
    """Per sample: the gradient RMS below which the gradient carries no direction (see the module docstring)."""
    eps = max(torch.finfo(dtype).eps, torch.finfo(torch.float32).eps)
    x = x.detach().double().flatten(1)
    rms_x = x.pow(2).mean(1).sqrt().clamp_min(torch.finfo(torch.float64).tiny)
    return eps * score.detach().double().abs() / (rms_x * x.shape[1])


def _nonfinite(grad: Tensor, score: Tensor | None) -> Tensor:
    bad = ~torch.isfinite(grad.flatten(1)).all(1)
    return bad if score is None else bad | ~torch.isfinite(score)


def _saturated(rms_g: Tensor, score: Tensor | None, x: Tensor, dtype: torch.dtype) -> Tensor:
    """An exactly zero gradient is saturated too; without a score that is the only test there is."""
    floor = torch.zeros_like(rms_g, dtype=torch.float64) if score is None else saturation_floor(score, x, dtype).to(rms_g.device)
    return rms_g.double() <= floor


def checked(step: StepOut, x: Tensor) -> tuple[Tensor, tuple[int, ...], tuple[int, ...], float]:
    """The step's gradient with unusable samples zeroed: (grad, non-finite indices, saturated indices, RMS of the
    gradient with non-finite samples zeroed). One pass over the gradient and one device-to-host copy per step."""
    nonfinite = _nonfinite(step.grad, step.score)
    grad = torch.where(nonfinite.view(-1, *[1] * (step.grad.dim() - 1)), torch.zeros_like(step.grad), step.grad)
    rms_g = grad.detach().float().flatten(1).pow(2).mean(1).sqrt()  # per sample, float32 accumulation
    saturated = _saturated(rms_g, step.score, x, step.grad.dtype) & ~nonfinite
    grad = torch.where(saturated.view(-1, *[1] * (grad.dim() - 1)), torch.zeros_like(grad), grad)
    masks, rms = torch.stack([nonfinite, saturated]).cpu(), float(rms_g.pow(2).mean().sqrt())
    return grad, _indices(masks[0]), _indices(masks[1]), rms


def directional_or_zero(grad: Tensor, score: Tensor | None, x: Tensor) -> tuple[Tensor, tuple[int, ...]]:
    """Zero the gradient of saturated samples (an exactly zero gradient is one too); say which they were."""
    rms_g = grad.detach().float().flatten(1).pow(2).mean(1).sqrt()
    return _zero(grad, _saturated(rms_g, score, x, grad.dtype))


def _indices(mask: Tensor) -> tuple[int, ...]:
    return tuple(int(i) for i in mask.nonzero().flatten())


def _zero(grad: Tensor, bad: Tensor) -> tuple[Tensor, tuple[int, ...]]:
    idx = _indices(bad)
    if idx:
        grad = torch.where(bad.view(-1, *[1] * (grad.dim() - 1)), torch.zeros_like(grad), grad)
    return grad, idx
