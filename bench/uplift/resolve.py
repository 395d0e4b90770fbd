"""The one place where a sweep's options meet its world: given options first, then the world's, then the generic ones."""
from __future__ import annotations

from dataclasses import replace

from bench.uplift import WORLDS, check_world
from bench.uplift.config import Arm, UpliftConfig, judge_kinds
from guidance import GuidanceConfig, SamplerConfig
from scorers.setup import ScorerConfig
from sdmodels import ModelSpec

GENERIC_PROMPTS = ("a red circle on a dark blue background",)


def resolve_config(world: str | None = None, *, arms: tuple[Arm, ...], prompts: tuple[str, ...] = (), source: str | None = None,
                   weights: str | None = None, dtype: str = "fp32", device: str = "cpu", heads: dict[str, str] | None = None,
                   transfer: bool = False, variant: str | None = None, model_config: str | None = None,
                   image: dict[str, str | None] | None = None, sampler: SamplerConfig = SamplerConfig(steps=25, cfg_scale=5.0),
                   guidance: GuidanceConfig = GuidanceConfig(), seeds: int = 8, seed0: int = 0, chunk: int = 16,
                   grid_seeds: int = 4) -> UpliftConfig:
    """An UpliftConfig from what was given; `heads` maps a head kind (midblock, latent, latent_x0) to a checkpoint stem, `image` holds
    the image scorer's clip_arch / clip_checkpoint / aesthetic_mlp / clip_text. Checks prompts against the world before any model loads."""
    check_world(world)
    w = WORLDS[world]() if world else None
    if w is not None and prompts:
        w.check_prompts(prompts)
    judges = {s.kind: s for s in (w.scorers if w else ())}
    judges = {k: judges.get(k, ScorerConfig(k)) for k in judge_kinds(arms, heads or {})}
    for kind, stem in (heads or {}).items():
        judges[kind] = replace(judges[kind], head=stem)
    if transfer:
        judges = {k: replace(j, transfer=True) if j.head else j for k, j in judges.items()}
    given = {k: v for k, v in (image or {}).items() if v}
    if given.get("clip_text"):  # the CLIP-text objective replaces the image judge's aesthetic MLP (a world's too)
        given.setdefault("aesthetic_mlp", None)
    if given:
        judges["image"] = replace(judges["image"], **given)
    model = ModelSpec(source=source or (w.model if w else "tiny"), weights=weights or (w.weights if w else "random"), dtype=dtype, device=device,
                      variant=variant, config=model_config)
    model.check()
    return UpliftConfig(prompts=tuple(prompts or (w.prompts if w else GENERIC_PROMPTS)), model=model, sampler=sampler, guidance=guidance,
                        judges=tuple(judges.values()), arms=arms, seeds=seeds, seed0=seed0, chunk=chunk, grid_seeds=grid_seeds,
                        world=world)
