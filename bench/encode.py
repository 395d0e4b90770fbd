"""Prompts -> the text conditioning both CFG halves use, as diffusers' SD pipelines encode it."""
from __future__ import annotations

import torch

from guidance.protocol import Conditioning


@torch.no_grad()
def encode_text(models, prompts: list[str]) -> torch.Tensor:
    tok = models.tokenizer
    ids = tok(prompts, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt").input_ids
    return models.text_encoder(ids.to(models.device), return_dict=False)[0]


def encode_prompts(models, prompts: list[str], negative_prompt: str = "") -> Conditioning:
    """Conditioning for a batch: `prompts` for the conditional half, `negative_prompt` for the other."""
    if not prompts:
        raise ValueError("expected at least one prompt")
    cond = encode_text(models, list(prompts))
    uncond = encode_text(models, [negative_prompt] * len(prompts))
    return Conditioning(uncond=uncond, cond=cond)
