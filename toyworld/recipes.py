"""Named build recipes: every architecture and training setting of a toy-world build, frozen.

    python -m toyworld.build_all --out toyworld/weights --overwrite               # v2, the committed weights (default)
    python -m toyworld.build_all --recipe v1 --out /tmp/toy1/weights               # the first world

- `v1`: the first world (the sweeps before the switch to v2 ran on it; its
  weights are in the git history before the switch). Factor-4
  VAE (4x8x8 latents), text encoder trained only through the denoising loss,
  1500 UNet steps; ~15 min on 2 cores. Its samples follow the caption's colour
  (99%) but rarely its shape (25%).
- `v2`: the committed world and the default: the diagnosis of issue 14 (README.md "Recipes"): a factor-2 VAE (4x16x16
  latents keep the shape through a VAE round trip far more often than 8x8), the
  UNet at 16x16 with a two-stage tiny decoder to match, an auxiliary
  cosine-classifier loss that makes the text encoder keep the shape words
  apart, and 3000 UNet steps.
- `smoke`: v2's architectures and losses at a few steps and images, for tests
  and a quick check that a recipe runs end to end (a minute or two; its model
  draws nothing useful).

A recipe's full config (the dataclasses below, as dicts) is written into the
stage folder and BUILD.json; a stage folder made by another recipe is refused.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from toyworld.arch import TINY_DECODER_CONFIG_V2, UNET_CONFIG_V2, VAE_CONFIG_V2
from toyworld.build import BuildConfig
from toyworld.build_discriminator import DiscriminatorConfig
from toyworld.build_heads import HeadBuildConfig
from toyworld.caption_check import CheckConfig
from toyworld.pixel_scorer import PixelScorerConfig
from toyworld.shape_classifier import ShapeTrainConfig
from toyworld.train_tiny_decoder import TinyDecoderTrainConfig
from toyworld.train_unet import UnetTrainConfig
from toyworld.train_vae import VaeTrainConfig


@dataclass(frozen=True)
class Recipe:
    ldm: BuildConfig = field(default_factory=BuildConfig)
    pixel_scorer: PixelScorerConfig = field(default_factory=PixelScorerConfig)
    heads: HeadBuildConfig = field(default_factory=HeadBuildConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)  # the discriminator head (build_heads)

    def as_dict(self) -> dict:
        return {"ldm": asdict(self.ldm), "pixel_scorer": asdict(self.pixel_scorer), "heads": asdict(self.heads),
                "discriminator": asdict(self.discriminator)}


V1 = Recipe()
V2 = Recipe(ldm=BuildConfig(vae_arch=dict(VAE_CONFIG_V2), unet_arch=dict(UNET_CONFIG_V2), tiny_arch=dict(TINY_DECODER_CONFIG_V2),
                            unet=UnetTrainConfig(steps=3000, aux_weight=0.05, aux_temperature=10.0)))
SMOKE = Recipe(
    ldm=replace(V2.ldm, n_images=300, n_heldout=50, vae=VaeTrainConfig(steps=2), unet=replace(V2.ldm.unet, steps=2),
                tiny_decoder=TinyDecoderTrainConfig(steps=2), shape=ShapeTrainConfig(n_train=100, n_test=40, steps=2),
                check=CheckConfig(n=4, steps=2)),
    pixel_scorer=PixelScorerConfig(epochs=1, n_train=256, n_val=64),
    heads=HeadBuildConfig(n_images=256, n_check=64, repeats=1),
    discriminator=DiscriminatorConfig(n_generated=16, steps=2, sample_batch=16, repeats=1, epochs=1),
)
RECIPES = {"v1": V1, "v2": V2, "smoke": SMOKE}
DEFAULT_RECIPE = "v2"
