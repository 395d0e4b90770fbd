"""What a sweep builds once: the model, every scorer (each guides its backends and judges every sample), world judges."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from bench.uplift import WORLDS
from bench.uplift.config import UpliftConfig
from guidance import unet_split
from scorers.setup import make_scorer
from sdmodels import DTYPES, Models, load_models
from sdmodels.encode import say_overlong


@dataclass
class Kit:
    models: Models
    scorers: dict = field(default_factory=dict)  # kind -> scorer module
    scorer_desc: dict = field(default_factory=dict)
    world_judges: list = field(default_factory=list)  # fn(images in [-1,1] numpy, prompts) -> {name: (N,)}
    height: int = 0
    width: int = 0
    overlong: dict = field(default_factory=dict)  # prompt -> token count, for prompts the text encoder reads only in part


def build_kit(cfg: UpliftConfig) -> Kit:
    m = cfg.model
    models = load_models(m.source, m.weights, dtype=DTYPES[m.dtype], device=m.device, variant=m.variant, model_config=m.config)
    h, w = models.image_size(cfg.sampler.height, cfg.sampler.width)
    judges = WORLDS[cfg.world]().judges(m.source) if cfg.world else []
    kit = Kit(models=models, world_judges=judges, height=h, width=w, overlong=say_overlong(models, list(cfg.prompts)))
    for scorer in cfg.judges:
        kit.scorers[scorer.kind], kit.scorer_desc[scorer.kind] = make_scorer(scorer.kind, models, scorer, h, w)
    return kit


@torch.no_grad()
def judge(kit: Kit, x0: torch.Tensor, cond, images: torch.Tensor, prompts: list[str]) -> dict[str, list[float]]:
    """Every scorer (`judge_<kind>`) and world judge on finished samples: one list of values per judge."""
    m = kit.models
    t0 = torch.zeros((), dtype=torch.long, device=x0.device)
    inputs = {
        "midblock": lambda: unet_split.down_mid(m.unet, x0, t0, cond.cond, cond.added_cond).h,
        "latent": lambda: x0,
        "latent_x0": lambda: x0,  # a head on clean latents reads the finished sample as it is
        "image": lambda: images,
    }
    out = {f"judge_{k}": scorer(inputs[k]()).float().cpu().tolist() for k, scorer in kit.scorers.items()}
    arr = images.float().cpu().numpy()
    for fn in kit.world_judges:
        out.update({name: [float(v) for v in np.asarray(vals)] for name, vals in fn(arr, prompts).items()})
    return out
