"""The scheduler config fixes diffusers' StableDiffusionPipeline.__init__ applies, under its conditions.

The pipeline rewrites an outdated scheduler config when it is built (steps_offset
!= 1 -> 1, clip_sample True -> False). Our sampler runs the scheduler without the
pipeline, so it applies the same fixes itself, or scale 0 would not reproduce the
pipeline for such a config. StableDiffusionXLPipeline applies none.
"""
from __future__ import annotations

from diffusers.configuration_utils import FrozenDict


def apply_pipeline_fixes(scheduler) -> tuple[str, ...]:
    """Fix `scheduler`'s config in place as the SD pipeline would; returns what was changed."""
    cfg = scheduler.config
    new, fixes = dict(cfg), []
    # getattr defaults as in the pipeline: a scheduler without the key is left alone
    if getattr(cfg, "steps_offset", 1) != 1:
        fixes.append(f"steps_offset {cfg.steps_offset} -> 1")
        new["steps_offset"] = 1
    if getattr(cfg, "clip_sample", False) is True:
        fixes.append("clip_sample True -> False")
        new["clip_sample"] = False
    if fixes:
        scheduler._internal_dict = FrozenDict(new)
    return tuple(fixes)
