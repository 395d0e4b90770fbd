"""A tiny CNN that names the shape in a toy image, for the caption check.

It reads the figure mask that `figure.estimate_figure` finds (the same
figure/ground split the truth score uses), not the colours, so it judges the
silhouette alone and cannot learn colour or background shortcuts. Trained on
freshly rendered scenes of the world's own distribution; its accuracy on held
out renders is reported overall and on "readable" scenes (radius >= 0.1 of the
width, blur <= 1 px): a 2 px dot has no shape to read.

    clf, acc = train_shape_classifier(ShapeTrainConfig())
    save_shape_classifier(clf, "toyworld/weights/ldm/shape_classifier"); clf = load_shape_classifier(...)
    names = predict_shapes(clf, images)          # (N, 3, 32, 32) in [-1, 1]
    probs, feats = shape_probs(clf, images), penultimate(clf, images)  # (N, 4), (N, 64)
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from toyworld.figure import estimate_figure, to_unit
from toyworld.render import render
from toyworld.scene import SHAPES, sample_scenes
from toyworld.training import lr_at, set_lr

READABLE_RADIUS = 0.1
READABLE_BLUR = 1.0
WEIGHTS_FILE = "model.safetensors"
META_FILE = "meta.json"


@dataclass(frozen=True)
class ShapeTrainConfig:
    n_train: int = 12_000
    n_test: int = 2_000
    steps: int = 800
    batch: int = 64
    lr: float = 3e-3
    seed: int = 30


class ShapeNet(nn.Module):
    """Mask (B, 1, H, W) -> logits over SHAPES; global pooling makes it position-free."""

    def __init__(self, width: int = 16):
        super().__init__()
        w = width
        self.layers = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(),
            nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(4 * w, len(SHAPES)),
        )

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        return self.layers(mask)


def masks_of(images: np.ndarray) -> torch.Tensor:
    """(N, 3, H, W) images in [-1, 1] -> (N, 1, H, W) figure masks in [0, 1]."""
    return torch.from_numpy(estimate_figure(to_unit(images))["mask"]).float()[:, None]


def _labelled(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    scenes = sample_scenes(n, np.random.default_rng(seed))
    labels = torch.tensor([SHAPES.index(s.shape) for s in scenes])
    readable = np.array([s.radius >= READABLE_RADIUS and s.blur <= READABLE_BLUR for s in scenes])
    return masks_of(render(scenes)), labels, readable


def train_shape_classifier(cfg: ShapeTrainConfig = ShapeTrainConfig()) -> tuple[ShapeNet, dict]:
    """Train on cfg.n_train renders; returns the net and its held-out accuracy (all, readable)."""
    torch.manual_seed(cfg.seed)
    x, y, _ = _labelled(cfg.n_train, cfg.seed)
    net = ShapeNet()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    for step in range(cfg.steps):
        set_lr(opt, lr_at(step, cfg.steps, cfg.lr, warmup=50))
        idx = torch.randint(0, len(x), (cfg.batch,), generator=gen)
        loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval().requires_grad_(False)
    xt, yt, readable = _labelled(cfg.n_test, cfg.seed + 1)
    with torch.no_grad():
        hit = (net(xt).argmax(1) == yt).numpy()
    acc = {"shape_acc_real": float(hit.mean()), "shape_acc_real_readable": float(hit[readable].mean()),
           "n_test": cfg.n_test, "n_test_readable": int(readable.sum()), "final_loss": loss.item()}
    return net, acc


@torch.no_grad()
def predict_shapes(net: ShapeNet, images: np.ndarray) -> list[str]:
    """Shape names of (N, 3, H, W) images in [-1, 1]."""
    return [SHAPES[i] for i in net(masks_of(images)).argmax(1).tolist()]


@torch.no_grad()
def shape_probs(net: ShapeNet, images: np.ndarray) -> np.ndarray:
    """(N, len(SHAPES)) softmax probabilities of (N, 3, H, W) images in [-1, 1]."""
    return torch.softmax(net(masks_of(images)), dim=1).numpy()


@torch.no_grad()
def penultimate(net: ShapeNet, images: np.ndarray) -> np.ndarray:
    """(N, 4 * width) pooled features before the last linear layer: a fixed feature space of the world's own."""
    return net.layers[:-1](masks_of(images)).numpy().astype(np.float64)


def save_shape_classifier(net: ShapeNet, folder: str | Path, meta: dict | None = None) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, folder / WEIGHTS_FILE)
    (folder / META_FILE).write_text(json.dumps({"shapes": list(SHAPES), **(meta or {})}, indent=1) + "\n")
    return folder


def load_shape_classifier(folder: str | Path) -> ShapeNet:
    folder = Path(folder)
    if not (folder / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(f"{folder / WEIGHTS_FILE} missing: expected a folder written by save_shape_classifier")
    shapes = json.loads((folder / META_FILE).read_text())["shapes"]
    if tuple(shapes) != SHAPES:
        raise ValueError(f"{folder}: classifier names {shapes}, expected {list(SHAPES)}")
    net = ShapeNet()
    net.load_state_dict(load_file(folder / WEIGHTS_FILE))
    return net.eval().requires_grad_(False)


def config_dict(cfg: ShapeTrainConfig) -> dict:
    return asdict(cfg)
