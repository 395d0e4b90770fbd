"""Guidance backends and the one sampler they share.

`BACKENDS` maps a backend name to a builder `build(models, scorer) -> Backend`
and feeds the CLI's choices and pytest parametrize; `SCORER_KIND` says which
scorer each backend reads (None, "midblock", "latent" or "image").
"""
from functools import partial

from . import latent, midu, midu_hook, none, pixel
from .config import GuidanceConfig, SamplerConfig
from .protocol import Backend, Conditioning, StepIn, StepOut
from .sampler import SampleResult, StepStats, sample

BACKENDS = {
    "none": none.build,
    "latent": latent.build,
    "midu": midu.build,
    "midu-hook": midu_hook.build,
    "midu-overlap": partial(midu.build, overlap=True),
    "pixel": partial(pixel.build, through_unet=True, decoder="vae"),
    "pixel-x0": partial(pixel.build, through_unet=False, decoder="vae"),
    "pixel-tiny": partial(pixel.build, through_unet=True, decoder="tiny"),
    "pixel-x0-tiny": partial(pixel.build, through_unet=False, decoder="tiny"),
}

SCORER_KIND = {
    "none": none.SCORER,
    "latent": latent.SCORER,
    "midu": midu.SCORER,
    "midu-hook": midu.SCORER,
    "midu-overlap": midu.SCORER,
    "pixel": pixel.SCORER,
    "pixel-x0": pixel.SCORER,
    "pixel-tiny": pixel.SCORER,
    "pixel-x0-tiny": pixel.SCORER,
}


def check_backend(name: str) -> None:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; valid: {', '.join(BACKENDS)}")


__all__ = [
    "BACKENDS", "SCORER_KIND", "check_backend", "Backend", "Conditioning", "StepIn", "StepOut",
    "GuidanceConfig", "SamplerConfig", "SampleResult", "StepStats", "sample",
]
