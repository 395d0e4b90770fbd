"""The uplift sweep: backends x scales x prompts x seeds, every final sample judged by every scorer.

Each cell (backend, scale, prompt, chunk of seeds) samples from per-seed noise,
so a seed's sample does not depend on how seeds are chunked, and pairs with
the unguided sample of the same seed and prompt (backend `none`; a guided
backend at scale 0 runs exactly that computation, so it is not repeated).
Every sample is judged by each available scorer (the mid-block head, the
latent head, the image scorer: the cross-scorer matrix) and by the world's
own judges where one exists (the toy world's ground truth and caption checks).
Rows go to a RowStore, so a killed sweep resumes where it stopped.

    python -m bench uplift --world toy --out results/uplift/toy --seeds 64
    python -m bench uplift --model tiny --weights random --backends none midu --scales -1 1 --seeds 4 --out /tmp/u
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from guidance import BACKENDS, SCORER_KIND, GuidanceConfig, check_backend, sample
from guidance import unet_split
from guidance.pixel import decode

from .encode import encode_prompts
from .models import DTYPES, Models, load_models
from .rowstore import RowStore
from .sample_job import to_pil
from .scorer_setup import ScorerConfig, make_scorer
from .sweep import run_sweep

JUDGE_KINDS = ("midblock", "latent", "image")


@dataclass(frozen=True)
class UpliftConfig:
    prompts: tuple[str, ...]
    model: str = "tiny"
    weights: str = "random"
    backends: tuple[str, ...] = ("none", "latent", "midu", "pixel")
    scales: tuple[float, ...] = (-1.0, 1.0)
    scales_by_backend: tuple[tuple[str, tuple[float, ...]], ...] = ()  # overrides `scales` per backend
    seeds: int = 8
    seed0: int = 0
    chunk: int = 16  # seeds per sampling call
    steps: int = 25
    cfg_scale: float = 5.0
    scheduler: str = "ddim"
    window_start: float = 0.0
    window_end: float = 1.0
    every_k: int = 1
    grad_norm: str = "rms"
    target: str = "latent"
    dtype: str = "fp32"
    device: str = "cpu"
    heads: tuple[tuple[str, str], ...] = ()  # (kind, checkpoint stem) for "midblock" / "latent"
    clip_arch: str | None = None
    clip_checkpoint: str | None = None
    aesthetic_mlp: str | None = None
    grid_seeds: int = 4  # seeds whose images are kept, for the grids
    world: str | None = None  # "toy": add the toy world's ground-truth and caption judges

    def __post_init__(self):
        for b in self.backends:
            check_backend(b)
        if "none" not in self.backends:
            raise ValueError("the uplift sweep needs the 'none' backend: every guided sample pairs with its unguided one")
        if self.seeds < 1 or self.chunk < 1:
            raise ValueError(f"seeds={self.seeds}, chunk={self.chunk}: expected integers >= 1")
        if not self.prompts:
            raise ValueError("expected at least one prompt")
        GuidanceConfig(1.0, self.window_start, self.window_end, self.every_k, self.grad_norm, self.target)

    def scales_for(self, backend: str) -> tuple[float, ...]:
        if backend == "none":
            return (0.0,)
        return dict(self.scales_by_backend).get(backend, self.scales)

    def scorer_config(self, kind: str) -> ScorerConfig:
        return ScorerConfig(head=dict(self.heads).get(kind), clip_arch=self.clip_arch,
                            clip_checkpoint=self.clip_checkpoint, aesthetic_mlp=self.aesthetic_mlp)


def cells(cfg: UpliftConfig) -> list[dict]:
    """One row's configuration per (backend, scale, prompt, chunk of seeds)."""
    out = []
    for backend in cfg.backends:
        for scale in cfg.scales_for(backend):
            if backend != "none" and scale == 0.0:
                continue  # identical to `none`: the same unguided computation
            for p, prompt in enumerate(cfg.prompts):
                for start in range(cfg.seed0, cfg.seed0 + cfg.seeds, cfg.chunk):
                    seeds = list(range(start, min(start + cfg.chunk, cfg.seed0 + cfg.seeds)))
                    out.append({"backend": backend, "scale": scale, "prompt_idx": p, "prompt": prompt, "seeds": seeds})
    return out


@dataclass
class Kit:
    """Everything a sweep builds once: models, scorers (as guides and as judges), world judges."""

    models: Models
    scorers: dict = field(default_factory=dict)  # kind -> scorer module
    scorer_desc: dict = field(default_factory=dict)
    world_judges: list = field(default_factory=list)  # fn(images in [-1,1] numpy, prompts) -> {name: (N,)}
    height: int = 0
    width: int = 0


def build_kit(cfg: UpliftConfig, world_judges: list | None = None) -> Kit:
    models = load_models(cfg.model, cfg.weights, dtype=DTYPES[cfg.dtype], device=cfg.device)
    h = w = models.resolution
    kit = Kit(models=models, world_judges=world_judges or [], height=h, width=w)
    for kind in JUDGE_KINDS:
        kit.scorers[kind], kit.scorer_desc[kind] = make_scorer(kind, models, cfg.scorer_config(kind), h, w)
    return kit


@torch.no_grad()
def judge(kit: Kit, x0: torch.Tensor, cond, images: torch.Tensor, prompts: list[str]) -> dict[str, list[float]]:
    """Every scorer and world judge on finished samples."""
    m = kit.models
    t0 = torch.zeros((), dtype=torch.long, device=x0.device)
    inputs = {
        "midblock": lambda: unet_split.down_mid(m.unet, x0, t0, cond.cond, cond.added_cond).h,
        "latent": lambda: x0,
        "image": lambda: images,
    }
    out = {f"judge_{k}": kit.scorers[k](inputs[k]()).float().cpu().tolist() for k in JUDGE_KINDS}
    arr = images.float().cpu().numpy()
    for fn in kit.world_judges:
        out.update({name: [float(v) for v in np.asarray(vals)] for name, vals in fn(arr, prompts).items()})
    return out


class TimedBackend:
    """Wall time of each guided backend call (synchronised on CUDA), for latency alongside uplift."""

    def __init__(self, backend):
        self.backend, self.guided_ms, self.all_ms = backend, [], []
        self.name = backend.name

    def __call__(self, step):
        sync = torch.cuda.synchronize if step.x.is_cuda else (lambda: None)
        sync()
        t0 = time.perf_counter()
        out = self.backend(step)
        sync()
        ms = (time.perf_counter() - t0) * 1e3
        self.all_ms.append(ms)
        if step.want_grad:
            self.guided_ms.append(ms)
        return out


def run_cell(kit: Kit, cfg: UpliftConfig, cell: dict, image_dir: Path | None) -> dict:
    m = kit.models
    name = cell["backend"]
    backend = TimedBackend(BACKENDS[name](m, kit.scorers.get(SCORER_KIND[name])))
    seeds, prompts = cell["seeds"], [cell["prompt"]] * len(cell["seeds"])
    cond = encode_prompts(m, prompts, "", kit.height, kit.width)
    sched = m.scheduler(cfg.scheduler)
    sched.set_timesteps(cfg.steps, device=m.device)
    noise = torch.stack([torch.randn(m.latent_shape(kit.height, kit.width), generator=torch.Generator().manual_seed(s)) for s in seeds])
    x = noise.to(m.device, m.dtype) * sched.init_noise_sigma
    guidance = GuidanceConfig(cell["scale"], cfg.window_start, cfg.window_end, cfg.every_k, cfg.grad_norm, cfg.target)
    res = sample(backend, sched, x, cond, guidance, cfg.cfg_scale)
    with torch.no_grad():
        images = decode(m.vae, res.x0).clamp(-1, 1)  # judged as saved: the PNG clamps too
    row = {"seed_list": seeds, "random_weights": m.random_weights, "sweep": asdict(cfg),
           **judge(kit, res.x0, cond, images, prompts),
           "nonfinite_steps": sum(s.nonfinite for s in res.steps),  # sample-steps whose guidance was skipped
           "guided_sample_steps": sum(s.guided for s in res.steps) * len(seeds),
           "step_ms": float(np.median(backend.all_ms)),
           "guided_step_ms": float(np.median(backend.guided_ms)) if backend.guided_ms else None}
    if image_dir is not None:
        keep = [i for i, s in enumerate(seeds) if s < cfg.seed0 + cfg.grid_seeds]
        folder = image_dir / name / f"s{cell['scale']:+g}"
        folder.mkdir(parents=True, exist_ok=True)
        pil = to_pil(images[keep])
        for i, im in zip(keep, pil):
            im.save(folder / f"p{cell['prompt_idx']}_seed{seeds[i]}.png")
    return row


def check_same_sweep(path: Path, cfg: UpliftConfig) -> None:
    """Resuming with other settings would mix two sweeps in one file: refuse, naming what changed."""
    if not path.exists():
        return
    old = json.loads(path.read_text())["config"]
    new = json.loads(json.dumps(asdict(cfg)))
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if changed:
        raise ValueError(f"{path} was written by a sweep with other settings ({', '.join(changed)}); use another --out")


def run_uplift(cfg: UpliftConfig, out: str | Path, resume: bool = False, world_judges: list | None = None,
               log: Callable[[str], None] = print) -> Path:
    from .worlds import check_world_prompts

    check_world_prompts(cfg.world, cfg.prompts)  # before any model loads
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store = RowStore(out / "rows.jsonl")
    if resume:
        check_same_sweep(out / "config.json", cfg)
    todo = cells(cfg)
    kit = build_kit(cfg, world_judges)
    record = {"config": asdict(cfg), "scorers": kit.scorer_desc, "random_weights": kit.models.random_weights}
    (out / "config.json").write_text(json.dumps(record, indent=2) + "\n")
    s = run_sweep(todo, lambda cell: run_cell(kit, cfg, cell, out / "images"), store, resume,
                  on_row=lambda r: log(f"{r['backend']} scale {r['scale']:+g} prompt {r['prompt_idx']} "
                                       f"seeds {r['seeds'][0]}..{r['seeds'][-1]}: {r['status']} ({r['row_wall_s']} s)"))
    log(f"{s.ran} cells run, {s.skipped} already done, {s.oom} out of memory -> {store.path}")
    return store.path
