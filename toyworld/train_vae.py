"""Train the toy model's AutoencoderKL (32 px <-> 4x8x8) and set its latent scaling factor.

Two choices make a small VAE learn these flat-coloured images in a few hundred
CPU steps (both measured on the toy data; L1 on raw RGB had the decoder
stuck at luminance-only images for 800 steps):

- train in a whitened colour space: images are multiplied by a fixed 3x3
  matrix T (PCA whitening of the pixel colours) on the way in, and the decoder
  is trained to output T x; chroma carries ~5% of the colour variance, so
  without whitening the net learns brightness first and colour very late.
  After training T is folded into the first and last convs (`fold_colour`),
  so the saved model is a plain RGB AutoencoderKL. T is not centred, so the
  convs' zero padding means the same before and after folding.
- mean squared error, not L1: with grain in the images, L1's sign-only
  gradient drowns the colour error in noise;
- the decoder's targets are the same scenes rendered without grain: 12x
  compression cannot carry per-pixel noise, so the best decoder outputs the
  grain-free mean either way, and clean targets remove the gradient noise.
  (The toy LDM therefore never draws grain; the truth score's `clean` part is
  near 1 on its samples.)

A squared error on pixel differences adds weight to edges, where a flat
shape's type lives, and a small KL term keeps the latents a smooth space a
diffusion model can sample. The decoder sees posterior samples (their std
starts near 0.03, so it sees signal from the first step). `scaling_factor` is
1 / std of posterior samples, SD's recipe for unit-variance latents.

    vae, log = train_vae(images_uint8, VaeTrainConfig(steps=20))   # a smoke run
    python -m toyworld.build_all --out toyworld/weights --overwrite   # the real one
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from diffusers import AutoencoderKL

from toyworld.arch import build_vae
from toyworld.training import Log, batch_indices, images_to_tensor, lr_at, set_lr


@dataclass(frozen=True)
class VaeTrainConfig:
    steps: int = 1200
    batch: int = 32
    lr: float = 1e-3
    warmup: int = 30
    kl_weight: float = 1e-5
    edge_weight: float = 0.0  # measured: no help at these step counts; kept for experiments
    init_logvar: float = -7.0
    seed: int = 10
    log_every: int = 10


def edge_mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared error of horizontal and vertical pixel differences."""
    dx = lambda x: x[..., :, 1:] - x[..., :, :-1]  # noqa: E731
    dy = lambda x: x[..., 1:, :] - x[..., :-1, :]  # noqa: E731
    return (dx(a) - dx(b)).pow(2).mean() + (dy(a) - dy(b)).pow(2).mean()


def colour_whitening(images_uint8: np.ndarray, n: int = 2048) -> torch.Tensor:
    """3x3 T with E[(T x)(T x)^T] = I over the pixel colours x of the first n images (uncentred)."""
    p = images_to_tensor(images_uint8[:n]).permute(0, 2, 3, 1).reshape(-1, 3).double()
    w, u = torch.linalg.eigh(p.T @ p / len(p))
    return (u / w.sqrt()).T.float()


def apply_colour(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", t, x)


@torch.no_grad()
def fold_colour(vae: AutoencoderKL, t: torch.Tensor) -> None:
    """Make a VAE trained on T x -> T x into the same map on RGB x -> x (exact: convs are linear)."""
    w_in = vae.encoder.conv_in.weight
    w_in.copy_(torch.einsum("ocij,cd->odij", w_in, t))
    t_inv = torch.linalg.inv(t.double()).float()
    conv_out = vae.decoder.conv_out
    conv_out.weight.copy_(torch.einsum("dc,cikl->dikl", t_inv, conv_out.weight))
    conv_out.bias.copy_(t_inv @ conv_out.bias)


def train_vae(images_uint8: np.ndarray, cfg: VaeTrainConfig = VaeTrainConfig(),
              targets_uint8: np.ndarray | None = None, arch: dict | None = None) -> tuple[AutoencoderKL, Log]:
    """Train a fresh VAE on (N, 3, 32, 32) uint8 images; returns it (eval mode, scaling set) and its log.

    `targets_uint8` (default: the inputs) are what the decoder should output, e.g. the
    same scenes rendered without grain (see the module docstring); `arch` is the
    AutoencoderKL config (default `arch.VAE_CONFIG`).
    """
    targets_uint8 = images_uint8 if targets_uint8 is None else targets_uint8
    if targets_uint8.shape != images_uint8.shape:
        raise ValueError(f"targets shape {targets_uint8.shape}: expected the inputs' {images_uint8.shape}")
    t = colour_whitening(images_uint8)
    x_all = apply_colour(t, images_to_tensor(images_uint8))
    y_all = x_all if targets_uint8 is images_uint8 else apply_colour(t, images_to_tensor(targets_uint8))
    vae = build_vae(cfg.seed, arch)
    with torch.no_grad():  # start with nearly deterministic latents (std ~0.03) so the decoder sees signal from step 0
        vae.quant_conv.bias[vae.config.latent_channels:] = cfg.init_logvar
    vae.train()
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(cfg.seed)
    log = Log()
    for step, idx in enumerate(batch_indices(len(x_all), cfg.batch, cfg.steps, cfg.seed)):
        lr = lr_at(step, cfg.steps, cfg.lr, cfg.warmup)
        set_lr(opt, lr)
        x, target = x_all[idx], y_all[idx]
        post = vae.encode(x).latent_dist
        y = vae.decode(post.sample(generator=gen)).sample
        mse = (y - target).pow(2).mean()
        edge = edge_mse(y, target)
        kl = post.kl().mean() / x[0].numel()  # per pixel value, so kl_weight does not depend on image size
        loss = mse + cfg.edge_weight * edge + cfg.kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if cfg.steps >= 500 and step % 250 == 0:  # progress of a long build's log
            print(f"[vae] step {step}/{cfg.steps} loss {loss.item():.4f}", flush=True)
        if step % cfg.log_every == 0 or step == cfg.steps - 1:
            log.add(step=step, lr=lr, loss=loss.item(), mse_white=mse.item(), edge_mse_white=edge.item(), kl=kl.item())
    vae.eval().requires_grad_(False)
    fold_colour(vae, t)
    mean, std = encode_latents(vae, images_uint8[:2048])
    z = mean + std * torch.randn(mean.shape, generator=gen)
    vae.register_to_config(scaling_factor=float(1.0 / z.std()))
    return vae, log


@torch.no_grad()
def encode_latents(vae: AutoencoderKL, images_uint8: np.ndarray, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and std (unscaled latents) of every image."""
    means, stds = [], []
    for start in range(0, len(images_uint8), batch):
        post = vae.encode(images_to_tensor(images_uint8[start:start + batch])).latent_dist
        means.append(post.mean)
        stds.append(post.std)
    return torch.cat(means), torch.cat(stds)


@torch.no_grad()
def reconstruction_error(vae: AutoencoderKL, images_uint8: np.ndarray, batch: int = 256) -> float:
    """Mean absolute pixel error in [-1, 1] units of decode(posterior mean)."""
    errs = []
    for start in range(0, len(images_uint8), batch):
        x = images_to_tensor(images_uint8[start:start + batch])
        y = vae.decode(vae.encode(x).latent_dist.mean).sample
        errs.append((y - x).abs().mean(dim=(1, 2, 3)))
    return float(torch.cat(errs).mean())
