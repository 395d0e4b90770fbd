"""The pixel-space scorer: an open_clip image tower + the LAION aesthetic MLP.

This plays "CLIP ViT-L/14 + LAION improved aesthetic predictor", the classic
pixel scorer whose gradient must travel back through CLIP and the VAE decoder.
`AestheticMLP` keeps the LAION predictor's exact layout and key names so its
published `.pth` loads unchanged; the predictor was fitted on L2-normalised
OpenAI ViT-L/14 image embeddings (use arch "ViT-L-14-quickgelu" for those
weights: OpenAI's towers use QuickGELU and open_clip's plain "ViT-L-14" does not).

    scorer = load_clip_aesthetic("ViT-L-14-quickgelu", "clip/open_clip_pytorch_model.bin",
                                 "sac+logos+ava1-l14-linearMSE.pth", device="cuda", dtype=torch.float16)
    cost_only = build_clip_aesthetic_random("ViT-L-14", device="cuda", dtype=torch.float16)
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import open_clip
import torch
import torch.nn.functional as F
from torch import nn

from scorers.clip_preprocess import check_preprocess_cfg, preprocess
from scorers.safe_load import load_open_clip, load_state
from scorers.safe_load import quietly as _quietly


class AestheticMLP(nn.Module):
    """The LAION improved-aesthetic-predictor MLP on a d-dim CLIP embedding -> (B, 1) score."""

    def __init__(self, d: int = 768):
        super().__init__()
        self.d = d
        self.layers = nn.Sequential(
            nn.Linear(d, 1024),
            nn.Dropout(0.2),
            nn.Linear(1024, 128),
            nn.Dropout(0.2),
            nn.Linear(128, 64),
            nn.Dropout(0.1),
            nn.Linear(64, 16),
            nn.Linear(16, 1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(z)


def load_aesthetic_mlp(path: str | Path) -> AestheticMLP:
    """An `AestheticMLP` (eval mode) from a LAION-format `.pth` state dict; d comes from layers.0.weight."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"aesthetic MLP weights not found: {path}")
    state = load_state(path)
    if not isinstance(state, Mapping) or "layers.0.weight" not in state:
        keys = sorted(state) if isinstance(state, Mapping) else type(state).__name__
        raise ValueError(f"{path} is not a LAION aesthetic MLP state dict (no layers.0.weight); got {keys}")
    mlp = AestheticMLP(d=state["layers.0.weight"].shape[1])
    expected = set(mlp.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise ValueError(f"{path} does not have the LAION aesthetic MLP layout: missing keys {missing}, "
                         f"unexpected keys {unexpected}")
    mlp.load_state_dict(state)
    return mlp.eval()


class ClipAestheticScorer(nn.Module):
    """Aesthetic score (B,) of decoded images in [-1, 1] (B, 3, H, W), differentiable in the pixels.

    Holds only the image tower (the text tower is dropped) and the MLP. The
    normalisation constants are buffers taken from the preprocess config, so
    they follow `.to(device)`; preprocessing runs in at least float32, the tower
    in its own dtype, the MLP in its own (float32 unless cast).
    """

    def __init__(self, visual: nn.Module, mlp: AestheticMLP, preprocess_cfg: Mapping[str, Any]):
        super().__init__()
        check_preprocess_cfg(preprocess_cfg)
        self.visual = visual
        self.mlp = mlp
        self.preprocess_cfg = dict(preprocess_cfg)
        self.register_buffer("mean", torch.tensor(preprocess_cfg["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(preprocess_cfg["std"]).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_open_clip(cls, model: nn.Module, mlp: AestheticMLP) -> "ClipAestheticScorer":
        """Scorer from a full open_clip model: its visual tower and its preprocess config."""
        return cls(model.visual, mlp, open_clip.get_model_preprocess_cfg(model))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = preprocess(images, self.preprocess_cfg, self.mean, self.std)
        z = self.visual(x.to(next(self.visual.parameters()).dtype))
        z = F.normalize(z.to(self.mlp.layers[0].weight.dtype), dim=-1)
        return self.mlp(z).squeeze(-1)


def embed_dim(arch: str) -> int:
    """Embedding dim of open_clip architecture `arch`, refusing names that could reach a network.

    Only registered names: "hf-hub:"/"local-dir:" names make open_clip fetch configs and
    weights from elsewhere, and an architecture with a Hugging Face text tower fetches
    that tower's config from the hub even when its weights come from a local file.
    """
    if arch not in open_clip.list_models():
        raise ValueError(f"unknown open_clip architecture {arch!r}; expected a registered name "
                         f"from open_clip.list_models() (hub and local-dir names are refused)")
    cfg = open_clip.get_model_config(arch)
    if "hf_model_name" in cfg["text_cfg"]:
        raise ValueError(f"open_clip architecture {arch!r} has a Hugging Face text tower "
                         f"({cfg['text_cfg']['hf_model_name']}) whose config would be fetched from the hub")
    return cfg["embed_dim"]


def finish(scorer: ClipAestheticScorer, device: str | torch.device, dtype: torch.dtype) -> ClipAestheticScorer:
    """Tower to `dtype`, everything to `device`, eval mode, frozen weights.

    Frozen because guidance needs d score / d pixels only; weight gradients would
    cost memory and time that the benchmark would then wrongly charge to the method.
    """
    scorer.visual.to(dtype)
    return scorer.to(device).eval().requires_grad_(False)


def load_clip_aesthetic(arch: str, clip_checkpoint: str | Path, mlp_path: str | Path,
                        device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> ClipAestheticScorer:
    """CLIP aesthetic scorer from local files only: an open_clip checkpoint for `arch` and a LAION MLP `.pth`."""
    for path in (Path(clip_checkpoint), Path(mlp_path)):
        if not path.is_file():  # before building anything: a ViT-L build takes seconds and gigabytes
            raise FileNotFoundError(f"CLIP aesthetic scorer file not found: {path}")
    d = embed_dim(arch)
    mlp = load_aesthetic_mlp(mlp_path)
    if mlp.d != d:
        raise ValueError(f"aesthetic MLP {mlp_path} reads {mlp.d}-dim embeddings but {arch} gives {d}")
    model = load_open_clip(arch, clip_checkpoint)
    return finish(ClipAestheticScorer.from_open_clip(model, mlp), device, dtype)


def build_clip_aesthetic_random(arch: str, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                                seed: int = 0) -> ClipAestheticScorer:
    """Full-size scorer with random weights, for cost runs (FLOPs and memory do not depend on weights).

    Downloads nothing: no pretrained tag, no pretrained tower weights, no hub text tower.
    """
    d = embed_dim(arch)
    with torch.random.fork_rng(devices=[]):  # seed the init without touching the caller's RNG
        torch.manual_seed(seed)
        model = _quietly(open_clip.create_model, arch, pretrained=None, pretrained_image=False, pretrained_text=False)
        mlp = AestheticMLP(d).eval()
    return finish(ClipAestheticScorer.from_open_clip(model, mlp), device, dtype)


