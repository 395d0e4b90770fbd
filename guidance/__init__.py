"""Guidance backends and the one sampler they share.

`BACKENDS` maps a backend name to its `BackendSpec` (builder module, options and
scorer kind) and feeds the CLI's choices and pytest parametrize; everything else
about a backend (its scorer, its own judge in a sweep) derives from that entry.
Importing this package imports no torch: the sampler and the protocol types load
on first use.

    backend = build_backend("midu", models, scorer)
    result = sample(backend, scheduler, x, cond, GuidanceConfig(scale=2.0), cfg_scale=7.5)
"""
import importlib

from .config import GuidanceConfig, SamplerConfig
from .registry import BackendSpec

# name -> module that defines it, loaded on first access (PEP 562)
_LAZY = {"sample": "sampler", "SampleResult": "sampler", "StepStats": "sampler", "Backend": "protocol", "Conditioning": "protocol",
         "StepIn": "protocol", "StepOut": "protocol", "ran_as": "protocol"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"guidance.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'guidance' has no attribute {name!r}")


def check_backend(name: str) -> None:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; valid: {', '.join(BACKENDS)}")


def scorer_kind(name: str) -> str | None:
    """What backend `name`'s scorer reads: None, "midblock", "latent" or "image"."""
    check_backend(name)
    return BACKENDS[name].scorer


def build_backend(name: str, models, scorer=None):
    check_backend(name)
    return BACKENDS[name].build(models, scorer, name=name)


BACKENDS = {
    "none": BackendSpec("none", None),
    "latent": BackendSpec("latent", "latent"),  # reads (C, h, w) latents
    "midu": BackendSpec("midu", "midblock"),  # reads mid-block features (C_mid, h/2^k, w/2^k)
    "midu-hook": BackendSpec("midu_hook", "midblock"),
    "midu-overlap": BackendSpec("midu", "midblock", {"overlap": True}),
    "pixel": BackendSpec("pixel", "image", {"through_unet": True, "decoder": "vae"}),  # reads decoded images in [-1, 1]
    "pixel-x0": BackendSpec("pixel", "image", {"through_unet": False, "decoder": "vae"}),
    "pixel-tiny": BackendSpec("pixel", "image", {"through_unet": True, "decoder": "tiny"}),
    "pixel-x0-tiny": BackendSpec("pixel", "image", {"through_unet": False, "decoder": "tiny"}),
}

__all__ = [
    "BACKENDS", "build_backend", "check_backend", "scorer_kind", "ran_as", "Backend", "BackendSpec", "Conditioning", "StepIn",
    "StepOut", "GuidanceConfig", "SamplerConfig", "SampleResult", "StepStats", "sample",
]
