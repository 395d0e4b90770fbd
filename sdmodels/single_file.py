"""Single-file checkpoints in the original (LDM) key layout, as AUTOMATIC1111 and ComfyUI keep them.

    models = load_models("v1-5-pruned-emaonly.safetensors")               # architecture inferred from its keys
    models = load_models("my-model.safetensors", model_config="sd21-base")  # or named

Weights go through diffusers' own single-file conversion (the per-model
`from_single_file` for the UNet and VAE, and the CLIP conversion that
`StableDiffusionPipeline.from_single_file` uses) at the asked dtype. Nothing is
downloaded: diffusers gets the preset's embedded configs, written to a temporary
folder in the diffusers layout, with local_files_only. We read the file ourselves,
so a pickled `.ckpt` only ever goes through torch.load(weights_only=True).
"""
from __future__ import annotations

import json
import pickle
import tempfile
from pathlib import Path

import safetensors.torch
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders.single_file_model import SINGLE_FILE_LOADABLE_CLASSES
from diffusers.loaders.single_file_utils import create_diffusers_clip_model_from_ldm
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from sdmodels.checks import CHECKPOINT_SUFFIXES
from sdmodels.errors import WeightsUnavailable, first_line
from sdmodels.folder import LOAD_ERRORS
from sdmodels.ldm_layout import TEXT_PREFIXES, infer_preset
from sdmodels.models import Models, default_size
from sdmodels.presets import Preset, get_preset
from sdmodels.tokenizer import offline_clip_tokenizer

SAFE_SUFFIXES = (".safetensors",)
SUFFIXES = CHECKPOINT_SUFFIXES  # the others are pickles


def convert_hint(path: Path) -> str:
    stem = path.with_suffix(".safetensors")
    return ("convert it to safetensors once, where you trust the file: python -c \"import torch, safetensors.torch as st; "
            f"sd = torch.load('{path}', weights_only=False, map_location='cpu'); sd = sd.get('state_dict', sd); "
            f"st.save_file({{k: v.contiguous() for k, v in sd.items() if isinstance(v, torch.Tensor)}}, '{stem}')\"")


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a single-file checkpoint; a pickle is read with weights_only=True or refused."""
    if path.suffix not in SUFFIXES:
        raise WeightsUnavailable(f"checkpoint {path} has suffix {path.suffix!r}; expected one of {', '.join(SUFFIXES)}")
    if path.suffix in SAFE_SUFFIXES:
        try:
            sd = safetensors.torch.load_file(str(path))
        except LOAD_ERRORS as e:
            raise WeightsUnavailable(f"checkpoint {path} is not a readable safetensors file (truncated or corrupt?): {first_line(e)}") from None
    else:
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)  # never retried without weights_only
        except pickle.UnpicklingError as e:
            raise WeightsUnavailable(f"checkpoint {path} holds pickled objects besides tensors, which could run code, so it is refused "
                                     f"({first_line(e)[:120]}); {convert_hint(path)}") from None
        except (EOFError, RuntimeError, OSError) as e:
            raise WeightsUnavailable(f"checkpoint {path} could not be read (truncated or corrupt?): {first_line(e)}") from None
    while isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):  # Lightning checkpoints nest the weights
        sd = sd["state_dict"]
    tensors = {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)} if isinstance(sd, dict) else {}
    if not tensors:
        raise WeightsUnavailable(f"checkpoint {path} holds no tensors: expected a state dict in the original (LDM) key layout")
    return tensors


def write_configs(p: Preset, folder: Path) -> Path:
    """The preset's embedded configs in the diffusers folder layout, for diffusers' single-file loaders."""
    def dump(sub: str, cfg: dict) -> None:
        (folder / sub).mkdir(parents=True, exist_ok=True)
        (folder / sub / "config.json").write_text(json.dumps(cfg))

    dump("unet", {"_class_name": "UNet2DConditionModel", **p.unet})
    dump("vae", {"_class_name": "AutoencoderKL", **p.vae})
    CLIPTextConfig(**p.text_encoder).save_pretrained(folder / "text_encoder")
    if p.text_encoder_2 is not None:
        CLIPTextConfig(**p.text_encoder_2).save_pretrained(folder / "text_encoder_2")
    return folder


def load_single_file(path: str | Path, dtype: torch.dtype, model_config: str | None = None) -> Models:
    path = Path(path)
    ckpt = read_checkpoint(path)
    name = model_config or infer_preset(ckpt, path)
    p = get_preset(name)
    with tempfile.TemporaryDirectory(prefix="sdmodels-config-") as tmp:
        cfg = str(write_configs(p, Path(tmp)))
        kw = {"config": cfg, "local_files_only": True, "torch_dtype": dtype}
        unet = _part(path, name, "unet", UNet2DConditionModel.from_single_file, ckpt, subfolder="unet", **kw)
        vae = _part(path, name, "vae", AutoencoderKL.from_single_file, ckpt, subfolder="vae", **kw)
        # each encoder sees only its own keys, so two encoders of one width (tiny-sdxl) cannot be confused
        encoders = {"text_encoder": CLIPTextModel, "text_encoder_2": CLIPTextModelWithProjection}
        text = {}
        for sub, prefix in TEXT_PREFIXES[p.family].items():
            own = {k: v for k, v in ckpt.items() if k.startswith(prefix)}
            text[sub] = _part(path, name, sub, create_diffusers_clip_model_from_ldm, encoders[sub], checkpoint=own, subfolder=sub,
                              config=cfg, torch_dtype=dtype, local_files_only=True)
    max_len = p.text_encoder.get("max_position_embeddings", 77)
    tokenizer = offline_clip_tokenizer(model_max_length=max_len, pad_token=p.tokenizer_pad)
    extra = {}
    if p.family == "sdxl":  # SDXL's second tokenizer pads with "!"
        extra = {"family": "sdxl", "text_encoder_2": text["text_encoder_2"],
                 "tokenizer_2": offline_clip_tokenizer(model_max_length=max_len, pad_token="!")}
    return Models(str(path), "pretrained", unet, vae, text["text_encoder"], tokenizer, dict(p.scheduler), default_size(unet.config, vae.config),
                  preset=p, layout="single-file", config_from=name, **extra)


def _missing_keys(cls, ckpt: dict, config: dict) -> list[str]:
    """The model's weights that diffusers' converter finds no source for in `ckpt` (checked first: a
    model left partly on the meta device cannot be cast to the asked dtype, and fails obscurely)."""
    convert = SINGLE_FILE_LOADABLE_CLASSES[cls.__name__]["checkpoint_mapping_fn"]
    with torch.device("meta"):
        model = cls.from_config(config)
    return sorted(set(model.state_dict()) - set(convert(checkpoint=ckpt, config=dict(model.config))))


def _part(path: Path, preset: str, what: str, loader, *args, **kw):
    """One part through diffusers' converter; every weight must have come from the file."""
    hint = f"is it a {preset} checkpoint? name another with --model-config PRESET"
    cls = getattr(loader, "__self__", None)
    if cls in (UNet2DConditionModel, AutoencoderKL):
        try:
            missing = _missing_keys(cls, args[0], cls.load_config(kw["config"], subfolder=kw["subfolder"]))
        except LOAD_ERRORS as e:
            raise WeightsUnavailable(f"{what} of checkpoint {path} could not be read as {preset} ({type(e).__name__}: {first_line(e)[:200]}); {hint}") from None
        if missing:
            raise WeightsUnavailable(f"checkpoint {path} lacks {len(missing)} {what} weights (e.g. {missing[0]}): truncated, partial, or {hint}")
    try:
        model = loader(*args, **kw)
    except LOAD_ERRORS as e:
        raise WeightsUnavailable(f"{what} of checkpoint {path} could not be loaded as {preset} ({type(e).__name__}: {first_line(e)[:200]}); {hint}") from None
    # diffusers leaves weights the file lacks on the meta device, empty: a partial file must not load
    missing = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if missing:
        raise WeightsUnavailable(f"checkpoint {path} lacks {len(missing)} {what} weights (e.g. {missing[0]}): truncated, partial, or {hint}")
    return model.requires_grad_(False).eval()
