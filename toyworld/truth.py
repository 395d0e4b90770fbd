"""The ground-truth aesthetic score, from pixels only.

A judge, not a guide: plain vectorised numpy, no gradients. It reads what
`figure.estimate_figure` finds and scores six parts, each in [0, 1]:

- composition: the object's centre of mass near a rule-of-thirds point
  (Gaussian, sd 0.08 of the width; 0.35 credit far from all four: plain, not
  ugly), times "not cut by the frame", times "one compact mass" (second
  moment close to a disc's of the same area, so smears and pairs fail).
- size: the mask's area fraction inside [0.06, 0.16], decaying in log-area.
- harmony: hue relation of object and background (complementary best,
  analogous good, triadic fair, same hue dull, 60-100 degrees clashing),
  blended towards a neutral 0.6 when the background has no hue, times the
  object's vividness.
- contrast: luma difference (and, weaker, colour distance) of object and ground.
- sharpness: mean edge width of the mask (soft area / perimeter), narrow good.
- clean: grain sd from a robust Laplacian (Immerkaer 1996, median form).

The score is 1 + 9 * prod(max(part, PART_FLOOR) ** weight), the weights being
exponents that sum to 2. Any one part at 0 caps the score at 2.9-3.8 whatever
the others do, so no single trick (a vivid blob at a thirds point, a perfectly
sharp but tiny shape) reaches the top, and blank or noise images sit near 1;
being mediocre everywhere costs more than under a geometric mean.

    score = truth_score(render(scenes))          # (N,) in [1, 10]
    parts = truth_parts(images)["composition"]   # (N,) in [0, 1]
"""
from __future__ import annotations

import numpy as np

from toyworld.figure import estimate_figure, frame, smoothstep, to_unit

TRUTH_WEIGHTS = {  # exponents of the product; see the module docstring
    "composition": 0.4,
    "size": 0.35,
    "harmony": 0.35,
    "contrast": 0.3,
    "sharpness": 0.3,
    "clean": 0.3,
}
TRUTH_PARTS = tuple(TRUTH_WEIGHTS)
PART_FLOOR = 0.02  # a part at 0 costs a factor 0.02**weight (0.21..0.31), not -inf

THIRDS_SD = 0.08
OFF_THIRDS = 0.35  # placement credit far from every thirds point: plain, not ugly
AREA_BAND = (0.06, 0.16)
AREA_LOG_SD = 0.5
CHUNK = 1024

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# (centre degrees, sd degrees, height) of the hue-difference preferences.
_HUE_BUMPS = ((180.0, 35.0, 1.0), (30.0, 15.0, 0.9), (120.0, 15.0, 0.6), (0.0, 12.0, 0.35))
NEUTRAL_HARMONY = 0.6


def hue_chroma(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hue in degrees [0, 360) and chroma (max - min) of (N, 3) colours in [0, 1]."""
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    mx, mn = rgb.max(axis=1), rgb.min(axis=1)
    c = np.maximum(mx - mn, 1e-6)
    h = np.select([mx == r, mx == g], [((g - b) / c) % 6, (b - r) / c + 2], (r - g) / c + 4)
    return (60 * h) % 360, mx - mn


def hue_preference(dh: np.ndarray) -> np.ndarray:
    """Preference for a hue difference dh in [0, 180] degrees."""
    return np.max([h * np.exp(-((dh - m) ** 2) / (2 * s * s)) for m, s, h in _HUE_BUMPS], axis=0)


def _composition(mask: np.ndarray, visible: np.ndarray) -> np.ndarray:
    n, hgt, wid = mask.shape
    mass = mask.sum(axis=(1, 2))
    safe = np.maximum(mass, 1e-6)
    ys = (np.arange(hgt, dtype=np.float32) + 0.5) / wid
    xs = (np.arange(wid, dtype=np.float32) + 0.5) / wid
    mx = (mask.sum(axis=1) * xs).sum(axis=1) / safe
    my = (mask.sum(axis=2) * ys).sum(axis=1) / safe
    thirds = np.array([(a, b) for a in (1 / 3, 2 / 3) for b in (1 / 3, 2 / 3)], dtype=np.float32)
    d2 = ((mx[:, None] - thirds[:, 0]) ** 2 + (my[:, None] - thirds[:, 1] * hgt / wid) ** 2).min(axis=1)
    placed = np.exp(-d2 / (2 * THIRDS_SD**2))
    cut = 1 - smoothstep(0.01, 0.12, frame(mask).mean(axis=1))
    # Second moment over that of a disc of equal area (1 for a disc, ~1.1 for a star).
    var = ((mask.sum(axis=1) * (xs - mx[:, None]) ** 2).sum(axis=1)
           + (mask.sum(axis=2) * (ys - my[:, None]) ** 2).sum(axis=1)) / safe
    disc = (mass / (hgt * wid)) * (hgt / wid) / (2 * np.pi)
    compact = 1 - smoothstep(1.6, 4.0, var / np.maximum(disc, 1e-6))
    return np.where(visible & (mass >= 1.0), (OFF_THIRDS + (1 - OFF_THIRDS) * placed) * cut * compact, 0.0)


def _size(mask: np.ndarray, visible: np.ndarray) -> np.ndarray:
    area = mask.mean(axis=(1, 2))
    lo, hi = AREA_BAND
    excess = np.maximum(0.0, np.maximum(np.log(lo / np.maximum(area, 1e-6)), np.log(np.maximum(area, 1e-6) / hi)))
    return np.where(visible, np.exp(-(excess**2) / (2 * AREA_LOG_SD**2)), 0.0)


def _harmony(fg: np.ndarray, bg: np.ndarray, visible: np.ndarray) -> np.ndarray:
    h_fg, c_fg = hue_chroma(fg)
    h_bg, c_bg = hue_chroma(bg)
    dh = np.abs(h_fg - h_bg)
    dh = np.minimum(dh, 360 - dh)
    hued = smoothstep(0.06, 0.2, c_bg)
    pref = hued * hue_preference(dh) + (1 - hued) * NEUTRAL_HARMONY
    vivid = 0.3 + 0.7 * smoothstep(0.1, 0.45, c_fg)
    return np.where(visible, pref * vivid, 0.0)


def _contrast(fg: np.ndarray, bg: np.ndarray, visible: np.ndarray) -> np.ndarray:
    d_luma = np.abs((fg - bg) @ _LUMA)
    d_rgb = np.sqrt(((fg - bg) ** 2).sum(axis=1) / 3)
    return np.where(visible, smoothstep(0.04, 0.3, np.maximum(d_luma, 0.4 * d_rgb)), 0.0)


def edge_width(mask: np.ndarray) -> np.ndarray:
    """Mean edge width in px: soft area sum(m(1-m)) over perimeter sum|grad m|.

    A Gaussian edge of sd s gives about 0.56 s (after the smoothing in figure.py).
    """
    soft = (mask * (1 - mask)).sum(axis=(1, 2))
    gx = np.diff(mask, axis=2)[:, :-1, :]
    gy = np.diff(mask, axis=1)[:, :, :-1]
    return soft / np.maximum(np.sqrt(gx * gx + gy * gy).sum(axis=(1, 2)), 1e-6)


def _sharpness(mask: np.ndarray, visible: np.ndarray) -> np.ndarray:
    return np.where(visible, 1 - smoothstep(0.2, 0.4, edge_width(mask)), 0.0)


def grain_sd(x: np.ndarray) -> np.ndarray:
    """Robust per-image noise sd of the luma (median |Laplacian-of-Laplacian| response)."""
    luma = np.einsum("nchw,c->nhw", x, _LUMA)
    k = (luma[:, :-2, :-2] - 2 * luma[:, :-2, 1:-1] + luma[:, :-2, 2:]
         - 2 * luma[:, 1:-1, :-2] + 4 * luma[:, 1:-1, 1:-1] - 2 * luma[:, 1:-1, 2:]
         + luma[:, 2:, :-2] - 2 * luma[:, 2:, 1:-1] + luma[:, 2:, 2:])
    return np.median(np.abs(k.reshape(len(x), -1)), axis=1) / (6 * 0.6745)


def _clean(x: np.ndarray) -> np.ndarray:
    return 1 - smoothstep(0.006, 0.05, grain_sd(x))


def _parts_chunk(images: np.ndarray) -> dict[str, np.ndarray]:
    x = to_unit(images)
    fig = estimate_figure(x)
    m, vis = fig["mask"], fig["visible"]
    parts = {
        "composition": _composition(m, vis),
        "size": _size(m, vis),
        "harmony": _harmony(fig["fg"], fig["bg"], vis),
        "contrast": _contrast(fig["fg"], fig["bg"], vis),
        "sharpness": _sharpness(m, vis),
        "clean": _clean(x),
    }
    return {k: np.clip(v, 0.0, 1.0).astype(np.float32) for k, v in parts.items()}


def truth_parts(images: np.ndarray) -> dict[str, np.ndarray]:
    """Each part of TRUTH_PARTS as an (N,) float32 array in [0, 1]."""
    chunks = [_parts_chunk(images[i:i + CHUNK]) for i in range(0, len(images), CHUNK)]
    if not chunks:
        return {k: np.zeros(0, dtype=np.float32) for k in TRUTH_PARTS}
    return {k: np.concatenate([c[k] for c in chunks]) for k in TRUTH_PARTS}


def combine(parts: dict[str, np.ndarray]) -> np.ndarray:
    """1 + 9 * prod(max(part, PART_FLOOR) ** weight)."""
    missing = [k for k in TRUTH_PARTS if k not in parts]
    if missing:
        raise KeyError(f"parts lack {missing}; expected all of {TRUTH_PARTS}")
    log = sum(w * np.log(np.maximum(parts[k], PART_FLOOR)) for k, w in TRUTH_WEIGHTS.items())
    return (1 + 9 * np.exp(log)).astype(np.float32)


def truth_score(images: np.ndarray) -> np.ndarray:
    """Ground-truth aesthetic score (N,) float32 in [1, 10] of (N, 3, H, W) images in [-1, 1]."""
    return combine(truth_parts(images))
