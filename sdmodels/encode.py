"""Prompts -> the text conditioning both CFG halves use, as diffusers' SD and SDXL pipelines encode it."""
from __future__ import annotations

import torch

from guidance.protocol import Conditioning


def _ids(tokenizer, prompts: list[str], device) -> torch.Tensor:
    return tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                     return_tensors="pt").input_ids.to(device)


@torch.no_grad()
def encode_text(models, prompts: list[str]) -> torch.Tensor:
    return models.text_encoder(_ids(models.tokenizer, prompts, models.device), return_dict=False)[0]


def encode_sd(models, prompts: list[str], negative_prompt: str, height: int, width: int) -> Conditioning:
    cond = encode_text(models, prompts)
    uncond = encode_text(models, [negative_prompt] * len(prompts))
    return Conditioning(uncond=uncond, cond=cond)


@torch.no_grad()
def _encode_xl(models, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Penultimate hidden states of both encoders side by side, and the second encoder's pooled projection."""
    hidden = []
    for tok, enc in ((models.tokenizer, models.text_encoder), (models.tokenizer_2, models.text_encoder_2)):
        out = enc(_ids(tok, prompts, models.device), output_hidden_states=True)
        hidden.append(out.hidden_states[-2])
    return torch.cat(hidden, dim=-1), out[0]


def encode_sdxl(models, prompts: list[str], negative_prompt: str, height: int, width: int) -> Conditioning:
    """SDXL: an empty negative prompt is zeros, as the pipeline does by default (force_zeros_for_empty_prompt)."""
    cond, pooled = _encode_xl(models, prompts)
    if negative_prompt:
        uncond, pooled_uncond = _encode_xl(models, [negative_prompt] * len(prompts))
    else:
        uncond, pooled_uncond = torch.zeros_like(cond), torch.zeros_like(pooled)
    # original size, crop top-left, target size: no crop, generated at the size asked for
    time_ids = torch.tensor([[height, width, 0, 0, height, width]], dtype=cond.dtype, device=cond.device).repeat(len(prompts), 1)
    return Conditioning(uncond=uncond, cond=cond,
                        added_uncond={"text_embeds": pooled_uncond, "time_ids": time_ids},
                        added_cond={"text_embeds": pooled, "time_ids": time_ids})


ENCODERS = {"sd": encode_sd, "sdxl": encode_sdxl}


def encode_prompts(models, prompts: list[str], negative_prompt: str = "", height: int | None = None, width: int | None = None) -> Conditioning:
    """Conditioning for a batch: `prompts` for the conditional half, `negative_prompt` for the other."""
    if not prompts:
        raise ValueError("expected at least one prompt")
    h = height or models.resolution
    w = width or models.resolution
    return ENCODERS[models.family](models, list(prompts), negative_prompt, h, w)


def overlong(models, prompts: list[str]) -> dict[str, int]:
    """Prompts longer than the text encoder reads, with their token counts (BOS and EOS included): encoding cuts them."""
    limit = models.tokenizer.model_max_length
    counts = {p: len(models.tokenizer(p).input_ids) for p in dict.fromkeys(prompts)}
    return {p: n for p, n in counts.items() if n > limit}


def say_overlong(models, prompts: list[str], out=None) -> dict[str, int]:
    """`overlong`, each said once on stderr (or `out`), so a cut prompt is never silent."""
    import sys

    found = overlong(models, prompts)
    for p, n in found.items():
        print(f"note: prompt {p[:60]!r}... is {n} tokens; the text encoder reads the first {models.tokenizer.model_max_length}, "
              "the rest is cut", file=out or sys.stderr)
    return found
