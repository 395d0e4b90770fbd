"""Worlds with judges of their own, and the defaults that make `--world toy` a complete sweep.

A world judge maps finished images in [-1, 1] as (N, 3, H, W) numpy and their
prompts to {name: (N,) values}. The toy world's judges are its pixel-computed
ground truth (and each of its parts) and the caption checks: does the sample
show the caption's colour (`caption_colour`, 1 or 0) and shape
(`caption_shape`, read by the classifier committed beside the model)?

`world_defaults("toy")` names the committed toy weights (model, heads, pixel
scorer) and the evaluation prompts, so `python -m bench uplift --world toy`
needs no other paths.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

Judge = Callable[[np.ndarray, list[str]], dict[str, np.ndarray]]
TOY_WEIGHTS = Path(__file__).resolve().parent.parent / "toyworld" / "weights"
TOY_PROMPT_SEED = 5151  # scenes whose captions are the sweep's prompts (no training set uses this seed)


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
        return {f"caption_{k}": m[f"{k}_ok"].astype(float) for k in ("colour", "shape") if f"{k}_ok" in m}

    return judge


def toy_prompts(n: int = 8, seed: int = TOY_PROMPT_SEED) -> list[str]:
    """n captions of the toy world's caption distribution, distinct, in a fixed order."""
    from toyworld.caption import caption
    from toyworld.scene import sample_scenes

    rng, out = np.random.default_rng(seed), []
    while len(out) < n:
        for scene in sample_scenes(4 * n, rng):
            text = caption(scene)
            if text not in out and len(out) < n:
                out.append(text)
    return out


def _portable(path: Path) -> str:
    """Relative to the working folder when inside it, so recorded sweep configs do not name this machine's paths."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def toy_defaults(weights: Path = TOY_WEIGHTS) -> dict:
    """The committed toy model, its heads and pixel scorer: values for the sweep's unset options."""
    w = _portable(weights)
    return {"model": f"{w}/ldm", "weights": "pretrained",
            "heads": (("midblock", f"{w}/heads/midblock"), ("latent", f"{w}/heads/latent")),
            "clip_arch": f"{w}/pixel_scorer/toy-vit.json", "clip_checkpoint": f"{w}/pixel_scorer/toy_clip.pt",
            "aesthetic_mlp": f"{w}/pixel_scorer/toy_aesthetic_mlp.pth", "prompts": tuple(toy_prompts())}


def toy_check_prompts(prompts) -> None:
    """The caption judges read colour and shape words: every prompt must be a toy caption."""
    from toyworld.caption import parse_caption

    for p in prompts:
        parse_caption(p)


# world -> (judges for a model, defaults for the sweep, prompt check)
WORLDS: dict[str, tuple[Callable[[str | None], list[Judge]], Callable[[], dict], Callable]] = {
    "toy": (lambda model: [toy_truth, toy_caption_judge(model)], toy_defaults, toy_check_prompts),
}


def _check(name: str) -> None:
    if name not in WORLDS:
        raise ValueError(f"unknown world {name!r}; valid: {', '.join(WORLDS)}")


def world_judges(name: str | None, model: str | Path | None = None) -> list[Judge]:
    if name is None:
        return []
    _check(name)
    return WORLDS[name][0](model)


def world_defaults(name: str | None) -> dict:
    if name is None:
        return {}
    _check(name)
    return WORLDS[name][1]()


def check_world_prompts(name: str | None, prompts) -> None:
    if name is not None:
        _check(name)
        WORLDS[name][2](prompts)
