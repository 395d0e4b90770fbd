"""Load a pipeline's parts by preset or path, with pretrained or random weights.

- `--weights random` builds the full published architecture from the embedded
  config (sdmodels/presets.py) or a local folder's config files, with no download.
  Cost figures made this way are honest (FLOPs and memory do not depend on
  weight values); quality figures are not, and every result says which it is.
- `--weights pretrained` reads a local folder in the diffusers layout or a hub id
  (sdmodels/folder.py, any weights variant, honouring HF_HUB_OFFLINE), or a
  single-file checkpoint in the original layout (sdmodels/single_file.py).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from sdmodels.checks import check_source
from sdmodels.errors import WeightsUnavailable
from sdmodels.folder import load_folder_or_hub
from sdmodels.models import Models, default_size
from sdmodels.presets import PRESETS, get_preset
from sdmodels.single_file import load_single_file
from sdmodels.tokenizer import offline_clip_tokenizer

__all__ = ["Models", "WeightsUnavailable", "load_models", "save_models"]


def load_models(source: str, weights: str = "pretrained", dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
                seed: int = 0, variant: str | None = None, model_config: str | None = None) -> Models:
    """`variant`: the diffusers weights variant (None: the plain files, else fp16, else the only one);
    `model_config`: the preset that describes a single-file checkpoint (None: inferred from its keys)."""
    check_source(source, weights)
    if weights == "random":
        models = _build_random(source, seed)
    elif Path(source).is_file():
        models = load_single_file(source, dtype, model_config)
    else:
        models = load_folder_or_hub(source, dtype, variant)
    for m in (models.unet, models.vae, models.text_encoder, models.text_encoder_2):
        if m is None:
            continue
        m.requires_grad_(False).eval().to(device=device)
        if m.dtype != dtype:  # random weights are built in fp32 so a seed gives the same weights at every dtype
            m.to(dtype=dtype)
    return models


def _configs_from_folder(folder: Path) -> dict:
    def read(sub, name="config.json"):
        path = folder / sub / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: expected a diffusers folder with unet/, vae/, text_encoder/, scheduler/")
        return json.loads(path.read_text())

    cfg = {"unet": read("unet"), "vae": read("vae"), "text_encoder": read("text_encoder"),
           "scheduler": read("scheduler", "scheduler_config.json")}
    cfg["text_encoder_2"] = read("text_encoder_2") if (folder / "text_encoder_2").is_dir() else None
    return cfg


def _text_config(cfg: dict) -> CLIPTextConfig:
    keys = {k: v for k, v in cfg.items() if not k.startswith("_") and k not in ("architectures", "transformers_version", "torch_dtype", "dtype")}
    return CLIPTextConfig(**keys)


def _build_random(source: str, seed: int) -> Models:
    if source in PRESETS:
        p = get_preset(source)
        cfg = {"unet": p.unet, "vae": p.vae, "text_encoder": p.text_encoder, "text_encoder_2": p.text_encoder_2, "scheduler": p.scheduler}
        resolution, pad, layout = p.resolution, p.tokenizer_pad, "preset"
    else:
        p = None
        cfg = _configs_from_folder(Path(source))
        resolution, pad, layout = default_size(cfg["unet"], cfg["vae"]), "<|endoftext|>", "diffusers"
    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_config(cfg["unet"])
    vae = AutoencoderKL.from_config(cfg["vae"])
    text_encoder = CLIPTextModel(_text_config(cfg["text_encoder"]))
    max_len = cfg["text_encoder"].get("max_position_embeddings", 77)
    tokenizer = offline_clip_tokenizer(model_max_length=max_len, pad_token=pad)
    extra = {}
    if cfg["text_encoder_2"] is not None:  # SDXL: its second tokenizer pads with "!"
        extra = {"family": "sdxl", "text_encoder_2": CLIPTextModelWithProjection(_text_config(cfg["text_encoder_2"])),
                 "tokenizer_2": offline_clip_tokenizer(model_max_length=max_len, pad_token="!")}
    return Models(source, "random", unet, vae, text_encoder, tokenizer, dict(cfg["scheduler"]), resolution, preset=p, layout=layout, **extra)


def save_models(models: Models, folder: str | Path, variant: str | None = None) -> Path:
    """Write the parts in the diffusers folder layout that `load_models(folder)` reads back; `variant` names the weight files."""
    folder = Path(folder)
    kw = {"variant": variant} if variant else {}
    models.unet.save_pretrained(folder / "unet", **kw)
    models.vae.save_pretrained(folder / "vae", **kw)
    models.text_encoder.save_pretrained(folder / "text_encoder", **kw)
    models.tokenizer.save_pretrained(folder / "tokenizer")
    if models.text_encoder_2 is not None:
        models.text_encoder_2.save_pretrained(folder / "text_encoder_2", **kw)
        models.tokenizer_2.save_pretrained(folder / "tokenizer_2")
    models.scheduler("ddim").save_pretrained(folder / "scheduler")
    if models._tiny_decoder is not None:
        models._tiny_decoder.save_pretrained(folder / "tiny_decoder")
    return folder
