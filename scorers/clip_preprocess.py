"""open_clip's eval preprocessing on tensors, differentiable, through torchvision.transforms.v2.functional.

open_clip preprocesses PIL images (resize, centre crop, to-tensor, normalise);
pixel guidance needs the same steps on a decoded image tensor with gradients
flowing back to its pixels. torchvision's tensor resize and centre crop do
that (they gave the same numbers and gradients, bit for bit, as the
hand-written interpolate-and-slice they replaced). The normalisation uses the
scorer's own mean/std buffers: `TF.normalize` builds its tensors from Python
lists on every call, a host-to-device copy that a CUDA graph cannot capture. Every constant comes from the model's preprocess
config (`open_clip.get_model_preprocess_cfg`): size, mean, std, interpolation,
resize mode. None is written down here.

The resize uses `antialias=True`. Decoded SD images (512 or 768 px) shrink by
2-3x to CLIP's 224 px; PIL, which produced the images CLIP and the LAION
predictor were fitted on, always antialiases when shrinking, and so does
torchvision's tensor Resize by default. Without it, bicubic taps would sample
only a sparse lattice of pixels: scores would alias and the guidance gradient
would land on that lattice as a checkerboard.
"""

from collections.abc import Mapping
from typing import Any

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

INTERPOLATIONS = ("bicubic", "bilinear")  # the modes torchvision can antialias on tensors
RESIZE_MODES = ("shortest", "squash")  # "longest" pads with a fill colour; no scorer here needs it


def image_size(cfg: Mapping[str, Any]) -> tuple[int, int]:
    """(H, W) the tower expects, from a preprocess config whose size is an int or a pair."""
    size = cfg["size"]
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def check_preprocess_cfg(cfg: Mapping[str, Any]) -> None:
    """Refuse a preprocess config this module cannot reproduce exactly."""
    if cfg.get("interpolation", "bicubic") not in INTERPOLATIONS:
        raise ValueError(f"interpolation {cfg['interpolation']!r} unsupported; expected one of {INTERPOLATIONS}")
    if cfg.get("resize_mode", "shortest") not in RESIZE_MODES:
        raise ValueError(f"resize_mode {cfg['resize_mode']!r} unsupported; expected one of {RESIZE_MODES}")
    for key in ("mean", "std"):
        if len(cfg[key]) != 3:
            raise ValueError(f"preprocess {key} must have 3 channels, got {cfg[key]}")


def resize_and_crop(x: torch.Tensor, size: tuple[int, int], interpolation: str, resize_mode: str) -> torch.Tensor:
    """Resize (B, C, H, W) like open_clip's eval transform: cover `size` keeping aspect, then centre crop
    ("shortest"), or stretch to `size` ("squash"). Pixel-exact with it for square sizes (all CLIP towers here)."""
    h, w = x.shape[-2:]
    th, tw = size
    mode = InterpolationMode(interpolation)
    if resize_mode == "squash":
        new = [th, tw]
    elif th / h >= tw / w:  # height sets the scale; the other edge truncates, as torchvision Resize does
        new = [th, int(w * th / h)]
    else:
        new = [int(h * tw / w), tw]
    if new != [h, w]:
        x = TF.resize(x, new, interpolation=mode, antialias=True)
    return TF.center_crop(x, [th, tw])


def preprocess(images: torch.Tensor, cfg: Mapping[str, Any], mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Decoded images in [-1, 1] (B, 3, H, W) -> normalised tower input, in at least float32.

    Pixels are clamped to [0, 1] first, as when a decoded image is saved, so the
    score is that of the image a user would see (out-of-range pixels get no gradient).
    `mean`/`std` are the config's values as (1, 3, 1, 1) tensors.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images (B, 3, H, W) in [-1, 1], got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"expected a float image tensor in [-1, 1], got dtype {images.dtype}")
    # At least float32: antialiased resizing has no half/bfloat16 kernel on CPU, the cost is
    # tiny, and float64 stays float64 for finite-difference checks.
    dtype = torch.promote_types(images.dtype, torch.float32)
    x = ((images.to(dtype) + 1) / 2).clamp(0, 1)
    x = resize_and_crop(x, image_size(cfg), cfg.get("interpolation", "bicubic"), cfg.get("resize_mode", "shortest"))
    return (x - mean.to(dtype)) / std.to(dtype)
