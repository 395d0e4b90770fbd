"""Scenes: the hidden parameters behind one toy image, and how they are drawn.

A scene is one flat-coloured shape on a flat background, plus three nuisance
knobs a camera would add (blur, grain, shading). The ground-truth score never
reads a Scene (it judges pixels, so it can judge generated images too); the
Scene exists to render, to caption, and to explain a score after the fact.

`sample_scenes` draws each scene with a hidden "care" level q ~ U(0, 1): every
aesthetic factor (placement, size, colour pairing, focus, grain) is chosen
well with probability q and at random otherwise. One latent q correlates the
factors the way a careful or careless photographer does, so both ugly and
beautiful images are common and the score spans its whole range.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

SHAPES = ("circle", "square", "triangle", "star")

# Object palette, RGB in [0, 1]. Six hues round the wheel so that the harmony
# rule (truth.py) has complementary, analogous and clashing pairs to find.
COLOURS = {
    "red": (0.86, 0.14, 0.12),
    "orange": (0.97, 0.55, 0.08),
    "yellow": (0.96, 0.88, 0.16),
    "green": (0.16, 0.68, 0.24),
    "blue": (0.14, 0.36, 0.90),
    "purple": (0.56, 0.20, 0.80),
}

_NEUTRALS = {"black": (0.06, 0.06, 0.07), "grey": (0.50, 0.50, 0.50), "white": (0.95, 0.95, 0.93)}


def _dark(rgb):
    return tuple(round(0.32 * c, 4) for c in rgb)


def _pale(rgb):
    return tuple(round(0.62 + 0.35 * c, 4) for c in rgb)


BACKGROUNDS = {
    **_NEUTRALS,
    **{f"dark {n}": _dark(c) for n, c in COLOURS.items()},
    **{f"pale {n}": _pale(c) for n, c in COLOURS.items()},
}

# Colour pairings a careful scene picks from (complementary or analogous hue,
# or plain black); the truth rule decides independently how good they are.
_COMPLEMENT = {"red": "green", "orange": "blue", "yellow": "purple",
               "green": "red", "blue": "orange", "purple": "yellow"}
_ANALOGOUS = {"red": "orange", "orange": "red", "yellow": "orange",
              "green": "yellow", "blue": "purple", "purple": "blue"}

THIRDS = ((1 / 3, 1 / 3), (2 / 3, 1 / 3), (1 / 3, 2 / 3), (2 / 3, 2 / 3))
GOOD_RADIUS = (0.14, 0.22)  # radius fractions whose area falls in truth's ideal band
RADIUS_RANGE = (0.04, 0.45)
BLUR_MAX = 2.0  # px
GRAIN_MAX = 0.08  # noise sd in [0, 1] pixel units


@dataclass(frozen=True)
class Scene:
    """One shape on one background; geometry in fractions of the image width.

    radius is the radius of the equal-area circle, so the four shapes of one
    radius cover the same number of pixels. blur is a Gaussian sigma in pixels,
    grain the sd of per-pixel colour noise, shading the strength of a top-left
    light on the object, seed the grain's noise stream.
    """

    shape: str
    colour: str
    background: str
    cx: float
    cy: float
    radius: float
    blur: float = 0.0
    grain: float = 0.0
    shading: float = 0.0
    seed: int = 0

    def __post_init__(self):
        if self.shape not in SHAPES:
            raise ValueError(f"shape={self.shape!r}: expected one of {SHAPES}")
        if self.colour not in COLOURS:
            raise ValueError(f"colour={self.colour!r}: expected one of {tuple(COLOURS)}")
        if self.background not in BACKGROUNDS:
            raise ValueError(f"background={self.background!r}: expected one of {tuple(BACKGROUNDS)}")
        for name in ("cx", "cy"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name}={v}: expected a fraction in [0, 1]")
        if not RADIUS_RANGE[0] / 2 <= self.radius <= 0.5:
            raise ValueError(f"radius={self.radius}: expected a fraction in [{RADIUS_RANGE[0] / 2}, 0.5]")
        if not 0.0 <= self.blur <= 8.0:
            raise ValueError(f"blur={self.blur}: expected a sigma in [0, 8] px")
        if not 0.0 <= self.grain <= 1.0:
            raise ValueError(f"grain={self.grain}: expected a noise sd in [0, 1]")
        if not 0.0 <= self.shading <= 1.0:
            raise ValueError(f"shading={self.shading}: expected a strength in [0, 1]")


SCENE_FIELDS = tuple(f.name for f in fields(Scene))


def sample_scenes(n: int, rng: np.random.Generator) -> list[Scene]:
    """Draw n scenes; see the module docstring for why a shared 'care' level."""
    if n < 0:
        raise ValueError(f"n={n}: expected a count >= 0")
    q = rng.uniform(size=n)
    good = rng.uniform(size=(5, n)) < q  # placement, size, colours, focus, grain
    shape = rng.choice(SHAPES, size=n)
    colour = rng.choice(tuple(COLOURS), size=n)

    third = np.asarray(THIRDS)[rng.integers(4, size=n)] + rng.normal(0, 0.03, size=(n, 2))
    anywhere = rng.uniform(0.08, 0.92, size=(n, 2))
    cxy = np.clip(np.where(good[0][:, None], third, anywhere), 0.0, 1.0)

    lo, hi = np.log(RADIUS_RANGE)
    radius = np.where(good[1], rng.uniform(*GOOD_RADIUS, size=n), np.exp(rng.uniform(lo, hi, size=n)))

    bg_any = rng.choice(tuple(BACKGROUNDS), size=n)
    pick = rng.integers(4, size=n)
    bg_good = [(f"dark {_COMPLEMENT[c]}", f"pale {_COMPLEMENT[c]}", f"dark {_ANALOGOUS[c]}", "black")[k]
               for c, k in zip(colour, pick)]
    background = np.where(good[2], bg_good, bg_any)

    blur = np.where(good[3], rng.uniform(0, 0.3, size=n), rng.uniform(0, BLUR_MAX, size=n))
    grain = np.where(good[4], rng.uniform(0, 0.01, size=n), rng.uniform(0, GRAIN_MAX, size=n))
    shading = rng.uniform(0, 1, size=n)
    seed = rng.integers(0, 2**31 - 1, size=n)
    return [
        Scene(str(shape[i]), str(colour[i]), str(background[i]), float(cxy[i, 0]), float(cxy[i, 1]),
              float(radius[i]), float(blur[i]), float(grain[i]), float(shading[i]), int(seed[i]))
        for i in range(n)
    ]


def scenes_to_columns(scenes: list[Scene]) -> dict[str, np.ndarray]:
    """Scenes as one array per field (strings as unicode arrays, npz-safe without pickle)."""
    return {name: np.asarray([getattr(s, name) for s in scenes]) for name in SCENE_FIELDS}


def scenes_from_columns(columns: dict[str, np.ndarray]) -> list[Scene]:
    """Inverse of `scenes_to_columns`."""
    missing = [n for n in SCENE_FIELDS if n not in columns]
    if missing:
        raise KeyError(f"scene columns lack {missing}; expected all of {SCENE_FIELDS}")
    n = len(columns[SCENE_FIELDS[0]])
    cast = {f.name: (str if f.type == "str" else int if f.type == "int" else float) for f in fields(Scene)}
    return [Scene(**{k: cast[k](columns[k][i].item()) for k in SCENE_FIELDS}) for i in range(n)]
