"""The loaded parts of one pipeline, and what they say about themselves (sizes, schedulers, provenance)."""
from __future__ import annotations

from dataclasses import dataclass, field

import diffusers
import torch
from diffusers import AutoencoderKL, AutoencoderTiny, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from sdmodels.checks import SCHEDULERS, check_image_size, check_scheduler
from sdmodels.presets import Preset, feature_shapes
from sdmodels.scheduler_fixes import apply_pipeline_fixes


@dataclass(eq=False)
class Models:
    source: str  # preset name, local folder, single-file checkpoint or hub id
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
    layout: str = "preset"  # "preset", "diffusers" (a folder or hub id) or "single-file"
    variants: dict | None = None  # diffusers layout: component -> weights variant loaded (None: the plain files)
    config_from: str | None = None  # single file: the preset whose configs describe it

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
            from sdmodels.tiny_decoder import load_tiny_decoder

            self._tiny_decoder = load_tiny_decoder(self)
        return self._tiny_decoder

    def scheduler(self, name: str):
        """A fresh scheduler of this kind from the model's config, fixed as diffusers' SD pipeline fixes it."""
        return self._scheduler(name)[0]

    def scheduler_fixes(self, name: str) -> tuple[str, ...]:
        return self._scheduler(name)[1]

    def _scheduler(self, name: str):
        check_scheduler(name)
        sched = getattr(diffusers, SCHEDULERS[name]).from_config(self.scheduler_config)
        return sched, (apply_pipeline_fixes(sched) if self.family == "sd" else ())

    def image_size(self, height: int | None = None, width: int | None = None) -> tuple[int, int]:
        """(height, width) asked for, or the model's default, checked against the VAE factor."""
        h, w = height or self.resolution, width or self.resolution
        check_image_size(h, w, self.vae_scale_factor)
        return h, w

    def describe(self, scheduler: str | None = None) -> dict:
        """Where the weights came from and how they were read, for a run's record."""
        out = {"source": self.source, "weights": self.weights, "layout": self.layout, "dtype": str(self.dtype).removeprefix("torch."),
               "variants": self.variants, "config_from": self.config_from, "default_size": self.resolution}
        if scheduler is not None:
            out["scheduler_fixes"] = list(self.scheduler_fixes(scheduler))
        return out


def default_size(unet_config, vae_config) -> int:
    """The default image side as diffusers computes it: the UNet's sample size times the VAE factor."""
    size = unet_config["sample_size"] if isinstance(unet_config, dict) else unet_config.sample_size
    blocks = vae_config["block_out_channels"] if isinstance(vae_config, dict) else vae_config.block_out_channels
    if not isinstance(size, int):  # a (height, width) sample size: squares are all we default to
        size = size[0]
    return size * 2 ** (len(blocks) - 1)
