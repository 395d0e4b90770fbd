"""The uplift sweep: arms x prompts x seeds, every final sample judged by every scorer.

Each cell (arm, prompt, chunk of seeds) samples from per-seed noise, so a
seed's sample does not depend on how seeds are chunked, and pairs with the
unguided sample of the same seed and prompt (the `none` arm; a guided backend
at scale 0 runs exactly that computation, so it is not repeated). A best-of-N
draw (`--best-of`) is the `none` arm on a held-out pair from its own reserved
seed (bench/uplift/seeds.py): its rows keep the pair's `seed` and add `draw`
and `noise_seed`. Every sample
is judged by each scorer (the mid-block head, the latent head, the image
scorer: the cross-scorer matrix) and by the world's own judges where one
exists (the toy world's ground truth and caption checks). A cell writes one
flat row per sample; the sweep's configuration is written once, to
`config.json`. Rows go to a RowStore, so a killed sweep resumes where it stopped.

    python -m bench uplift --world toy --out results/uplift/toy --seeds 64
    python -m bench uplift --model tiny --weights random --backends none midu --scales -1 1 --seeds 4 --out /tmp/u
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from sdmodels.files import write_atomic
from bench.store.lock import FolderLock
from bench.store.rows import RowStore
from bench.store.sweep import run_sweep
from bench.tracker import open_tracker
from bench.uplift.config import GUIDANCE_FIELDS, SAMPLER_FIELDS, Arm, UpliftConfig
from bench.uplift.identity import check_same_sweep, identity
from bench.uplift.kit import Kit, build_kit, judge
from bench.uplift.seeds import draw_seed, halves
from guidance import build_backend, ran_as, sample
from guidance.pixel import decode
from sdmodels import encode_prompts, to_pil

ARM_FIELDS = SAMPLER_FIELDS | GUIDANCE_FIELDS
# which seeds' images a sweep keeps (a run-time choice, not part of the sweep's identity): seeds below the bound
KEEP_IMAGES = {"grid": lambda cfg: cfg.seed0 + cfg.grid_seeds,  # the report's grids
               "all": lambda cfg: float("inf")}  # every seed: the rating page offers held-out seeds too


def cells(cfg: UpliftConfig) -> list[dict]:
    """One flat configuration per (arm, prompt, chunk of seeds): the arm's fields are keys, so they enter the row hash."""
    out = []
    held = halves(range(cfg.seed0, cfg.seed0 + cfg.seeds))[1][0] if cfg.seeds > 1 else None  # the first held-out seed
    for arm in cfg.arms:
        first, draw = (held, {"draw": arm.draw}) if arm.draw else (cfg.seed0, {})  # draws: the held-out seeds only
        for p in range(len(cfg.prompts)):
            for start in range(first, cfg.seed0 + cfg.seeds, cfg.chunk):
                stop = min(start + cfg.chunk, cfg.seed0 + cfg.seeds)
                out.append({"backend": arm.backend, "scale": 0.0, **dict(arm.set), **draw, "prompt_idx": p, "seed_start": start,
                            "seed_stop": stop})
    return out


def arm_of(cell: dict) -> Arm:
    """The arm a cell or row belongs to, from its flat keys (a NaN is a key the row lacks: a row of a pandas frame
    that holds other arms' fields)."""
    return Arm(cell["backend"], tuple((k, v) for k, v in cell.items()
                                      if k in ARM_FIELDS and not (k == "scale" and v == 0.0) and v == v),
               cell.get("draw", 0) if cell.get("draw", 0) == cell.get("draw", 0) else 0)


class TimedBackend:
    """Wall time of each backend call (synchronised on CUDA), for latency alongside uplift."""

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


def run_cell(kit: Kit, cfg: UpliftConfig, cell: dict, image_dir: Path | None, on_step: Callable | None = None,
             keep_images: str = "grid") -> list[dict]:
    """The cell's rows, one per sample; `on_step` is the sampler's hook (a tracker's); images of the grid seeds are
    kept (`keep_images="all"`: of every seed)."""
    m, arm = kit.models, arm_of(cell)
    sampler, guidance = cfg.arm_configs(arm)
    inner = build_backend(arm.backend, m, kit.scorers.get(_kind(cfg, arm.backend)))
    backend = TimedBackend(inner)
    seeds = list(range(cell["seed_start"], cell["seed_stop"]))
    prompts = [cfg.prompts[cell["prompt_idx"]]] * len(seeds)
    cond = encode_prompts(m, prompts, "", kit.height, kit.width)
    sched = m.scheduler(sampler.scheduler)
    sched.set_timesteps(sampler.steps, device=m.device)
    noise_seeds = [draw_seed(s, arm.draw) for s in seeds] if arm.draw else seeds  # a draw's own reserved seed per pair
    gens = [torch.Generator().manual_seed(s) for s in noise_seeds]  # each sample's noise, then its redone steps' noise
    noise = torch.stack([torch.randn(m.latent_shape(kit.height, kit.width), generator=g) for g in gens])
    res = sample(backend, sched, noise.to(m.device, m.dtype) * sched.init_noise_sigma, cond, guidance, sampler.cfg_scale,
                 on_step=on_step, generator=gens)
    with torch.no_grad():
        images = decode(m.vae, res.x0).clamp(-1, 1)  # judged as saved: the PNG clamps too
    judged = judge(kit, res.x0, cond, images, prompts)
    guided = sum(s.guided for s in res.steps)
    cell_cols = {"step_ms": float(np.median(backend.all_ms)),
                 "guided_step_ms": float(np.median(backend.guided_ms)) if backend.guided_ms else None}
    base = {k: v for k, v in cell.items() if k not in ("seed_start", "seed_stop")}
    base["prompt_truncated"] = cfg.prompts[cell["prompt_idx"]] in kit.overlong
    if ran_as(inner) != arm.backend:
        base["ran_as"] = ran_as(inner)
    rows = [{**base, "seed": s, **{k: v[i] for k, v in judged.items()},
             "nonfinite_steps": sum(i in st.nonfinite_idx for st in res.steps),  # steps whose guidance this sample skipped
             "saturated_steps": sum(i in st.saturated_idx for st in res.steps),
             "guided_steps": guided, "backend_calls": sum(st.calls for st in res.steps),
             "guided_recurrence": guidance.recurrence, "guided_iterations": guidance.iterations,  # not arm keys: arm_of reads those
             **cell_cols, **({"noise_seed": noise_seeds[i]} if arm.draw else {})} for i, s in enumerate(seeds)]
    if image_dir is not None and not arm.draw:  # a draw's images would land in the unguided arm's folder
        _save_images(image_dir, arm, cell, seeds, images, KEEP_IMAGES[keep_images](cfg))
    return rows


def _kind(cfg: UpliftConfig, backend: str) -> str | None:
    guide = cfg.guide(backend)
    return None if guide is None else guide.kind


def image_path(image_dir: Path, arm: Arm, prompt_idx: int, seed: int) -> Path:
    """Where a sweep keeps the image of one arm's sample (the grids and the rating page read them here)."""
    folder = image_dir / arm.backend / ("s" + "_".join(("" if k == "scale" else k) + _signed(v) for k, v in (arm.set or (("scale", 0.0),))))
    return folder / f"p{prompt_idx}_seed{seed}.png"


def _save_images(image_dir: Path, arm: Arm, cell: dict, seeds: list[int], images: torch.Tensor, below: float) -> None:
    keep = [i for i, s in enumerate(seeds) if s < below]
    for i, im in zip(keep, to_pil(images[keep])):
        path = image_path(image_dir, arm, cell["prompt_idx"], seeds[i])
        path.parent.mkdir(parents=True, exist_ok=True)
        im.save(path)


def _signed(v) -> str:
    return f"{v:+g}" if isinstance(v, (int, float)) else f"-{v}"


def _holds_a_sweep(out: Path) -> bool:
    return out.is_dir() and any(p.name != ".lock" for p in out.iterdir())


class LocalCells:
    """The cells in this process, on one kit (models and scorers) built once; bench/uplift/remote.py runs them on Ray."""

    def __init__(self, cfg: UpliftConfig):
        self.cfg, self.kit = cfg, build_kit(cfg)

    def describe(self) -> dict:
        return {"scorers": self.kit.scorer_desc, "random_weights": self.kit.models.random_weights}

    def sweep(self, store: RowStore, image_dir: Path, on_cell: Callable, progress: bool, keep_images: str = "grid",
              on_step_for: Callable | None = None):
        """`on_step_for(cell)`: the sampler's per-step hook for that cell (the tracker's), or None."""
        return run_sweep(cells(self.cfg), lambda cell: run_cell(self.kit, self.cfg, cell, image_dir, on_step_for and on_step_for(cell),
                                                                keep_images),
                         store, resume=True, on_cell=on_cell, progress=progress)


def run_uplift(cfg: UpliftConfig, out: str | Path, resume: bool = False, log: Callable[[str], None] = print,
               progress: bool = True, executor: Callable | None = None, tracker: str | None = None, keep_images: str = "grid") -> Path:
    """Run (or, with resume, finish) the sweep in `out`; one writer at a time, its identity fixed at creation.

    `executor(cfg)` makes what runs the cells (`describe()`, `sweep(...)`): LocalCells by default; the rows are the same.
    `tracker`: a W&B project that gets the configuration, the rows and the grids, and (cells run here) every step's
    statistics (bench/tracker.py). `keep_images` (grid or all: KEEP_IMAGES) applies to the cells this run samples.
    """
    if keep_images not in KEEP_IMAGES:
        raise ValueError(f"keep_images {keep_images!r}: expected one of {', '.join(KEEP_IMAGES)}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file: expected a sweep folder (new, or one to --resume)")
    if not resume and _holds_a_sweep(out):
        raise ValueError(f"{out} already holds a sweep: pass --resume to finish it, or choose another --out")
    ident = identity(cfg)
    with FolderLock(out):
        config_path, store = out / "config.json", RowStore(out / "rows.jsonl")
        if config_path.exists():
            if not resume:
                raise ValueError(f"{out} already holds a sweep: pass --resume to finish it, or choose another --out")
            check_same_sweep(config_path, ident)
        elif store.rows():
            raise ValueError(f"{out} holds rows but no config.json: its identity is lost; start the sweep in another --out")
        runner = (executor or LocalCells)(cfg)
        desc = runner.describe() if tracker or not config_path.exists() else None  # on Ray, asked of a worker: once
        if not config_path.exists():  # written once, when the sweep is made
            write_atomic(config_path, json.dumps({**ident, **desc}, indent=2) + "\n")

        track = open_tracker(tracker, out.name, {**ident["config"], "scorers": desc and desc["scorers"]}, "uplift")

        def on_cell(rows: list[dict]) -> None:
            r = rows[0]
            first, last = r.get("seed", r.get("seed_start")), rows[-1].get("seed", r.get("seed_stop", 0) - 1)
            log(f"{arm_of(r).label} prompt {r['prompt_idx']} seeds {first}..{last}: {r['status']} ({r['row_wall_s']} s)")
            if track:
                track.log_rows(rows)

        if isinstance(runner, LocalCells):  # a Ray worker's steps stay on the worker: rows and grids still reach the tracker
            s = runner.sweep(store, out / "images", on_cell, progress, keep_images,
                             on_step_for=track and (lambda cell: track.on_step(**cell)))
        else:
            s = runner.sweep(store, out / "images", on_cell, progress, keep_images)
        if track:
            track.log_sweep_grids(out / "images")
            track.finish()
    failed = f", {s.failed} failed" if s.failed else ""
    log(f"{s.ran} cells run, {s.skipped} already done, {s.oom} out of memory{failed} -> {store.path}")
    return store.path
