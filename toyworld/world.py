"""The toy world as a sweep sees it: its committed model and scorers, its prompts, its own judges.

A world judge maps finished images in [-1, 1] as (N, 3, H, W) numpy and their
prompts to {name: (N,) values}. The toy world's judges are its pixel-computed
ground truth (and each of its parts) and the caption checks: does the sample
show the caption's colour (`caption_colour`, 1 or 0) and shape
(`caption_shape`, read by the classifier committed beside the model), and how sure
is that classifier of the caption's shape (`caption_shape_conf`, its probability)?
A world may also give a fixed feature space and real reference images for a
set statistic (a kernel distance to real renders: `toyworld.realism`).

`toy_world()` names the committed toy weights (model, heads, pixel scorer) and
the evaluation prompts, so `python -m bench uplift --world toy` needs no other
paths.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from scorers.setup import ScorerConfig
from toyworld.caption import caption, parse_caption
from toyworld.realism import caption_renders, realism_features
from toyworld.scene import sample_scenes

Judge = Callable[[np.ndarray, list[str]], dict[str, np.ndarray]]
TOY_WEIGHTS = Path(__file__).resolve().parent / "weights"
TOY_PROMPT_SEED = 5151  # scenes whose captions are the sweep's prompts (no training set uses this seed)


@dataclass(frozen=True)
class World:
    """A world with a ground truth: what a sweep in it uses unless told otherwise, and how it judges."""

    name: str
    model: str  # model source (a diffusers folder)
    weights: str
    scorers: tuple[ScorerConfig, ...]  # the world's trained scorers, one per kind (a sweep judges by those its kinds need)
    prompts: tuple[str, ...]
    judges: Callable[[str], list[Judge]]  # model source -> the world's judges for samples of that model
    check_prompts: Callable[[Sequence[str]], None]  # refuses prompts the judges cannot read
    features: Callable[[str], Callable] | None = None  # model source -> fn(images) -> (N, D) features no head trained on
    reference: Callable[[Sequence[str], int], np.ndarray] | None = None  # (prompts, per prompt) -> real images of them


def toy_truth(images: np.ndarray, prompts: list[str]) -> dict[str, np.ndarray]:
    from toyworld.truth import combine, truth_parts

    parts = truth_parts(images)
    return {"truth": combine(parts), **{f"truth_{k}": v for k, v in parts.items()}}


def toy_caption_judge(model: str | Path | None) -> Judge:
    """Colour match always; shape match where the model folder has the world's shape classifier."""
    from toyworld.caption_check import matches

    net = None
    folder = Path(model) / "shape_classifier" if model is not None else None
    if folder is not None and folder.is_dir():
        from toyworld.shape_classifier import load_shape_classifier

        net = load_shape_classifier(folder)

    def judge(images: np.ndarray, prompts: list[str]) -> dict[str, np.ndarray]:
        m = matches(images, prompts, net)
        out = {f"caption_{k}": m[f"{k}_ok"].astype(float) for k in ("colour", "shape") if f"{k}_ok" in m}
        if "shape_conf" in m:
            out["caption_shape_conf"] = m["shape_conf"].astype(float)
        return out

    return judge


def toy_judges(model: str | Path | None) -> list[Judge]:
    return [toy_truth, toy_caption_judge(model)]


def toy_prompts(n: int = 8, seed: int = TOY_PROMPT_SEED) -> tuple[str, ...]:
    """n captions of the toy world's caption distribution, distinct, in a fixed order."""
    rng, out = np.random.default_rng(seed), []
    while len(out) < n:
        for scene in sample_scenes(4 * n, rng):
            text = caption(scene)
            if text not in out and len(out) < n:
                out.append(text)
    return tuple(out)


def toy_check_prompts(prompts: Sequence[str]) -> None:
    """The caption judges read colour and shape words: every prompt must be a toy caption."""
    for p in prompts:
        parse_caption(p)


def _portable(path: Path) -> str:
    """Relative to the working folder when inside it, so recorded sweep configs do not name this machine's paths."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def toy_world(weights: Path = TOY_WEIGHTS) -> World:
    """The committed toy model, its heads and pixel scorer, and eight of its captions."""
    w = _portable(weights)
    pixel = {"clip_arch": f"{w}/pixel_scorer/toy-vit.json", "clip_checkpoint": f"{w}/pixel_scorer/toy_clip.pt",
             "aesthetic_mlp": f"{w}/pixel_scorer/toy_aesthetic_mlp.pth"}
    return World(
        name="toy", model=f"{w}/ldm", weights="pretrained",
        scorers=(ScorerConfig("midblock", head=f"{w}/heads/midblock"), ScorerConfig("latent", head=f"{w}/heads/latent"),
                 ScorerConfig("image", **pixel), ScorerConfig("latent_x0", head=f"{w}/heads/latent_x0")),
        prompts=toy_prompts(), judges=toy_judges, check_prompts=toy_check_prompts,
        features=realism_features, reference=caption_renders,
    )
