"""Pretrained weights in the diffusers layout: a local folder or a hub id, any weights variant, at the asked dtype.

Each part is read by its own `from_pretrained` with the dtype passed in, so fp16
weights never pass through an fp32 copy. A local folder is checked part by part
first, so a missing or broken part is named in one line.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from sdmodels.errors import WeightsUnavailable, first_line
from sdmodels.hub import offline
from sdmodels.models import Models, default_size
from sdmodels.presets import PRESETS, Preset

PARTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
XL_PARTS = ("text_encoder_2", "tokenizer_2")
WEIGHTED = ("unet", "vae", "text_encoder", "text_encoder_2")
# diffusion_pytorch_model[.VARIANT][-00001-of-00002].safetensors, and transformers' model[...] the same way
WEIGHT_FILE = re.compile(r"^(?:diffusion_pytorch_model|model)(?:\.(\w+))?(?:-\d+-of-\d+)?\.(?:safetensors|bin)$")
try:
    from safetensors import SafetensorError
except ImportError:  # older safetensors name it only in the rust module
    from safetensors.safetensors_rust import SafetensorError
# what a broken part raises from from_pretrained: missing or unreadable files, bad configs, shape mismatches
LOAD_ERRORS = (OSError, ValueError, RuntimeError, KeyError, SafetensorError)


def weight_variants(part_dir: Path) -> set[str | None]:
    """The weights variants a part's folder holds (None: the plain files)."""
    return {m.group(1) for f in part_dir.iterdir() if (m := WEIGHT_FILE.match(f.name))}


def choose_variant(part_dir: Path, asked: str | None) -> str | None:
    """The asked variant, or: the plain files if present, else fp16, else the only variant there is."""
    found = weight_variants(part_dir)
    if not found:
        raise WeightsUnavailable(f"{part_dir} holds no weights: expected diffusion_pytorch_model[.VARIANT].safetensors or model[.VARIANT].safetensors")
    if asked is not None:
        if asked not in found:
            raise WeightsUnavailable(f"{part_dir} has no {asked!r} variant weights; it holds: {_names(found)}")
        return asked
    if None in found:
        return None
    if "fp16" in found or len(found) == 1:
        return "fp16" if "fp16" in found else next(iter(found))
    raise WeightsUnavailable(f"{part_dir} holds several weights variants ({_names(found)}) and no plain weights: pass variant=NAME")


def _names(found) -> str:
    return ", ".join(sorted("(plain)" if v is None else v for v in found))


def check_folder(folder: Path, xl: bool) -> None:
    """Every part a diffusers folder needs is there, named in one line when not."""
    for part in PARTS + (XL_PARTS if xl else ()):
        if not (folder / part).is_dir():
            raise WeightsUnavailable(f"model folder {folder} has no {part}/: expected a diffusers folder with {', '.join(f'{p}/' for p in PARTS)}")


def load_folder_or_hub(source: str, dtype: torch.dtype, variant: str | None = None) -> Models:
    preset = PRESETS.get(source)
    if preset is not None and preset.hub_id is None:
        raise WeightsUnavailable(f"preset {source!r} has no published weights; use --weights random or a local folder")
    repo = preset.hub_id if preset else source
    local = Path(repo).is_dir()
    xl = _has_second_encoder(repo, preset)
    if local:
        check_folder(Path(repo), xl)
    kw = {"local_files_only": offline() or local}

    def part(name, cls, **extra):
        v = choose_variant(Path(repo, name), variant) if local and name in WEIGHTED else variant
        variants[name] = v
        try:
            return cls.from_pretrained(repo, subfolder=name, **({"variant": v} if name in WEIGHTED else {}), **extra, **kw)
        except LOAD_ERRORS as e:
            raise _unavailable(source, repo, name, e) from None

    variants: dict = {}
    unet = part("unet", UNet2DConditionModel, torch_dtype=dtype)
    vae = part("vae", AutoencoderKL, torch_dtype=dtype)
    text_encoder = part("text_encoder", CLIPTextModel, dtype=dtype)  # transformers names it dtype
    tokenizer = part("tokenizer", CLIPTokenizer)
    try:
        sched_cfg = DDIMScheduler.load_config(repo, subfolder="scheduler", **kw)
    except LOAD_ERRORS as e:
        raise _unavailable(source, repo, "scheduler", e) from None
    extra = {}
    if xl:
        extra = {"family": "sdxl", "text_encoder_2": part("text_encoder_2", CLIPTextModelWithProjection, dtype=dtype),
                 "tokenizer_2": part("tokenizer_2", CLIPTokenizer)}
    weighted = {k: v for k, v in variants.items() if k in WEIGHTED}
    return Models(source, "pretrained", unet, vae, text_encoder, tokenizer, dict(sched_cfg), default_size(unet.config, vae.config),
                  preset=preset, layout="diffusers", variants=weighted, **extra)


def _unavailable(source: str, repo: str, part: str, e: BaseException) -> WeightsUnavailable:
    if Path(repo).is_dir():
        return WeightsUnavailable(f"{part}/ of model folder {repo} could not be loaded ({type(e).__name__}: {first_line(e)})")
    where = "offline (HF_HUB_OFFLINE is set)" if offline() else "from the hub"
    return WeightsUnavailable(f"weights for {source!r} ({repo}) could not be loaded {where}: {part}: {first_line(e)}; "
                              "cost runs do not need them: pass --weights random to build the same architecture with random weights")


def _has_second_encoder(repo: str, preset: Preset | None) -> bool:
    if preset is not None:
        return preset.family == "sdxl"
    if Path(repo).is_dir():
        return Path(repo, "text_encoder_2").is_dir()
    from diffusers import DiffusionPipeline

    try:
        return "text_encoder_2" in DiffusionPipeline.load_config(repo, local_files_only=offline())
    except LOAD_ERRORS as e:
        raise _unavailable(repo, repo, "model_index.json", e) from None
