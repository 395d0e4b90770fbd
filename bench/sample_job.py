"""One guided sampling run: load, encode, sample, decode, write images and a JSON of the run.

    python -m bench sample --model tiny --backend midu --scale 5 --prompt "a horse on a beach" --out out/horse
    python -m bench sample --model sd21-base --weights random --backend pixel --steps 20 --device cuda --dtype fp16 --out out/cost
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from guidance import BACKENDS, SCORER_KIND, GuidanceConfig, SamplerConfig, check_backend, sample
from guidance.pixel import decode

from scorers import FeatureShapeMismatch, load_meta

from .encode import encode_prompts
from .models import DTYPES, SCHEDULERS, check_source, load_models
from .presets import PRESETS, feature_shapes
from .provenance import machine_info
from .scorer_setup import ScorerConfig, check_scorer_files, make_scorer


@dataclass(frozen=True)
class SampleJob:
    prompts: tuple[str, ...]
    out: str
    model: str = "tiny"
    weights: str = "random"
    backend: str = "midu"
    negative_prompt: str = ""
    dtype: str = "fp32"
    device: str = "cpu"
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)
    scorer: ScorerConfig = field(default_factory=ScorerConfig)


def validate(job: SampleJob) -> None:
    """Every check that needs no model: names, numbers, files. Raises ValueError/FileNotFoundError."""
    check_backend(job.backend)
    check_source(job.model, job.weights)
    if job.sampler.scheduler not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {job.sampler.scheduler!r}; valid: {', '.join(SCHEDULERS)}")
    if job.dtype not in DTYPES:
        raise ValueError(f"unknown dtype {job.dtype!r}; valid: {', '.join(DTYPES)}")
    if job.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {job.device!r} asked for but no CUDA device is visible; use --device cpu")
    if not job.prompts:
        raise ValueError("expected at least one --prompt")
    check_scorer_files(job.scorer)
    if job.model in PRESETS:  # a preset's shapes are known before anything loads
        p = PRESETS[job.model]
        h, w = job.sampler.height or p.resolution, job.sampler.width or p.resolution
        check_image_size(h, w, 2 ** (len(p.vae["block_out_channels"]) - 1))
        kind = SCORER_KIND[job.backend]
        if job.scorer.head and kind in ("midblock", "latent"):
            check_head_shape(job.scorer.head, feature_shapes(p.unet, p.vae, h, w)[kind])


def check_head_shape(stem: str, shape: tuple[int, int, int]) -> None:
    meta = load_meta(stem)
    if meta.feature_shape != tuple(shape):
        raise FeatureShapeMismatch(f"scorer checkpoint {stem} was trained on features {meta.feature_shape} but this model gives {tuple(shape)}")


def check_image_size(h: int, w: int, f: int) -> None:
    if h % f or w % f:
        raise ValueError(f"image size {h}x{w} must be a multiple of the VAE factor {f}")


def image_size(job: SampleJob, models) -> tuple[int, int]:
    h = job.sampler.height or models.resolution
    w = job.sampler.width or models.resolution
    check_image_size(h, w, models.vae_scale_factor)
    return h, w


def to_pil(images: torch.Tensor) -> list[Image.Image]:
    arr = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(np.ascontiguousarray(a)) for a in arr]


def run(job: SampleJob, models=None) -> dict:
    """Run `job`; `models` may be passed in when several jobs share them (same model, weights, dtype, device)."""
    validate(job)
    out = Path(job.out)
    out.mkdir(parents=True, exist_ok=True)
    dtype = DTYPES[job.dtype]
    if models is None:
        models = load_models(job.model, job.weights, dtype=dtype, device=job.device)
    height, width = image_size(job, models)
    scorer, scorer_desc = make_scorer(SCORER_KIND[job.backend], models, job.scorer, height, width)
    backend = BACKENDS[job.backend](models, scorer)

    prompts = list(job.prompts) * job.sampler.batch
    cond = encode_prompts(models, prompts, job.negative_prompt, height, width)
    sched = models.scheduler(job.sampler.scheduler)
    sched.set_timesteps(job.sampler.steps, device=job.device)
    g = torch.Generator("cpu").manual_seed(job.sampler.seed)
    x = torch.randn(len(prompts), *models.latent_shape(height, width), generator=g).to(job.device, dtype) * sched.init_noise_sigma

    t0 = time.perf_counter()
    res = sample(backend, sched, x, cond, job.guidance, job.sampler.cfg_scale)
    wall_s = time.perf_counter() - t0
    with torch.no_grad():
        images = decode(models.vae, res.x0)
        final = backend.score(res.x0, cond)

    files = []
    for i, im in enumerate(to_pil(images)):
        name = f"{i:03d}.png"
        im.save(out / name)
        files.append(name)
    record = {
        "job": asdict(job),
        "random_weights": models.random_weights,
        "scorer": scorer_desc,
        "image_size": [height, width],
        "prompts": prompts,
        "images": files,
        "final_score": None if final is None else [float(v) for v in final],
        "sample_wall_s": round(wall_s, 3),
        "steps": [asdict(s) for s in res.steps],
        "provenance": machine_info(),
    }
    if models.random_weights:
        record["note"] = "random weights: images and scores are meaningless; cost figures are not (they do not depend on weight values)"
    (out / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    return record

