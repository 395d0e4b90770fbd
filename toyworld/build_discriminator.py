"""The toy world's discriminator head: real renders against the model's own samples, through the user's workflow.

Scenes of a seed no other set uses give captions of the world's caption
distribution; each caption is rendered (a real image) and sampled unguided by
the model with the world's sampler settings (DDIM 25 steps, CFG 5: the model's
own image for the same caption, so the prompt says nothing about which is
which). Both go to PNGs and a records table with a `real` column (the layout a
Stable Diffusion user has: a folder of real images, a folder of generated
ones), noised mid-block features are extracted with `scorers.features` and a
mid-block head trained with `scorers.train --objective discriminator`. Its
held-out accuracy is over all timesteps t in [0, 999]: near 0.5 at high t,
where the noise hides everything, by construction.

    record = build_discriminator(models, out / "discriminator", DiscriminatorConfig(), tmp)
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from scorers import save_head
from scorers.data import read_records
from scorers.features import FeatureConfig, extract_features
from scorers.train import TrainConfig, train_head
from toyworld.caption import caption
from toyworld.caption_check import CheckConfig, generate
from toyworld.render import render, to_uint8
from toyworld.scene import sample_scenes

DISCRIMINATOR_SEED = 6161  # scenes (captions, real renders) and sampler noise of the discriminator's data; no other set uses it


@dataclass(frozen=True)
class DiscriminatorConfig:
    n_generated: int = 1536  # captions: each gives one real render and one generated sample (384 overfit: held-out loss 0.74)
    seed: int = DISCRIMINATOR_SEED
    steps: int = 25  # the world's sampler: DDIM, 25 steps, CFG 5
    cfg_scale: float = 5.0
    sample_batch: int = 128
    repeats: int = 4  # noised copies per image
    epochs: int = 4
    batch: int = 128
    lr: float = 1e-3


def _save(images: np.ndarray, folder: Path) -> list[Path]:
    """(N, 3, H, W) in [-1, 1] as PNGs, the way a sweep saves its samples."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, im in enumerate(to_uint8(images)):
        paths.append(folder / f"{i:06d}.png")
        Image.fromarray(np.ascontiguousarray(im.transpose(1, 2, 0))).save(paths[-1])
    return paths


def write_real_and_generated(models, cfg: DiscriminatorConfig, folder: Path) -> tuple[Path, float]:
    """folder/real/*.png, folder/generated/*.png and folder/records.csv (image_path, prompt, real); and the sampling seconds."""
    scenes = sample_scenes(cfg.n_generated, np.random.default_rng(cfg.seed))
    captions = [caption(s) for s in scenes]
    t0 = time.perf_counter()
    fake = generate(models, captions, CheckConfig(n=cfg.n_generated, steps=cfg.steps, cfg_scale=cfg.cfg_scale, seed=cfg.seed,
                                                  batch=cfg.sample_batch))
    seconds = time.perf_counter() - t0
    rows = []
    for kind, images in (("real", render(scenes)), ("generated", fake)):
        for i, path in enumerate(_save(images, folder / kind)):
            rows.append({"image_path": str(path.relative_to(folder)), "prompt": captions[i], "real": int(kind == "real"),
                         "image_id": f"{kind}-{i}"})
    pd.DataFrame(rows).to_csv(folder / "records.csv", index=False)
    return folder / "records.csv", seconds


def build_discriminator(models, stem: Path, cfg: DiscriminatorConfig, tmp: Path, noise_seed: int = 0, log=print) -> dict:
    """Sample, extract, train and save the discriminator head at `stem`; its metrics and times."""
    table, sample_s = write_real_and_generated(models, cfg, tmp / "discriminator")
    log(f"discriminator: {cfg.n_generated} samples in {sample_s:.0f} s")
    fc = FeatureConfig(repeats=cfg.repeats, noise_seed=noise_seed, batch=64, feature_dtype="fp32")
    extract_features(models, read_records(table), tmp / "discriminator" / "features", fc, progress=False)
    tc = TrainConfig(objective="discriminator", epochs=cfg.epochs, batch=cfg.batch, lr=cfg.lr, seed=noise_seed)
    head, meta, metrics = train_head(tmp / "discriminator" / "features", "midblock", tc, progress=False)
    with torch.no_grad():  # held-out accuracy by half of the timestep range (the split of scorers.train)
        metrics = {**metrics, **_accuracy_by_t(head, tmp / "discriminator" / "features", tc.val_fraction)}
    extra = {**meta.extra, "features": f"toy renders vs own samples seed {cfg.seed}", "metrics": metrics}
    save_head(stem, head, replace(meta, extra=extra))
    log(f"discriminator: held-out accuracy {metrics['val_accuracy']:.3f} (majority {metrics['val_accuracy_baseline']:.3f})")
    return {"metrics": metrics, "sample_seconds": sample_s}


def _accuracy_by_t(head, features: Path, val_fraction: float) -> dict:
    from scorers.feature_shards import read_manifest
    from scorers.train import is_val, read_columns, shard_paths

    cols = [read_columns(p, ["features", "timestep", "real", "image_key"]) for p in shard_paths(features, read_manifest(features))]
    x, t, y, key = (torch.cat([c[k] for c in cols]) for k in ("features", "timestep", "real", "image_key"))
    val = is_val(key, val_fraction)
    hit = head(x[val].float()).argmax(1) == y[val]
    low = t[val] < 500

    def rate(mask):
        return float(hit[mask].float().mean()) if mask.any() else None

    return {"val_accuracy_t_below_500": rate(low), "val_accuracy_t_500_up": rate(~low)}
