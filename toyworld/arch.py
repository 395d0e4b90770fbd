"""The toy latent diffusion model's parts: Stable Diffusion's classes at toy size.

Same classes as SD (AutoencoderKL, CLIPTextModel + CLIPTokenizer,
UNet2DConditionModel with cross-attention and a mid block, AutoencoderTiny),
so every guidance backend runs on the toy model unchanged. Sizes are set by
the build's budget (15 min on a 2-core CPU, see README.md "The toy LDM"):

- VAE factor 4: 32 px images -> 4x8x8 latents, so a UNet step costs a quarter
  of what 16x16 latents would, and the UNet sees four times more samples in
  the same minutes; the mid block is then 4x4 (the mid-U head needs >= 2x2)
  and the latents 8x8 (the latent head needs >= 8x8).
- text: 16 positions, not 77; the longest toy caption (`full=True`) is 15
  tokens with BOS/EOS. Width 32, because the 49408-row token table is most of
  the encoder's bytes.

    parts = build_parts(seed=0)           # random weights, fp32, CPU
    vae, unet = parts.vae, parts.unet
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import AutoencoderKL, AutoencoderTiny, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from sdmodels import get_preset, offline_clip_tokenizer

IMAGE_SIZE = 32
TEXT_LENGTH = 16

VAE_CONFIG = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 3,
    "up_block_types": ["UpDecoderBlock2D"] * 3,
    "block_out_channels": [16, 16, 32],
    "layers_per_block": 1,
    "latent_channels": 4,
    "norm_num_groups": 4,
    "sample_size": IMAGE_SIZE,
    "scaling_factor": 1.0,  # replaced by 1 / std of the trained latents (train_vae.py)
}

TEXT_CONFIG = {
    "hidden_size": 32,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "projection_dim": 32,
    "hidden_act": "quick_gelu",
    "max_position_embeddings": TEXT_LENGTH,
    "vocab_size": 49408,  # the CLIP tokenizer's ids (BOS 49406, EOS 49407) must all index the table
}

UNET_CONFIG = {
    "sample_size": IMAGE_SIZE // 4,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "block_out_channels": [32, 64],
    "layers_per_block": 1,
    "norm_num_groups": 8,
    "attention_head_dim": 2,  # diffusers reads this as the number of heads: 2 heads of 16 and 32 channels
    "cross_attention_dim": TEXT_CONFIG["hidden_size"],
}

# Three decoder stages (two x2 upsamplings) for the VAE's factor 4; DecoderTiny
# keeps one width through its stages (as TAESD's 64), here 24. Only the
# decoder is trained (pixel-tiny backends decode, they never encode); the encoder
# is kept minimal and left at its seeded initialisation.
TINY_DECODER_CONFIG = {
    "latent_channels": 4,
    "encoder_block_out_channels": [8, 8, 8],
    "num_encoder_blocks": [1, 1, 1],
    "decoder_block_out_channels": [24, 24, 24],
    "num_decoder_blocks": [2, 1, 1],
}

# Recipe v2 (README.md "Recipes"): a factor-2 VAE (two down blocks, 4x16x16
# latents: factor 4 kept the caption's shape in only 68% of VAE round trips of
# real renders, factor 2 in 86%), the UNet at 16x16 latents (its mid block is
# then 8x8), and a two-stage tiny decoder (one x2 upsampling) to match.
VAE_CONFIG_V2 = {**VAE_CONFIG, "down_block_types": ["DownEncoderBlock2D"] * 2, "up_block_types": ["UpDecoderBlock2D"] * 2,
                 "block_out_channels": [16, 32]}
UNET_CONFIG_V2 = {**UNET_CONFIG, "sample_size": IMAGE_SIZE // 2}
TINY_DECODER_CONFIG_V2 = {**TINY_DECODER_CONFIG, "encoder_block_out_channels": [8, 8], "num_encoder_blocks": [1, 1],
                          "decoder_block_out_channels": [24, 24], "num_decoder_blocks": [2, 1]}

# The SD scheduler (scaled-linear betas, 1000 steps, epsilon prediction).
SCHEDULER_CONFIG = dict(get_preset("sd15").scheduler)


@dataclass(eq=False)
class Parts:
    vae: AutoencoderKL
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer
    unet: UNet2DConditionModel
    tiny_decoder: AutoencoderTiny


def build_tokenizer() -> CLIPTokenizer:
    return offline_clip_tokenizer(model_max_length=TEXT_LENGTH)


def build_vae(seed: int, config: dict | None = None) -> AutoencoderKL:
    torch.manual_seed(seed)
    return AutoencoderKL(**(VAE_CONFIG if config is None else config))


def build_text_encoder(seed: int, config: dict | None = None) -> CLIPTextModel:
    torch.manual_seed(seed)
    return CLIPTextModel(CLIPTextConfig(**(TEXT_CONFIG if config is None else config)))


def build_unet(seed: int, config: dict | None = None) -> UNet2DConditionModel:
    torch.manual_seed(seed)
    return UNet2DConditionModel(**(UNET_CONFIG if config is None else config))


def build_tiny_decoder(seed: int, config: dict | None = None) -> AutoencoderTiny:
    torch.manual_seed(seed)
    return AutoencoderTiny(**(TINY_DECODER_CONFIG if config is None else config))


def build_parts(seed: int = 0) -> Parts:
    """Every part with seeded random weights (each part from its own seed offset)."""
    return Parts(build_vae(seed), build_text_encoder(seed + 1), build_tokenizer(), build_unet(seed + 2), build_tiny_decoder(seed + 3))


def count_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
