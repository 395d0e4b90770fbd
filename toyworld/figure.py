"""Figure and ground, estimated from pixels alone.

The truth score must judge generated images, which come without a Scene, so
it first guesses what is object and what is background:

- background colour: the per-channel median of the 1 px frame (robust to an
  object touching the border and to grain);
- object colour: the mean of the pixels furthest from that background;
- u: every pixel projected onto the background->object colour axis, 0 on the
  background and 1 on the object; the soft mask is a smoothstep of u.

All of it is read off a lightly smoothed copy (3x3 binomial), so grain does
not break the mask; sharpness is judged on the same copy, which widens every
edge by the same fixed amount.
"""
from __future__ import annotations

import numpy as np

MIN_SEPARATION = 0.06  # RGB distance in [0, 1] below which no object is visible
FG_QUANTILE = 0.5  # pixels beyond this fraction of the largest distance vote for the object colour
# u -> mask ramp. Wide, so that a 1 px edge is sampled smoothly whatever its sub-pixel phase
# (a narrow ramp makes edge width alias by 4x); low, so that a shaded object's dark side
# (u >= 0.56 in 99% of scenes) still counts as fully object.
MASK_BAND = (0.05, 0.6)


def smoothstep(lo: float, hi: float, x: np.ndarray) -> np.ndarray:
    """0 below lo, 1 above hi, the cubic 3t^2 - 2t^3 between (hi < lo flips it)."""
    t = np.clip((np.asarray(x, dtype=np.float32) - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def to_unit(images: np.ndarray) -> np.ndarray:
    """Check a (N, 3, H, W) float batch in [-1, 1] and map it to [0, 1]."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images shape {images.shape}: expected (N, 3, H, W)")
    if not np.issubdtype(images.dtype, np.floating):
        raise TypeError(f"images dtype {images.dtype}: expected floats in [-1, 1] (see render.from_uint8)")
    lo, hi = float(images.min(initial=0.0)), float(images.max(initial=0.0))
    if lo < -1.001 or hi > 1.001:
        raise ValueError(f"images span [{lo:.3f}, {hi:.3f}]: expected [-1, 1]")
    return (images.astype(np.float32) + 1) / 2


def binomial_smooth(x: np.ndarray) -> np.ndarray:
    """[1 2 1]/4 in both directions over the last two axes, edges replicated."""
    p = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)], mode="edge")
    x = (p[..., :-2, :] + 2 * p[..., 1:-1, :] + p[..., 2:, :]) / 4
    return (x[..., :-2] + 2 * x[..., 1:-1] + x[..., 2:]) / 4


def frame(x: np.ndarray) -> np.ndarray:
    """The 1 px border of (..., H, W) as (..., 2H + 2W - 4)."""
    return np.concatenate([x[..., 0, :], x[..., -1, :], x[..., 1:-1, 0], x[..., 1:-1, -1]], axis=-1)


def estimate_figure(x: np.ndarray) -> dict[str, np.ndarray]:
    """Figure/ground of (N, 3, H, W) images in [0, 1].

    Returns bg and fg (N, 3) colours, visible (N,) bool, u and mask (N, H, W).
    """
    xs = binomial_smooth(x)
    bg = np.median(frame(xs), axis=-1)
    diff = xs - bg[:, :, None, None]
    dist = np.sqrt((diff * diff).sum(axis=1))
    far = dist >= FG_QUANTILE * dist.max(axis=(1, 2), keepdims=True)
    fg = (xs * far[:, None]).sum(axis=(2, 3)) / np.maximum(far.sum(axis=(1, 2)), 1)[:, None]
    axis = fg - bg
    sep2 = (axis * axis).sum(axis=1)
    visible = sep2 > MIN_SEPARATION**2
    u = np.einsum("nchw,nc->nhw", diff, axis) / np.maximum(sep2, 1e-6)[:, None, None]
    u = np.where(visible[:, None, None], u, 0.0).astype(np.float32)
    mask = smoothstep(MASK_BAND[0], MASK_BAND[1], u)
    return {"bg": bg, "fg": fg, "visible": visible, "u": u, "mask": mask}
