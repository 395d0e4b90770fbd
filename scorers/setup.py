"""Build the scorer a backend reads, from checkpoints or (for cost runs) with random weights.

Every scorer becomes a module mapping its input to one number per sample; the
description returned beside it goes into the run's JSON, so a result always
says whether its scorer was trained or random.
"""
from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from guidance.registry import HEAD_KINDS, SCORER_KINDS
from scorers.checkpoint import FeatureShapeMismatch, load_head, load_meta
from scorers.heads import build_head
from scorers.safe_load import check_header
from scorers.clip_aesthetic import build_clip_aesthetic_random, finish, load_clip_aesthetic
from scorers.clip_text import ClipText, clip_text_scorer
from scorers.objectives import ExpectedRatingScorer, check_text_tower, clip_text_target, load_clip_model, make_objective_scorer
from scorers.tiny_clip import TINY_CLIP_ARCH, TINY_CLIP_TEXT_ARCH, TINY_CLIP_TEXT_CONFIG, register_tiny_clip
from sdmodels import PRESETS, check_image_size, feature_shapes, preset_vae_factor
from sdmodels.identity import model_identity

RANDOM_CLIP_ARCH = {"sd15": "ViT-L-14", "sd21-base": "ViT-L-14", "sdxl": "ViT-L-14", "tiny": TINY_CLIP_ARCH, "tiny-sdxl": TINY_CLIP_ARCH}


# what a scorer reads: mid-block features, (noisy) latents, decoded images, clean latents (at the x0 estimate)
KINDS = tuple(k for k in SCORER_KINDS if k is not None)
FEATURES = {"midblock": "midblock", "latent": "latent", "latent_x0": "latent"}  # head kind -> what it reads (sdmodels.feature_shapes)
NO_TARGET = {"aesthetic": "an aesthetic", "discriminator": "a discriminator"}  # objectives whose scorer needs no target


@dataclass(frozen=True)
class ScorerConfig:
    kind: str | None = None  # one of KINDS; None where the backend's kind decides (a sample job's one scorer)
    head: str | None = None  # checkpoint stem of a mid-block, latent or latent_x0 head (<stem>.safetensors + <stem>.json)
    clip_arch: str | None = None  # open_clip architecture of the image scorer
    clip_checkpoint: str | None = None  # local open_clip checkpoint file
    aesthetic_mlp: str | None = None  # LAION aesthetic predictor .pth
    objective_target: str | None = None  # class heads: class name or index; clip heads: a text to steer towards
    transfer: bool = False  # guide with a head trained on another model's features, deliberately (recorded)
    clip_text: ClipText | None = None  # image scorer: CLIP guidance towards a caption instead of the aesthetic MLP


def check_scorer_files(cfg: ScorerConfig) -> None:
    """Fail before any model loads when a named file is missing."""
    if cfg.kind is not None and cfg.kind not in KINDS:
        raise ValueError(f"unknown scorer kind {cfg.kind!r}; valid: {', '.join(KINDS)}")
    paths = [cfg.clip_checkpoint, cfg.aesthetic_mlp]
    if cfg.clip_arch and cfg.clip_arch.endswith(".json"):
        paths.append(cfg.clip_arch)
    if cfg.head:
        paths += [f"{cfg.head}.json", f"{cfg.head}.safetensors"]
    for p in paths:
        if p and not Path(p).is_file():
            raise FileNotFoundError(f"scorer file not found: {p}")
    for p in paths:
        if p:
            check_header(p)
    if cfg.head and cfg.objective_target is not None and (objective := load_meta(cfg.head).objective) in NO_TARGET:
        raise ValueError(f"--objective-target {cfg.objective_target!r}: {cfg.head} is {NO_TARGET[objective]} head, which takes no target")
    if cfg.clip_text is not None:
        cfg.clip_text.check()
        if cfg.aesthetic_mlp:
            raise ValueError("--clip-text replaces the aesthetic MLP: give --clip-checkpoint (a full CLIP model) without --aesthetic-mlp")
        if cfg.clip_arch:
            check_text_tower(resolve_clip_arch(cfg.clip_arch), [cfg.clip_text.text])
    elif bool(cfg.clip_checkpoint) != bool(cfg.aesthetic_mlp):
        raise ValueError("--clip-checkpoint and --aesthetic-mlp go together: the image scorer needs both")


def check_head_shape(stem: str, shape: tuple[int, int, int]) -> None:
    """A head trained on other features is refused from its JSON alone, before any model is built."""
    meta = load_meta(stem)
    if meta.feature_shape != tuple(shape):
        raise FeatureShapeMismatch(f"scorer checkpoint {stem} was trained on features {meta.feature_shape} but this model gives {tuple(shape)}")


def check_head_base(cfg: ScorerConfig, source: str) -> None:
    """A head is valid for the UNet whose features trained it: refuse another, naming both, unless told to transfer."""
    if not cfg.head or cfg.transfer:
        return
    trained_on, given = load_meta(cfg.head).base_model, model_identity(source)
    if trained_on != given:
        raise ValueError(f"scorer checkpoint {cfg.head} was trained on the features of {trained_on!r}, but this model is {given!r}; "
                         "pass --transfer-head to guide with it anyway (recorded in the results)")


def check_scorer_for_model(kind: str | None, cfg: ScorerConfig, source: str, height: int | None, width: int | None) -> None:
    """Before anything loads: where the model is a preset (its feature shapes are known) the head's shape, then its model."""
    if cfg.clip_text is not None and kind != "image":
        raise ValueError(f"--clip-text guides the pixel backends, whose scorer reads decoded images; this one reads {kind or 'nothing'}")
    if source in PRESETS:
        p = PRESETS[source]
        h, w = height or p.resolution, width or p.resolution
        check_image_size(h, w, preset_vae_factor(source))
        if cfg.head and kind in HEAD_KINDS:
            check_head_shape(cfg.head, feature_shapes(p.unet, p.vae, h, w)[FEATURES[kind]])
    check_head_base(cfg, source)


def resolve_clip_arch(arch: str | None) -> str | None:
    """An open_clip architecture name, or a path to an open_clip model config JSON (registered under its stem)."""
    if arch and arch.endswith(".json"):
        path = Path(arch)
        if not path.is_file():
            raise FileNotFoundError(f"open_clip model config not found: {path}")
        import open_clip

        open_clip.add_model_config(path)
        return path.stem
    return arch


def objective_target(meta, cfg: ScorerConfig):
    """What a head's objective steers towards: nothing (aesthetic), a class, or a CLIP text embedding."""
    target = cfg.objective_target
    if meta.objective == "class" and target is not None and target.isdigit():
        return int(target)
    if meta.objective == "clip":
        if target is None:
            raise ValueError("a clip-embedding head needs --objective-target TEXT (and --clip-arch/--clip-checkpoint to embed it)")
        arch = resolve_clip_arch(cfg.clip_arch) or "ViT-L-14"
        return clip_text_target(load_clip_model(arch, cfg.clip_checkpoint), arch, [target])
    return target


def _clip_text(models, cfg: ScorerConfig) -> tuple[nn.Module, dict]:
    """The CLIP-text image scorer: a local checkpoint's model, or random weights at the model's CLIP size (cost runs, tests)."""
    arch = resolve_clip_arch(cfg.clip_arch)
    if arch is None and not cfg.clip_checkpoint:
        arch = RANDOM_CLIP_ARCH.get(models.source, "ViT-L-14")
        if arch == TINY_CLIP_ARCH:  # the tiny towers with a vocabulary a caption tokenises in
            arch = TINY_CLIP_TEXT_ARCH
            register_tiny_clip(Path(tempfile.gettempdir()) / "guidance-bench-clip", arch, TINY_CLIP_TEXT_CONFIG)
    arch = arch or "ViT-L-14"
    scorer = finish(clip_text_scorer(load_clip_model(arch, cfg.clip_checkpoint), arch, cfg.clip_text), models.device, models.dtype)
    return scorer, {"kind": "image", "objective": "clip_text", **asdict(cfg.clip_text), "arch": arch, "checkpoint": cfg.clip_checkpoint,
                    "random_weights": not cfg.clip_checkpoint}


def feature_shape(kind: str, models, height: int, width: int) -> tuple[int, int, int]:
    shapes = {"midblock": models.mid_feature_shape, "latent": models.latent_shape}
    return shapes[FEATURES[kind]](height, width)


def make_scorer(kind: str | None, models, cfg: ScorerConfig, height: int, width: int) -> tuple[nn.Module | None, dict]:
    """(scorer, description) for a backend's scorer kind (None, "midblock", "latent", "image", "latent_x0")."""
    if kind is None:
        return None, {"kind": None}
    device, dtype = models.device, models.dtype
    if kind == "image" and cfg.clip_text is not None:
        return _clip_text(models, cfg)
    if kind == "image":
        clip_arch = resolve_clip_arch(cfg.clip_arch)
        if cfg.clip_checkpoint:
            arch = clip_arch or "ViT-L-14"
            scorer = load_clip_aesthetic(arch, cfg.clip_checkpoint, cfg.aesthetic_mlp, device=device, dtype=dtype)
            return scorer, {"kind": kind, "arch": arch, "checkpoint": cfg.clip_checkpoint, "mlp": cfg.aesthetic_mlp, "random_weights": False}
        arch = clip_arch or RANDOM_CLIP_ARCH.get(models.source, "ViT-L-14")
        if arch == TINY_CLIP_ARCH:
            register_tiny_clip(Path(tempfile.gettempdir()) / "guidance-bench-clip")
        return build_clip_aesthetic_random(arch, device=device, dtype=dtype), {"kind": kind, "arch": arch, "random_weights": True}
    shape = feature_shape(kind, models, height, width)
    if cfg.head:
        head, meta = load_head(cfg.head, expect_feature_shape=shape, device=device)
        if meta.kind != kind:
            raise ValueError(f"scorer checkpoint {cfg.head} is a {meta.kind!r} head but this backend reads {kind!r} features")
        scorer = make_objective_scorer(head, meta, objective_target(meta, cfg))
        desc = {"kind": kind, "checkpoint": cfg.head, "base_model": meta.base_model, "transfer": cfg.transfer, "objective": meta.objective,
                "objective_target": cfg.objective_target, "feature_shape": list(shape), "random_weights": False}
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            head = build_head(kind, shape)
        scorer = ExpectedRatingScorer(head, range(1, 11))
        desc = {"kind": kind, "feature_shape": list(shape), "random_weights": True}
    return scorer.to(device=device, dtype=dtype).eval().requires_grad_(False), desc
