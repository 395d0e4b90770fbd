"""Which model a set of features (and so a head) belongs to: a name that survives copies of the same weights.

A preset is its name (its weights are the published ones, or the embedded
architecture's seeded random ones); a local folder or single-file checkpoint is
the SHA-256 of its UNet weights (the folder's `unet/` weight files; a single
file whole), hashed once per file version (sdmodels/digests.py). Mid-block
features depend on the UNet alone, so a head is only valid for the UNet whose
features trained it.
"""
from __future__ import annotations

from pathlib import Path

from sdmodels.digests import digests
from sdmodels.presets import PRESETS

WEIGHT_SUFFIXES = (".safetensors", ".bin")


def model_identity(source: str) -> str:
    """`source` as a preset name, or "unet-sha256:<hex>" of its UNet weights."""
    if source in PRESETS:
        return source
    path = Path(source)
    if path.is_file():
        return "unet-sha256:" + digests({"unet": str(path)})["unet"]
    unet = path / "unet"
    if unet.is_dir():
        files = sorted(f for f in unet.iterdir() if f.suffix in WEIGHT_SUFFIXES)
        if files:
            found = digests({f.name: str(f) for f in files})
            return "unet-sha256:" + found[files[0].name] if len(files) == 1 else "unet-sha256:" + _combined(found)
    return source  # a hub id: its name


def _combined(found: dict[str, str]) -> str:
    import hashlib

    return hashlib.sha256("".join(f"{k}\0{v}\n" for k, v in sorted(found.items())).encode()).hexdigest()
