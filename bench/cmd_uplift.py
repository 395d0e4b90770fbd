"""`python -m bench uplift` (run a sweep) and `python -m bench uplift-report` (turn one into a report)."""
from __future__ import annotations

import shlex
import sys

from guidance import BACKENDS


def add_parser(sub) -> None:
    from .uplift import __doc__ as doc

    p = sub.add_parser("uplift", help="uplift sweep: backends x scales x prompts x seeds, judged by every scorer", description=doc)
    p.add_argument("--model", default="tiny", help="preset, local diffusers folder or hub id")
    p.add_argument("--weights", default="random", help="pretrained or random")
    p.add_argument("--world", default=None, help="add a world's own judges: toy (ground truth, caption checks)")
    p.add_argument("--backends", nargs="+", default=["none", "latent", "midu", "pixel"], help=f"from: {', '.join(BACKENDS)}")
    p.add_argument("--scales", type=float, nargs="+", default=[-1.0, 1.0], help="guidance scales (0 is the unguided baseline)")
    p.add_argument("--prompt", action="append", dest="prompts", help="prompt (repeat for several)")
    p.add_argument("--seeds", type=int, default=8, help="seeds per prompt")
    p.add_argument("--chunk", type=int, default=16, help="seeds per sampling call")
    p.add_argument("--steps", type=int, default=25, help="sampling steps")
    p.add_argument("--cfg-scale", type=float, default=5.0, help="classifier-free guidance scale")
    p.add_argument("--scheduler", default="ddim", help="ddim, euler or dpmpp")
    p.add_argument("--head", action="append", default=[], metavar="KIND=STEM", help="trained head for midblock or latent, e.g. midblock=heads/aesthetic")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--dtype", default="fp32", help="fp32, fp16 or bf16")
    p.add_argument("--out", required=True, help="sweep folder (rows.jsonl, config.json, images/)")
    p.add_argument("--resume", action="store_true", help="finish an interrupted sweep in --out")
    p.set_defaults(func=run)

    r = sub.add_parser("uplift-report", help="markdown report, plots and grids from an uplift sweep")
    r.add_argument("--sweep", required=True, help="sweep folder written by `uplift`")
    r.add_argument("--out", required=True, help="markdown file to write; figures go beside it")
    r.add_argument("--headline", default=None, help="headline JSON to merge the chosen-scale figures into")
    r.add_argument("--sweep-command", default="", help="the command that ran the sweep, quoted in the report")
    r.set_defaults(func=report)


def _heads(items: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        kind, sep, stem = item.partition("=")
        if not sep or kind not in ("midblock", "latent"):
            raise ValueError(f"--head {item!r}: expected midblock=STEM or latent=STEM")
        out.append((kind, stem))
    return tuple(out)


def run(a) -> int:
    from .models import check_source
    from .uplift import UpliftConfig, run_uplift
    from .worlds import world_judges

    check_source(a.model, a.weights)
    judges = world_judges(a.world)
    cfg = UpliftConfig(prompts=tuple(a.prompts or ["a red circle on a dark blue background"]), model=a.model, weights=a.weights,
                       backends=tuple(a.backends), scales=tuple(a.scales), seeds=a.seeds, chunk=a.chunk, steps=a.steps,
                       cfg_scale=a.cfg_scale, scheduler=a.scheduler, dtype=a.dtype, device=a.device,
                       heads=_heads(a.head), world=a.world)
    run_uplift(cfg, a.out, resume=a.resume, world_judges=judges)
    return 0


def report(a) -> int:
    from .uplift_report import write_report

    command = "python -m bench " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["uplift-report"] else "python -m bench uplift-report"
    out = write_report(a.sweep, a.out, a.headline, command, a.sweep_command)
    print(f"wrote {out}")
    return 0
