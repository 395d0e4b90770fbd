"""Distil the toy VAE's decoder into an AutoencoderTiny decoder (the TAESD architecture).

The pixel-tiny backends decode x0 with `guidance.pixel.decode(tiny, x0)`,
which divides by the tiny model's scaling_factor (1.0, as TAESD's) and so feeds
it the *scaled* latents the sampler holds. Training goes through that same
function, so the distilled decoder is right by construction for the backends:
inputs are scaled posterior samples of the training images, targets are the
full VAE decoder's images of the same latents (squared error plus edge
squared error, as the VAE).
Only the decoder is trained; no backend encodes with the tiny model.

    tiny, log = train_tiny_decoder(vae, latent_mean, latent_std, TinyDecoderTrainConfig(steps=5))
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import AutoencoderKL, AutoencoderTiny

from guidance.pixel import decode
from toyworld.arch import build_tiny_decoder
from toyworld.train_vae import edge_mse
from toyworld.training import Log, batch_indices, lr_at, set_lr


@dataclass(frozen=True)
class TinyDecoderTrainConfig:
    steps: int = 600
    batch: int = 32
    lr: float = 1e-3
    warmup: int = 30
    seed: int = 40
    log_every: int = 10


def train_tiny_decoder(vae: AutoencoderKL, latent_mean: torch.Tensor, latent_std: torch.Tensor,
                       cfg: TinyDecoderTrainConfig = TinyDecoderTrainConfig(), arch: dict | None = None) -> tuple[AutoencoderTiny, Log]:
    """Train a fresh tiny decoder to match `vae`'s decoder on (unscaled) posterior latents."""
    tiny = build_tiny_decoder(cfg.seed, arch)
    tiny.train()
    opt = torch.optim.AdamW(tiny.decoder.parameters(), lr=cfg.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(cfg.seed)
    scale = vae.config.scaling_factor
    log = Log()
    for step, idx in enumerate(batch_indices(len(latent_mean), cfg.batch, cfg.steps, cfg.seed)):
        lr = lr_at(step, cfg.steps, cfg.lr, cfg.warmup)
        set_lr(opt, lr)
        x0 = (latent_mean[idx] + latent_std[idx] * torch.randn(latent_mean[idx].shape, generator=gen)) * scale
        with torch.no_grad():
            target = decode(vae, x0).clamp(-1, 1)
        y = decode(tiny, x0)
        mse = (y - target).pow(2).mean()
        edge = edge_mse(y, target)
        loss = mse + edge
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % cfg.log_every == 0 or step == cfg.steps - 1:
            log.add(step=step, lr=lr, loss=loss.item(), mse=mse.item(), edge_mse=edge.item())
    tiny.eval().requires_grad_(False)
    return tiny, log
