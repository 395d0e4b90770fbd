"""The one way any checkpoint file is read here: safetensors, or `torch.load(weights_only=True)`, never a retry.

Libraries that load checkpoints for us (open_clip's `create_model(pretrained=path)`
among them) catch a weights-only failure and load again without it, and torch
honours `TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD` where a call does not say
`weights_only` itself: either way a crafted pickle runs its code. So every file
goes through `load_state`, which says `weights_only=True` explicitly and refuses
anything else in one line, with the way to convert it.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

CONVERT = ("convert it to safetensors where you trust it: python -c \"import torch, safetensors.torch as s; "
           "s.save_file(torch.load('IN', weights_only=False)['state_dict'], 'OUT.safetensors')\" (drop ['state_dict'] if it has none)")


class UnsafeCheckpoint(ValueError, pickle.UnpicklingError):
    """A checkpoint that only a full unpickler (which can run code) could read."""


PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


def check_header(path: str | Path) -> None:
    """Cheap checks that a checkpoint is whole, before anything is built: a safetensors header, or torch's zip archive."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                f.keys()
        except (SafetensorError, OSError) as e:
            raise ValueError(f"{path}: not a readable safetensors file ({str(e).splitlines()[0]})") from None
    elif path.suffix in PICKLE_SUFFIXES:
        import zipfile

        with open(path, "rb") as f:
            start = f.read(2)
        if not zipfile.is_zipfile(path) and start != b"\x80\x02":  # torch.save's zip archive, or its legacy pickle
            what = "truncated (its zip directory is missing)" if start == b"PK" else "not a torch checkpoint"
            raise ValueError(f"{path}: {what}; expected a file written by torch.save, or a .safetensors file")


def load_state(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from `.safetensors`, or from a pickle that torch's weights-only unpickler accepts."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as e:
            raise ValueError(f"{path}: not a readable safetensors file ({str(e).splitlines()[0]})") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpoint(f"{path} refused: it holds more than tensors ({str(e).splitlines()[0][:120]}); {CONVERT}") from None
    except (RuntimeError, EOFError, OSError, TypeError) as e:  # truncated, TorchScript archives, foreign formats
        raise UnsafeCheckpoint(f"{path} cannot be read as weights only ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
                               f"{CONVERT}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict of tensors, got {type(state).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_open_clip(arch: str, path: str | Path):
    """An open_clip model for `arch` with the weights of a local checkpoint, read through `load_state` only."""
    import open_clip
    from open_clip.model import resize_pos_embed

    model = quietly(open_clip.create_model, arch, pretrained=None, pretrained_image=False, pretrained_text=False)
    state = load_state(path)
    resize_pos_embed(state, model)  # as open_clip's own loader does for a checkpoint made at another image size
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path} is not an open_clip {arch} checkpoint: missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}")
    return model


def quietly(fn, *args, **kwargs):
    """open_clip logs a warning that no pretrained weights were loaded: for a random build that is the point."""
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        return fn(*args, **kwargs)
    finally:
        root.setLevel(level)
