"""Sampling and guidance knobs, recorded in every result row via `asdict`."""
from __future__ import annotations

import math
from dataclasses import dataclass

GRAD_NORMS = ("none", "rms")
TARGETS = ("latent", "eps")


@dataclass(frozen=True)
class GuidanceConfig:
    """How the backend's gradient enters the sampler.

    target="latent" (default): x_t += scale * grad before the scheduler step,
    as the mid-U seed and its descendants do. target="eps": Dhariwal & Nichol's
    eps' = eps - scale * sqrt(1 - alpha_bar) * grad. The latent form is the
    default because the seed used it and, with RMS-normalised gradients, it
    moved the scorer about twice as far per unit scale as the eps form in our
    prototype; both are recorded so either can be chosen per run.
    grad_norm="rms" divides each sample's gradient by its root-mean-square,
    making `scale` comparable across backends whose raw gradients differ by
    orders of magnitude.
    recurrence=N redoes each guided step N times, taking the stepped sample back
    to the step's timestep with the one-step forward transition between them
    (Universal Guidance's self-recurrence); iterations=M applies M successive
    gradient updates to x_t at the same timestep, each re-running the backend,
    before the scheduler steps (target="latent" only: the eps target moves no
    x_t). A guided step then makes N * M backend calls; 1 and 1 is the plain step.
    reuse_grad=True applies the last guided step's update again on the window's
    steps that every_k skips (target="latent" only), at no extra backend call;
    False (default) leaves those steps unguided.
    """

    scale: float = 0.0
    window_start: float = 0.0  # fraction of the steps where guidance starts
    window_end: float = 1.0  # fraction where it stops (exclusive)
    every_k: int = 1
    grad_norm: str = "rms"
    target: str = "latent"
    recurrence: int = 1
    iterations: int = 1
    reuse_grad: bool = False

    def __post_init__(self):
        if not math.isfinite(self.scale):
            raise ValueError(f"scale={self.scale}: expected a finite number")
        if not 0.0 <= self.window_start <= 1.0 or not 0.0 <= self.window_end <= 1.0:
            raise ValueError(f"guidance window ({self.window_start}, {self.window_end}) must lie in [0, 1]")
        if self.window_start >= self.window_end:
            raise ValueError(f"guidance window start {self.window_start} must be below its end {self.window_end}")
        if self.every_k < 1:
            raise ValueError(f"every_k={self.every_k}: expected an integer >= 1")
        if self.grad_norm not in GRAD_NORMS:
            raise ValueError(f"grad_norm={self.grad_norm!r}: expected one of {GRAD_NORMS}")
        if self.target not in TARGETS:
            raise ValueError(f"target={self.target!r}: expected one of {TARGETS}")
        for name in ("recurrence", "iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: expected an integer >= 1")
        if self.iterations > 1 and self.target != "latent":
            raise ValueError(f"iterations={self.iterations} updates x_t: it needs target='latent', not {self.target!r}")
        if not isinstance(self.reuse_grad, bool):
            raise ValueError(f"reuse_grad={self.reuse_grad!r}: expected True or False")
        if self.reuse_grad and self.target != "latent":
            raise ValueError(f"reuse_grad re-applies an update of x_t: it needs target='latent', not {self.target!r}")

    @property
    def calls_per_guided_step(self) -> int:
        """Backend calls (each a UNet run of both CFG halves with its gradient) one guided step makes."""
        return self.recurrence * self.iterations

    def active(self, i: int, n: int) -> bool:
        """Whether step i of n gets guidance (window in fractions of n, then every k-th)."""
        if self.scale == 0.0:
            return False
        first = _ceil_frac(self.window_start, n)
        return first <= i < _ceil_frac(self.window_end, n) and (i - first) % self.every_k == 0

    def reuses(self, i: int, n: int) -> bool:
        """Whether step i of n re-applies the last update: a window step that every_k skips, with reuse_grad."""
        if not self.reuse_grad or self.scale == 0.0:
            return False
        return _ceil_frac(self.window_start, n) <= i < _ceil_frac(self.window_end, n) and not self.active(i, n)


def _ceil_frac(f: float, n: int) -> int:
    return math.ceil(round(f * n, 9))


@dataclass(frozen=True)
class SamplerConfig:
    steps: int = 50
    cfg_scale: float = 7.5
    scheduler: str = "ddim"
    seed: int = 0
    height: int | None = None  # pixels; None = the model's default
    width: int | None = None
    batch: int = 1

    def __post_init__(self):
        if not (math.isfinite(self.cfg_scale) and self.cfg_scale >= 0):
            raise ValueError(f"cfg_scale={self.cfg_scale}: expected a finite number >= 0")
        if self.seed < 0:
            raise ValueError(f"seed={self.seed}: expected an integer >= 0")
        if self.steps < 1:
            raise ValueError(f"steps={self.steps}: expected an integer >= 1")
        if self.batch < 1:
            raise ValueError(f"batch={self.batch}: expected an integer >= 1")
        for name in ("height", "width"):
            v = getattr(self, name)
            if v is not None and v < 8:
                raise ValueError(f"{name}={v}: expected at least 8 pixels")
