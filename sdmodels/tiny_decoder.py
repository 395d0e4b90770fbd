"""The TAESD-architecture decoder (diffusers `AutoencoderTiny`) for a model's latent space."""
from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderTiny

from sdmodels.errors import WeightsUnavailable, first_line
from sdmodels.hub import offline


def load_tiny_decoder(models) -> AutoencoderTiny:
    p = models.preset
    folder = Path(models.source)
    if models.weights == "pretrained":
        if folder.is_dir() and (folder / "tiny_decoder").is_dir():
            dec = AutoencoderTiny.from_pretrained(folder / "tiny_decoder", local_files_only=True)
        elif p is not None and p.tiny_decoder_id:
            try:
                dec = AutoencoderTiny.from_pretrained(p.tiny_decoder_id, local_files_only=offline())
            except OSError as e:
                raise WeightsUnavailable(f"tiny decoder {p.tiny_decoder_id} could not be loaded: {first_line(e)}") from None
        else:
            where = f"put one in {folder / 'tiny_decoder'}" if folder.is_dir() else "use a diffusers folder with tiny_decoder/"
            raise WeightsUnavailable(f"no tiny decoder for {models.source!r}: {where} or use --weights random")
    else:
        torch.manual_seed(0)
        cfg = dict(p.tiny_decoder) if p is not None else {}
        dec = AutoencoderTiny(latent_channels=models.vae.config.latent_channels, **cfg)
    dec = dec.requires_grad_(False).eval().to(device=models.device)
    return dec if dec.dtype == models.dtype else dec.to(dtype=models.dtype)
