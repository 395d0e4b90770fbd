"""guidance-bench command line: `python -m bench COMMAND --help`.

    python -m bench sample --model tiny --backend midu --scale 5 --prompt "a horse on a beach" --out out/horse
    python -m bench sample --model sd21-base --weights random --backend pixel --device cuda --dtype fp16 --out out/x
"""
from __future__ import annotations

import argparse
import sys

from guidance import BACKENDS
from guidance.config import GRAD_NORMS, TARGETS, GuidanceConfig, SamplerConfig

from .models import DTYPES, SCHEDULERS, WEIGHTS
from .presets import PRESETS


def _add_sample(sub) -> None:
    p = sub.add_parser("sample", help="one guided sampling run: images + run.json", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tiny", help=f"preset ({', '.join(PRESETS)}), local diffusers folder, or hub id")
    p.add_argument("--weights", default="random", help=f"one of {', '.join(WEIGHTS)}; random builds the full architecture with no download")
    p.add_argument("--backend", default="midu", help=f"guidance backend: {', '.join(BACKENDS)}")
    p.add_argument("--prompt", action="append", dest="prompts", help="prompt (repeat for several)")
    p.add_argument("--negative-prompt", default="", help="prompt of the unconditional CFG half")
    p.add_argument("--scale", type=float, default=0.0, help="guidance scale; negative pushes the scorer down")
    p.add_argument("--window", type=float, nargs=2, default=(0.0, 1.0), metavar=("START", "END"), help="fractions of the steps that get guidance")
    p.add_argument("--every-k", type=int, default=1, help="guide every k-th step inside the window")
    p.add_argument("--grad-norm", default="rms", help=f"gradient normalisation: {', '.join(GRAD_NORMS)}")
    p.add_argument("--target", default="latent", help=f"where the gradient lands: {', '.join(TARGETS)}")
    p.add_argument("--steps", type=int, default=50, help="sampling steps")
    p.add_argument("--cfg-scale", type=float, default=7.5, help="classifier-free guidance scale")
    p.add_argument("--scheduler", default="ddim", help=f"one of {', '.join(SCHEDULERS)}")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial noise")
    p.add_argument("--batch", type=int, default=1, help="samples per prompt")
    p.add_argument("--height", type=int, default=None, help="image height in pixels (default: the model's)")
    p.add_argument("--width", type=int, default=None, help="image width in pixels (default: the model's)")
    p.add_argument("--dtype", default="fp32", help=f"one of {', '.join(DTYPES)}")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--head", default=None, help="scorer checkpoint stem (<stem>.safetensors + <stem>.json) for midu/latent")
    p.add_argument("--clip-arch", default=None, help="open_clip architecture of the pixel scorer, or a path to an open_clip config JSON (ViT-L-14-quickgelu for LAION's predictor)")
    p.add_argument("--clip-checkpoint", default=None, help="local open_clip checkpoint for the pixel scorer")
    p.add_argument("--aesthetic-mlp", default=None, help="local LAION aesthetic predictor .pth")
    p.add_argument("--objective-target", default=None, help="class head: class name or index; clip-embedding head: text to steer towards")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=_run_sample)


def _run_sample(a) -> int:
    from .sample_job import SampleJob, run
    from .scorer_setup import ScorerConfig

    job = SampleJob(
        prompts=tuple(a.prompts or ["a photo of a cat"]),
        out=a.out, model=a.model, weights=a.weights, backend=a.backend, negative_prompt=a.negative_prompt,
        dtype=a.dtype, device=a.device,
        sampler=SamplerConfig(steps=a.steps, cfg_scale=a.cfg_scale, scheduler=a.scheduler, seed=a.seed,
                              height=a.height, width=a.width, batch=a.batch),
        guidance=GuidanceConfig(scale=a.scale, window_start=a.window[0], window_end=a.window[1], every_k=a.every_k,
                                grad_norm=a.grad_norm, target=a.target),
        scorer=ScorerConfig(head=a.head, clip_arch=a.clip_arch, clip_checkpoint=a.clip_checkpoint, aesthetic_mlp=a.aesthetic_mlp,
                            objective_target=a.objective_target),
    )
    rec = run(job)
    print(f"wrote {len(rec['images'])} image(s) and run.json to {a.out} "
          f"({job.backend}, scale {job.guidance.scale}, {rec['sample_wall_s']} s; final score {rec['final_score']})")
    return 0


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="a small uplift sweep in the toy world with its report (or, with --tiny-random, "
                                    "every backend on the random-weight tiny model)")
    p.add_argument("--out", default="demo-out", help="output folder")
    p.add_argument("--seeds", type=int, default=16, help="seeds per prompt (toy world)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: 25 toy world, 10 tiny)")
    p.add_argument("--backends", nargs="+", default=None, help="backends (toy world; default none midu latent pixel)")
    p.add_argument("--scales", type=float, nargs="+", default=None, help="guidance scales (default: -0.05 0.03 0.05 toy world, -1 0 1 tiny)")
    p.add_argument("--tiny-random", action="store_true", help="the machinery demo: every backend on the tiny model with random weights")
    p.set_defaults(func=_run_demo)


def _run_demo(a) -> int:
    if a.tiny_random:
        from .demo import demo

        demo(a.out, a.steps or 10, tuple(a.scales or (-1.0, 0.0, 1.0)))
        return 0
    import torch

    from .toy_demo import DEMO_BACKENDS, DEMO_SCALES, toy_demo

    torch.set_num_threads(1)  # CPU-only and tiny: one thread is fastest, and 2 threads crawl on a loaded 2-core machine
    if a.seeds < 2:
        raise ValueError(f"--seeds {a.seeds}: expected at least 2 (half choose the scale, half measure it)")
    toy_demo(a.out, a.seeds, a.steps or 25, tuple(a.backends or DEMO_BACKENDS), tuple(a.scales or DEMO_SCALES))
    return 0


def _external(module: str):
    """A subcommand defined in its own module as `add_parser(subparsers)`."""
    return lambda sub: __import__(module, fromlist=["add_parser"]).add_parser(sub)


# subcommand -> adds its parser; each parser sets `func(args) -> exit code`
COMMANDS = {
    "sample": _add_sample,
    "demo": _add_demo,
    "costmodel": _external("bench.cmd_costmodel"),
    "gate": _external("bench.cmd_gate"),
    "cost-run": _external("bench.cmd_costrun"),
    "report": _external("bench.cmd_report"),
    "uplift": _external("bench.cmd_uplift"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="guidance-bench: what classifier guidance costs and buys")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS.values():
        add(sub)
    a = parser.parse_args(argv)
    try:
        return a.func(a)
    except (ValueError, FileNotFoundError) as e:  # bad input: one clear line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
