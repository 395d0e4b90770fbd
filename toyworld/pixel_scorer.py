"""The toy world's pixel-space scorer: a small open_clip ViT + the LAION aesthetic MLP layout, trained on ratings.

It plays the role of CLIP ViT-L/14 + LAION's improved aesthetic predictor for
the `pixel*` backends, and is saved in exactly their formats (an open_clip
model config JSON, an open_clip checkpoint, a LAION-layout `.pth`), so the
pixel backends load it through the same code path as the real thing:

    python -m toyworld.pixel_scorer --out toyworld/weights/pixel_scorer
    python -m bench sample --model toyworld/weights/ldm --weights pretrained --backend pixel \
        --clip-arch toyworld/weights/pixel_scorer/toy-vit.json \
        --clip-checkpoint toyworld/weights/pixel_scorer/toy_clip.pt \
        --aesthetic-mlp toyworld/weights/pixel_scorer/toy_aesthetic_mlp.pth --scale 1 --out out/toy

Trained like LAION's predictor on (image, rating) pairs with an MSE loss, but
end to end (tower and MLP), since no pretrained tower exists here.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import open_clip
import torch
from scipy.stats import spearmanr

from scorers import AestheticMLP, ClipAestheticScorer

from .dataset import make_dataset
from .render import from_uint8

ARCH = "toy-vit"
ARCH_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 3, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1},
}


@dataclass(frozen=True)
class PixelScorerConfig:
    n_train: int = 12000
    n_val: int = 2000
    data_seed: int = 11
    seed: int = 0
    epochs: int = 5
    batch: int = 128
    lr: float = 2e-3
    mlp_lr_mult: float = 3.0
    weight_decay: float = 0.01
    threads: int = 1  # OpenMP spin-waiting on a shared 2-core machine made 2 threads far slower


def register(directory: Path) -> Path:
    path = directory / f"{ARCH}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ARCH_CONFIG, indent=2) + "\n")
    open_clip.add_model_config(path)
    return path


def train(cfg: PixelScorerConfig, out: Path, log=print) -> dict:
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    t0 = time.perf_counter()
    arch_path = register(out)
    ds = make_dataset(cfg.n_train + cfg.n_val, seed=cfg.data_seed)
    images = torch.from_numpy(from_uint8(ds["images"]))
    ratings = torch.from_numpy(ds["ratings"].astype(np.float32))
    truth = ds["truth"]
    model = open_clip.create_model(ARCH, pretrained=None)
    scorer = ClipAestheticScorer.from_open_clip(model, AestheticMLP(ARCH_CONFIG["embed_dim"]))
    # Train on standardised ratings, then fold mean and sd into the last layer: LAION's MLP is
    # linear on a unit-norm embedding, so at its default init it cannot reach a spread of several
    # points, and without this the first epochs only grow weights.
    mu, sd = float(ratings[:cfg.n_train].mean()), float(ratings[:cfg.n_train].std())
    target = (ratings - mu) / sd
    opt = torch.optim.AdamW([{"params": scorer.visual.parameters(), "lr": cfg.lr},
                             {"params": scorer.mlp.parameters(), "lr": cfg.lr * cfg.mlp_lr_mult}],
                            lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * (cfg.n_train // cfg.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[cfg.lr, cfg.lr * cfg.mlp_lr_mult], total_steps=steps)
    g = torch.Generator().manual_seed(cfg.seed)
    scorer.train()
    for epoch in range(cfg.epochs):
        perm = torch.randperm(cfg.n_train, generator=g)
        losses = []
        for i in range(cfg.n_train // cfg.batch):
            idx = perm[i * cfg.batch:(i + 1) * cfg.batch]
            loss = torch.nn.functional.mse_loss(scorer(images[idx]), target[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        log(f"epoch {epoch + 1}/{cfg.epochs}: mse {np.mean(losses):.3f}")
    scorer.eval()
    with torch.no_grad():
        last = scorer.mlp.layers[-1]
        last.weight.mul_(sd)
        last.bias.mul_(sd).add_(mu)
        pred = torch.cat([scorer(images[cfg.n_train + i:cfg.n_train + i + 500]) for i in range(0, cfg.n_val, 500)]).numpy()
    val_truth, val_rating = truth[cfg.n_train:], ratings[cfg.n_train:].numpy()
    metrics = {
        "val_spearman_truth": float(spearmanr(pred, val_truth).statistic),
        "val_spearman_rating": float(spearmanr(pred, val_rating).statistic),
        "val_mae_rating": float(np.abs(pred - val_rating).mean()),
    }
    seconds = round(time.perf_counter() - t0, 1)  # logged, not saved: the saved files stay identical across rebuilds
    torch.save(model.state_dict(), out / "toy_clip.pt")  # the full open_clip model, as open_clip checkpoints are
    torch.save(scorer.mlp.state_dict(), out / "toy_aesthetic_mlp.pth")
    (out / "pixel_scorer.json").write_text(json.dumps({"arch": ARCH, "arch_config": arch_path.name, "config": asdict(cfg),
                                                        "metrics": metrics}, indent=2) + "\n")
    log(f"held-out Spearman vs truth {metrics['val_spearman_truth']:.3f}, vs ratings {metrics['val_spearman_rating']:.3f} ({seconds} s)")
    return {**metrics, "train_s": seconds}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m toyworld.pixel_scorer", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder for toy-vit.json, toy_clip.pt, toy_aesthetic_mlp.pth")
    p.add_argument("--epochs", type=int, default=PixelScorerConfig.epochs, help="passes over the training images")
    p.add_argument("--n-train", type=int, default=PixelScorerConfig.n_train, help="training images")
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    train(PixelScorerConfig(epochs=a.epochs, n_train=a.n_train), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
