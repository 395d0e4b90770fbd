"""Model setup every other package builds on: presets, loading, prompt encoding, the offline tokenizer, checks.

    models = load_models("tiny", "random")                  # or a preset, a local diffusers folder, a hub id,
    models = load_models("model.safetensors")               # or a single-file checkpoint (original layout)
    cond = encode_prompts(models, ["a red circle"], "")    # both CFG halves, as diffusers' pipelines encode them

Names, presets and checks import no torch; the loaders load on first use, so the
CLI can answer `--help` and refuse bad input without importing torch or diffusers.
"""
import importlib

from sdmodels.checks import (
    SCHEDULERS, TORCH_DTYPES, WEIGHTS, check_choice, check_image_size, check_runtime, check_scheduler, check_source, preset_vae_factor,
    torch_dtype,
)
from sdmodels.presets import PRESETS, Preset, feature_shapes, get_preset
from sdmodels.spec import ModelSpec

# name -> module that defines it, loaded on first access (PEP 562)
_LAZY = {"encode_prompts": "encode", "to_pil": "images", "Models": "load", "WeightsUnavailable": "load", "load_models": "load",
         "save_models": "load", "offline_clip_tokenizer": "tokenizer", "save_single_file": "ldm_layout"}


def __getattr__(name: str):
    if name == "DTYPES":  # name -> torch dtype
        return {k: torch_dtype(k) for k in TORCH_DTYPES}
    if name in _LAZY:
        return getattr(importlib.import_module(f"sdmodels.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'sdmodels' has no attribute {name!r}")


__all__ = [
    "DTYPES", "SCHEDULERS", "TORCH_DTYPES", "WEIGHTS", "check_choice", "check_image_size", "check_runtime", "check_scheduler",
    "check_source", "preset_vae_factor", "torch_dtype", "encode_prompts", "to_pil", "Models", "WeightsUnavailable", "load_models",
    "save_models", "PRESETS", "Preset", "feature_shapes", "get_preset", "ModelSpec", "offline_clip_tokenizer", "save_single_file",
]
