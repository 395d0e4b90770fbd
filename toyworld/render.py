"""Render scenes to images: signed distance -> soft coverage -> blur -> colour -> grain.

Every shape is a signed distance field (negative inside, in pixels), turned
into coverage by a Gaussian edge profile of sigma 0.45 px: a smooth step about
one pixel wide, so edges are anti-aliased and a 32 px star still reads as a
star. Blur is a true per-image Gaussian on that coverage, applied as two
batched matrix products (G @ cov @ G.T), so 10k images render in seconds.
Grain comes last, from each scene's own seed, so a scene renders the same
alone or in any batch.

    images = render(sample_scenes(16, np.random.default_rng(0)))   # (16, 3, 32, 32) in [-1, 1]
"""
from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from toyworld.scene import BACKGROUNDS, COLOURS, SHAPES, Scene

EDGE_SIGMA = 0.45  # px; anti-aliasing width of a perfectly sharp edge
SHADE_GAIN = 0.35  # how far full shading moves a colour towards white/black
CHUNK = 1024  # images per vectorised block; bounds memory at (CHUNK, size, size) floats


def _regular_polygon(k: int, radius: float, phase: float) -> np.ndarray:
    a = phase + 2 * np.pi * np.arange(k) / k
    return np.stack([radius * np.cos(a), radius * np.sin(a)], axis=1)


def _star(points: int = 5, inner: float = 0.5) -> np.ndarray:
    a = -np.pi / 2 + np.pi * np.arange(2 * points) / points
    r = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    v = np.stack([r * np.cos(a), r * np.sin(a)], axis=1)
    area = points * inner * np.sin(np.pi / points)
    return v * np.sqrt(np.pi / area)


# Unit shapes: polygons scaled to the area of the unit circle (pi), y pointing down.
_POLYGONS = {
    "square": _regular_polygon(4, np.sqrt(np.pi / 2), np.pi / 4),
    "triangle": _regular_polygon(3, np.sqrt(4 * np.pi / (3 * np.sqrt(3))), -np.pi / 2),
    "star": _star(),
}


def _polygon_sdf(qx: np.ndarray, qy: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance to a closed polygon (after Inigo Quilez), vectorised over points."""
    d = (qx - v[0, 0]) ** 2 + (qy - v[0, 1]) ** 2
    inside = np.zeros(qx.shape, dtype=bool)
    for i in range(len(v)):
        (ax, ay), (bx, by) = v[i], v[i - 1]
        ex, ey = bx - ax, by - ay
        wx, wy = qx - ax, qy - ay
        t = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0, 1.0)
        d = np.minimum(d, (wx - ex * t) ** 2 + (wy - ey * t) ** 2)
        c1, c2, c3 = qy >= ay, qy < by, ex * wy > ey * wx
        inside ^= (c1 & c2 & c3) | (~c1 & ~c2 & ~c3)
    return np.where(inside, -1.0, 1.0) * np.sqrt(d)


def shape_sdf(shape: str, qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    """Signed distance in unit-shape coordinates (the shape has area pi)."""
    if shape == "circle":
        return np.sqrt(qx * qx + qy * qy) - 1.0
    if shape not in _POLYGONS:
        raise ValueError(f"shape={shape!r}: expected one of {SHAPES}")
    return _polygon_sdf(qx, qy, _POLYGONS[shape])


def gaussian_matrices(sigma: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size) row-normalised Gaussian blur matrices; sigma 0 gives the identity."""
    i = np.arange(size, dtype=np.float32)
    d2 = (i[:, None] - i[None, :]) ** 2
    s = np.maximum(np.asarray(sigma, dtype=np.float32), 1e-3)[:, None, None]
    g = np.exp(-d2[None] / (2 * s * s))
    return g / g.sum(axis=2, keepdims=True)


def _coverage(scenes: list[Scene], size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft coverage (N, size, size) in [0, 1] and the unit-shape coordinates of every pixel."""
    n = len(scenes)
    cx = np.array([s.cx for s in scenes], dtype=np.float32)[:, None, None] * size
    cy = np.array([s.cy for s in scenes], dtype=np.float32)[:, None, None] * size
    r = np.array([s.radius for s in scenes], dtype=np.float32)[:, None, None] * size
    pix = np.arange(size, dtype=np.float32) + 0.5
    qx = (pix[None, None, :] - cx) / r
    qy = (pix[None, :, None] - cy) / r
    qx, qy = np.broadcast_arrays(qx, qy)
    sdf = np.empty((n, size, size), dtype=np.float32)
    shapes = np.array([s.shape for s in scenes])
    for shape in SHAPES:
        idx = np.flatnonzero(shapes == shape)
        if len(idx):
            sdf[idx] = shape_sdf(shape, qx[idx], qy[idx]) * r[idx]
    cov = ndtr(-sdf / EDGE_SIGMA).astype(np.float32)
    blur = np.array([s.blur for s in scenes], dtype=np.float32)
    if np.any(blur > 0):
        g = gaussian_matrices(blur, size)
        cov = np.where((blur > 0)[:, None, None], g @ cov @ g.transpose(0, 2, 1), cov)
    return cov, qx, qy


def _render_chunk(scenes: list[Scene], size: int) -> np.ndarray:
    cov, qx, qy = _coverage(scenes, size)
    fg = np.array([COLOURS[s.colour] for s in scenes], dtype=np.float32)[:, :, None, None]
    bg = np.array([BACKGROUNDS[s.background] for s in scenes], dtype=np.float32)[:, :, None, None]
    shading = np.array([s.shading for s in scenes], dtype=np.float32)[:, None, None]
    # Light from the top left: +t lifts towards white, -t sinks towards black.
    t = (SHADE_GAIN * shading * np.clip(-(qx + qy) / np.sqrt(2), -1, 1))[:, None]
    lit = np.where(t > 0, fg + t * (1 - fg), fg * (1 + t))
    img = bg + cov[:, None] * (lit - bg)
    for i, s in enumerate(scenes):
        if s.grain > 0:
            img[i] += np.random.default_rng(s.seed).normal(0.0, s.grain, size=img[i].shape).astype(np.float32)
    return np.clip(img, 0.0, 1.0) * 2 - 1


def render(scenes: list[Scene], size: int = 32) -> np.ndarray:
    """Images (N, 3, size, size) float32 in [-1, 1], the diffusion convention."""
    if size < 8:
        raise ValueError(f"size={size}: expected at least 8 px")
    out = np.empty((len(scenes), 3, size, size), dtype=np.float32)
    for start in range(0, len(scenes), CHUNK):
        out[start:start + CHUNK] = _render_chunk(scenes[start:start + CHUNK], size)
    return out


def to_uint8(images: np.ndarray) -> np.ndarray:
    """[-1, 1] floats to uint8, rounding to nearest (how a dataset stores pixels)."""
    return np.round((np.clip(images, -1, 1) + 1) * 127.5).astype(np.uint8)


def from_uint8(images: np.ndarray) -> np.ndarray:
    """uint8 back to float32 in [-1, 1]."""
    if images.dtype != np.uint8:
        raise TypeError(f"images dtype {images.dtype}: expected uint8")
    return images.astype(np.float32) / 127.5 - 1
