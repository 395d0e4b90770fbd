"""`make demo`: a small uplift sweep in the toy world, with its report, in a few minutes on a CPU.

The committed toy model (`toyworld/weights`), its heads and pixel scorer are
guided at a negative, zero and two positive scales on four prompts, with best-of-N
draws (N up to 4) on the held-out pairs, and every sample
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

from bench.report.uplift import write_report
from bench.uplift.config import make_arms
from bench.uplift.resolve import resolve_config
from bench.uplift.run import run_uplift
from guidance import GuidanceConfig, SamplerConfig
from toyworld.world import TOY_WEIGHTS, toy_prompts

DEMO_BACKENDS = ("none", "midu", "latent", "pixel")
DEMO_SCALES = (-0.05, 0.03, 0.05)  # around the scales the committed sweep chose (reports/toyworld.md)
DEMO_WINDOW = (0.3, 1.0)  # as the committed sweep (make toyworld-sweep)
DEMO_BEST_OF = 4  # best-of-1, 2, 4: reaches past every demo backend's cost at SD 2.1-base scale (pixel's is about 3.7)


def toy_demo(out: str | Path, seeds: int = 16, steps: int = 25, backends: tuple[str, ...] = DEMO_BACKENDS,
             scales: tuple[float, ...] = DEMO_SCALES, n_prompts: int = 4, log=print, progress: bool = True,
             best_of: int = DEMO_BEST_OF) -> Path:
    if not (TOY_WEIGHTS / "ldm" / "unet").is_dir():
        raise FileNotFoundError(f"toy weights not found: expected {TOY_WEIGHTS / 'ldm' / 'unet'} (toyworld/weights in the "
                                "repository); install from a checkout that has them (pip install .), or rebuild them in one "
                                "with `make toyworld` (about 25 min on 2 cores)")
    out = Path(out)
    cfg = resolve_config("toy", arms=make_arms(backends, scales, best_of=best_of), prompts=toy_prompts()[:n_prompts], seeds=seeds,
                         chunk=seeds, grid_seeds=min(seeds, 4), sampler=SamplerConfig(steps=steps, cfg_scale=5.0),
                         guidance=GuidanceConfig(window_start=DEMO_WINDOW[0], window_end=DEMO_WINDOW[1]))
    run_uplift(cfg, out / "sweep", resume=(out / "sweep" / "config.json").exists(), log=log, progress=progress)
    command = "python -m bench demo " + shlex.join(["--out", str(out), "--seeds", str(seeds), "--steps", str(steps),
                                                    "--backends", *backends, "--scales", *map(str, scales), "--best-of", str(best_of)])
    report = write_report(out / "sweep", out / "toyworld.md", out / "headline.json", "python -m bench uplift-report (called by the demo)", command)
    log(f"wrote {report}")
    return report
