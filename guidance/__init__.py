"""Guidance backends and the one sampler they share.

`BACKENDS` maps a backend name to its `BackendSpec` (builder module, options and
scorer kind) and feeds the CLI's choices and pytest parametrize; everything else
about a backend (its scorer, its own judge in a sweep) derives from that entry.
A name not in it may be a user's own backend: an entry point of the
`guidance_bench.backends` group, or `module:attribute` (registry.py).
Importing this package imports no torch: the sampler and the protocol types load
on first use.

    backend = build_backend("midu", models, scorer)
    result = sample(backend, scheduler, x, cond, GuidanceConfig(scale=2.0), cfg_scale=7.5)
"""
import importlib

from .config import GuidanceConfig, SamplerConfig
from .registry import BackendSpec, load_plugin, plugin_names

# name -> module that defines it, loaded on first access (PEP 562)
_LAZY = {"sample": "sampler", "SampleResult": "sampler", "StepStats": "sampler", "Backend": "protocol", "Conditioning": "protocol",
         "StepIn": "protocol", "StepOut": "protocol", "ran_as": "protocol"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"guidance.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'guidance' has no attribute {name!r}")


def find_backend(name: str) -> BackendSpec:
    """A built-in backend's spec, else an installed plugin's, else the `module:attribute` one."""
    spec = BACKENDS.get(name) or load_plugin(name)
    if spec is None:
        raise ValueError(f"unknown backend {name!r}; valid: {', '.join([*BACKENDS, *plugin_names()])}, "
                         "or module:attribute naming a guidance.BackendSpec")
    return spec


def check_backend(name: str) -> None:
    find_backend(name)


def scorer_kind(name: str) -> str | None:
    """What backend `name`'s scorer reads: None, "midblock", "latent", "image" or "latent_x0"."""
    return find_backend(name).scorer


def build_backend(name: str, models, scorer=None):
    return find_backend(name).build(models, scorer, name=name)


BACKENDS = {
    "none": BackendSpec("guidance.none", None),
    "latent": BackendSpec("guidance.latent", "latent"),  # reads (C, h, w) latents
    "midu": BackendSpec("guidance.midu", "midblock"),  # reads mid-block features (C_mid, h/2^k, w/2^k)
    "midu-hook": BackendSpec("guidance.midu_hook", "midblock"),
    "midu-overlap": BackendSpec("guidance.midu", "midblock", {"overlap": True}),
    "pixel": BackendSpec("guidance.pixel", "image", {"through_unet": True, "decoder": "vae"}),  # reads decoded images in [-1, 1]
    "pixel-x0": BackendSpec("guidance.pixel", "image", {"through_unet": False, "decoder": "vae"}),
    "pixel-tiny": BackendSpec("guidance.pixel", "image", {"through_unet": True, "decoder": "tiny"}),
    "pixel-x0-tiny": BackendSpec("guidance.pixel", "image", {"through_unet": False, "decoder": "tiny"}),
    # added last, so the earlier ones keep their order in results; reads (C, h, w) clean latents, at the x0 estimate
    "latent-x0": BackendSpec("guidance.latent_x0", "latent_x0"),
}

__all__ = [
    "BACKENDS", "build_backend", "check_backend", "find_backend", "plugin_names", "scorer_kind", "ran_as", "Backend",
    "BackendSpec", "Conditioning", "StepIn", "StepOut", "GuidanceConfig", "SamplerConfig", "SampleResult", "StepStats", "sample",
]
