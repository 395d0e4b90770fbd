"""One guided sampling run: load, encode, sample, decode, write images and a JSON of the run.

    python -m bench sample --model tiny --backend midu --scale 5 --prompt "a horse on a beach" --out out/horse
    python -m bench sample --model sd21-base --weights random --backend pixel --steps 20 --device cuda --dtype fp16 --out out/cost
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from bench.store.provenance import machine_info
from bench.tracker import check_tracker, open_tracker
from guidance import GuidanceConfig, SamplerConfig, build_backend, check_backend, ran_as, sample, scorer_kind
from guidance.pixel import decode
from scorers.setup import ScorerConfig, check_scorer_for_model, check_scorer_files, make_scorer
from sdmodels import DTYPES, ModelSpec, check_scheduler, encode_prompts, load_models, to_pil
from sdmodels.encode import say_overlong


@dataclass(frozen=True)
class SampleJob:
    prompts: tuple[str, ...]
    out: str
    model: ModelSpec = field(default_factory=ModelSpec)
    backend: str = "midu"
    negative_prompt: str = ""
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)
    scorer: ScorerConfig = field(default_factory=ScorerConfig)


def validate(job: SampleJob) -> None:
    """Every check that needs no model: names, numbers, files. Raises ValueError/FileNotFoundError."""
    check_backend(job.backend)
    job.model.check()
    check_scheduler(job.sampler.scheduler, job.guidance.recurrence)
    if not job.prompts:
        raise ValueError("expected at least one --prompt")
    if Path(job.out).exists() and not Path(job.out).is_dir():
        raise ValueError(f"--out {job.out} is a file: expected an output folder")
    check_scorer_files(job.scorer)
    check_scorer_for_model(scorer_kind(job.backend), job.scorer, job.model.source, job.sampler.height, job.sampler.width)


def progress_bar(steps: int, backend: str, progress: bool):
    """A bar over the sampling steps, fed by the sampler's on_step; disable=None: off when stderr is not a terminal."""
    return tqdm(total=steps, unit="step", desc=f"sample {backend}", disable=None if progress else True, dynamic_ncols=True)


def _on_step(bar, tracker=None):
    log = tracker.on_step() if tracker else None

    def on_step(stats) -> None:
        if stats.score_mean is not None:
            bar.set_postfix(score=f"{stats.score_mean:.4g}", refresh=False)
        bar.update(1)
        if log:
            log(stats)

    return on_step


def run(job: SampleJob, models=None, progress: bool = True, tracker: str | None = None) -> dict:
    """Run `job`; `models` may be passed in when several jobs share them (same model, weights, dtype, device);
    `tracker`: a W&B project to log the run to (bench/tracker.py)."""
    validate(job)
    check_tracker(tracker)
    out = Path(job.out)
    out.mkdir(parents=True, exist_ok=True)
    spec = job.model
    if models is None:
        models = load_models(spec.source, spec.weights, dtype=DTYPES[spec.dtype], device=spec.device, variant=spec.variant,
                             model_config=spec.config)
    height, width = models.image_size(job.sampler.height, job.sampler.width)
    scorer, scorer_desc = make_scorer(scorer_kind(job.backend), models, job.scorer, height, width)
    backend = build_backend(job.backend, models, scorer)

    prompts = list(job.prompts) * job.sampler.batch
    truncated = say_overlong(models, prompts)
    cond = encode_prompts(models, prompts, job.negative_prompt, height, width)
    sched = models.scheduler(job.sampler.scheduler)
    sched.set_timesteps(job.sampler.steps, device=models.device)
    g = torch.Generator("cpu").manual_seed(job.sampler.seed)
    noise = torch.randn(len(prompts), *models.latent_shape(height, width), generator=g)
    x = noise.to(models.device, models.dtype) * sched.init_noise_sigma

    t0 = time.perf_counter()
    track = open_tracker(tracker, out.name, {"job": asdict(job), "scorer": scorer_desc, "image_size": [height, width]}, "sample")
    with progress_bar(len(sched.timesteps), job.backend, progress) as bar:
        res = sample(backend, sched, x, cond, job.guidance, job.sampler.cfg_scale, on_step=_on_step(bar, track), generator=g)
    wall_s = time.perf_counter() - t0
    with torch.no_grad():
        images = decode(models.vae, res.x0)
        final = backend.score(res.x0, cond)

    files, pils = [], to_pil(images)
    for i, im in enumerate(pils):
        name = f"{i:03d}.png"
        im.save(out / name)
        files.append(name)
    record = {
        "job": asdict(job),
        "ran_as": ran_as(backend),
        "random_weights": models.random_weights,
        "model": models.describe(job.sampler.scheduler),  # layout, weights variant, config used, scheduler config fixes
        "scorer": scorer_desc,
        "image_size": [height, width],
        "prompts": prompts,
        "truncated_prompts": truncated,  # prompt -> its token count, where the text encoder read only the first 77
        "images": files,
        "final_score": None if final is None else [float(v) for v in final],
        "sample_wall_s": round(wall_s, 3),
        "steps": [asdict(s) for s in res.steps],
        "provenance": machine_info(),
    }
    if models.random_weights:
        record["note"] = "random weights: images and scores are meaningless; cost figures are not (they do not depend on weight values)"
    (out / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    if track:
        track.log_grid("grid/sample", pils, " | ".join(prompts))
        scores = record["final_score"] or [None] * len(files)
        track.log_rows([{"image": f, "prompt": p, "final_score": v} for f, p, v in zip(files, prompts, scores)])
        track.finish()
    return record
