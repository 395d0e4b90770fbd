"""Scorers for guidance: the heads, the CLIP aesthetic scorer, their checkpoints.

Every scorer maps what it reads (mid-block features, latents, decoded images)
to one number per sample that guidance pushes up.
"""

from scorers.checkpoint import FeatureShapeMismatch, HeadMeta, load_head, load_meta, save_head
from scorers.clip_aesthetic import (
    AestheticMLP,
    ClipAestheticScorer,
    build_clip_aesthetic_random,
    load_aesthetic_mlp,
    load_clip_aesthetic,
)
from scorers.heads import HEADS, build_head
from scorers.kaiming import init_kaiming
from scorers.latent_head import LatentHead, build_latent_head
from scorers.midblock_head import MidBlockHead, build_midblock_head
from scorers.objectives import OBJECTIVES, make_objective_scorer
from scorers.readout import default_classes, expected_rating

__all__ = [
    "HEADS",
    "AestheticMLP",
    "ClipAestheticScorer",
    "FeatureShapeMismatch",
    "HeadMeta",
    "LatentHead",
    "MidBlockHead",
    "build_clip_aesthetic_random",
    "build_head",
    "build_latent_head",
    "build_midblock_head",
    "default_classes",
    "expected_rating",
    "init_kaiming",
    "load_aesthetic_mlp",
    "load_clip_aesthetic",
    "load_head",
    "load_meta",
    "save_head",
    "OBJECTIVES",
    "make_objective_scorer",
]
