"""`python -m bench uplift` (run a sweep) and `python -m bench uplift-report` (turn one into a report)."""
from __future__ import annotations

import shlex
import sys

from guidance import BACKENDS


def add_parser(sub) -> None:
    from .uplift import __doc__ as doc

    p = sub.add_parser("uplift", help="uplift sweep: backends x scales x prompts x seeds, judged by every scorer", description=doc)
    p.add_argument("--world", default=None,
                   help="add a world's own judges: toy (ground truth, caption checks); its committed model, heads, "
                        "pixel scorer and prompts fill every option not given")
    p.add_argument("--model", default=None, help="preset, local diffusers folder or hub id (default: the world's, else tiny)")
    p.add_argument("--weights", default=None, help="pretrained or random (default: the world's, else random)")
    p.add_argument("--backends", nargs="+", default=["none", "latent", "midu", "pixel"], help=f"from: {', '.join(BACKENDS)}")
    p.add_argument("--scales", type=float, nargs="+", default=[-1.0, 1.0], help="guidance scales (0 is the unguided baseline)")
    p.add_argument("--scales-for", action="append", default=[], metavar="BACKEND=S1,S2,...",
                   help="scales for one backend instead of --scales, e.g. pixel=-1,0.5,1")
    p.add_argument("--prompt", action="append", dest="prompts", help="prompt (repeat for several; default: the world's)")
    p.add_argument("--window", type=float, nargs=2, default=(0.0, 1.0), metavar=("START", "END"),
                   help="fractions of the steps that get guidance, for every backend")
    p.add_argument("--seeds", type=int, default=8, help="seeds per prompt")
    p.add_argument("--chunk", type=int, default=16, help="seeds per sampling call")
    p.add_argument("--steps", type=int, default=25, help="sampling steps")
    p.add_argument("--cfg-scale", type=float, default=5.0, help="classifier-free guidance scale")
    p.add_argument("--scheduler", default="ddim", help="ddim, euler or dpmpp")
    p.add_argument("--head", action="append", default=[], metavar="KIND=STEM", help="trained head for midblock or latent, e.g. midblock=heads/aesthetic")
    p.add_argument("--clip-arch", default=None, help="open_clip architecture or config JSON of the image scorer")
    p.add_argument("--clip-checkpoint", default=None, help="local open_clip checkpoint of the image scorer")
    p.add_argument("--aesthetic-mlp", default=None, help="local LAION-layout aesthetic predictor .pth")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--dtype", default="fp32", help="fp32, fp16 or bf16")
    p.add_argument("--out", required=True, help="sweep folder (rows.jsonl, config.json, images/)")
    p.add_argument("--resume", action="store_true", help="finish an interrupted sweep in --out")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's; 1 is fastest on a shared small machine)")
    p.set_defaults(func=run)

    r = sub.add_parser("uplift-report", help="markdown report, plots and grids from an uplift sweep")
    r.add_argument("--sweep", required=True, help="sweep folder written by `uplift`")
    r.add_argument("--out", required=True, help="markdown file to write; figures go beside it")
    r.add_argument("--headline", default=None, help="headline JSON to merge the chosen-scale figures into")
    r.add_argument("--sweep-command", default="", help="the command that ran the sweep, quoted in the report")
    r.add_argument("--select", default="win", choices=["win", "mean"],
                   help="how each backend's scale is chosen on the calibration seeds: highest win rate (default) or largest mean uplift")
    r.set_defaults(func=report)


def _heads(items: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        kind, sep, stem = item.partition("=")
        if not sep or kind not in ("midblock", "latent"):
            raise ValueError(f"--head {item!r}: expected midblock=STEM or latent=STEM")
        out.append((kind, stem))
    return tuple(out)


def _scales_for(items: list[str]) -> tuple[tuple[str, tuple[float, ...]], ...]:
    out = []
    for item in items:
        backend, sep, values = item.partition("=")
        try:
            scales = tuple(float(v) for v in values.split(","))
        except ValueError:
            scales = ()
        if not sep or not scales:
            raise ValueError(f"--scales-for {item!r}: expected BACKEND=S1,S2,... with numbers, e.g. pixel=-1,0.5,1")
        if backend not in BACKENDS:
            raise ValueError(f"--scales-for {item!r}: unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
        out.append((backend, scales))
    return tuple(out)


def config_from_args(a):
    """UpliftConfig from the command line: given options, then the world's defaults, then the generic ones."""
    from .models import check_source
    from .uplift import UpliftConfig
    from .worlds import check_world_prompts, world_defaults

    d = world_defaults(a.world)
    model, weights = a.model or d.get("model", "tiny"), a.weights or d.get("weights", "random")
    check_source(model, weights)
    check_world_prompts(a.world, a.prompts or ())
    heads = dict(d.get("heads", ()))
    heads.update(dict(_heads(a.head)))
    return UpliftConfig(prompts=tuple(a.prompts or d.get("prompts", ["a red circle on a dark blue background"])), model=model,
                        weights=weights, backends=tuple(a.backends), scales=tuple(a.scales), scales_by_backend=_scales_for(a.scales_for),
                        seeds=a.seeds, chunk=a.chunk, steps=a.steps, window_start=a.window[0], window_end=a.window[1],
                        cfg_scale=a.cfg_scale, scheduler=a.scheduler, dtype=a.dtype, device=a.device, heads=tuple(heads.items()), clip_arch=a.clip_arch or d.get("clip_arch"),
                        clip_checkpoint=a.clip_checkpoint or d.get("clip_checkpoint"),
                        aesthetic_mlp=a.aesthetic_mlp or d.get("aesthetic_mlp"), world=a.world)


def run(a) -> int:
    from .scorer_setup import check_scorer_files
    from .uplift import run_uplift
    from .worlds import world_judges

    cfg = config_from_args(a)
    if a.threads is not None:
        import torch

        if a.threads < 1:
            raise ValueError(f"--threads {a.threads}: expected an integer >= 1")
        torch.set_num_threads(a.threads)
    for kind in ("midblock", "latent", "image"):
        check_scorer_files(cfg.scorer_config(kind))
    run_uplift(cfg, a.out, resume=a.resume, world_judges=world_judges(a.world, cfg.model))
    return 0


def report(a) -> int:
    from .uplift_report import write_report

    command = "python -m bench " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["uplift-report"] else "python -m bench uplift-report"
    out = write_report(a.sweep, a.out, a.headline, command, a.sweep_command, a.select)
    print(f"wrote {out}")
    return 0
