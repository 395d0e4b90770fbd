"""Worlds with judges of their own: the toy world's pixel-computed ground truth and caption checks."""
from __future__ import annotations

import numpy as np


def toy_truth(images: np.ndarray, prompts: list[str]) -> dict[str, np.ndarray]:
    from toyworld.truth import combine, truth_parts

    parts = truth_parts(images)
    return {"truth": combine(parts), **{f"truth_{k}": v for k, v in parts.items()}}


# world -> judges, each fn(images in [-1, 1] as (N, 3, H, W) numpy, prompts) -> {name: (N,)}
WORLDS = {
    "toy": [toy_truth],
}


def world_judges(name: str | None) -> list:
    if name is None:
        return []
    if name not in WORLDS:
        raise ValueError(f"unknown world {name!r}; valid: {', '.join(WORLDS)}")
    return WORLDS[name]
