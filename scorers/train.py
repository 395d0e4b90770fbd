"""Train a head on precomputed feature shards (scorers.features) with the seed's recipe.

The recipe: the seed's head (scorers.MidBlockHead, or LatentHead on the noisy
latents of the same rows, or, kind latent_x0, on the clean latents of features
made with --clean; Kaiming init), Adam, a one-cycle LR schedule over the
whole run, 1 epoch, batch 128. The aesthetic objective classifies round(rating)
into 10 classes with cross-entropy; "class" and "clip" heads train on the
shards' `label` / `clip_embedding` columns, "discriminator" heads on `real`
(scorers.objectives). Images are
split by a hash of their id (every noised copy of an image falls on one side),
and the held-out part reports accuracy, MAE of the expected rating and its
Spearman correlation with the ratings (aesthetic), accuracy (class) or mean
cosine (clip), each beside a trivial baseline. The same seed gives the same head.

Shards are read a few at a time (`shuffle_window`) and shuffled together, so the
features of a full SAC run need not fit in memory. A tqdm bar on stderr shows
the steps with a running loss (off with --quiet or when stderr is not a
terminal); the command writes the loss of every step to `<out>.loss.csv`.

    python -m scorers.train --features feats/sd21 --out heads/sd21-aesthetic
    python -m scorers.train --features feats/sd21 --out heads/sd21-latent --kind latent
    python -m scorers.train --features feats/sd21-clean --out heads/sd21-latent-x0 --kind latent_x0
    python -m scorers.train --features feats/toy --out heads/toy-colour --objective class --epochs 5 --batch 32
    python -m scorers.train --features feats/real-vs-gen --out heads/disc --objective discriminator
"""

import argparse
import csv
import json
import math
import shlex
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors import safe_open
from tqdm import tqdm

from scorers.checkpoint import HeadMeta, save_head
from scorers.heads import build_head
from scorers.feature_shards import read_manifest
from scorers.objectives import OBJECTIVES, get_objective

INPUT_COLUMN = {"midblock": "features", "latent": "latents", "latent_x0": "latents"}  # head kind -> the shard column it reads
SHAPE_KEY = {"midblock": "feature_shape", "latent": "latent_shape", "latent_x0": "latent_shape"}
CLEAN_ONLY = ("latent_x0",)  # kinds that read clean latents (the x0 estimate): trained on features made with --clean
SPLIT_BUCKETS = 10_000


@dataclass(frozen=True)
class TrainConfig:
    objective: str = "aesthetic"
    epochs: int = 1
    batch: int = 128
    lr: float = 1e-3  # peak LR of the one-cycle schedule (our choice; the seed's value is not recorded here)
    weight_decay: float = 0.0
    val_fraction: float = 0.1  # share of image ids held out
    seed: int = 0
    device: str = "cpu"
    shuffle_window: int = 8  # shards shuffled together; memory ~ window x shard size

    def __post_init__(self):
        get_objective(self.objective)
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction={self.val_fraction}: expected a fraction in (0, 1)")
        for name in ("epochs", "batch", "shuffle_window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: expected an integer >= 1")
        if self.lr <= 0:
            raise ValueError(f"lr={self.lr}: expected a positive learning rate")


def shard_paths(features_dir: Path, manifest: dict) -> list[Path]:
    if not manifest.get("complete"):
        raise ValueError(f"{features_dir}: the features run is unfinished ({len(manifest['shards_done'])} of "
                         f"{manifest['num_shards']} shards); run scorers.features again to finish it")
    return [features_dir / s for s in manifest["shards_done"]]


def read_columns(path: Path, names) -> dict[str, torch.Tensor]:
    with safe_open(str(path), framework="pt") as f:
        if missing := [n for n in names if n not in f.keys()]:
            raise ValueError(f"{path} has no column(s) {missing}; it has {sorted(f.keys())} "
                             "(labels come from a `label` column of the data, CLIP embeddings from --clip-arch)")
        return {n: f.get_tensor(n) for n in names}


def is_val(image_key: torch.Tensor, val_fraction: float) -> torch.Tensor:
    """Held-out rows: a fixed share of image-id hashes, the same whatever the shard order or run."""
    return torch.remainder(image_key, SPLIT_BUCKETS) < round(val_fraction * SPLIT_BUCKETS)


def batches(paths, masks, x_col, y_col, batch, rng, window):
    """Shuffled (x, y) batches of the masked rows: shards in random order, `window` at a time."""
    carry_x, carry_y = [], []
    order = rng.permutation(len(paths))
    for i in range(0, len(order), window):
        part = [read_columns(paths[k], [x_col, y_col]) for k in order[i:i + window]]
        x = torch.cat(carry_x + [c[x_col][masks[k]] for c, k in zip(part, order[i:i + window])])
        y = torch.cat(carry_y + [c[y_col][masks[k]] for c, k in zip(part, order[i:i + window])])
        perm = torch.from_numpy(rng.permutation(len(x)))
        full = len(x) // batch * batch
        for j in range(0, full, batch):
            yield x[perm[j:j + batch]], y[perm[j:j + batch]]
        carry_x, carry_y = [x[perm[full:]]], [y[perm[full:]]]
    if len(carry_x[0]):
        yield carry_x[0], carry_y[0]


@torch.no_grad()
def predict(head, paths, masks, x_col, y_col, batch, device):
    outs, ys = [], []
    for path, mask in zip(paths, masks):
        if not mask.any():
            continue
        cols = read_columns(path, [x_col, y_col])
        x, y = cols[x_col][mask], cols[y_col][mask]
        for j in range(0, len(x), batch):
            outs.append(head(x[j:j + batch].to(device, torch.float32)).float().cpu())
        ys.append(y)
    return torch.cat(outs), torch.cat(ys)


def train_head(features_dir: str | Path, kind: str = "midblock", cfg: TrainConfig = TrainConfig(),
               progress: bool = True, on_step: Callable[[dict], None] | None = None):
    """(head in eval mode on cfg.device, HeadMeta, metrics) trained on the shards in `features_dir`.

    `on_step` gets every step's {"step", "epoch", "lr", "loss"} (the loss curve `main` writes).
    """
    if kind not in INPUT_COLUMN:
        raise ValueError(f"unknown head kind {kind!r}; expected one of {sorted(INPUT_COLUMN)}")
    features_dir = Path(features_dir)
    manifest = read_manifest(features_dir)
    if kind in CLEAN_ONLY and manifest.get("noise") != "none":
        raise ValueError(f"{features_dir}: a {kind} head reads clean latents, but these features are noised "
                         f"({manifest.get('noise')}); make them with `python -m scorers.features --clean`")
    objective = get_objective(cfg.objective)
    paths = shard_paths(features_dir, manifest)
    small = [read_columns(p, ["image_key", "timestep", objective.column]) for p in paths]
    val = [is_val(c["image_key"], cfg.val_fraction) for c in small]
    train = [~v for v in val]
    y_all = torch.cat([c[objective.column] for c in small])
    y_train = torch.cat([c[objective.column][m] for c, m in zip(small, train)])
    t_train = torch.cat([c["timestep"][m] for c, m in zip(small, train)])
    n_train, n_val = len(y_train), int(sum(int(v.sum()) for v in val))
    if n_train == 0 or n_val == 0:
        raise ValueError(f"{features_dir}: the split by image id left {n_train} training and {n_val} held-out rows; "
                         f"use more images or another val_fraction (now {cfg.val_fraction})")
    classes = objective.outputs(y_all, manifest)
    shape = tuple(manifest[SHAPE_KEY[kind]])
    x_col, device = INPUT_COLUMN[kind], torch.device(cfg.device)

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(cfg.seed)  # the init, without touching the caller's RNG
        head = build_head(kind, shape, len(classes)).to(device)
    opt = torch.optim.Adam(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * math.ceil(n_train / cfg.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)
    rng = np.random.default_rng(cfg.seed)
    head.train()
    losses, running = [], None
    # disable=None: tqdm turns itself off when stderr is not a terminal
    bar = tqdm(total=steps, unit="step", desc=f"train {kind} head", disable=None if progress else True, dynamic_ncols=True)
    for epoch in range(cfg.epochs):
        for x, y in batches(paths, train, x_col, objective.column, cfg.batch, rng, cfg.shuffle_window):
            out = head(x.to(device, torch.float32))
            loss = objective.loss(out, objective.target(y, classes).to(device))
            lr = opt.param_groups[0]["lr"]  # the rate this step uses (the one-cycle schedule moves it after)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            # an exponential average: one batch's loss is too noisy to read a trend from
            running = losses[-1] if running is None else 0.95 * running + 0.05 * losses[-1]
            bar.set_postfix(loss=f"{running:.4g}", refresh=False)
            bar.update(1)
            if on_step is not None:
                on_step({"step": len(losses), "epoch": epoch, "lr": lr, "loss": losses[-1]})
    bar.close()
    head.eval()

    out, y_val = predict(head, paths, val, x_col, objective.column, cfg.batch, device)
    metrics = {"n_train": n_train, "n_val": n_val, "steps": len(losses),
               "train_loss_last": losses[-1], "train_loss_first": losses[0],
               "val_loss": float(objective.loss(out, objective.target(y_val, classes))),
               **objective.evaluate(out, y_val, classes, y_train)}
    metrics = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in metrics.items()}  # JSON has no NaN
    extra = {"data_sha256": manifest["data_sha256"], "features": str(features_dir), "metrics": metrics,
             "train": asdict(cfg), "noise_seed": manifest["noise_seed"], "noise": manifest["noise"],
             "image_size": manifest["image_size"], "weights": manifest["weights"]}
    if cfg.objective == "class" and manifest.get("label_names"):
        extra["class_names"] = manifest["label_names"]
    if cfg.objective == "discriminator":
        extra["class_names"] = ["generated", "real"]
    if cfg.objective == "clip":
        extra["clip"] = manifest["clip"]
    meta = HeadMeta(kind=kind, feature_shape=shape, base_model=manifest.get("base_model", manifest["model"]), classes=classes,
                    timesteps=(int(t_train.min()), int(t_train.max())), objective=cfg.objective, extra=extra)
    return head, meta, metrics


def loss_curve_path(stem: str | Path) -> Path:
    """`<stem>.loss.csv`, beside the head's `<stem>.safetensors` and `<stem>.json`."""
    return Path(str(stem) + ".loss.csv")


def write_loss_curve(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["step", "epoch", "lr", "loss"])
        w.writeheader()
        w.writerows(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--features", required=True, help="folder written by python -m scorers.features")
    p.add_argument("--out", required=True, help="checkpoint stem: writes <out>.safetensors and <out>.json")
    p.add_argument("--kind", default="midblock", help=f"head kind: {', '.join(INPUT_COLUMN)}")
    p.add_argument("--objective", default="aesthetic", help=f"what the head predicts: {', '.join(OBJECTIVES)}")
    p.add_argument("--epochs", type=int, default=1, help="passes over the training rows")
    p.add_argument("--batch", type=int, default=128, help="rows per step")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate of the one-cycle schedule")
    p.add_argument("--weight-decay", type=float, default=0.0, help="Adam weight decay")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of image ids held out")
    p.add_argument("--seed", type=int, default=0, help="seed of the init and the data order")
    p.add_argument("--shuffle-window", type=int, default=8, help="shards loaded and shuffled together")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--quiet", action="store_true", help="no progress bar (it is also off when stderr is not a terminal)")
    a = p.parse_args(argv)
    cfg = TrainConfig(objective=a.objective, epochs=a.epochs, batch=a.batch, lr=a.lr, weight_decay=a.weight_decay,
                      val_fraction=a.val_fraction, seed=a.seed, device=a.device, shuffle_window=a.shuffle_window)
    curve: list[dict] = []
    head, meta, metrics = train_head(a.features, a.kind, cfg, progress=not a.quiet, on_step=curve.append)
    command = shlex.join(["python", "-m", "scorers.train", *(sys.argv[1:] if argv is None else argv)])
    curve_path = loss_curve_path(a.out)
    save_head(a.out, head, replace(meta, extra={**meta.extra, "command": command, "loss_curve": curve_path.name}))
    write_loss_curve(curve_path, curve)
    print(json.dumps(metrics, indent=2))
    print(f"wrote {a.out}.safetensors, {a.out}.json and {curve_path} ({a.kind} head, {meta.objective}, "
          f"features {meta.feature_shape}, t in {meta.timesteps})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
