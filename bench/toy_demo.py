"""`make demo`: a small uplift sweep in the toy world, with its report, in a few minutes on a CPU.

The committed toy model (`toyworld/weights`), its heads and pixel scorer are
guided at a negative, zero and two positive scales on four prompts, and every sample
is judged by the ground truth, the caption checks and every scorer; the
report (`<out>/toyworld.md`, figures beside it) reads as `reports/toyworld.md`
does for the full sweep (`make toyworld-sweep`), at a size where the
intervals are wide.

    python -m bench demo --out demo-out
    python -m bench demo --out demo-out --seeds 16 --backends none midu
"""
from __future__ import annotations

import shlex
from pathlib import Path

from .uplift import UpliftConfig, run_uplift
from .uplift_report import write_report
from .worlds import TOY_WEIGHTS, toy_defaults, world_judges

DEMO_BACKENDS = ("none", "midu", "latent", "pixel")
DEMO_SCALES = (-0.05, 0.03, 0.05)  # around the scales the committed sweep chose (reports/toyworld.md)
DEMO_WINDOW = (0.3, 1.0)  # as the committed sweep (make toyworld-sweep)


def toy_demo(out: str | Path, seeds: int = 16, steps: int = 25, backends: tuple[str, ...] = DEMO_BACKENDS,
             scales: tuple[float, ...] = DEMO_SCALES, n_prompts: int = 4, log=print) -> Path:
    if not (TOY_WEIGHTS / "ldm" / "unet").is_dir():
        raise FileNotFoundError(f"toy weights missing in {TOY_WEIGHTS}: rebuild them with `make toyworld` (about 25 min on 2 cores)")
    out = Path(out)
    d = toy_defaults()
    cfg = UpliftConfig(prompts=d["prompts"][:n_prompts], model=d["model"], weights=d["weights"], backends=tuple(backends),
                       scales=tuple(scales), seeds=seeds, chunk=seeds, steps=steps, heads=d["heads"], clip_arch=d["clip_arch"],
                       clip_checkpoint=d["clip_checkpoint"], aesthetic_mlp=d["aesthetic_mlp"], world="toy", grid_seeds=min(seeds, 4),
                       window_start=DEMO_WINDOW[0], window_end=DEMO_WINDOW[1])
    run_uplift(cfg, out / "sweep", resume=(out / "sweep" / "rows.jsonl").exists(), world_judges=world_judges("toy", cfg.model), log=log)
    command = "python -m bench demo " + shlex.join(["--out", str(out), "--seeds", str(seeds), "--steps", str(steps),
                                                    "--backends", *backends, "--scales", *map(str, scales)])
    report = write_report(out / "sweep", out / "toyworld.md", out / "headline.json", "python -m bench uplift-report (called by the demo)", command)
    log(f"wrote {report}")
    return report
