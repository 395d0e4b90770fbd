"""What a set statistic of realism needs in the toy world: a fixed feature space and real renders of given captions.

- features: the shape classifier's penultimate layer (`shape_classifier.penultimate`,
  64 pooled channels of the figure mask), trained on renders only and read by no
  guidance head, so a distance in it is a measure no head was trained on;
- reference: renders of scenes drawn from the world's scene distribution given
  each caption (rejection sampling of `sample_scenes` on the caption's colour,
  shape and background: placement, size, focus and grain as the world draws
  them for that caption), from a fixed seed no other set uses.

    feats = realism_features("toyworld/weights/ldm")(images)     # (N, 64)
    real = caption_renders(prompts, per_prompt=32)               # (len(prompts) * 32, 3, 32, 32), prompt-major
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from toyworld.caption import caption
from toyworld.render import from_uint8, render, to_uint8
from toyworld.scene import sample_scenes

REFERENCE_SEED = 7171  # the reference renders' scenes; no other set uses it
CHUNK = 20_000
MAX_DRAWS = 4_000_000


def realism_features(model: str | Path) -> Callable[[np.ndarray], np.ndarray] | None:
    """images (N, 3, H, W) in [-1, 1] -> (N, D) penultimate features of the shape classifier beside the model; None
    where the model folder has no classifier (a tiny test model)."""
    from toyworld.shape_classifier import load_shape_classifier, penultimate

    if not (Path(model) / "shape_classifier").is_dir():
        return None
    net = load_shape_classifier(Path(model) / "shape_classifier")
    return lambda images: penultimate(net, images)


def caption_renders(prompts: Sequence[str], per_prompt: int, seed: int = REFERENCE_SEED) -> np.ndarray:
    """per_prompt renders of each prompt's caption (prompt-major), quantised to uint8 as saved images are."""
    wanted = {p: [] for p in prompts}
    rng, drawn = np.random.default_rng(seed), 0
    while any(len(v) < per_prompt for v in wanted.values()):
        if drawn >= MAX_DRAWS:
            short = [p for p, v in wanted.items() if len(v) < per_prompt]
            raise ValueError(f"{len(short)} captions, e.g. {short[0]!r}, drew fewer than {per_prompt} scenes in {MAX_DRAWS}: "
                             "expected captions of the world's distribution")
        for s in sample_scenes(CHUNK, rng):
            got = wanted.get(caption(s))
            if got is not None and len(got) < per_prompt:
                got.append(s)
        drawn += CHUNK
    return from_uint8(to_uint8(render([s for p in prompts for s in wanted[p]])))
