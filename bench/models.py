"""Load a pipeline's parts by preset or path, with pretrained or random weights.

- `--weights random` builds the full published architecture from the embedded
  config (bench/presets.py) or a local folder's config files, with no download.
  Cost figures made this way are honest (FLOPs and memory do not depend on
  weight values); quality figures are not, and every result says which it is.
- `--weights pretrained` calls diffusers/transformers `from_pretrained` on a
  local folder in the diffusers layout or a hub id, honouring HF_HUB_OFFLINE.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from diffusers import AutoencoderKL, AutoencoderTiny, DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from .presets import PRESETS, Preset, feature_shapes, get_preset
from .tokenizer import offline_clip_tokenizer

WEIGHTS = ("pretrained", "random")
SCHEDULERS = {
    "ddim": DDIMScheduler,
    "euler": EulerDiscreteScheduler,
    "dpmpp": DPMSolverMultistepScheduler,  # algorithm_type defaults to dpmsolver++
}
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class WeightsUnavailable(RuntimeError):
    pass


@dataclass(eq=False)
class Models:
    source: str  # preset name, local folder or hub id
    weights: str
    unet: UNet2DConditionModel
    vae: AutoencoderKL
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer
    scheduler_config: dict
    resolution: int
    preset: Preset | None = None
    family: str = "sd"  # "sdxl": two text encoders, pooled text + time ids as added conditioning
    text_encoder_2: CLIPTextModelWithProjection | None = None
    tokenizer_2: CLIPTokenizer | None = None
    _tiny_decoder: AutoencoderTiny | None = field(default=None, repr=False)

    @property
    def random_weights(self) -> bool:
        return self.weights == "random"

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    @property
    def device(self) -> torch.device:
        return self.unet.device

    def mid_feature_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """(C, h, w) of the mid-block output for images of this size."""
        return feature_shapes(self.unet.config, self.vae.config, height, width)["midblock"]

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int]:
        return feature_shapes(self.unet.config, self.vae.config, height, width)["latent"]

    def tiny_decoder(self) -> AutoencoderTiny:
        """The TAESD-architecture decoder for this latent space, built on first use."""
        if self._tiny_decoder is None:
            self._tiny_decoder = _load_tiny_decoder(self)
        return self._tiny_decoder

    def scheduler(self, name: str):
        if name not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {name!r}; valid: {', '.join(SCHEDULERS)}")
        return SCHEDULERS[name].from_config(self.scheduler_config)


def check_source(source: str, weights: str) -> None:
    """Cheap checks on names, made before any model is built."""
    if weights not in WEIGHTS:
        raise ValueError(f"unknown weights {weights!r}; valid: {', '.join(WEIGHTS)}")
    if source in PRESETS or Path(source).is_dir():
        return
    if weights == "random":
        raise ValueError(f"unknown model {source!r}: --weights random needs a preset ({', '.join(PRESETS)}) or a local diffusers folder")
    if "/" not in source:
        raise ValueError(f"unknown model {source!r}; valid presets: {', '.join(PRESETS)}, or a local folder, or a hub id 'owner/name'")


def load_models(source: str, weights: str = "pretrained", dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu", seed: int = 0) -> Models:
    check_source(source, weights)
    if weights == "random":
        models = _build_random(source, seed)
    else:
        models = _load_pretrained(source)
    for m in (models.unet, models.vae, models.text_encoder, models.text_encoder_2):
        if m is None:
            continue
        m.requires_grad_(False).eval().to(device=device)
        if m.dtype != dtype:
            m.to(dtype=dtype)
    return models


def _configs_from_folder(folder: Path) -> dict:
    import json

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
        resolution, pad = p.resolution, p.tokenizer_pad
    else:
        p = None
        cfg = _configs_from_folder(Path(source))
        resolution, pad = cfg["vae"].get("sample_size", 512), "<|endoftext|>"
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
    return Models(source, "random", unet, vae, text_encoder, tokenizer, dict(cfg["scheduler"]), resolution, preset=p, **extra)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


def _load_pretrained(source: str) -> Models:
    preset = PRESETS.get(source)
    if preset is not None and preset.hub_id is None:
        raise WeightsUnavailable(f"preset {source!r} has no published weights; use --weights random or a local folder")
    repo = preset.hub_id if preset else source
    kw = {"local_files_only": _offline()}
    try:
        unet = UNet2DConditionModel.from_pretrained(repo, subfolder="unet", **kw)
        vae = AutoencoderKL.from_pretrained(repo, subfolder="vae", **kw)
        text_encoder = CLIPTextModel.from_pretrained(repo, subfolder="text_encoder", **kw)
        tokenizer = CLIPTokenizer.from_pretrained(repo, subfolder="tokenizer", **kw)
        sched_cfg = DDIMScheduler.load_config(repo, subfolder="scheduler", **kw)
        extra = {}
        if _has_second_encoder(repo, preset):
            extra = {"family": "sdxl",
                     "text_encoder_2": CLIPTextModelWithProjection.from_pretrained(repo, subfolder="text_encoder_2", **kw),
                     "tokenizer_2": CLIPTokenizer.from_pretrained(repo, subfolder="tokenizer_2", **kw)}
    except (OSError, ValueError) as e:
        where = "offline (HF_HUB_OFFLINE is set)" if _offline() else "from the hub"
        raise WeightsUnavailable(
            f"weights for {source!r} ({repo}) could not be loaded {where}: {str(e).splitlines()[0]}\n"
            "  cost runs do not need them: pass --weights random to build the same architecture with random weights"
        ) from None
    resolution = preset.resolution if preset else vae.config.sample_size
    return Models(source, "pretrained", unet, vae, text_encoder, tokenizer, dict(sched_cfg), resolution, preset=preset, **extra)


def _has_second_encoder(repo: str, preset: Preset | None) -> bool:
    if preset is not None:
        return preset.family == "sdxl"
    if Path(repo).is_dir():
        return Path(repo, "text_encoder_2").is_dir()
    from diffusers import DiffusionPipeline

    return "text_encoder_2" in DiffusionPipeline.load_config(repo, local_files_only=_offline())


def _load_tiny_decoder(models: Models) -> AutoencoderTiny:
    p = models.preset
    folder = Path(models.source)
    if models.weights == "pretrained":
        if folder.is_dir() and (folder / "tiny_decoder").is_dir():
            dec = AutoencoderTiny.from_pretrained(folder / "tiny_decoder", local_files_only=True)
        elif p is not None and p.tiny_decoder_id:
            try:
                dec = AutoencoderTiny.from_pretrained(p.tiny_decoder_id, local_files_only=_offline())
            except OSError as e:
                raise WeightsUnavailable(f"tiny decoder {p.tiny_decoder_id} could not be loaded: {str(e).splitlines()[0]}") from None
        else:
            raise WeightsUnavailable(f"no tiny decoder for {models.source!r}: put one in {folder / 'tiny_decoder'} or use --weights random")
    else:
        torch.manual_seed(0)
        cfg = dict(p.tiny_decoder) if p is not None else {}
        dec = AutoencoderTiny(latent_channels=models.vae.config.latent_channels, **cfg)
    dec = dec.requires_grad_(False).eval().to(device=models.device)
    return dec if dec.dtype == models.dtype else dec.to(dtype=models.dtype)


def save_models(models: Models, folder: str | Path) -> Path:
    """Write the parts in the diffusers folder layout that `load_models(folder)` reads back."""
    folder = Path(folder)
    models.unet.save_pretrained(folder / "unet")
    models.vae.save_pretrained(folder / "vae")
    models.text_encoder.save_pretrained(folder / "text_encoder")
    models.tokenizer.save_pretrained(folder / "tokenizer")
    if models.text_encoder_2 is not None:
        models.text_encoder_2.save_pretrained(folder / "text_encoder_2")
        models.tokenizer_2.save_pretrained(folder / "tokenizer_2")
    models.scheduler("ddim").save_pretrained(folder / "scheduler")
    if models._tiny_decoder is not None:
        models._tiny_decoder.save_pretrained(folder / "tiny_decoder")
    return folder
