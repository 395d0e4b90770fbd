"""Model presets: the published architectures, embedded so `--weights random` needs no download.

Each config is the one in the model's hub folder (`unet/config.json`,
`vae/config.json`, `text_encoder/config.json`, `scheduler/scheduler_config.json`),
trimmed to the keys that differ from the library defaults.
`tests/test_presets.py` checks the parameter counts against the published ones
(SD 1.5 UNet 859.5M, SD 2.1 UNet 865.9M, VAE 83.7M, CLIP ViT-L text 123.1M,
OpenCLIP ViT-H text 340.4M).
"""
from __future__ import annotations

from dataclasses import dataclass, field

_SD_SCHEDULER = {
    "_class_name": "PNDMScheduler",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "clip_sample": False,
    "prediction_type": "epsilon",
}

_SD_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}

_SD_UNET = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
    "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
    "block_out_channels": [320, 640, 1280, 1280],
    "layers_per_block": 2,
    "norm_num_groups": 32,
}


@dataclass(frozen=True)
class Preset:
    name: str
    hub_id: str | None  # where `--weights pretrained` looks when no local folder is given
    resolution: int  # default image side in pixels
    unet: dict
    vae: dict
    text_encoder: dict
    scheduler: dict
    tokenizer_pad: str = "<|endoftext|>"  # SD 2.x tokenizers pad with "!"
    tiny_decoder_id: str | None = None  # TAESD weights for this latent space
    tiny_decoder: dict = field(default_factory=dict)  # AutoencoderTiny config for random weights
    family: str = "sd"  # prompt encoding: "sd" (one CLIP text encoder) or "sdxl" (two, pooled + time ids)
    text_encoder_2: dict | None = None  # SDXL's second encoder (CLIPTextModelWithProjection)


PRESETS: dict[str, Preset] = {}


def _add(p: Preset) -> None:
    PRESETS[p.name] = p


_add(
    Preset(
        name="sd15",
        hub_id="stable-diffusion-v1-5/stable-diffusion-v1-5",
        resolution=512,
        unet={**_SD_UNET, "attention_head_dim": 8, "cross_attention_dim": 768},
        vae=_SD_VAE,
        text_encoder={
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "projection_dim": 768,
            "hidden_act": "quick_gelu",
            "max_position_embeddings": 77,
            "vocab_size": 49408,
        },
        scheduler=_SD_SCHEDULER,
        tiny_decoder_id="madebyollin/taesd",
    )
)

_add(
    Preset(
        name="sd21-base",
        hub_id="stabilityai/stable-diffusion-2-1-base",
        resolution=512,
        unet={
            **_SD_UNET,
            "attention_head_dim": [5, 10, 20, 20],
            "cross_attention_dim": 1024,
            "use_linear_projection": True,
        },
        vae=_SD_VAE,
        text_encoder={
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_hidden_layers": 23,
            "num_attention_heads": 16,
            "projection_dim": 512,
            "hidden_act": "gelu",
            "max_position_embeddings": 77,
            "vocab_size": 49408,
        },
        scheduler=_SD_SCHEDULER,
        tokenizer_pad="!",
        tiny_decoder_id="madebyollin/taesd",
    )
)

# A small random configuration of the same classes, for tests and the demo:
# 32 px images, 4x16x16 latents, mid block 64x8x8.
_add(
    Preset(
        name="tiny",
        hub_id=None,
        resolution=32,
        unet={
            "sample_size": 16,
            "in_channels": 4,
            "out_channels": 4,
            "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
            "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
            "block_out_channels": [32, 64],
            "layers_per_block": 1,
            "norm_num_groups": 8,
            "attention_head_dim": 8,
            "cross_attention_dim": 32,
        },
        vae={
            "in_channels": 3,
            "out_channels": 3,
            "down_block_types": ["DownEncoderBlock2D"] * 2,
            "up_block_types": ["UpDecoderBlock2D"] * 2,
            "block_out_channels": [16, 32],
            "layers_per_block": 1,
            "latent_channels": 4,
            "norm_num_groups": 8,
            "sample_size": 32,
            "scaling_factor": 0.18215,
        },
        text_encoder={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "projection_dim": 32,
            "hidden_act": "quick_gelu",
            "max_position_embeddings": 77,
            "vocab_size": 49408,
        },
        scheduler=_SD_SCHEDULER,
        tiny_decoder={
            "encoder_block_out_channels": [16, 16],
            "decoder_block_out_channels": [16, 16],
            "num_encoder_blocks": [1, 1],
            "num_decoder_blocks": [1, 1],
        },
    )
)

# SD 2.x's structure at test size: an OpenCLIP-style text encoder (gelu, pads with "!"), linear projections
_add(
    Preset(
        name="tiny-sd21",
        hub_id=None,
        resolution=32,
        unet={**PRESETS["tiny"].unet, "attention_head_dim": [2, 4], "use_linear_projection": True},
        vae=PRESETS["tiny"].vae,
        text_encoder={**PRESETS["tiny"].text_encoder, "hidden_act": "gelu"},
        scheduler=_SD_SCHEDULER,
        tokenizer_pad="!",
        tiny_decoder=PRESETS["tiny"].tiny_decoder,
    )
)

_SDXL_SCHEDULER = {
    **_SD_SCHEDULER,
    "_class_name": "EulerDiscreteScheduler",
    "timestep_spacing": "leading",
    "interpolation_type": "linear",
    "use_karras_sigmas": False,
}

_add(
    Preset(
        name="sdxl",
        hub_id="stabilityai/stable-diffusion-xl-base-1.0",
        resolution=1024,
        unet={
            "sample_size": 128,
            "in_channels": 4,
            "out_channels": 4,
            "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
            "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
            "block_out_channels": [320, 640, 1280],
            "layers_per_block": 2,
            "norm_num_groups": 32,
            "attention_head_dim": [5, 10, 20],
            "transformer_layers_per_block": [1, 2, 10],
            "cross_attention_dim": 2048,
            "use_linear_projection": True,
            "addition_embed_type": "text_time",
            "addition_time_embed_dim": 256,
            "projection_class_embeddings_input_dim": 2816,
        },
        vae={**_SD_VAE, "sample_size": 1024, "scaling_factor": 0.13025, "force_upcast": True},
        text_encoder={
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "projection_dim": 768,
            "hidden_act": "quick_gelu",
            "max_position_embeddings": 77,
            "vocab_size": 49408,
        },
        text_encoder_2={
            "hidden_size": 1280,
            "intermediate_size": 5120,
            "num_hidden_layers": 32,
            "num_attention_heads": 20,
            "projection_dim": 1280,
            "hidden_act": "gelu",
            "max_position_embeddings": 77,
            "vocab_size": 49408,
        },
        scheduler=_SDXL_SCHEDULER,
        tiny_decoder_id="madebyollin/taesdxl",
        family="sdxl",
    )
)

# SDXL's structure (two text encoders, added text/time embedding) at test size
_add(
    Preset(
        name="tiny-sdxl",
        hub_id=None,
        resolution=32,
        unet={
            "sample_size": 16,
            "in_channels": 4,
            "out_channels": 4,
            "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
            "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
            "block_out_channels": [32, 64],
            "layers_per_block": 1,
            "norm_num_groups": 8,
            "attention_head_dim": [2, 4],
            "transformer_layers_per_block": [1, 2],
            "cross_attention_dim": 64,
            "use_linear_projection": True,
            "addition_embed_type": "text_time",
            "addition_time_embed_dim": 8,
            "projection_class_embeddings_input_dim": 80,  # 6 time ids x 8 + pooled 32
        },
        vae=PRESETS["tiny"].vae,
        text_encoder={**PRESETS["tiny"].text_encoder},
        text_encoder_2={**PRESETS["tiny"].text_encoder, "hidden_act": "gelu"},
        scheduler=_SDXL_SCHEDULER,
        tiny_decoder=PRESETS["tiny"].tiny_decoder,
        family="sdxl",
    )
)


def feature_shapes(unet: dict, vae: dict, height: int, width: int) -> dict[str, tuple[int, int, int]]:
    """(C, h, w) of what each head kind reads, from configs alone (no model needed)."""
    f = 2 ** (len(vae["block_out_channels"]) - 1)
    g = f * 2 ** (len(unet["block_out_channels"]) - 1)
    return {
        "latent": (unet.get("in_channels", 4), height // f, width // f),
        "midblock": (unet["block_out_channels"][-1], -(-height // g), -(-width // g)),
    }


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; valid: {', '.join(PRESETS)} (or a local diffusers folder)")
    return PRESETS[name]
